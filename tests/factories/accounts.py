import factory
from django.contrib.auth.models import Group

from releasemgmt.accounts.models import ApiToken, User, hash_token, new_raw_token


class UserFactory(factory.django.DjangoModelFactory):
    """``UserFactory(roles=["ops"])`` puts the user in those role groups."""

    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.django.Password("pw-for-tests")

    class Params:
        superuser = factory.Trait(is_superuser=True, is_staff=True)
        service = factory.Trait(is_service_account=True)

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if create and extracted:
            from releasemgmt.accounts.roles import sync_role_groups

            sync_role_groups()
            self.groups.add(*Group.objects.filter(name__in=extracted))


class ApiTokenFactory(factory.django.DjangoModelFactory):
    """The raw token is kept on the instance as ``raw`` (never stored)."""

    class Meta:
        model = ApiToken

    user = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"token-{n}")
    raw = factory.LazyFunction(new_raw_token)
    digest = factory.LazyAttribute(lambda t: hash_token(t.raw))
    hint = factory.LazyAttribute(lambda t: t.raw[:10])

    @classmethod
    def _create(cls, model_class, *args, raw=None, **kwargs):
        token = super()._create(model_class, *args, **kwargs)
        token.raw = raw
        return token

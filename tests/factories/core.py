import factory

from releasemgmt.core.models import AuditEvent
from tests.factories.accounts import UserFactory


class AuditEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuditEvent

    actor = factory.SubFactory(UserFactory)
    actor_name = factory.LazyAttribute(lambda e: e.actor.get_username() if e.actor else "system")
    action = "example.touch"
    target = factory.LazyAttribute(lambda e: e.actor)
    object_repr = factory.LazyAttribute(lambda e: str(e.actor))

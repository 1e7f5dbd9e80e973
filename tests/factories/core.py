import factory
from django.utils import timezone

from releasemgmt.core.models import AuditEvent, ScheduledJob
from tests.factories.accounts import UserFactory


class AuditEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuditEvent

    actor = factory.SubFactory(UserFactory)
    actor_name = factory.LazyAttribute(lambda e: e.actor.get_username() if e.actor else "system")
    action = "example.touch"
    target = factory.LazyAttribute(lambda e: e.actor)
    object_repr = factory.LazyAttribute(lambda e: str(e.actor))


class ScheduledJobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ScheduledJob

    task_name = "releasemgmt.core.tasks.ping"
    due_at = factory.LazyFunction(timezone.now)

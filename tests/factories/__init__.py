from tests.factories.accounts import ApiTokenFactory, UserFactory
from tests.factories.core import AuditEventFactory, ScheduledJobFactory

__all__ = ["ApiTokenFactory", "AuditEventFactory", "ScheduledJobFactory", "UserFactory"]

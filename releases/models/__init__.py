from releases.models.change import ChangeRequest
from releases.models.deployment import (
    AgentStatus,
    BackoutOverride,
    DeploymentReport,
    FreezeWindow,
    VerificationCheck,
    VerificationRun,
)
from releases.models.plan import (
    BackoutStep,
    FailureCondition,
    ReleaseItem,
    ReleaseTarget,
    RolloutTask,
    TestScopeItem,
)
from releases.models.release import (
    Release,
    ReleaseCategory,
    ReleaseNumberSequence,
    ReleaseReview,
    ReleaseTransition,
    UnitComponent,
)

# The webhook integration keeps its models with it (still the releases app: same tables, migrations).
from releases.webhooks.models import (
    CallbackAttempt,
    CallbackDelivery,
    CallbackStatus,
    DeliveryAttention,
    DeliveryStatus,
    WebhookAdapter,
    WebhookDelivery,
    WebhookPolicy,
    WebhookSecret,
    WebhookSource,
)

__all__ = [
    "AgentStatus",
    "BackoutOverride",
    "BackoutStep",
    "CallbackAttempt",
    "CallbackDelivery",
    "CallbackStatus",
    "ChangeRequest",
    "DeliveryAttention",
    "DeliveryStatus",
    "DeploymentReport",
    "FailureCondition",
    "FreezeWindow",
    "Release",
    "ReleaseCategory",
    "ReleaseItem",
    "ReleaseNumberSequence",
    "ReleaseReview",
    "ReleaseTarget",
    "ReleaseTransition",
    "RolloutTask",
    "TestScopeItem",
    "UnitComponent",
    "VerificationCheck",
    "VerificationRun",
    "WebhookAdapter",
    "WebhookDelivery",
    "WebhookPolicy",
    "WebhookSecret",
    "WebhookSource",
]

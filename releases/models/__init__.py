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
    ReleaseTransition,
    UnitComponent,
)

__all__ = [
    "AgentStatus",
    "BackoutOverride",
    "BackoutStep",
    "ChangeRequest",
    "DeploymentReport",
    "FailureCondition",
    "FreezeWindow",
    "Release",
    "ReleaseCategory",
    "ReleaseItem",
    "ReleaseNumberSequence",
    "ReleaseTarget",
    "ReleaseTransition",
    "RolloutTask",
    "TestScopeItem",
    "UnitComponent",
    "VerificationCheck",
    "VerificationRun",
]

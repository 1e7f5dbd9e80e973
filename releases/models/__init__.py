from releases.models.change import ChangeRequest
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
    "BackoutStep",
    "ChangeRequest",
    "FailureCondition",
    "Release",
    "ReleaseCategory",
    "ReleaseItem",
    "ReleaseNumberSequence",
    "ReleaseTarget",
    "ReleaseTransition",
    "RolloutTask",
    "TestScopeItem",
    "UnitComponent",
]

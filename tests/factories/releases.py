from datetime import timedelta

import factory
from django.utils import timezone

from releases.choices import FailureConditionKind, ItemKind, ReleaseLevel
from releases.models import (
    BackoutStep,
    ChangeRequest,
    FailureCondition,
    Release,
    ReleaseCategory,
    ReleaseItem,
    ReleaseTarget,
    UnitComponent,
)
from tests.factories.cmdb import ConfigurationItemFactory
from tests.factories.dsl_dhs import SoftwareVersionFactory


class ReleaseCategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReleaseCategory
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Category {n}")


class ChangeRequestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChangeRequest

    source_system = "servicenow"
    external_id = factory.Sequence(lambda n: f"sysid{n:08d}")
    number = factory.Sequence(lambda n: f"CHG{30000 + n:07d}")
    title = factory.Sequence(lambda n: f"Change {n}")
    state = "scheduled"


class ReleaseFactory(factory.django.DjangoModelFactory):
    """``ReleaseFactory(state="installing")`` places a release in any state directly;
    ``ReleaseFactory(planned=True)`` gives a complete plan (one item, one target, windows,
    a back-out step and a failure condition)."""

    class Meta:
        model = Release
        skip_postgeneration_save = True

    # a past year: never collides with the numbers release_create gives this year
    number = factory.Sequence(lambda n: f"REL-1999-{n + 1:04d}")
    title = factory.Sequence(lambda n: f"Release {n}")
    level = ReleaseLevel.DELTA
    release_unit = factory.SubFactory(ConfigurationItemFactory, service=True)

    class Params:
        planned = factory.Trait(
            distribution_start=factory.LazyFunction(lambda: timezone.now() + timedelta(days=1)),
            distribution_end=factory.LazyFunction(lambda: timezone.now() + timedelta(days=2)),
            installation_start=factory.LazyFunction(lambda: timezone.now() + timedelta(days=2)),
            installation_end=factory.LazyFunction(lambda: timezone.now() + timedelta(days=3)),
        )

    @factory.post_generation
    def with_plan(self, create, extracted, **kwargs):
        # planned=True (windows set) brings a minimal complete plan; with_plan=False opts out.
        if not create or extracted is False or not (extracted or self.distribution_start):
            return
        version = SoftwareVersionFactory()
        ReleaseItem.objects.create(release=self, kind=ItemKind.SOFTWARE, software_version=version)
        ReleaseTarget.objects.create(release=self, ci=ConfigurationItemFactory())
        Release.objects.filter(pk=self.pk).update(count_targets=1)
        self.count_targets = 1
        BackoutStep.objects.create(
            release=self, position=1, description="Reinstall the previous version"
        )
        FailureCondition.objects.create(
            release=self, kind=FailureConditionKind.FAILURE_RATE_ABOVE, threshold=10
        )


class UnitComponentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UnitComponent

    unit = factory.SubFactory(ConfigurationItemFactory, service=True)
    product = factory.LazyAttribute(lambda c: SoftwareVersionFactory().product)

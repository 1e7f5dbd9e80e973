import factory
from django.utils import timezone

from cmdb.choices import (
    ERROR_KIND_CATEGORY,
    CIKind,
    CIStatus,
    Environment,
    ErrorKind,
    ErrorSource,
    LicenceMetric,
    RelationshipKind,
)
from cmdb.models import ConfigurationItem, Discrepancy, InstalledSoftware, Licence, Relationship
from tests.factories.dsl_dhs import LicenceProductFactory, SoftwareVersionFactory


class ConfigurationItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConfigurationItem

    identifier = factory.Sequence(lambda n: f"srv-{n:05d}")
    name = factory.LazyAttribute(lambda ci: f"Server {ci.identifier}")
    kind = CIKind.SERVER
    status = CIStatus.ACTIVE
    environment = Environment.PRODUCTION
    owner = "Platform team"
    attributes = factory.LazyFunction(lambda: {"os": "Debian 12", "cpu_cores": 8})

    class Params:
        workstation = factory.Trait(
            kind=CIKind.WORKSTATION,
            identifier=factory.Sequence(lambda n: f"ws-{n:05d}"),
            attributes=factory.LazyFunction(lambda: {"os": "Windows 11"}),
        )
        service = factory.Trait(
            kind=CIKind.SERVICE,
            identifier=factory.Sequence(lambda n: f"svc-{n:04d}"),
            attributes=factory.LazyFunction(lambda: {"tier": 2}),
        )
        retired = factory.Trait(status=CIStatus.RETIRED)


class RelationshipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Relationship

    source = factory.SubFactory(ConfigurationItemFactory, service=True)
    target = factory.SubFactory(ConfigurationItemFactory)
    kind = RelationshipKind.RUNS_ON


class LicenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Licence

    licence_product = factory.SubFactory(LicenceProductFactory)
    name = factory.Sequence(lambda n: f"Licence {n}")
    metric = LicenceMetric.PER_DEVICE
    seats = 10
    low_seat_threshold = 2


class InstalledSoftwareFactory(factory.django.DjangoModelFactory):
    """Direct rows (no licence allocation); tests of allocation use the service."""

    class Meta:
        model = InstalledSoftware

    ci = factory.SubFactory(ConfigurationItemFactory)
    version = factory.SubFactory(SoftwareVersionFactory)
    product = factory.LazyAttribute(lambda row: row.version.product)
    installed_at = factory.LazyFunction(timezone.now)


class DiscrepancyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Discrepancy

    kind = ErrorKind.VERSION_MISMATCH
    category = factory.LazyAttribute(lambda d: ERROR_KIND_CATEGORY[d.kind])
    source = ErrorSource.INTEGRITY_CHECK
    ci = factory.SubFactory(ConfigurationItemFactory)
    subject = factory.LazyAttribute(lambda d: str(d.ci) if d.ci else "subject")
    expected = "1.2.0"
    found = "1.1.0"
    fingerprint = factory.Sequence(lambda n: f"test:{n}")
    detected_at = factory.LazyFunction(timezone.now)

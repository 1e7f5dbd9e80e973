import hashlib

import factory
from django.core.files.base import ContentFile

from dsl_dhs.choices import HardwareKind, VersionStatus
from dsl_dhs.models import (
    HardwareModel,
    LicenceProduct,
    Location,
    Reservation,
    SoftwareProduct,
    SoftwareVersion,
    Stock,
)


class LicenceProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LicenceProduct

    name = factory.Sequence(lambda n: f"Licence product {n}")
    vendor = "Contoso"


class SoftwareProductFactory(factory.django.DjangoModelFactory):
    """``SoftwareProductFactory(licensed=True)`` consumes a (new) licence product."""

    class Meta:
        model = SoftwareProduct

    name = factory.Sequence(lambda n: f"Product {n}")
    vendor = "Contoso"
    licence_product = None

    class Params:
        licensed = factory.Trait(licence_product=factory.SubFactory(LicenceProductFactory))


class SoftwareVersionFactory(factory.django.DjangoModelFactory):
    """An authorised version with a small real artefact; ``with_artefact=False`` for none,
    ``status="draft"`` etc. for other states."""

    class Meta:
        model = SoftwareVersion

    product = factory.SubFactory(SoftwareProductFactory)
    version = factory.Sequence(lambda n: f"1.{n}.0")
    status = VersionStatus.AUTHORISED

    @classmethod
    def _create(cls, model_class, *args, with_artefact=True, **kwargs):
        version = model_class(*args, **kwargs)
        if with_artefact and not version.artefact:
            content = f"artefact of {version.product.name} {version.version}\n".encode()
            version.artefact_name = f"{version.version}.bin"
            version.size = len(content)
            version.sha256 = hashlib.sha256(content).hexdigest()
            version.artefact.save(version.artefact_name, ContentFile(content), save=False)
        version.save()
        return version


class LocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Location
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"site-{n}")
    name = factory.LazyAttribute(lambda loc: loc.code.replace("-", " ").title())


class HardwareModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = HardwareModel

    manufacturer = "Dell"
    name = factory.Sequence(lambda n: f"PowerEdge R{600 + n}")
    part_number = factory.Sequence(lambda n: f"PE-R{600 + n}")
    kind = HardwareKind.SERVER


class StockFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Stock

    hardware_model = factory.SubFactory(HardwareModelFactory)
    location = factory.SubFactory(LocationFactory)
    on_hand = 5
    reserved = 0


class ReservationFactory(factory.django.DjangoModelFactory):
    """Note: creating it directly does not move ``stock.reserved``; tests of the quantities use
    the services."""

    class Meta:
        model = Reservation

    stock = factory.SubFactory(StockFactory)
    quantity = 1
    reference = factory.Sequence(lambda n: f"REL-2026-{n:04d}")

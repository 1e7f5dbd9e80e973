from tests.factories.accounts import ApiTokenFactory, UserFactory
from tests.factories.cmdb import (
    ConfigurationItemFactory,
    DiscrepancyFactory,
    InstalledSoftwareFactory,
    LicenceFactory,
    RelationshipFactory,
)
from tests.factories.core import AuditEventFactory
from tests.factories.dsl_dhs import (
    HardwareModelFactory,
    LicenceProductFactory,
    LocationFactory,
    ReservationFactory,
    SoftwareProductFactory,
    SoftwareVersionFactory,
    StockFactory,
)

__all__ = [
    "ApiTokenFactory",
    "AuditEventFactory",
    "ConfigurationItemFactory",
    "DiscrepancyFactory",
    "HardwareModelFactory",
    "InstalledSoftwareFactory",
    "LicenceFactory",
    "LicenceProductFactory",
    "LocationFactory",
    "RelationshipFactory",
    "ReservationFactory",
    "SoftwareProductFactory",
    "SoftwareVersionFactory",
    "StockFactory",
    "UserFactory",
]

from tests.factories.releases import (
    ChangeRequestFactory,
    ReleaseCategoryFactory,
    ReleaseFactory,
    UnitComponentFactory,
)

__all__ += [
    "ChangeRequestFactory",
    "ReleaseCategoryFactory",
    "ReleaseFactory",
    "UnitComponentFactory",
]

from tests.factories.webhooks import (  # noqa: E402 — appended per app, after __all__
    TEST_SECRET,
    WebhookDeliveryFactory,
    WebhookSourceFactory,
)

__all__ += [
    "TEST_SECRET",
    "WebhookDeliveryFactory",
    "WebhookSourceFactory",
]

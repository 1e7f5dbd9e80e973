from dsl_dhs.models.hardware import HardwareModel, Location, Reservation, Stock
from dsl_dhs.models.software import ArtefactCheck, LicenceProduct, SoftwareProduct, SoftwareVersion

__all__ = [
    "ArtefactCheck",
    "HardwareModel",
    "LicenceProduct",
    "Location",
    "Reservation",
    "SoftwareProduct",
    "SoftwareVersion",
    "Stock",
]

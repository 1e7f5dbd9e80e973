from cmdb.models.errors import Discrepancy
from cmdb.models.items import ConfigurationItem, Relationship
from cmdb.models.software import InstalledSoftware, Licence

__all__ = ["ConfigurationItem", "Discrepancy", "InstalledSoftware", "Licence", "Relationship"]

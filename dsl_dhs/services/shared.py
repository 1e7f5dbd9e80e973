"""What the DSL and DHS services share: create or change a row from the fields a service
allows, refusing any other field (400), audited."""

from releasemgmt.core.exceptions import DomainValidationError
from releasemgmt.core.services import record_save


def set_fields(instance, fields: dict, allowed: set[str]) -> None:
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise DomainValidationError(
            {name: "This field cannot be changed here." for name in unknown}
        )
    for name, value in fields.items():
        setattr(instance, name, value)


def create_from_fields(model, *, by, fields: dict, allowed: set[str]):
    instance = model()
    set_fields(instance, fields, allowed)
    return record_save(instance=instance, actor=by)


def update_from_fields(instance, *, by, fields: dict, allowed: set[str], reason: str = ""):
    locked = type(instance).objects.select_for_update().get(pk=instance.pk)
    set_fields(locked, fields, allowed)
    return record_save(instance=locked, actor=by, reason=reason)

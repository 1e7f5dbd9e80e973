"""Configuration items and their relationships: create, change, retire, delete; relate two CIs
and remove the relation. Attributes are validated against the kind's schema; identifiers are
unique without regard to case; ``part_of`` never forms a cycle."""

from django.db import IntegrityError, transaction

from cmdb.attributes import validate_attributes
from cmdb.choices import CIStatus, RelationshipKind
from cmdb.models import ConfigurationItem, InstalledSoftware, Relationship
from releasemgmt.core.exceptions import DomainConflict, DomainValidationError
from releasemgmt.core.services import person_or_none, record_delete, record_save


def _clean_attributes(ci: ConfigurationItem) -> None:
    cleaned, errors = validate_attributes(ci.kind, ci.attributes)
    if errors:
        raise DomainValidationError(
            {f"attributes.{name}": message for name, message in errors.items()}
        )
    ci.attributes = cleaned


def _check_identifier_unique(ci: ConfigurationItem) -> None:
    # The database constraint is case-insensitive; say so with the field named, before it fires.
    clash = ConfigurationItem.objects.filter(identifier__iexact=ci.identifier.strip())
    if ci.pk:
        clash = clash.exclude(pk=ci.pk)
    existing = clash.values_list("identifier", flat=True).first()
    if existing is not None:
        raise DomainValidationError(
            {
                "identifier": f"A configuration item with this identifier exists already "
                f"(“{existing}”; identifiers are compared without regard to case)."
            }
        )


@transaction.atomic
def ci_create(*, by, **fields) -> ConfigurationItem:
    """Create a configuration item; attributes are validated against its kind's schema."""
    ci = ConfigurationItem(**fields)
    ci.identifier = (ci.identifier or "").strip()
    _clean_attributes(ci)
    _check_identifier_unique(ci)
    ci._history_user = person_or_none(by)
    return record_save(instance=ci, actor=by)


@transaction.atomic
def ci_update(*, ci: ConfigurationItem, by, reason: str = "", **fields) -> ConfigurationItem:
    """Change a configuration item's fields (under a row lock); history and audit record who."""
    ci = ConfigurationItem.objects.select_for_update().get(pk=ci.pk)
    for name, value in fields.items():
        setattr(ci, name, value)
    ci.identifier = (ci.identifier or "").strip()
    _clean_attributes(ci)
    _check_identifier_unique(ci)
    ci._history_user = person_or_none(by)
    if reason:
        ci._change_reason = reason[:100]
    return record_save(instance=ci, actor=by, reason=reason)


@transaction.atomic
def ci_retire(*, ci: ConfigurationItem, by, reason: str) -> ConfigurationItem:
    """Set a CI's status to retired (under a row lock), with the reason in its history and the
    audit log. Relationships and current installations are left as they are: the integrity check
    flags them (broken_relationship, retired_target) so someone decides what happens to them."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainValidationError({"reason": "Say why the configuration item is retired."})
    ci = ConfigurationItem.objects.select_for_update().get(pk=ci.pk)
    if ci.status == CIStatus.RETIRED:
        raise DomainConflict(f"{ci} is already retired.")
    ci.status = CIStatus.RETIRED
    ci._history_user = person_or_none(by)
    ci._change_reason = reason[:100]
    return record_save(instance=ci, actor=by, action="cmdb.configurationitem.retire", reason=reason)


@transaction.atomic
def ci_delete(*, ci: ConfigurationItem, by, reason: str = "") -> None:
    """Delete a CI that never carried software (a mistaken entry). A CI with installed-software
    records (current or past) is part of a baseline a back-out may need: retire it instead."""
    ci = ConfigurationItem.objects.select_for_update().get(pk=ci.pk)
    if InstalledSoftware.objects.filter(ci=ci).exists():
        raise DomainConflict(
            f"{ci} has installed-software records (the baseline a back-out restores); "
            "retire it instead of deleting it."
        )
    ci._history_user = person_or_none(by)
    record_delete(instance=ci, actor=by, reason=reason)


def _part_of_ancestors(ci_id: int) -> set[int]:
    """Every CI that ``ci_id`` is (transitively) part of — one query per level."""
    seen: set[int] = set()
    frontier = {ci_id}
    while frontier:
        parents = set(
            Relationship.objects.filter(
                kind=RelationshipKind.PART_OF, source_id__in=frontier
            ).values_list("target_id", flat=True)
        )
        frontier = parents - seen
        seen |= parents
    return seen


@transaction.atomic
def relationship_create(
    *, source: ConfigurationItem, target: ConfigurationItem, kind: str, by
) -> Relationship:
    """Relate two CIs. Refuses a self link and a cycle of ``part_of`` (400, naming ``target``)
    and a relationship that exists already (409)."""
    if source.pk == target.pk:
        raise DomainValidationError({"target": "A configuration item cannot be related to itself."})
    if kind == RelationshipKind.PART_OF and source.pk in _part_of_ancestors(target.pk):
        raise DomainValidationError(
            {
                "target": f"{target} is already (indirectly) part of {source}: this would make a cycle."
            }
        )
    relationship = Relationship(source=source, target=target, kind=kind)
    if Relationship.objects.filter(source=source, target=target, kind=kind).exists():
        raise DomainConflict(f"{relationship} exists already.")
    relationship._history_user = person_or_none(by)
    try:
        with transaction.atomic():
            return record_save(instance=relationship, actor=by)
    except IntegrityError:
        raise DomainConflict(f"{relationship} exists already.") from None


@transaction.atomic
def relationship_delete(*, relationship: Relationship, by, reason: str = "") -> None:
    """Remove a relationship; its history and an audit event keep what it was."""
    relationship = Relationship.objects.select_related("source", "target").get(pk=relationship.pk)
    relationship._history_user = person_or_none(by)
    record_delete(instance=relationship, actor=by, reason=reason)

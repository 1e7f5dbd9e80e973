"""Software versions of the Definitive Software Library and their artefacts: create, rename,
delete, upload (hashed while streaming), authorise / quarantine / retire, and the integrity
check."""

import hashlib
import logging
import os
import re

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.text import get_valid_filename

from dsl_dhs.choices import VERSION_STATUS_CHANGES, CheckResult, VersionStatus
from dsl_dhs.models import ArtefactCheck, SoftwareProduct, SoftwareVersion
from releasemgmt.core.exceptions import (
    DomainConflict,
    DomainError,
    DomainPermissionDenied,
    DomainValidationError,
)
from releasemgmt.core.services import person_or_none, record_delete, record_save

logger = logging.getLogger(__name__)

HASH_CHUNK_BYTES = 1024 * 1024
AUTHORISE_PERMISSION = "dsl_dhs.authorise_softwareversion"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# A version becomes part of the artefact's storage path: no separators, no leading dot.
_VERSION_NAME = re.compile(r"^[^/\\.\s][^/\\]*$")


class ArtefactTooLarge(DomainError):
    """The artefact is larger than ``settings.DSL_MAX_ARTEFACT_BYTES``: 413."""

    status_code = 413
    default_message = "The artefact is larger than the server accepts."


def artefact_too_large(size: int | None = None) -> ArtefactTooLarge:
    limit = settings.DSL_MAX_ARTEFACT_BYTES
    got = f" ({filesizeformat(size)} sent)" if size else ""
    return ArtefactTooLarge(
        f"The artefact is larger than the {filesizeformat(limit)} ({limit} bytes) the DSL "
        f"accepts{got}; nothing was stored. Ask an administrator to raise DSL_MAX_ARTEFACT_MB "
        "if this artefact belongs in the library."
    )


def _digest(chunks, *, limit: int | None = None) -> tuple[str, int]:
    """SHA-256 (hex) and size of a stream of chunks; only one chunk is in memory at a time.
    Over ``limit`` bytes → 413 as soon as the count passes it."""
    digest = hashlib.sha256()
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if limit is not None and size > limit:
            raise artefact_too_large(size)
        digest.update(chunk)
    return digest.hexdigest(), size


def _stored_digest(name: str) -> tuple[str | None, int | None]:
    """Recompute a stored artefact's checksum by streaming it from storage; (None, None) when
    the file is missing or unreadable."""
    storage = SoftwareVersion._meta.get_field("artefact").storage
    try:
        if not storage.exists(name):
            return None, None
        with storage.open(name, "rb") as stored:
            return _digest(stored.chunks(HASH_CHUNK_BYTES))
    except OSError:
        logger.warning("Artefact %s could not be read", name, exc_info=True)
        return None, None


def _delete_stored(name: str) -> None:
    if not name:
        return
    storage = SoftwareVersion._meta.get_field("artefact").storage
    try:
        storage.delete(name)
    except OSError:
        logger.warning("Could not delete artefact %s", name, exc_info=True)


def _normalise_sha256(value) -> str | None:
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip().lower()
    if not _SHA256.match(text):
        raise DomainValidationError(
            {
                "sha256": "Give the SHA-256 as 64 hexadecimal characters (what `sha256sum` prints), "
                f"not {str(value)[:80]!r}."
            }
        )
    return text


def _validate_version_name(version_name: str) -> str:
    name = (version_name or "").strip()
    if not name:
        raise DomainValidationError({"version": "Give the version, e.g. 2.4.1."})
    if not _VERSION_NAME.match(name):
        raise DomainValidationError(
            {"version": "A version may not contain slashes or start with a dot or a space."}
        )
    return name


def _history_user(version: SoftwareVersion, by) -> SoftwareVersion:
    version._history_user = person_or_none(by)
    return version


@transaction.atomic
def software_version_create(
    *, product: SoftwareProduct, version: str, by, release_notes: str = ""
) -> SoftwareVersion:
    """Create a draft version without an artefact (attach one with ``software_version_upload``).
    400 when the product already has this version."""
    instance = SoftwareVersion(
        product=product,
        version=_validate_version_name(version),
        release_notes=release_notes or "",
        status=VersionStatus.DRAFT,
        created_by=person_or_none(by),
    )
    return record_save(instance=_history_user(instance, by), actor=by)


@transaction.atomic
def software_version_update(
    *,
    version: SoftwareVersion,
    by,
    version_name: str | None = None,
    release_notes: str | None = None,
) -> SoftwareVersion:
    """Change a version's release notes, or rename a draft (409 for any other status; its
    artefact keeps its stored path). Product, artefact and status have their own services."""
    locked = SoftwareVersion.objects.select_for_update().get(pk=version.pk)
    if version_name is not None:
        new_name = _validate_version_name(version_name)
        if new_name != locked.version and locked.status != VersionStatus.DRAFT:
            raise DomainConflict(
                f"{locked} is {locked.get_status_display().lower()}: only a draft can be renamed. "
                "Create a new version instead."
            )
        locked.version = new_name
    if release_notes is not None:
        locked.release_notes = release_notes
    return record_save(instance=_history_user(locked, by), actor=by)


@transaction.atomic
def software_version_delete(*, version: SoftwareVersion, by) -> None:
    """Delete a draft or retired version and, after commit, its stored artefact. Authorised and
    quarantined versions are part of the library's record (409: retire them first); a version
    still installed somewhere is refused too (409)."""
    locked = SoftwareVersion.objects.select_for_update().get(pk=version.pk)
    if locked.status not in (VersionStatus.DRAFT, VersionStatus.RETIRED):
        raise DomainConflict(
            f"{locked} is {locked.get_status_display().lower()}; retire it before deleting it."
        )
    name = locked.artefact.name
    record_delete(instance=locked, actor=by)
    transaction.on_commit(lambda: _delete_stored(name))


def _refuse_replacement(version: SoftwareVersion, sha256: str | None = None) -> None:
    """Raise 409 unless ``version``'s artefact may be (re)placed: a draft takes any file; a
    quarantined version only its original bytes back (restoring a damaged file); authorised
    artefacts are immutable."""
    status = version.status
    if status == VersionStatus.DRAFT:
        return
    if status == VersionStatus.QUARANTINED and version.sha256:
        if sha256 is None or sha256 == version.sha256:
            return
        raise DomainConflict(
            f"{version} is quarantined: only its original artefact (SHA-256 {version.sha256}) "
            f"can be uploaded again to restore it, and this file's SHA-256 is {sha256}. "
            "Upload a changed artefact as a new version."
        )
    if status == VersionStatus.AUTHORISED:
        raise DomainConflict(
            f"{version} is authorised: authorised artefacts are immutable. "
            "Upload the changed artefact as a new version."
        )
    raise DomainConflict(
        f"{version} is {version.get_status_display().lower()}; it takes no artefact."
    )


def software_version_check_upload(*, version: SoftwareVersion) -> None:
    """409 now when ``version`` cannot take an artefact at all (authorised, retired), so a view
    can refuse before reading a large request body. ``software_version_upload`` checks again."""
    _refuse_replacement(version)


def software_version_upload(
    *,
    file,
    by,
    version: SoftwareVersion | None = None,
    product: SoftwareProduct | None = None,
    version_name: str = "",
    declared_sha256: str | None = None,
    release_notes: str = "",
) -> SoftwareVersion:
    """Store an artefact for ``version`` (a draft, or a quarantined version getting its original
    bytes back) or for a new draft ``product`` + ``version_name``.

    The size and SHA-256 are computed while streaming ``file.chunks()`` (Django has already
    spooled a large upload to a temporary file; nothing holds it whole in memory). Refused with
    nothing stored: over ``DSL_MAX_ARTEFACT_BYTES`` (413), an empty file or a ``declared_sha256``
    that differs (400), an authorised/retired version (409). The file is written through the
    storage API before the short transaction that locks the row, re-checks it and records
    size/sha256/name with an audit event; if that transaction fails the stored file is deleted,
    and a replaced file is deleted only after commit."""
    if (version is None) == (product is None):
        raise ValueError("Give either an existing version or a product and a version name.")
    declared = _normalise_sha256(declared_sha256)
    if version is not None:
        version = SoftwareVersion.objects.select_related("product").get(pk=version.pk)
        _refuse_replacement(version)  # fail fast, before hashing a large file
    else:
        version_name = _validate_version_name(version_name)
        if SoftwareVersion.objects.filter(product=product, version__iexact=version_name).exists():
            raise DomainValidationError(
                {"version": f"{product} already has version {version_name}."}
            )

    sha256, size = _digest(file.chunks(HASH_CHUNK_BYTES), limit=settings.DSL_MAX_ARTEFACT_BYTES)
    if size == 0:
        raise DomainValidationError({"artefact": "The file is empty."})
    if declared is not None and declared != sha256:
        raise DomainValidationError(
            {
                "sha256": f"The declared SHA-256 {declared} does not match the uploaded file's "
                f"{sha256} ({size} bytes); nothing was stored. Check that the file was not "
                "truncated or altered on the way and upload it again."
            }
        )
    if version is not None:
        _refuse_replacement(version, sha256)

    display_name = get_valid_filename(os.path.basename(file.name or "")) or "artefact.bin"
    holder = version or SoftwareVersion(product=product, version=version_name)
    holder.artefact.save(display_name, file, save=False)
    stored_name = holder.artefact.name
    try:
        with transaction.atomic():
            if version is not None:
                locked = SoftwareVersion.objects.select_for_update().get(pk=version.pk)
                _refuse_replacement(locked, sha256)
                previous_name = locked.artefact.name
                action = "dsl_dhs.softwareversion.upload"
            else:
                locked = SoftwareVersion(
                    product=product,
                    version=version_name,
                    release_notes=release_notes or "",
                    status=VersionStatus.DRAFT,
                    created_by=person_or_none(by),
                )
                previous_name = ""
                action = None
            locked.artefact.name = stored_name
            locked.artefact_name = display_name
            locked.size = size
            locked.sha256 = sha256
            try:
                with transaction.atomic():
                    record_save(instance=_history_user(locked, by), actor=by, action=action)
            except IntegrityError:
                raise DomainConflict(
                    f"{product} version {version_name} was created by someone else at the same "
                    "moment; reload and upload to that version if it is still a draft."
                ) from None
            if previous_name and previous_name != stored_name:
                transaction.on_commit(lambda: _delete_stored(previous_name))
    except BaseException:
        _delete_stored(stored_name)
        raise
    return locked


def _status_change_conflict(version: SoftwareVersion, status: str) -> DomainConflict:
    allowed = sorted(VERSION_STATUS_CHANGES[VersionStatus(version.status)])
    current = version.get_status_display().lower()
    hint = f"it can change to: {', '.join(allowed)}" if allowed else "that is final"
    return DomainConflict(
        f"{version} is {current}; it cannot change to {status} ({hint}).",
        extra={"status": version.status, "allowed": allowed},
    )


_STATUS_VERBS = {
    VersionStatus.AUTHORISED: "authorise",
    VersionStatus.QUARANTINED: "quarantine",
    VersionStatus.RETIRED: "retire",
}


def software_version_set_status(
    *, version: SoftwareVersion, status: str, by, reason: str = ""
) -> SoftwareVersion:
    """Authorise, quarantine or retire a version, following ``VERSION_STATUS_CHANGES``.

    403 without ``dsl_dhs.authorise_softwareversion``; 400 for an unknown status or a missing
    reason (quarantine and retire need one); 409 for a change the current status does not allow
    (with the allowed ones). Authorising needs an artefact whose stored bytes still match the
    recorded SHA-256 — recomputed now, before the transaction, and recorded as a check — and
    records who authorised it and when. One transaction under the row lock, audited."""
    if not (by is not None and by.has_perm(AUTHORISE_PERMISSION)):
        raise DomainPermissionDenied(
            "Changing a version's status needs the “authorise software” permission "
            "(configuration managers hold it)."
        )
    if status not in VersionStatus.values or status == VersionStatus.DRAFT:
        choices = ", ".join(sorted(_STATUS_VERBS))
        raise DomainValidationError({"status": f"Unknown status {status!r}; use one of {choices}."})
    reason = (reason or "").strip()
    current = SoftwareVersion.objects.select_related("product").get(pk=version.pk)
    if status not in VERSION_STATUS_CHANGES[VersionStatus(current.status)]:
        raise _status_change_conflict(current, status)
    if status in (VersionStatus.QUARANTINED, VersionStatus.RETIRED) and not reason:
        raise DomainValidationError(
            {"reason": f"Say why you {_STATUS_VERBS[status]} {current} (the reason is recorded)."}
        )
    found_sha = found_size = None
    if status == VersionStatus.AUTHORISED:
        if not current.artefact or not current.sha256:
            raise DomainConflict(
                f"{current} has no artefact yet: upload one before authorising it."
            )
        found_sha, found_size = _stored_digest(current.artefact.name)
        if found_sha != current.sha256:
            found = "is missing" if found_sha is None else f"has SHA-256 {found_sha}"
            raise DomainConflict(
                f"{current} cannot be authorised: its stored artefact {found}, but "
                f"{current.sha256} was recorded at upload. Upload the artefact again."
            )

    with transaction.atomic():
        locked = SoftwareVersion.objects.select_for_update().get(pk=version.pk)
        if status not in VERSION_STATUS_CHANGES[VersionStatus(locked.status)]:
            raise _status_change_conflict(locked, status)
        now = timezone.now()
        if status == VersionStatus.AUTHORISED:
            if locked.artefact.name != current.artefact.name or locked.sha256 != current.sha256:
                raise DomainConflict(
                    f"The artefact of {locked} was replaced meanwhile; reload and try again."
                )
            ArtefactCheck.objects.create(
                version=locked,
                result=CheckResult.OK,
                expected_sha256=locked.sha256,
                found_sha256=found_sha,
                found_size=found_size,
                detail="Checked when authorised.",
            )
            locked.last_checked_at = now
            locked.authorised_by = person_or_none(by)
            locked.authorised_at = now
        locked.status = status
        locked.status_changed_at = now
        locked.status_reason = reason
        return record_save(
            instance=_history_user(locked, by),
            actor=by,
            action=f"dsl_dhs.softwareversion.{_STATUS_VERBS[status]}",
            reason=reason,
        )


def software_version_verify(*, version: SoftwareVersion) -> ArtefactCheck:
    """Recompute the stored artefact's SHA-256 by streaming it from storage and record an
    ``ArtefactCheck`` (ok / mismatch / missing, with what was expected and found).

    A mismatch or a missing file quarantines a draft or authorised version, with a status reason
    saying what was found, audited as the system. Hashing runs before the short transaction that
    records the result; if the artefact was replaced meanwhile, 409 and nothing is recorded.
    409 too for a version without an artefact. ``last_checked_at`` is set without a history row
    (routine checks would flood the version's history)."""
    current = SoftwareVersion.objects.select_related("product").get(pk=version.pk)
    if not current.artefact or not current.sha256:
        raise DomainConflict(f"{current} has no artefact to verify.")
    name, expected = current.artefact.name, current.sha256
    found_sha, found_size = _stored_digest(name)

    with transaction.atomic():
        locked = SoftwareVersion.objects.select_for_update().get(pk=current.pk)
        if locked.artefact.name != name or locked.sha256 != expected:
            raise DomainConflict(
                f"The artefact of {locked} was replaced while it was being checked; check again."
            )
        if found_sha is None:
            result = CheckResult.MISSING
            detail = f"The stored artefact {name} is missing from storage."
        elif found_sha != expected:
            result = CheckResult.MISMATCH
            detail = (
                f"The stored artefact {name} has SHA-256 {found_sha} ({found_size} bytes), but "
                f"{expected} ({locked.size} bytes) was recorded at upload."
            )
        else:
            result = CheckResult.OK
            detail = ""
        check = ArtefactCheck.objects.create(
            version=locked,
            result=result,
            expected_sha256=expected,
            found_sha256=found_sha or "",
            found_size=found_size,
            detail=detail,
        )
        now = timezone.now()
        SoftwareVersion.objects.filter(pk=locked.pk).update(last_checked_at=now)
        locked.last_checked_at = now
        if result != CheckResult.OK and locked.status in (
            VersionStatus.DRAFT,
            VersionStatus.AUTHORISED,
        ):
            locked.status = VersionStatus.QUARANTINED
            locked.status_changed_at = now
            locked.status_reason = f"Quarantined by the integrity check: {detail}"
            record_save(
                instance=_history_user(locked, None),
                actor=None,
                action="dsl_dhs.softwareversion.quarantine",
                reason=locked.status_reason,
            )
    return check


# Versions checked per run. Beat runs the task hourly, so the oldest checks come round first and
# a large library is covered over several runs without one run outliving its expiry.
VERIFY_BATCH = 200


def software_versions_verify(*, limit: int = VERIFY_BATCH) -> dict:
    """Recompute the checksums of up to ``limit`` versions that have an artefact and are not
    retired, least recently checked (never checked first). Each version is its own transaction
    (``software_version_verify``): a mismatch or missing file quarantines it. Idempotent: a repeat
    run only records fresh checks. Returns the count per result."""
    ids = list(
        SoftwareVersion.objects.exclude(artefact="")
        .exclude(status=VersionStatus.RETIRED)
        .order_by(F("last_checked_at").asc(nulls_first=True), "id")
        .values_list("id", flat=True)[:limit]
    )
    counts: dict[str, int] = {}
    for version_id in ids:
        version = SoftwareVersion.objects.filter(pk=version_id).first()
        if version is None:  # deleted since the batch was chosen
            continue
        try:
            check = software_version_verify(version=version)
        except DomainError as error:  # replaced meanwhile: the next run checks the new file
            logger.info("Skipped verifying version %s: %s", version_id, error.message)
            counts["skipped"] = counts.get("skipped", 0) + 1
            continue
        except Exception:  # one broken storage object must not stop the batch
            logger.exception("Verifying version %s failed", version_id)
            counts["failed"] = counts.get("failed", 0) + 1
            continue
        counts[check.result] = counts.get(check.result, 0) + 1
        if check.result != "ok":
            logger.warning("Artefact check of %s: %s — %s", version, check.result, check.detail)
    return counts

"""Importing installed software: a DSL version on a CI, the previous version closed, a licence
seat allocated (or a licence-missing error recorded)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from django.db.models import Count
from django.db.models.functions import Lower
from django.utils import timezone

from cmdb.choices import ERROR_KIND_CATEGORY, ErrorKind, ErrorSource, InstallSource, LicenceMetric
from cmdb.imports.base import BATCH_SIZE, Column, Importer, quote
from cmdb.imports.queries import CI_MISSING, chunks, ci_lookup, lookup, update_in_batches
from cmdb.models import Discrepancy, InstalledSoftware, Licence
from cmdb.selectors import licence_is_valid_on, licences_with_usage
from dsl_dhs.choices import VersionStatus
from dsl_dhs.models import SoftwareProduct, SoftwareVersion

# Only these DSL statuses may be recorded as installed by an import (history of what ran, or runs).
RECORDABLE_STATUSES = (VersionStatus.AUTHORISED, VersionStatus.RETIRED)
# Clocks differ a little between the spreadsheet's machine and the server.
FUTURE_TOLERANCE = timedelta(minutes=5)


class _SeatBook:
    """Seats in use per licence while the file is planned: starts from the database (one
    aggregate query) and follows every installation the file adds or closes, with the same
    rules as ``cmdb.services.licences.licence_allocate``."""

    def __init__(self, licences, per_ci: dict[tuple[int, int], int]):
        self.licences = {lic.pk: lic for lic in licences}
        self.in_use = {lic.pk: lic.seats_in_use for lic in licences}
        self.per_ci = defaultdict(int, per_ci)
        self.by_product: dict[int, list] = defaultdict(list)
        # Same order as licence_allocate on PostgreSQL: the soonest to end first, open-ended last.
        for lic in sorted(
            licences, key=lambda lic: (lic.valid_until is None, lic.valid_until or date.min, lic.pk)
        ):
            self.by_product[lic.licence_product_id].append(lic)
        self.today = timezone.localdate()

    def allocate(self, licence_product_id: int, ci_id: int):
        for lic in self.by_product.get(licence_product_id, []):
            if not licence_is_valid_on(lic, self.today):
                continue
            if lic.metric == LicenceMetric.SITE:
                return lic
            if lic.metric != LicenceMetric.PER_SEAT and self.per_ci[(lic.pk, ci_id)] > 0:
                return lic  # a per-device licence the CI already uses costs nothing more
            if self.in_use[lic.pk] < lic.seats:
                return lic
        return None

    def take(self, licence_id: int | None, ci_id: int) -> None:
        if licence_id not in self.licences:
            return
        self.per_ci[(licence_id, ci_id)] += 1
        if self._counts(licence_id, ci_id, 1):
            self.in_use[licence_id] += 1

    def release(self, licence_id: int | None, ci_id: int) -> None:
        if licence_id not in self.licences:
            return
        self.per_ci[(licence_id, ci_id)] -= 1
        if self._counts(licence_id, ci_id, 0):
            self.in_use[licence_id] -= 1

    def _counts(self, licence_id: int, ci_id: int, edge: int) -> bool:
        """Whether this installation changes the seats in use: always per seat; per device only
        when the CI's count crosses ``edge`` (its first installation, or its last one gone)."""
        if self.licences[licence_id].metric == LicenceMetric.PER_SEAT:
            return True
        return self.per_ci[(licence_id, ci_id)] == edge


class InstalledSoftwareImporter(Importer):
    kind = "installed-software"
    label = "Installed software"
    summary = (
        "One row per installation of a DSL version on a CI already in the CMDB. The CI's "
        "previous version of the same product is closed (kept as history, the baseline a "
        "back-out restores). A row naming the version already installed changes nothing."
    )
    columns = (
        Column("ci", True, "Identifier of the configuration item.", example="web-01"),
        Column("product", True, "Name of the software product in the DSL.", example="Nginx"),
        Column(
            "version",
            True,
            "A version of that product in the DSL, authorised or retired (draft and quarantined "
            "versions are refused).",
            example="1.26.2",
        ),
        Column(
            "licence",
            False,
            "Name of a licence of the product's licence product. Blank: the current "
            "installation's licence is kept, or one with a free seat is allocated; if none has "
            "one, the row is imported with a warning and a licence-missing error is recorded.",
            example="",
        ),
        Column(
            "installed_at",
            False,
            "ISO 8601 date or date-time (UTC unless it names a zone). Blank: now. Not in the "
            "future, not before the installation it replaces.",
            example="2026-03-01T09:00:00Z",
        ),
    )
    permissions = ("cmdb.add_installedsoftware",)

    def plan(self, rows):
        self.to_close: list[InstalledSoftware] = []
        self.to_create: list[InstalledSoftware] = []
        self.missing: dict[str, tuple] = {}
        now = timezone.now()
        cis = ci_lookup((r.get("ci") for r in rows), lock=self.lock)
        products = lookup(
            SoftwareProduct.objects.select_related("licence_product"),
            "name",
            (r.get("product") for r in rows),
        )
        product_ids = [p.pk for group in products.values() for p in group]
        versions: dict[tuple[int, str], SoftwareVersion] = {}
        wanted = {r.get("version").lower() for r in rows if r.get("version")}
        for chunk in chunks(wanted):
            for version in (
                SoftwareVersion.objects.select_related("product")
                .annotate(_import_key=Lower("version"))
                .filter(product_id__in=product_ids, _import_key__in=chunk)
            ):
                versions[(version.product_id, version._import_key)] = version
        ci_ids = [c.pk for group in cis.values() for c in group]
        current: dict[tuple[int, int], InstalledSoftware] = {}
        for chunk in chunks(ci_ids):
            for installation in InstalledSoftware.objects.select_related("version__product").filter(
                ci_id__in=chunk, product_id__in=product_ids, removed_at__isnull=True
            ):
                current[(installation.ci_id, installation.product_id)] = installation
        book = self._seat_book(products, ci_ids)
        named = (
            lookup(
                Licence.objects.select_related("licence_product"),
                "name",
                (r.get("licence") for r in rows),
            )
            if self.has("licence")
            else {}
        )
        for row in rows:
            if row.failed:
                continue
            ci = row.reference("ci", cis, "configuration item", attr="identifier", hint=CI_MISSING)
            product = row.reference(
                "product",
                products,
                "software product",
                attr="name",
                hint=" Add it to the DSL first.",
            )
            version_text = row.text("version", required=True, max_length=100)
            licence_name = row.text("licence", max_length=200) if self.has("licence") else ""
            installed_at = row.moment("installed_at") if self.has("installed_at") else None
            for column in ("ci", "product"):
                if not row.get(column):
                    row.error(column, "Required: give a value.")
            if row.failed:
                continue
            version = versions.get((product.pk, version_text.lower()))
            if version is None:
                row.error("version", f"{product} has no version {quote(version_text)} in the DSL.")
                continue
            if version.status not in RECORDABLE_STATUSES:
                row.error(
                    "version",
                    f"{version} is {version.get_status_display().lower()}: only authorised or "
                    "retired versions can be recorded as installed.",
                )
            licence = None
            if licence_name:
                licence = self._named_licence(row, named, licence_name, product, book)
            if installed_at is None:
                installed_at = now
            elif installed_at > now + FUTURE_TOLERANCE:
                row.error("installed_at", "Is in the future; give when it was installed.")
            state = current.get((ci.pk, product.pk))
            if state is not None and state.version_id == version.pk:
                if not row.failed:
                    self.report.unchanged += 1
                continue
            if state is not None and installed_at < state.installed_at:
                row.error(
                    "installed_at",
                    f"Is before the installation it replaces ({state.version} on {ci}, since "
                    f"{state.installed_at:%Y-%m-%d %H:%M} UTC).",
                )
            if row.failed:
                continue
            licence_id = licence.pk if licence is not None else None
            if state is not None:
                state.removed_at = installed_at
                if state.pk is not None:
                    self.to_close.append(state)
                book.release(state.licence_id, ci.pk)
                if licence_id is None:
                    licence_id = state.licence_id  # an upgrade keeps its seat
            lp = product.licence_product
            if licence_id is None and lp is not None:
                allocated = book.allocate(lp.pk, ci.pk)
                licence_id = allocated.pk if allocated is not None else None
                if licence_id is None:
                    row.warn(
                        "licence",
                        f"No valid licence of {lp} has a free seat: the installation is recorded "
                        "without a licence and a licence-missing error is raised.",
                    )
                    fingerprint = f"licence_missing:ci={ci.pk}:product={product.pk}"
                    self.missing[fingerprint] = (ci, version, lp)
            book.take(licence_id, ci.pk)
            installation = InstalledSoftware(
                ci=ci,
                product=product,
                version=version,
                licence_id=licence_id,
                installed_at=installed_at,
                source=InstallSource.IMPORT,
                source_reference=self.reference,
                recorded_by=self.user,
            )
            current[(ci.pk, product.pk)] = installation
            self.to_create.append(installation)
            if state is None:
                self.report.created += 1
            else:
                self.report.updated += 1

    def _seat_book(self, products, ci_ids) -> _SeatBook:
        licence_product_ids = {
            p.licence_product_id
            for group in products.values()
            for p in group
            if p.licence_product_id
        }
        if not licence_product_ids:
            return _SeatBook([], {})
        licences = Licence.objects.filter(licence_product_id__in=licence_product_ids)
        if self.lock:
            # Two allocations (an import and a release, say) must not both take the last seat.
            list(licences.select_for_update().values_list("pk", flat=True))
        with_usage = list(licences_with_usage(licences))
        per_ci = {}
        licence_ids = [lic.pk for lic in with_usage]
        for chunk in chunks(ci_ids):
            for licence_id, ci_id, count in (
                InstalledSoftware.objects.filter(
                    removed_at__isnull=True, licence_id__in=licence_ids, ci_id__in=chunk
                )
                .values_list("licence_id", "ci_id")
                .annotate(count=Count("id"))
                .values_list("licence_id", "ci_id", "count")
            ):
                per_ci[(licence_id, ci_id)] = count
        return _SeatBook(with_usage, per_ci)

    @staticmethod
    def _named_licence(row, named, name, product, book):
        lp = product.licence_product
        if lp is None:
            row.error("licence", f"{product} needs no licence; leave this blank.")
            return None
        matches = named.get(name.lower(), [])
        own = [lic for lic in matches if lic.licence_product_id == lp.pk]
        if len(own) == 1:
            return book.licences.get(own[0].pk, own[0])
        if len(own) > 1:
            row.error(
                "licence",
                f"{len(own)} licences of {lp} are named {quote(name)}; rename one first.",
            )
        elif matches:
            row.error(
                "licence",
                f"{quote(name)} is a licence of {matches[0].licence_product}, but {product} "
                f"needs a licence of {lp}.",
            )
        else:
            row.error("licence", f"No licence named {quote(name)} exists.")
        return None

    def write(self):
        now = timezone.now()
        update_in_batches(InstalledSoftware, self.to_close, ["removed_at"])
        InstalledSoftware.objects.bulk_create(self.to_create, batch_size=BATCH_SIZE)
        for installation in self.to_create[:50]:
            self.touch("ci", f"{installation.version} on {installation.ci}", installation.ci_id)
        open_ = set()
        for chunk in chunks(self.missing):
            open_.update(
                Discrepancy.objects.filter(
                    fingerprint__in=chunk, resolved_at__isnull=True
                ).values_list("fingerprint", flat=True)
            )
        Discrepancy.objects.bulk_create(
            [
                Discrepancy(
                    category=ERROR_KIND_CATEGORY[ErrorKind.LICENCE_MISSING],
                    kind=ErrorKind.LICENCE_MISSING,
                    source=ErrorSource.IMPORT,
                    subject=f"{version} on {ci}"[:200],
                    expected=f"a free seat of {lp}",
                    found="no valid licence with a free seat",
                    ci=ci,
                    software_version=version,
                    reference=self.reference,
                    fingerprint=fingerprint,
                    detected_at=now,
                )
                for fingerprint, (ci, version, lp) in self.missing.items()
                if fingerprint not in open_
            ],
            batch_size=BATCH_SIZE,
        )

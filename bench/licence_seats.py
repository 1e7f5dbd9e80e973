"""Seats in use for 1,000 licences over 100,000 installed-software rows: `licences_with_usage()`
must be one aggregate query; its time is measured (median of several runs). The CMDB integrity
check over the same estate is timed too (first run records its findings, the second finds
nothing new).

The estate (18,000 CIs, 50 licensed products, 1,000 licences, 90,000 current + 10,000 removed
installations) is bulk-inserted, and removed afterwards unless `--keep` is given (then reused)."""

import argparse
import shutil
import statistics
import time
from datetime import timedelta

from _server import setup_django, temp_var_dir

PRODUCTS = 50
LICENCES = 1000
CIS = 18_000
PER_CI = 5  # products installed on every CI → 90,000 current rows
REMOVED = 10_000


def remove() -> None:
    from cmdb.models import ConfigurationItem, InstalledSoftware, Licence

    InstalledSoftware.objects.filter(source_reference="bench").delete()
    Licence.objects.filter(name__startswith="bench-").delete()
    ConfigurationItem.objects.filter(identifier__startswith="seat-").delete()


def analyse() -> None:
    from django.conf import settings
    from django.db import connection

    with connection.cursor() as cursor:
        if settings.USING_POSTGRES:
            for table in ("cmdb_installedsoftware", "cmdb_licence", "cmdb_configurationitem"):
                cursor.execute(f"VACUUM ANALYZE {table}")
        else:
            cursor.execute("ANALYZE")


def seed() -> None:
    from django.utils import timezone

    from cmdb.models import ConfigurationItem, InstalledSoftware, Licence
    from dsl_dhs.models import LicenceProduct, SoftwareProduct, SoftwareVersion

    if InstalledSoftware.objects.filter(source_reference="bench").count() == CIS * PER_CI + REMOVED:
        analyse()
        return
    remove()
    licence_products = [
        LicenceProduct.objects.get_or_create(name=f"bench-lp-{n}")[0] for n in range(PRODUCTS)
    ]
    products = [
        SoftwareProduct.objects.get_or_create(
            name=f"bench-product-{n}", defaults={"licence_product": licence_products[n]}
        )[0]
        for n in range(PRODUCTS)
    ]
    versions = {
        product.pk: [
            SoftwareVersion.objects.get_or_create(
                product=product, version=v, defaults={"status": "authorised"}
            )[0]
            for v in ("1.0", "2.0")
        ]
        for product in products
    }
    metrics = ["per_device", "per_seat", "subscription", "site"]
    today = timezone.localdate()
    licences = Licence.objects.bulk_create(
        Licence(
            licence_product=licence_products[n % PRODUCTS],
            name=f"bench-licence-{n:04d}",
            metric=metrics[n % 4],
            seats=None if metrics[n % 4] == "site" else 60 + n % 80,
            low_seat_threshold=5,
            valid_until=today + timedelta(days=(n % 10) * 60 - 60),
        )
        for n in range(LICENCES)
    )
    by_product = {}
    for licence in licences:
        by_product.setdefault(licence.licence_product_id, []).append(licence)
    cis = ConfigurationItem.objects.bulk_create(
        (
            ConfigurationItem(identifier=f"seat-{n:06d}", name=f"Seat {n}", kind="workstation")
            for n in range(CIS)
        ),
        batch_size=5000,
    )
    now = timezone.now()
    rows = []
    for n, ci in enumerate(cis):
        for k in range(PER_CI):
            product = products[(n + k * 7) % PRODUCTS]
            pool = by_product[product.licence_product_id]
            rows.append(
                InstalledSoftware(
                    ci=ci,
                    product=product,
                    version=versions[product.pk][1],
                    licence=pool[n % len(pool)] if n % 40 else None,
                    installed_at=now,
                    source="import",
                    source_reference="bench",
                )
            )
    for n in range(REMOVED):
        ci = cis[n % CIS]
        product = products[n % PRODUCTS]
        rows.append(
            InstalledSoftware(
                ci=ci,
                product=product,
                version=versions[product.pk][0],
                licence=by_product[product.licence_product_id][0],
                installed_at=now - timedelta(days=30),
                removed_at=now - timedelta(days=1),
                source="import",
                source_reference="bench",
            )
        )
    InstalledSoftware.objects.bulk_create(rows, batch_size=5000)
    analyse()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--keep", action="store_true", help="keep the estate in the database for the next run"
    )
    args = parser.parse_args()
    var_dir = temp_var_dir()
    try:
        setup_django(var_dir)
        from django.conf import settings
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from cmdb.models import InstalledSoftware, Licence
        from cmdb.selectors import licences_with_usage
        from cmdb.services.integrity import cmdb_integrity_check

        started = time.perf_counter()
        seed()
        print(f"estate ready in {time.perf_counter() - started:.1f} s")
        database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        licences = Licence.objects.filter(name__startswith="bench-").count()
        rows = InstalledSoftware.objects.filter(source_reference="bench").count()
        with CaptureQueriesContext(connection) as queries:
            result = list(licences_with_usage())
        assert len(queries) == 1, len(queries)
        timings = []
        for _ in range(args.runs):
            started = time.perf_counter()
            result = list(licences_with_usage())
            timings.append(time.perf_counter() - started)
        over = sum(1 for licence in result if licence.is_over)
        print(
            f"licences_with_usage  {database:10} licences={licences} installations={rows}  "
            f"queries={len(queries)}  median {statistics.median(timings) * 1000:.0f} ms  "
            f"min {min(timings) * 1000:.0f} ms  ({over} over-used)"
        )
        for label in ("first run", "second run"):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                summary = cmdb_integrity_check(notify=False)
                elapsed = time.perf_counter() - started
            print(
                f"integrity check ({label})  {database:10} {elapsed * 1000:.0f} ms  "
                f"queries={len(queries)}  found={summary['found']} new={summary['new']} "
                f"resolved={summary['resolved']}"
            )
        if not args.keep:
            from cmdb.models import Discrepancy
            from releasemgmt.core.models import AuditEvent

            remove()
            Discrepancy.objects.filter(source="integrity_check").delete()
            AuditEvent.objects.filter(action__startswith="cmdb.").delete()
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Units of time, sizes, and the words the made-up history uses: categories, reasons,
resolutions, licence and product names, back-out steps."""

from __future__ import annotations

from datetime import timedelta

from cmdb.choices import ErrorKind
from releases.choices import DistributionState, InstallationState, ReleaseState

S = ReleaseState
IS = InstallationState
DS = DistributionState
HOUR = 3600.0
MINUTE = 60.0
DAY = 24 * HOUR
HOUR_DELTA = timedelta(hours=1)

# Change requests of the past come from the production ServiceNow (and some from Jira); the demo
# recognises its history by them.
HISTORY_SOURCE = "servicenow-prod"
JIRA_SOURCE = "jira-sm"
CHUNK = 2000  # releases simulated and written per round
BATCH = 5000  # rows per INSERT

STANDARD, ANTIVIRUS, EMERGENCY = "Standard change", "Antivirus definition update", "Emergency fix"
AUTO_REASON = "Nobody decided before the deadline: the back-out starts automatically."
RESOLVED_BY_CHECK = "No longer found by the integrity check."

CANCEL_REASONS = (
    "Superseded by the next release of the unit.",
    "The change was rejected by the CAB.",
    "The vendor withdrew the update.",
    "Merged into the quarterly package.",
    "The business asked to postpone it until after the closing period.",
    "Duplicate of a release already planned.",
)
FAIL_TEST_REASONS = (
    "Regression in the nightly suite: two invoices rounded differently.",
    "Smoke tests failed on the test environment.",
    "The back-out rehearsal did not restore the baseline cleanly.",
    "Performance test above the agreed response time.",
    "Integration check with identity failed (token audience).",
)
REPLAN_REASONS = (
    "Verification found retired targets: target list corrected.",
    "Licence seats short: roll-out narrowed to the first ring.",
    "The expected from-version differs on some targets: plan adjusted.",
)
OVERRIDE_REASONS = (
    "The failures are all on machines with a full disk; the fix is rolled out separately and the "
    "installed majority must not be rolled back during the closing period.",
    "The failing targets are in the lab ring and will be reimaged; backing out the production "
    "ring would cost more than it saves.",
    "The health check failed on a known false positive (monitoring agent restart); the service "
    "is up, verified by hand.",
    "Only the retry-able installer error 1618 failed; continuing and retrying is safer than "
    "restoring 200 seats.",
    "Vendor support confirmed the failures are cosmetic; the users need the fix today.",
)
WITHDRAWN_REASONS = (
    "Continue: the failures look like a transient network problem.",
    "Continue: most targets are fine, we retry the rest tonight.",
)
REVIEW_REASONS = (
    "",
    "",
    "Post-implementation review: no incidents, users informed.",
    "Post-implementation review: installed on every target; one retry.",
)
RESOLUTIONS = {
    ErrorKind.VERSION_MISMATCH: (
        "The CMDB record was updated to the version found on the machine.",
        "Reinstalled the recorded version from the DSL.",
    ),
    ErrorKind.RETIRED_TARGET: ("Removed the retired CI from the plan and the service.",),
    ErrorKind.MISSING_TARGET: ("Registered the machine in the CMDB after checking its asset tag.",),
    ErrorKind.DUPLICATE_IDENTITY: (
        "Merged the duplicate records; the serial number was mistyped.",
    ),
    ErrorKind.BROKEN_RELATIONSHIP: ("Pointed the relationship at the replacement server.",),
    ErrorKind.UNAUTHORISED_SOFTWARE: (
        "Uninstalled the unauthorised version; ticket raised with the user.",
    ),
    ErrorKind.SEATS_EXCEEDED: ("Bought 25 more seats; contract amended.",),
    ErrorKind.LICENCE_EXPIRED: ("Renewal recorded in the CMDB.",),
    ErrorKind.LICENCE_MISSING: ("Assigned a seat of the enterprise agreement.",),
    ErrorKind.HARDWARE_NOT_RESERVED: ("Reserved the units in the DHS.",),
}
LICENCE_NAMES = (
    "Microsoft 365 Apps — 2026",
    "Adobe Acrobat Pro — 2024",
    "Endpoint Protection Suite — enterprise",
    "Oracle Database EE — processor",
)
# Products a unit's releases carry, by the unit's identifier (titles only; others use its name).
PRODUCTS = {
    "billing": ("Billing Service", "Oracle Database"),
    "customer-portal": ("Customer Portal", "Nginx"),
    "identity": ("Identity Provider",),
    "data-warehouse": ("Warehouse ETL", "Oracle Database"),
    "monitoring": ("Prometheus", "Grafana"),
    "workplace": ("Microsoft 365 Apps", "Adobe Acrobat Pro", "Endpoint Protection"),
    "erp": ("ERP Suite", "PostgreSQL"),
    "crm": ("CRM Server",),
    "intranet": ("Intranet CMS", "Nginx"),
    "endpoint-fleet": ("Microsoft 365 Apps", "Endpoint Protection", "7-Zip"),
}


BACKOUT_STEPS = (
    "Stop the service (or the installer) on each target",
    "Reinstall the previous version from the DSL",
    "Run the smoke tests and tell the service desk",
)


# The demo's release categories (name, description, waives communication, training, rehearsal,
# four eyes).
CATEGORIES = [
    (
        "Standard change",
        "Pre-approved, routine releases: tests, verification and review by someone other than "
        "the owner.",
        False,
        False,
        False,
        True,
    ),
    (
        "Antivirus definition update",
        "Signature updates: no communication or training needed.",
        True,
        True,
        False,
        False,
    ),
    (
        "Emergency fix",
        "Urgent fixes under the emergency change process.",
        False,
        True,
        False,
        False,
    ),
]

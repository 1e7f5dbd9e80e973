"""Reads of releases: lists, the pipeline, a release with everything its page shows, the
baseline diff. Each costs a fixed number of queries whatever the number of rows."""

from datetime import timedelta
from functools import cache

from django.conf import settings
from django.db.models import (
    Count,
    F,
    Func,
    IntegerField,
    OuterRef,
    Prefetch,
    QuerySet,
    Subquery,
)
from django.utils import timezone

from releasemgmt.core.sql import JsonRows
from releases.choices import FINAL_STATES, ItemKind, ReleaseState
from releases.models import (
    ChangeRequest,
    Release,
    ReleaseItem,
    ReleaseTarget,
    ReleaseTransition,
    TestScopeItem,
)
from releases.services.levels import release_baseline


def release_list() -> QuerySet:
    """Releases for the list page, newest first, their unit, owner, category and changes joined
    or prefetched; the per-release figures come from ``attach_figures`` for one page of them —
    aggregating items and targets over every release would cost a join and a GROUP BY over the
    whole table before the first row is known."""
    return (
        Release.objects.select_related("release_unit", "owner", "category")
        .prefetch_related(
            # a plain list (to_attr): no related manager built per row
            Prefetch(
                "change_requests",
                queryset=ChangeRequest.objects.only(
                    "id", "number", "title", "state", "source_system"
                ),
                to_attr="change_list",
            )
        )
        .order_by("-created_at", "-id")
    )


# What a release list row shows (the API's list serializer reads these keys): its own columns,
# the names of its unit, owner and category.
RELEASE_ROW_COLUMNS = (
    "id",
    "number",
    "title",
    "state",
    "level",
    "trigger",
    "trigger_reference",
    "installation_start",
    "installation_end",
    "outcome",
    "created_at",
    "state_changed_at",
    "release_unit__identifier",
    "owner__username",
    "category__name",
)
CHANGE_ROW_COLUMNS = ("id", "number", "title", "state", "source_system")


def release_list_rows() -> QuerySet:
    """The release list as plain rows (dicts, no model instances), newest first: the columns
    of ``RELEASE_ROW_COLUMNS``, ``change_list`` (its changes as rows of ``CHANGE_ROW_COLUMNS``,
    newest first), ``item_count`` and ``target_count``. One statement: the changes and the item
    count are per-row subqueries, which the database computes for the rows of the page alone
    (after the sort and the limit); the target count is the one kept with the targets. A filter,
    a sort or the pagination apply as on ``release_list``."""
    return _release_rows().all()


@cache
def _release_rows() -> QuerySet:
    # built once: a queryset is copied, not rebuilt, for each request
    changes = ChangeRequest.objects.filter(releases=OuterRef("pk")).values(*CHANGE_ROW_COLUMNS)
    return (
        Release.objects.order_by("-created_at", "-id")
        .values(*RELEASE_ROW_COLUMNS)
        .annotate(
            change_list=JsonRows(changes),  # the changes' own order: newest first
            item_count=_item_count(),
            target_count=F("count_targets"),
        )
    )


def attach_figures(releases) -> None:
    """Give each release of one list page (the page, a change's releases) ``item_count``,
    ``target_count`` (the one kept with the targets) and ``last_report`` (the latest target
    report). One query: per-release subqueries, each answered from an index (a 10,000-target
    release costs no more than an empty one)."""
    releases = list(releases)
    figures = {
        pk: (items, last)
        for pk, items, last in Release.objects.filter(pk__in=[r.pk for r in releases])
        .order_by()
        .values_list("pk", _item_count(), _last_report())
    }
    for release in releases:
        release.item_count, release.last_report = figures.get(release.pk, (0, None))
        release.target_count = release.count_targets


def _item_count():
    # COUNT(*) without a GROUP BY: always one row, 0 for none. No COALESCE: its 0 would be a
    # parameter, and a statement with parameters is planned again on every run (settings).
    items = ReleaseItem.objects.filter(release_id=OuterRef("pk")).order_by()
    items = items.annotate(n=Func(template="COUNT(*)", output_field=IntegerField())).values("n")
    return Subquery(items)


def _last_report():
    # MAX over the (release, last report) index: its last entry, not a scan of the targets
    targets = ReleaseTarget.objects.filter(release_id=OuterRef("pk")).order_by()
    return Subquery(targets.annotate(last=Func("last_report_at", function="MAX")).values("last"))


# The release list's sortable columns: ``?sort=<key>`` ascending, ``?sort=-<key>`` descending.
RELEASE_SORTS = {
    "number": ("number",),
    "title": ("title",),
    "state": ("state",),
    "updated": ("updated_at",),
    "window": ("installation_start",),
}
# States whose release is in trouble whatever its figures say.
TROUBLE_STATES = frozenset(
    {
        ReleaseState.VERIFICATION_FAILED,
        ReleaseState.BACKOUT_REQUIRED,
        ReleaseState.BACKING_OUT,
    }
)


def release_list_sorted(queryset: QuerySet, sort: str) -> tuple[QuerySet, str]:
    """``queryset`` ordered by the column ``sort`` names (``-`` for descending; the id breaks
    ties, an unset window sorts last), and the sort applied (``""`` when unknown: newest first)."""
    key = sort.removeprefix("-")
    if key not in RELEASE_SORTS:
        return queryset, ""
    descending = sort.startswith("-")
    order = []
    for field in RELEASE_SORTS[key]:
        # NULLS LAST only where a value can be unset: a column that cannot be is then read from
        # its index in either direction
        nulls_last = True if Release._meta.get_field(field).null else None
        column = F(field)
        order.append(
            column.desc(nulls_last=nulls_last) if descending else column.asc(nulls_last=nulls_last)
        )
    return queryset.order_by(*order, "-id" if descending else "id"), sort


def attach_health(releases, *, now=None) -> None:
    """Give each release of a list page (with ``attach_figures``) ``progress`` (installed
    and failed of N targets, as percentages for the bar) and ``health``: ``stuck`` (installing and
    no target report for the dashboards' ``DASHBOARD_STUCK_MINUTES``), ``failing`` (a target
    failed in an open release, or a verification failure or back-out under way) or ``""``. No query."""
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.DASHBOARD_STUCK_MINUTES)
    for release in releases:
        total = release.target_count
        failed = release.count_install_failed + release.count_distribution_failed
        release.progress = {
            "total": total,
            "installed": release.count_installed,
            "failed": failed,
            "installed_percent": round(100 * release.count_installed / total, 1) if total else 0,
            "failed_percent": round(100 * min(failed, total) / total, 1) if total else 0,
        }
        started = release.state_changed_at or release.created_at
        quiet = max(release.last_report, started) if release.last_report else started
        if release.state == ReleaseState.INSTALLING and quiet < cutoff:
            release.health = "stuck"
            release.quiet_since = quiet
        elif release.state not in FINAL_STATES and (failed or release.state in TROUBLE_STATES):
            release.health = "failing"
        else:
            release.health = ""


def release_detail(pk: int, *, with_targets: bool = True) -> Release:
    """One release with its contents, targets, plan, tests, tasks, changes and timeline."""
    return (
        Release.objects.select_related(
            "release_unit", "owner", "category", "created_by", "implementation_review"
        )
        .prefetch_related(
            Prefetch(
                "items",
                queryset=ReleaseItem.objects.select_related(
                    "software_version__product",
                    "replaces_version",
                    "restore_version",
                    "hardware_model",
                    "change_request",
                ),
            ),
            *(["targets__ci"] if with_targets else []),
            "failure_conditions",
            "backout_steps",
            Prefetch(
                "test_scope", queryset=TestScopeItem.objects.select_related("signed_off_by", "item")
            ),
            "rollout_tasks__done_by",
            "change_requests",
            Prefetch(
                "transitions",
                queryset=ReleaseTransition.objects.select_related("by").order_by("at", "id"),
            ),
        )
        .get(pk=pk)
    )


def baseline_diff(release: Release) -> list[dict]:
    """The contents against the unit's baseline: one row per product, with what the baseline
    has, what the release brings and whether it changed (``new``, ``changed``, ``unchanged``)."""
    baseline = release_baseline(release.release_unit_id, exclude_release_id=release.pk)
    rows = []
    for item in release.items.all():
        if item.kind != ItemKind.SOFTWARE:
            rows.append(
                {
                    "product": str(item.hardware_model),
                    "baseline": None,
                    "release": f"{item.quantity} unit(s)",
                    "status": "hardware",
                    "item": item,
                }
            )
            continue
        version = item.software_version
        before = baseline.get(version.product_id)
        status = "new" if before is None else ("unchanged" if before == version else "changed")
        rows.append(
            {
                "product": version.product.name,
                "baseline": before.version if before else None,
                "release": version.version,
                "status": status,
                "item": item,
            }
        )
    return rows


def release_state_counts(queryset: QuerySet | None = None) -> dict[str, int]:
    """``{state: number of releases}`` of ``queryset`` (every release by default), states with
    none left out. One query, counted on the bare rows (under a filter that may join a release
    twice — a change, several states — through a semi-join: nothing is counted twice and no
    DISTINCT sorts the rows)."""
    releases = Release.objects.all() if queryset is None else queryset
    if releases.query.distinct:  # a filter that may join a release twice (a change, states)
        releases = Release.objects.filter(pk__in=queryset.order_by().values("pk"))
    return dict(
        # COUNT(*), not of the id: the state index answers alone, without reading the rows
        releases.order_by().values_list("state").annotate(n=Count("*")).values_list("state", "n")
    )


# Where the releases move by themselves (agents, the picker, the watchdog): the board's first
# columns, so they are in sight without scrolling.
PIPELINE_LIVE_STATES = (
    ReleaseState.DISTRIBUTING,
    ReleaseState.INSTALLING,
    ReleaseState.BACKOUT_REQUIRED,
    ReleaseState.BACKING_OUT,
)


def pipeline(*, limit_per_state: int = 20) -> list[dict]:
    """The board: one column per non-final state with its count and newest releases; the live
    states first (``live``), then the others in the order of the lifecycle."""
    counts = release_state_counts()
    open_releases = list(
        Release.objects.exclude(state__in=FINAL_STATES)
        .select_related("release_unit", "owner")
        .order_by("-state_changed_at", "-created_at")
    )
    order = [
        *PIPELINE_LIVE_STATES,
        *(s for s in ReleaseState if s not in FINAL_STATES and s not in PIPELINE_LIVE_STATES),
    ]
    columns = []
    for state in order:
        in_state = [r for r in open_releases if r.state == state][:limit_per_state]
        columns.append(
            {
                "state": state.value,
                "label": state.label,
                "count": counts.get(state.value, 0),
                "releases": in_state,
                "live": state in PIPELINE_LIVE_STATES,
            }
        )
    return columns


def change_request_list() -> QuerySet:
    return ChangeRequest.objects.annotate(release_count=Count("releases")).order_by(
        "-created_at", "-id"
    )

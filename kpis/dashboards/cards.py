"""The dashboard's cards: who sees each, how urgent it is, what it reads and how it looks.

A user sees the cards of every role they hold, once each (a superuser sees them all), ordered
by urgency: cards that hold something first — back-outs waiting for a decision, then stuck and
live deployments, and so on — then the "all clear" ones in the same order.

To add a card (e.g. the auditor's KPI summary), ``register(Card(...))`` it from the module that
reads its figures: ``load(user=, now=)`` returns the template's ``data`` in a fixed number of
queries, with ``count`` (0 = nothing needs anyone) and, when a list page shows the same items,
``url`` (that page, filtered); the template extends ``kpis/dashboards/cards/_card.html``."""

from collections.abc import Callable
from dataclasses import dataclass

from kpis.dashboards import selectors
from kpis.definitions import UTC
from kpis.selectors import kpi_summary
from releasemgmt.accounts import roles
from releasemgmt.core.selectors import health_report


@dataclass(frozen=True)
class Card:
    key: str  # in its refresh URL and its element id: card-<key>
    title: str
    roles: frozenset[str]
    urgency: int  # lower comes first
    template: str
    load: Callable[..., dict]
    refresh: int = 0  # seconds between live refreshes (htmx); 0 = when the page loads
    tone: str = "warn"  # how a card that holds something is marked: bad, warn or info
    wide: bool = False  # two columns on wide screens


def _health(*, user, now) -> dict:
    healthy, report = health_report()
    # A failing check comes right after the back-outs; a healthy system after every other card.
    return {"health": report, "healthy": healthy, "count": 0 if healthy else 1}


OPS = roles.OPS
RM = roles.RELEASE_MANAGER
CM = roles.CHANGE_MANAGER
CONF = roles.CONFIGURATION_MANAGER
AUDITOR = roles.AUDITOR
T = "kpis/dashboards/cards/"

CARDS: list[Card] = [
    Card(
        "backouts",
        "Back-outs waiting for a decision",
        frozenset({OPS}),
        10,
        T + "backouts.html",
        lambda *, user, now: selectors.backouts_waiting(now=now),
        refresh=15,
        tone="bad",
        wide=True,
    ),
    Card(
        "stuck",
        "Stuck installations",
        frozenset({RM}),
        20,
        T + "stuck.html",
        lambda *, user, now: selectors.stuck_releases(now=now),
        refresh=30,
        tone="bad",
    ),
    Card(
        "live-deployments",
        "Live deployments",
        frozenset({OPS}),
        30,
        T + "live_deployments.html",
        lambda *, user, now: selectors.live_deployments(now=now),
        refresh=15,
        tone="info",
        wide=True,
    ),
    Card(
        "deliveries",
        "Webhook deliveries needing a person",
        frozenset({CM}),
        40,
        T + "deliveries.html",
        lambda *, user, now: selectors.deliveries_needing_attention(now=now),
        refresh=30,
    ),
    Card(
        "cancelled-changes",
        "Releases of cancelled changes",
        frozenset({CM}),
        45,
        T + "cancelled_changes.html",
        lambda *, user, now: selectors.releases_of_cancelled_changes(now=now),
        tone="bad",
    ),
    Card(
        "verification-failures",
        "Verification failures",
        frozenset({CONF}),
        50,
        T + "verification_failures.html",
        lambda *, user, now: selectors.verification_failures(now=now),
        tone="bad",
    ),
    Card(
        "licence-shortfalls",
        "Licences planned releases would exhaust",
        frozenset({RM}),
        55,
        T + "licence_shortfalls.html",
        lambda *, user, now: selectors.licence_shortfalls(now=now),
    ),
    Card(
        "my-releases",
        "My releases",
        frozenset({RM}),
        60,
        T + "my_releases.html",
        lambda *, user, now: selectors.my_releases(user=user, now=now),
        tone="info",
        wide=True,
    ),
    Card(
        "installations-due",
        "Installations due in the next 48 hours",
        frozenset({RM}),
        65,
        T + "installations_due.html",
        lambda *, user, now: selectors.installations_due(now=now),
        tone="info",
    ),
    Card(
        "errors-by-age",
        "Open CMDB and licence errors by age",
        frozenset({CONF}),
        70,
        T + "errors_by_age.html",
        lambda *, user, now: selectors.open_errors_by_age(now=now),
    ),
    Card(
        "licences-low",
        "Licences near exhaustion",
        frozenset({CONF}),
        75,
        T + "licences_low.html",
        lambda *, user, now: selectors.licences_near_exhaustion(now=now),
    ),
    Card(
        "quarantined-versions",
        "Quarantined DSL versions",
        frozenset({CONF}),
        80,
        T + "quarantined_versions.html",
        lambda *, user, now: selectors.quarantined_versions(now=now),
    ),
    Card(
        "freeze-windows",
        "Freeze windows in the next 14 days",
        frozenset({RM}),
        85,
        T + "freeze_windows.html",
        lambda *, user, now: selectors.freeze_windows_coming(now=now),
        tone="info",
    ),
    Card(
        "halts",
        "Halts and automatic back-outs, last 7 days",
        frozenset({OPS, AUDITOR}),
        90,
        T + "halts.html",
        lambda *, user, now: selectors.halts_and_automatic_backouts(now=now),
        refresh=30,
        tone="info",
    ),
    Card(
        "overrides",
        "Back-out overrides",
        frozenset({AUDITOR}),
        95,
        T + "overrides.html",
        lambda *, user, now: selectors.backout_overrides(now=now),
        tone="info",
    ),
    Card(
        "kpi-summary",
        "KPIs this month",
        frozenset({AUDITOR}),
        97,
        T + "kpi_summary.html",
        lambda *, user, now: kpi_summary(today=now.astimezone(UTC).date()),
        tone="warn",
        wide=True,
    ),
    # Every role sees the health; its own partial refreshes it (core:health-panel).
    Card(
        "health",
        "System health",
        frozenset(roles.ROLES),
        15,
        T + "health.html",
        _health,
        tone="bad",
    ),
]


def register(card: Card) -> Card:
    """Add a card (replacing one with the same key)."""
    CARDS[:] = [c for c in CARDS if c.key != card.key]
    CARDS.append(card)
    return card


def visible_cards(user, role_names) -> list[Card]:
    """The cards ``user`` (holding ``role_names``) sees: those of any of their roles, every one
    for a superuser."""
    held = set(role_names)
    return [card for card in CARDS if user.is_superuser or card.roles & held]


def card_named(key: str) -> Card | None:
    return next((card for card in CARDS if card.key == key), None)


def load(card: Card, *, user, now) -> dict:
    return card.load(user=user, now=now)


def assemble(user, role_names, *, now) -> list[dict]:
    """``[{"card": Card, "data": dict}]`` for the user's cards: those holding something first,
    most urgent first; then the empty ones, also by urgency (a healthy system last of all)."""
    entries = [
        {"card": card, "data": load(card, user=user, now=now)}
        for card in visible_cards(user, role_names)
    ]

    def order(entry):
        card, data = entry["card"], entry["data"]
        if card.key == "health" and not data["count"]:
            return (2, 0)
        return (0 if data["count"] else 1, card.urgency)

    return sorted(entries, key=order)

"""Badges, labels and the inlined state diagram of the release pages."""

import re
from functools import lru_cache

from django import template
from django.contrib.staticfiles import finders
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from releasemgmt.core.templatetags.when import when_text
from releases.choices import ReleaseState, TestResult

register = template.Library()

S = ReleaseState
# One colour per family of states (styled in static/css/releases.css).
STATE_FAMILIES = {
    S.REQUESTED: "planning",
    S.PLANNED: "planning",
    S.BUILT: "building",
    S.TESTING: "building",
    S.ACCEPTED: "building",
    S.ROLLOUT_PLANNED: "building",
    S.VERIFIED: "deploying",
    S.DISTRIBUTING: "deploying",
    S.DISTRIBUTED: "deploying",
    S.INSTALLING: "deploying",
    S.INSTALLED: "done",
    S.REVIEWED: "done",
    S.CLOSED: "done",
    S.VERIFICATION_FAILED: "backout",
    S.BACKOUT_REQUIRED: "backout",
    S.BACKING_OUT: "backout",
    S.BACKED_OUT: "backout",
    S.CANCELLED: "cancelled",
}
TRANSITION_LABELS = {
    "plan": "Plan",
    "replan": "Replan",
    "build": "Build",
    "start_tests": "Start tests",
    "fail_tests": "Fail tests",
    "accept": "Accept",
    "plan_rollout": "Plan roll-out",
    "verify": "Verify",
    "fail_verification": "Fail verification",
    "distribute": "Distribute",
    "complete_distribution": "Complete distribution",
    "install": "Install",
    "complete_installation": "Complete installation",
    "require_backout": "Require back-out",
    "approve_backout": "Approve back-out",
    "override_backout": "Override back-out",
    "complete_backout": "Complete back-out",
    "review": "Review",
    "close": "Close",
    "cancel": "Cancel release",
}
# Transitions that step back or stop: drawn as secondary buttons, not as the way forward.
BACKWARD = frozenset({"replan", "fail_tests", "fail_verification", "cancel", "override_backout"})
RESULT_CLASSES = {
    TestResult.PASSED: "ok",
    TestResult.FAILED: "bad",
    TestResult.PENDING: "warn",
    TestResult.WAIVED: "",
}
DIAGRAM = "releases/state-diagram.svg"


@register.filter
def state_family(state: str) -> str:
    return STATE_FAMILIES.get(state, "planning")


# A Django enum rebuilds its ``values`` and ``choices`` lists on every access; a list page asks
# for a label per row.
STATE_LABELS = dict(S.choices)


@register.simple_tag
def state_badge(state: str):
    """``<span class="badge state state-building" data-state="testing">Testing</span>``"""
    label = STATE_LABELS.get(state, state)
    return format_html(
        '<span class="badge state state-{}" data-state="{}">{}</span>',
        state_family(state),
        state,
        label,
    )


@register.filter
def transition_label(name: str) -> str:
    return TRANSITION_LABELS.get(name, name.replace("_", " ").capitalize())


@register.filter
def is_backward(name: str) -> bool:
    return name in BACKWARD


@register.filter
def result_class(result: str) -> str:
    return RESULT_CLASSES.get(result, "")


@register.simple_tag
def window(start, end, short=False) -> str:
    """A window in the current (the user's) time zone, in the pages' one format:
    ``12 Jun 2026 10:00 – 18:00`` on one day, ``12 Jun 2026 10:00 – 13 Jun 2026 18:00`` across
    days, ``—`` when not set. ``short`` is accepted for old callers and changes nothing."""
    if start is None and end is None:
        return "—"
    if start is None or end is None:
        return f"{'from' if start else 'until'} {when_text(start or end)}"
    start, end = timezone.localtime(start), timezone.localtime(end)
    if start.date() == end.date():
        return f"{when_text(start)} – {end.hour:02d}:{end.minute:02d}"  # the format's H:i
    return f"{when_text(start)} – {when_text(end)}"


@lru_cache(maxsize=1)
def _diagram_source() -> str:
    path = finders.find(DIAGRAM)
    if not path:
        return ""
    with open(path, encoding="utf-8") as handle:
        svg = handle.read()
    # Scales to its box; the pt size graphviz writes would overflow the page.
    svg = re.sub(r'<svg width="[^"]*" height="[^"]*"', '<svg role="img"', svg, count=1)
    return _human_titles(svg)


def _state_label(name: str) -> str:
    return STATE_LABELS.get(name) or name.replace("_", " ").capitalize()


def _human_titles(svg: str) -> str:
    """Graphviz titles its nodes and edges with internal names (``rollout_planned``,
    ``releases.release.state.testing->releases.release.state.built``), which the browser shows on
    hover: the states' labels instead (``Roll-out planned``, ``Testing → Built``)."""
    prefix = "releases.release.state."

    def title(match) -> str:
        text = match.group(1).replace("&#45;&gt;", "->").replace("-&gt;", "->")
        if "->" in text:
            source, target = (part.removeprefix(prefix) for part in text.split("->", 1))
            return f"<title>{_state_label(source)} → {_state_label(target)}</title>"
        if text.removeprefix(prefix) in STATE_LABELS:
            return f"<title>{_state_label(text.removeprefix(prefix))}</title>"
        return "<title>Release states</title>"

    return re.sub(r"<title>([^<]*)</title>", title, svg)


@register.simple_tag
def state_diagram(state: str):
    """The state diagram inlined, with the node of ``state`` marked ``current`` (CSS highlights
    it). Empty when the SVG has not been rendered (``manage.py render_state_diagram``)."""
    svg = _diagram_source()
    if not svg:
        return ""
    svg = svg.replace(
        "<svg ", f'<svg aria-label="State diagram; current state: {_state_label(state)}" ', 1
    )
    svg = svg.replace(
        f'class="node" data-state="{state}"', f'class="node current" data-state="{state}"', 1
    )
    return mark_safe(svg)  # noqa: S308 (our own rendered file, not user input)


# Deployment: target states, the figures recorded when a failure condition was met, checks.

# badge tone per distribution / installation state (styled in app.css and releases.css)
TARGET_STATE_TONES = {
    "delivered": "ok",
    "in_transit": "info",
    "succeeded": "ok",
    "running": "info",
    "failed": "bad",
    "backout_failed": "bad",
    "halted": "warn",
    "backing_out": "warn",
    "backed_out": "neutral",
}
FIGURE_LABELS = (
    ("failure_rate_percent", "Failure rate"),
    ("targets", "Targets"),
    ("distributed", "Distributed"),
    ("distribution_failed", "Distribution failed"),
    ("installed", "Installed"),
    ("installation_failed", "Installation failed"),
    ("halted", "Halted at once"),
)
CHECK_KIND_LABELS = {
    "dsl_version": "DSL version authorised",
    "dsl_checksum": "Artefact checksum",
    "target_active": "Target active in the CMDB",
    "from_version": "Expected version installed",
    "licence": "Licence seats and validity",
    "hardware_reserved": "Hardware reserved in the DHS",
}


@register.simple_tag
def target_badge(state: str, label: str):
    """``<span class="badge tone-bad" data-state="failed">Failed</span>``"""
    return format_html(
        '<span class="badge tone-{}" data-state="{}">{}</span>',
        TARGET_STATE_TONES.get(state, "neutral"),
        state,
        label,
    )


@register.filter
def figure_rows(figures) -> list[tuple[str, str]]:
    """The figures recorded when a failure condition was met, labelled, in a fixed order
    (unknown keys after, so nothing recorded is hidden)."""
    figures = figures or {}
    rows = []
    for key, label in FIGURE_LABELS:
        if key in figures:
            value = figures[key]
            rows.append((label, f"{value} %" if key == "failure_rate_percent" else str(value)))
    known = {key for key, _ in FIGURE_LABELS}
    rows.extend(
        (key.replace("_", " ").capitalize(), str(value))
        for key, value in figures.items()
        if key not in known
    )
    return rows


@register.filter
def check_kind_label(kind: str) -> str:
    return CHECK_KIND_LABELS.get(kind, kind.replace("_", " ").capitalize())


@register.filter
def clock_until(moment) -> str:
    """Time left until ``moment`` as a clock: ``12:31``, ``1:02:05``; ``0:00`` once passed."""
    if moment is None:
        return ""
    seconds = max(int((moment - timezone.now()).total_seconds()), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"

"""Charts drawn on the server as SVG: no script, no CDN, readable without colour (a data table
goes with every chart on the page)."""

from django.utils.html import escape

from kpis.selectors import KpiResult, format_value

WIDTH, HEIGHT = 480, 160
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 24


def _nice_max(value: float) -> float:
    """A round axis maximum at or above ``value``."""
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def bar_chart(result: KpiResult, *, chart_id: str, period: str) -> str:
    """Bars per period, the target as a dashed line, the current period outlined."""
    kpi, points = result.kpi, result.points
    values = [p.value or 0 for p in points]
    top = _nice_max(max([*values, result.target or 0]))
    if kpi.unit == "percent":
        top = min(100, top) if max(values, default=0) <= 100 else top
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(points), 1)
    bar = max(2.0, slot * 0.7)

    def y(value: float) -> float:
        return TOP + plot_h - (value / top) * plot_h

    parts = [
        f'<svg class="kpi-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title" preserveAspectRatio="xMidYMid meet">',
        f'<title id="{chart_id}-title">{escape(kpi.label)} per {escape(period)}: '
        f"{escape(', '.join(f'{p.label} {format_value(kpi, p.value)}' for p in points))}</title>",
        f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}"/>',
        f'<text class="tick" x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end">{escape(format_value(kpi, top))}</text>',
        f'<text class="tick" x="{LEFT - 4}" y="{TOP + plot_h}" text-anchor="end">0</text>',
    ]
    label_every = max(1, len(points) // 6)
    for index, point in enumerate(points):
        x = LEFT + index * slot + (slot - bar) / 2
        value = point.value or 0
        height = max(0.0, TOP + plot_h - y(value))
        current = " current" if index == len(points) - 1 else ""
        empty = " empty" if point.value is None else ""
        parts.append(
            f'<rect class="bar{current}{empty}" x="{x:.1f}" y="{y(value):.1f}" width="{bar:.1f}" '
            f'height="{height:.1f}"><title>{escape(point.label)}: {escape(format_value(kpi, point.value))}</title></rect>'
        )
        last = index == len(points) - 1
        if last or (index % label_every == 0 and len(points) - 1 - index >= label_every):
            parts.append(
                f'<text class="tick" x="{x + bar / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle">'
                f"{escape(point.label[-5:] if len(point.label) > 7 else point.label)}</text>"
            )
    if result.target is not None:
        ty = y(result.target)
        parts.append(
            f'<line class="target" x1="{LEFT}" y1="{ty:.1f}" x2="{WIDTH - RIGHT}" y2="{ty:.1f}">'
            f"<title>Target {escape(format_value(kpi, result.target))}</title></line>"
        )
    parts.append("</svg>")
    return "".join(parts)

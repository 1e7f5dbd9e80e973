"""One way to show a moment: ``3 Dec 2026 06:29`` in the user's time zone, inside a
``<time datetime="…">`` element carrying the exact instant. A builtin of every template (see
``TEMPLATES`` in settings), so no page formats a date by hand."""

import datetime

from django import template
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html

register = template.Library()

# The one format of the pages: day, month name, year, 24-hour time.
DATETIME_FORMAT = "j M Y H:i"
DATE_FORMAT = "j M Y"
WITH_SECONDS = "j M Y H:i:s"


def when_text(value, seconds: bool = False, zone: bool = False) -> str:
    """``value`` as the pages write it (the user's zone), without markup; ``""`` for None.
    ``zone`` adds the zone's abbreviation (``CET``) where a deadline must not be misread."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime.datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        text = date_format(value, WITH_SECONDS if seconds else DATETIME_FORMAT)
        return f"{text} {value.tzname()}" if zone and value.tzname() else text
    if isinstance(value, datetime.date):
        return date_format(value, DATE_FORMAT)
    return str(value)


def _element(value, text: str):
    if isinstance(value, datetime.datetime):
        iso = (timezone.localtime(value) if timezone.is_aware(value) else value).isoformat()
    else:
        iso = value.isoformat()
    return format_html('<time datetime="{}">{}</time>', iso, text)


@register.filter
def when(value, arg: str = ""):
    """``{{ dt|when }}`` → ``<time datetime="2026-12-03T06:29:00+00:00">3 Dec 2026 06:29</time>``;
    ``{{ dt|when:"s" }}`` adds the seconds, ``{{ dt|when:"tz" }}`` the zone (``"s,tz"`` both); a
    date shows ``3 Dec 2026``; None shows nothing (so ``|default:`` still works)."""
    options = set(arg.split(","))
    text = when_text(value, seconds="s" in options, zone="tz" in options)
    if not text or not isinstance(value, datetime.date):
        return text
    return _element(value, text)


@register.filter
def when_plain(value, arg: str = ""):
    """The same words without the element: for ``title`` attributes and other plain text."""
    options = set(arg.split(","))
    return when_text(value, seconds="s" in options, zone="tz" in options)

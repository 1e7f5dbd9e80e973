"""One way to show a moment: ``3 Dec 2026 06:29`` in the user's time zone, inside a
``<time datetime="…">`` element carrying the exact instant. A builtin of every template (see
``TEMPLATES`` in settings), so no page formats a date by hand."""

import datetime
from functools import lru_cache

from django import template
from django.utils import timezone, translation
from django.utils.dates import MONTHS_3
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
        # DATETIME_FORMAT (or WITH_SECONDS) written directly: a list page shows a hundred of
        # them, and Django's formatter looks the language up for every letter of the format
        month = _month_names(translation.get_language())[value.month]
        text = f"{value.day} {month} {value.year} {value.hour:02d}:{value.minute:02d}"
        if seconds:
            text = f"{text}:{value.second:02d}"
        return f"{text} {value.tzname()}" if zone and value.tzname() else text
    if isinstance(value, datetime.date):
        return date_format(value, DATE_FORMAT)
    return str(value)


@lru_cache(maxsize=16)
def _month_names(language: str) -> dict[int, str]:
    """What the format's ``M`` gives for each month in ``language`` (``Jan`` … ``Dec``)."""
    with translation.override(language):
        return {month: str(MONTHS_3[month]).title() for month in MONTHS_3}


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

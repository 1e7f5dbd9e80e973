"""Path converters. ``<id:pk>`` is a primary key: digits only, at most 18 of them, so it always
fits the 64-bit integer column on every database — a longer number is a 404 at the URL instead of
an overflow in the query (``<id:…>`` takes any length)."""

import re

ID_REGEX = "[0-9]{1,18}"
_ID = re.compile(ID_REGEX)


def as_id(value: str) -> int | None:
    """``value`` as a primary key when it is one (ASCII digits, at most 18), else None — for
    inputs that take an id or a name. ``str.isdigit`` is no test: it accepts "¹" and "٣"."""
    return int(value) if _ID.fullmatch(value) else None


class IdConverter:
    regex = ID_REGEX

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value) -> str:
        return str(int(value))

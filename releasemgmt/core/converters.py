"""Path converters. ``<id:pk>`` is a primary key: digits only, at most 18 of them, so it always
fits the 64-bit integer column on every database — a longer number is a 404 at the URL instead of
an overflow in the query (``<id:…>`` takes any length)."""

ID_REGEX = "[0-9]{1,18}"


class IdConverter:
    regex = ID_REGEX

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value) -> str:
        return str(int(value))

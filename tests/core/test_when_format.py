"""The pages' one date format, written directly by ``when_text``, is what Django's own formatter
gives for ``DATETIME_FORMAT`` and ``WITH_SECONDS``, in any time zone."""

import datetime

import pytest
from django.utils import timezone
from django.utils.formats import date_format

from releasemgmt.core.templatetags.when import DATETIME_FORMAT, WITH_SECONDS, when_text

MOMENTS = [
    datetime.datetime(2026, month, day, hour, minute, second, tzinfo=datetime.UTC)
    for month, day, hour, minute, second in [
        (1, 1, 0, 0, 0),
        (2, 9, 5, 7, 3),
        (6, 15, 12, 30, 59),
        (10, 31, 23, 59, 1),
        (12, 3, 9, 5, 45),
    ]
]


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "Asia/Kathmandu"])
def test_when_text_is_djangos_format(zone):
    with timezone.override(zone):
        for moment in MOMENTS:
            local = timezone.localtime(moment)
            assert when_text(moment) == date_format(local, DATETIME_FORMAT)
            assert when_text(moment, seconds=True) == date_format(local, WITH_SECONDS)
            assert when_text(moment, zone=True) == (
                f"{date_format(local, DATETIME_FORMAT)} {local.tzname()}"
            )
    naive = datetime.datetime(2026, 3, 4, 5, 6)
    assert when_text(naive) == date_format(naive, DATETIME_FORMAT) == "4 Mar 2026 05:06"

"""Times for people: ``HH:MM:SS`` UTC to the second, the local time at HET in headers."""

import datetime as dt
import warnings

import pytest

from ocd.config.values import parse_time
from ocd.timetext import day_hms_utc, day_hms_utc_local, het_local, hms, hms_utc

UTC = dt.timezone.utc


def test_to_the_second_truncated_never_microseconds():
    when = dt.datetime(2017, 11, 19, 3, 30, 21, 999999, tzinfo=UTC)
    assert hms(when) == "03:30:21"
    assert hms_utc(when.timestamp()) == "03:30:21 UTC"
    assert day_hms_utc(when) == "2017-11-19 03:30:21 UTC"


def test_a_naive_time_is_utc_and_an_offset_is_converted():
    assert hms(dt.datetime(2017, 11, 19, 3, 0, 0)) == "03:00:00"
    five_west = dt.timezone(dt.timedelta(hours=-5))
    assert hms(dt.datetime(2017, 11, 18, 22, 0, 0, tzinfo=five_west)) == "03:00:00"


@pytest.mark.parametrize("when, local", [
    (dt.datetime(2017, 11, 19, 3, 0, tzinfo=UTC), "21:00:00 CST at HET"),  # winter: UTC-6
    (dt.datetime(2018, 6, 19, 3, 0, tzinfo=UTC), "22:00:00 CDT at HET"),   # summer: UTC-5
])
def test_local_time_at_het_follows_daylight_saving(when, local):
    assert het_local(when) == local
    assert day_hms_utc_local(when) == f"{day_hms_utc(when)} ({local})"


def test_a_mock_time_past_the_leap_second_table_parses_without_library_warnings():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        when = parse_time("2099:001:00:00:00")  # ERFA calls such a year "dubious"
    assert when == dt.datetime(2099, 1, 1, tzinfo=UTC)
    assert [str(w.message) for w in caught] == []

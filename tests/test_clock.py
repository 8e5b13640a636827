"""The clock: real and mock, mock_speed, Julian Dates from the user note."""

import datetime as dt

import pytest
from freezegun import freeze_time

from ocd.clock import MockClock, RealClock, clock_from_config
from ocd.config import load_config

START = "2017-11-18T18:00:00"


def mock_config(speed: str = "1"):
    return load_config(overrides=[("dates", "mock_time", START), ("dates", "mock_speed", speed)],
                       environ={})


def test_real_clock_is_aware_and_follows_time():
    with freeze_time("2020-01-01 00:00:00"):
        clock = RealClock()
        assert clock.utc() == dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
        assert clock.jd() == pytest.approx(2458849.5, abs=1e-9)
        assert not clock.is_mock


def test_no_mock_time_gives_real_clock():
    assert isinstance(clock_from_config(load_config(environ={})), RealClock)


def test_user_note_jd_at_start_and_one_hour_later():
    with freeze_time("2026-06-01 12:00:00") as frozen:
        clock = clock_from_config(mock_config())
        assert clock.is_mock
        assert clock.jd() == pytest.approx(2458076.25, abs=1e-6)
        frozen.tick(dt.timedelta(hours=1))
        assert clock.jd() == pytest.approx(2458076.291667, abs=1e-6)
        assert clock.utc() == dt.datetime(2017, 11, 18, 19, tzinfo=dt.timezone.utc)


def test_speed_60_reaches_one_hour_after_one_minute():
    with freeze_time("2026-06-01 12:00:00") as frozen:
        clock = clock_from_config(mock_config("60"))
        frozen.tick(dt.timedelta(minutes=1))
        assert clock.jd() == pytest.approx(2458076.291667, abs=1e-6)


@pytest.mark.parametrize("text", ["2017-11-18 18:00:00.000", "2017:322:18:00:00",
                                  "2017-11-18T18:00:00"])
def test_mock_time_accepts_astropy_formats(text):
    cfg = load_config(overrides=[("dates", "mock_time", text)], environ={})
    assert cfg.get("dates", "mock_time") == dt.datetime(2017, 11, 18, 18, tzinfo=dt.timezone.utc)


def test_mock_clock_rejects_non_positive_speed():
    with pytest.raises(ValueError):
        MockClock(dt.datetime(2017, 1, 1, tzinfo=dt.timezone.utc), speed=0)

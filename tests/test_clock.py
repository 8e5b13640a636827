"""The clock: real and mock, mock_speed, Julian Dates from the user note."""

import datetime as dt

import pytest
from freezegun import freeze_time

from ocd.clock import MockClock, RealClock, clock_from_config, iso_utc, utc_to_jd
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


@pytest.mark.parametrize("when", ["2017-11-18T18:00:00", "2000-01-01T12:00:00",
                                  "2026-03-01T00:00:00.123456", "1999-12-31T23:59:59.999"])
def test_julian_date_agrees_with_astropy(when):
    from astropy.time import Time

    moment = dt.datetime.fromisoformat(when).replace(tzinfo=dt.timezone.utc)
    assert utc_to_jd(moment) == pytest.approx(Time(when, scale="utc").jd, abs=1e-9)


def test_a_pinned_clock_reads_the_same_whenever_it_is_made():
    cfg = load_config(overrides=[("dates", "mock_time", START), ("dates", "mock_speed", "60"),
                                 ("dates", "mock_anchor", "2026-06-01T12:00:00")], environ={})
    with freeze_time("2026-06-01 12:01:00") as frozen:
        first = clock_from_config(cfg)
        frozen.tick(dt.timedelta(seconds=30))
        second = clock_from_config(cfg)
        # one real minute and a half after the anchor, at 60x: 90 minutes after mock_time
        expected = dt.datetime(2017, 11, 18, 19, 30, tzinfo=dt.timezone.utc)
        assert first.utc() == second.utc() == expected
        assert "pinned by [dates] mock_anchor" in second.describe()


def test_an_own_clock_starts_when_it_is_made():
    with freeze_time("2026-06-01 12:00:00") as frozen:
        first = clock_from_config(mock_config("60"))
        frozen.tick(dt.timedelta(seconds=10))
        second = clock_from_config(mock_config("60"))
        assert (first.utc() - second.utc()).total_seconds() == pytest.approx(600)
        assert second.anchor() == (dt.datetime(2017, 11, 18, 18, tzinfo=dt.timezone.utc),
                                   dt.datetime(2026, 6, 1, 12, 0, 10,
                                               tzinfo=dt.timezone.utc).timestamp())


@pytest.mark.parametrize("seconds", [0.0, 1511060400.25, 1511060400.2509, 1511060400.9999,
                                     1764480060.0, 1764480060.001])
def test_iso_utc_is_isoformat_to_the_millisecond(seconds):
    text = iso_utc(seconds)
    parsed = dt.datetime.fromisoformat(text)
    exact = dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
    assert parsed.utcoffset() == dt.timedelta(0)
    assert parsed.microsecond % 1000 == 0
    assert parsed <= exact < parsed + dt.timedelta(milliseconds=1)
    assert text == parsed.isoformat()


def test_iso_utc_follows_a_mock_clock_timestamp():
    clock = MockClock(dt.datetime(2017, 11, 19, 3, tzinfo=dt.timezone.utc), speed=60.0,
                      monotonic=lambda: 100.0)
    assert iso_utc(clock.timestamp()) == clock.utc().isoformat()
    assert clock.timestamp() == clock.utc().timestamp()


# -- the one factory: the configuration read once, the bus's clock adopted or refused -----------

def test_mock_settings_say_what_the_configuration_asks_and_where():
    from ocd.clock import MockSettings, clock_from, mock_settings

    assert mock_settings(load_config(environ={})) is None
    settings = mock_settings(load_config(overrides=[("dates", "mock_time", START)],
                                         environ={"OCD__DATES__MOCK_SPEED": "60"}))
    assert settings == MockSettings(dt.datetime(2017, 11, 18, 18, tzinfo=dt.timezone.utc), 60.0,
                                    None, "command line", speed_given=True)
    # the shipped default speed is no choice of the user's
    alone = mock_settings(load_config(overrides=[("dates", "mock_time", START)], environ={}))
    assert alone is not None and alone.speed == 1.0 and not alone.speed_given
    anchor = "2026-06-01T12:00:00"
    pinned = mock_settings(load_config(overrides=[("dates", "mock_time", START),
                                                  ("dates", "mock_anchor", anchor)], environ={}))
    with freeze_time("2026-06-01 12:01:00"):  # a minute after the anchor, at 1x
        assert clock_from(pinned).utc() == dt.datetime(2017, 11, 18, 18, 1,
                                                        tzinfo=dt.timezone.utc)


def bus_clock(start: str = START, speed: float = 60.0) -> MockClock:
    return MockClock.adopted(dt.datetime.fromisoformat(start).replace(tzinfo=dt.timezone.utc),
                             speed, real_start=1.7e9, source="adopted")


def settings_of(*overrides: tuple[str, str, str]):
    from ocd.clock import mock_settings

    settings = mock_settings(load_config(overrides=list(overrides), environ={}))
    assert settings is not None
    return settings


def test_a_configuration_that_agrees_with_the_bus_adopts_it():
    from ocd.shell.clock_source import disagreement

    # the same mock_time (to the microsecond the envelope carries); the shipped speed is no
    # choice, so the bus's 60x is followed
    assert disagreement(settings_of(("dates", "mock_time", START)), bus_clock(), "o@h:1") is None
    assert disagreement(settings_of(("dates", "mock_time", START), ("dates", "mock_speed", "60")),
                        bus_clock(), "o@h:1") is None


def test_a_mock_time_or_speed_other_than_the_bus_is_one_line_naming_both_and_the_way_out():
    from ocd.shell.clock_source import disagreement

    line = disagreement(settings_of(("dates", "mock_time", "2017-11-24T14:00:00")), bus_clock(),
                        "ocd_main_loop@h:42")
    assert line is not None and "\n" not in line
    assert line.startswith("[dates] mock_time = 2017-11-24T14:00:00 (command line) disagrees "
                           "with the clock of the running main loop ocd_main_loop@h:42 (mock, "
                           "from 2017-11-18T18:00:00 at 60x, now ")
    assert line.endswith(": set mock_time = 2017-11-18T18:00:00 (or drop what differs) to "
                         "follow that clock, or stop that main loop to run your own")
    both = disagreement(settings_of(("dates", "mock_time", "2017-11-24T14:00:00"),
                                    ("dates", "mock_speed", "10")), bus_clock(), "o@h:1")
    assert both is not None
    assert "[dates] mock_time = 2017-11-24T14:00:00 (command line) and [dates] mock_speed = 10 " \
           "disagree with" in both
    assert "set mock_time = 2017-11-18T18:00:00 and mock_speed = 60 (or drop" in both


async def test_a_command_is_stamped_on_the_clock_its_caller_gives():
    """The commander has no clock of its own: a command carries the clock it is given, here
    a mock one (an in-process main loop on the real clock answers, so nothing replaces it)."""
    import asyncio
    import shutil

    import zmq.asyncio
    from e2e_helpers import short_tmpdir

    from ocd.app.commander import send_command
    from ocd.bus import HeartbeatResponder, Publisher, Subscriber, bus_options, connect_urls
    from ocd.core.topics import COMMAND_ALLOW, MAIN_ACK

    root = short_tmpdir()
    ipc = f"ipc://{root}"
    cfg = load_config(overrides=[("urls", "ocd_main_loop", f"{ipc}/main.ipc"),
                                 ("urls", "ocd_run_shot", f"{ipc}/shot.ipc"),
                                 ("urls", "ocd_allow_hetdex", f"{ipc}/allow.ipc"),
                                 ("urls", "ocd_db_replay", f"{ipc}/replay.ipc")], environ={})
    given = MockClock(dt.datetime(2017, 11, 19, 3, tzinfo=dt.timezone.utc), 60.0,
                      real_start=1.7e9)
    ctx = zmq.asyncio.Context()
    received = []
    publisher = Publisher.for_service(ctx, cfg, "ocd_main_loop", "run", clock=RealClock())
    subscriber = Subscriber(ctx, connect_urls(cfg, ["ocd_allow_hetdex"]),
                            ["ocd.heartbeat.enquiry", COMMAND_ALLOW], options=bus_options(cfg))
    responder = HeartbeatResponder(publisher)

    async def on_event(event):
        if event.topic == COMMAND_ALLOW:
            received.append(event)
            await publisher.publish(MAIN_ACK, {"id": event.payload["id"], "ok": True,
                                               "command": "allow", "message": "allowed"})

    task = asyncio.ensure_future(responder.serve(subscriber, on_event))
    try:
        ack = await send_command(cfg, COMMAND_ALLOW, {"allowed": True}, clock=given,
                                 timeout=20)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        publisher.close()
        subscriber.close()
        ctx.destroy(linger=0)
        shutil.rmtree(root, ignore_errors=True)
    assert ack.ok and received
    for event in received:
        assert event.payload["__clock"] == "mock"
        assert event.payload["__mock_time"] == given.start.isoformat()
        assert event.payload["__mock_speed"] == 60.0 and event.payload["__mock_anchor"] == 1.7e9

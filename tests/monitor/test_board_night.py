"""The board's pure model of the night: events in, panels out, every table bounded."""

from __future__ import annotations

import datetime as dt

from ocd.bus.envelope import Event
from ocd.bus.sequence import SeqCheck, SeqKind
from ocd.core import topics
from ocd.monitor.night import MAX_ORIGINS, MAX_TOPICS, PANELS, NightSettings, NightView

T0 = dt.datetime(2017, 11, 19, 3, 0, tzinfo=dt.timezone.utc).timestamp()
MAIN = "ocd_main_loop@h:1"
SHOT = "ocd_run_shot@h:1"


def ocd_event(topic: str, data: dict, *, at: float, origin: str = MAIN, wall: float = 1000.0,
              mock: bool = True, speed: float | None = 60.0) -> Event:
    """An event of OCD stamped at OCD time ``at``; a mock one carries its whole clock (read
    ``at`` at the real time ``wall``, running ``speed`` times real time), as stamp() does."""
    payload = {"__origin": origin, "__seq": 1, "__clock": "mock" if mock else "real",
               "__wire_time": wall,
               "__ocd_utc": dt.datetime.fromtimestamp(at, dt.timezone.utc).isoformat(), **data}
    if mock and speed is not None:
        payload |= {"__mock_time": dt.datetime.fromtimestamp(at, dt.timezone.utc).isoformat(),
                    "__mock_speed": speed, "__mock_anchor": wall}
    return Event(topic, payload)


def feed(view: NightView, event: Event, wall: float = 1000.0) -> set[str]:
    view.take_dirty()
    view.feed(event, wall)
    return view.take_dirty()


def test_a_fresh_view_has_every_panel_and_they_are_json_ready():
    import json

    view = NightView(NightSettings())
    snapshot = view.snapshot()
    assert list(snapshot) == list(PANELS)
    json.dumps(snapshot, allow_nan=False)
    assert view.take_dirty() == set(PANELS)
    assert view.take_dirty() == set()


def test_a_shot_from_start_to_completion():
    view = NightView(NightSettings(n_exposures=3))
    shot = {"shotid": "DEX00009", "observation": 7, "obs_track": "W"}
    dirty = feed(view, ocd_event(topics.RUN_SHOT_RUN, {**shot, "exec_status": 0}, at=T0,
                                 origin=SHOT))
    assert {"shot", "sky", "completed"} <= dirty
    panel = view.panel("shot")["shot"]
    assert (panel["state"], panel["shotid"], panel["track"], panel["observation"]) == \
        ("running", "DEX00009", "W", 7)
    feed(view, ocd_event(topics.RUN_SHOT_SETUP_TELESCOPE, {"exec_status": 0}, at=T0 + 1,
                         origin=SHOT))
    assert view.panel("shot")["shot"]["phase"] == "setting up the telescope"
    feed(view, ocd_event(topics.RUN_SHOT_EXP_HETDEX, {"exec_status": 0, "exposure": 2,
                                                      "seconds": 360.0, **shot},
                         at=T0 + 100, origin=SHOT))
    panel = view.panel("shot")["shot"]
    assert (panel["phase"], panel["exposure"], panel["exposure_start"], panel["seconds"]) == \
        ("exposing", 2, T0 + 100, 360.0)
    assert view.panel("sky")["running"] == "DEX00009"
    # another publisher's events do not move this shot
    feed(view, ocd_event(topics.RUN_SHOT_EXP_HETDEX, {"exec_status": 0, "exposure": 3,
                                                      "seconds": 1.0}, at=T0 + 101,
                         origin="ocd_run_shot@other:2"))
    assert view.panel("shot")["shot"]["exposure"] == 2
    feed(view, ocd_event(topics.RUN_SHOT_RUN, {**shot, "exec_status": 1, "error": False},
                         at=T0 + 900, origin=SHOT))
    panel = view.panel("shot")["shot"]
    assert (panel["state"], panel["phase"], panel["finished"]) == ("completed", "finished",
                                                                   T0 + 900)
    rows = view.panel("completed")["shots"]
    assert [(r["shotid"], r["observation"], r["state"]) for r in rows] == \
        [("DEX00009", 7, "completed")]
    assert view.panel("sky")["completed"] == ["DEX00009"]
    assert view.panel("sky")["running"] is None


def test_an_aborted_shot_says_so():
    view = NightView(NightSettings())
    feed(view, ocd_event(topics.RUN_SHOT_RUN, {"shotid": "A", "observation": 1,
                                               "exec_status": 0}, at=T0, origin=SHOT))
    feed(view, ocd_event(topics.RUN_SHOT_RUN, {"shotid": "A", "observation": 1,
                                               "exec_status": 1, "error": True,
                                               "exc_type": "ShotAborted", "exc_value": "aborted"},
                         at=T0 + 5, origin=SHOT))
    shot = view.panel("shot")["shot"]
    assert (shot["state"], shot["outcome"]) == ("aborted", "aborted")


def test_states_decisions_and_acknowledgements():
    view = NightView(NightSettings())
    feed(view, ocd_event(topics.MAIN_STATUS, {
        "states": {"tcs": "alive", "run_shot": "idle", "hetdex_allowed": "not_allowed",
                   "metrology": "good", "meta": "unsatisfied"},
        "waiting": ["hetdex_allowed is not_allowed (needs allowed)"], "pending": None,
        "seeing": 1.2, "transparency": 0.9}, at=T0))
    assert view.panel("states")["machines"]["tcs"] == "alive"
    assert view.panel("decision")["waiting"] == ["hetdex_allowed is not_allowed (needs allowed)"]
    assert view.panel("metrology")["conditions"] == {"seeing": 1.2, "transparency": 0.9}
    dirty = feed(view, ocd_event(topics.STATES_CHANGE, {"machine_name": "hetdex_allowed",
                                                        "new_state": "allowed"}, at=T0 + 1))
    assert "states" in dirty and view.machines["hetdex_allowed"] == "allowed"
    feed(view, ocd_event(topics.STATES_HETDEX_ALLOWED, {"allowed": True,
                                                        "by": "board:alice via x@h:2"}, at=T0))
    assert view.panel("states")["allowed_by"] == "board:alice via x@h:2"
    feed(view, ocd_event(topics.MAIN_ACK, {"id": "1", "command": "allow_hetdex", "ok": True,
                                           "message": "HETDEX shots allowed by board:alice"},
                         at=T0 + 2))
    ack = view.panel("decision")["ack"]
    assert (ack["command"], ack["ok"], ack["by"]) == ("allow_hetdex", True, MAIN)
    feed(view, ocd_event(topics.MAIN_DECISION, {"shotid": "DEX00009", "track": "W",
                                                "started": True, "reason": "chosen: ..."},
                         at=T0 + 3))
    assert view.panel("sky")["chosen"] == "DEX00009"
    # a repeated status changes nothing: no panel to send
    status = ocd_event(topics.MAIN_STATUS, {"states": dict(view.machines), "waiting": [
        "hetdex_allowed is not_allowed (needs allowed)"], "pending": None, "seeing": 1.2,
        "transparency": 0.9}, at=T0 + 4)
    feed(view, status)
    assert "states" not in feed(view, status)


def test_the_log_keeps_what_happened_not_the_heartbeats():
    view = NightView(NightSettings(log_size=3))
    for second in range(5):
        feed(view, Event(topics.TCS_HEARTBEAT, {"status": "ok"}), 1000.0 + second)
        feed(view, ocd_event(topics.MAIN_STATUS, {"states": {}}, at=T0 + second))
    assert view.panel("log")["items"] == []
    for n in range(5):
        feed(view, ocd_event(topics.MAIN_ERROR, {"stage": "obsnum", "error": f"boom {n}"},
                             at=T0 + n))
    items = view.panel("log")["items"]
    assert len(items) == 3 and [i["level"] for i in items] == ["error"] * 3
    assert "boom 4" in items[-1]["line"] and items[-1]["topic"] == topics.MAIN_ERROR


def test_deltas_carry_only_new_items_and_pages_can_drop_repeats():
    view = NightView(NightSettings())
    feed(view, ocd_event(topics.MAIN_NO_SHOT, {"reason": "a"}, at=T0))
    first = view.delta("log")
    assert first["delta"] and len(first["items"]) == 1
    assert view.delta("log")["items"] == []
    feed(view, ocd_event(topics.MAIN_NO_SHOT, {"reason": "b"}, at=T0))
    whole = view.panel("log")["items"]  # a page opening now...
    second = view.delta("log")["items"]  # ...also gets the next delta: numbered, so no repeat
    assert [i["n"] for i in whole] == [first["items"][0]["n"], second[0]["n"]]
    assert second[0]["n"] > first["items"][0]["n"]


def test_metrology_series_is_bounded_and_thinned_into_a_whole_panel():
    settings = NightSettings(series_size=100)
    view = NightView(settings)
    guider = settings.topics.metrology[0]
    for i in range(250):
        feed(view, ocd_event(guider, {"seeing": 1.0 + i / 1000, "transparency": 0.9},
                             at=T0 + 10 * i, origin="tcs@h:3"))
    items = view.panel("metrology")["items"]
    assert len(items) <= 100
    assert items[0]["t"] == T0 and items[-1]["t"] == T0 + 2490  # the whole night, coarser
    assert view.delta("metrology") is None  # thinned: pages get the whole panel
    assert view.delta("metrology")["items"] == []


def test_hostile_payloads_are_bounded_and_never_raise():
    view = NightView(NightSettings())
    tcs = NightSettings().topics
    bad = [
        Event(tcs.metrology[0], {"seeing": float("nan"), "transparency": True}),
        Event(tcs.metrology[0], {"seeing": 1e308 * 10, "transparency": -3}),
        Event(tcs.ra_dec, {"ra": 99, "dec": "north"}),
        Event(topics.MAIN_STATUS, {"states": {"x" * 1000: ["not", "a", "state"]},
                                   "waiting": "not a list", "seeing": "1.3"}),
        Event(topics.MAIN_WAITING, {"reasons": ["y" * 100_000] * 1000}),
        Event(topics.RUN_SHOT_EXP_HETDEX, {"exposure": -1, "seconds": None}),
        Event(topics.RUN_SHOT_RUN, {"exec_status": 0, "shotid": {"a": 1},
                                    "observation": 2 ** 80}),
        Event(topics.MAIN_CONFIG_CHANGED, {"changes": [["run", "max_seeing", "inf"],
                                                       ["run", "max_seeing", "x"], 3]}),
        Event("ocd." + "z" * 10_000, {"__origin": 5, "__ocd_utc": "yesterday"}),
    ]
    for event in bad:
        view.feed(event, 1000.0)
    assert view.panel("metrology")["items"] == []
    assert view.pointing is None
    assert view.machines == {}
    waiting = view.panel("decision")["waiting"]
    assert len(waiting) == 10 and all(len(r) <= 300 for r in waiting)
    assert view.limits["max_seeing"] == 3.0
    shot = view.panel("shot")["shot"]
    assert shot["shotid"] is None and shot["observation"] is None
    assert all(len(item["topic"]) <= 120 for item in view.panel("log")["items"])


def test_publishers_and_topic_rates_are_bounded():
    view = NightView(NightSettings())
    for i in range(MAX_ORIGINS + 10):
        origin = f"spam{i}@h:1"
        view.feed(Event(f"ocd.spam.t{i}", {}), 1000.0, SeqCheck(SeqKind.FIRST, origin, 1))
    for i in range(MAX_TOPICS + 50):
        view.feed(Event(f"tcs.flood.t{i}", {}), 1000.0)
    bus = view.panel("bus")
    assert len(bus["publishers"]) == MAX_ORIGINS and bus["forgotten_publishers"] == 10
    view.tick(1001.0)
    rates = view.panel("bus")["rates"]
    assert len(rates) == MAX_TOPICS and view.other_topics > 0
    assert view.received == MAX_ORIGINS + 10 + MAX_TOPICS + 50


def test_gaps_and_restarts_are_counted_per_publisher():
    view = NightView(NightSettings())
    origin = "ocd_main_loop@h:1"
    view.feed(Event(topics.MAIN_STATUS, {}), 1000.0, SeqCheck(SeqKind.FIRST, origin, 1))
    view.feed(Event(topics.MAIN_STATUS, {}), 1000.1, SeqCheck(SeqKind.GAP, origin, 5, 2, 3))
    view.feed(Event(topics.MAIN_STATUS, {}), 1000.2, SeqCheck(SeqKind.RESTART, origin, 1, 6))
    bus = view.panel("bus")
    assert (bus["gaps"], bus["lost"], bus["restarts"]) == (1, 3, 1)
    view.set_malformed(4)
    assert view.panel("bus")["malformed"] == 4


def test_event_rates_count_the_last_seconds():
    view = NightView(NightSettings())
    for i in range(50):  # 10 a second for 5 seconds
        view.feed(Event(topics.TCS_HEARTBEAT, {}), 1000.0 + i / 10)
    view.tick(1005.0)
    assert view.rates()[topics.TCS_HEARTBEAT] == 10.0
    view.tick(1100.0)  # a long silence
    assert view.rates() == {}


def test_the_clock_follows_the_main_loop_and_adopts_its_speed_from_the_envelope():
    view = NightView(NightSettings(mock=False))
    assert view.ocd_now(1000.0) is None
    feed(view, ocd_event(topics.MAIN_STATUS, {}, at=T0, wall=1000.0), 1000.0)
    clock = view.panel("clock")
    # the speed the envelope carries, from the first event: nothing to measure
    assert clock["mock"] and clock["source"] == "ocd run" and clock["ocd"] == T0
    assert clock["speed"] == 60.0 and view.ocd_now(1001.0) == T0 + 60
    dirty = feed(view, ocd_event(topics.MAIN_STATUS, {}, at=T0 + 180, wall=1003.0), 1003.0)
    assert view.clock.speed == 60.0
    assert view.ocd_now(1004.0) == T0 + 240
    # another process's clock does not override the main loop's
    feed(view, ocd_event(topics.RUN_SHOT_RUN, {}, at=T0, wall=1004.0, origin=SHOT,
                         speed=1.0), 1004.0)
    assert view.clock.anchor_ocd == T0 + 180 and view.clock.speed == 60.0
    # a main loop restarted at another speed: its next event says so, at once
    dirty = feed(view, ocd_event(topics.MAIN_STATUS, {}, at=T0 + 240, wall=1004.0,
                                 speed=120.0), 1004.0)
    assert "clock" in dirty and view.panel("clock")["speed"] == 120.0
    assert view.ocd_now(1005.0) == T0 + 360


def test_once_the_main_loop_is_heard_its_clock_times_every_event():
    """Each process of a rehearsal runs a mock clock of its own: the plots and the progress
    bar follow the main loop's, the one the page shows."""
    settings = NightSettings(mock=True, speed=60.0)
    view = NightView(settings)
    guider = settings.topics.metrology[0]
    feed(view, ocd_event(guider, {"seeing": 1.0}, at=T0 - 500, origin="tcs@h:3"), 1000.0)
    assert view.series[-1]["t"] == T0 - 500  # no main loop yet: the event's own time
    feed(view, ocd_event(topics.MAIN_STATUS, {}, at=T0, wall=1000.0), 1000.0)
    feed(view, ocd_event(guider, {"seeing": 1.1}, at=T0 - 120, origin="tcs@h:3"), 1001.0)
    assert view.series[-1]["t"] == T0 + 60  # the main loop's clock at 60x, 1 s later


def test_the_clock_keeps_its_speed_when_an_event_carries_none_or_an_absurd_one():
    """Event gaps are no clock: a mock event without a usable ``__mock_speed`` (a hostile
    publisher, a speed out of range) leaves the known speed as it was."""
    view = NightView(NightSettings(mock=True, speed=30.0))
    feed(view, ocd_event(topics.MAIN_STATUS, {}, at=T0, wall=1000.0, speed=None), 1000.0)
    # 180 OCD seconds in 3 real seconds would have "measured" 60x: not taken
    feed(view, ocd_event(topics.MAIN_STATUS, {}, at=T0 + 180, wall=1003.0, speed=None), 1003.0)
    assert view.clock.speed == 30.0
    for absurd in (0.0, -60.0, 1e308, float("nan")):
        feed(view, ocd_event(topics.MAIN_STATUS, {}, at=T0 + 200, wall=1004.0, speed=absurd),
             1004.0)
        assert view.clock.speed == 30.0
    # the real clock runs at 1x whatever the settings said
    feed(view, ocd_event(topics.MAIN_STATUS, {}, at=T0, wall=1005.0, mock=False), 1005.0)
    assert view.panel("clock")["speed"] == 1.0 and not view.panel("clock")["mock"]


def test_a_shots_progress_is_one_line_updated_not_a_line_every_30_s():
    view = NightView(NightSettings())
    progress = {"shotid": "DEX00009", "pending": "virus.expose", "waited": 30.0}
    feed(view, ocd_event(topics.RUN_SHOT_RUN, {"shotid": "DEX00009", "exec_status": 0},
                         at=T0, origin=SHOT))
    for k in range(1, 6):
        feed(view, ocd_event(topics.RUN_SHOT_PROGRESS, {**progress, "waited": 30.0 * k},
                             at=T0 + 30 * k, origin=SHOT))
    items = view.panel("log")["items"]
    lines = [i for i in items if i["topic"] == topics.RUN_SHOT_PROGRESS]
    assert len(lines) == 1 and lines[0] is items[-1]
    assert lines[0]["replaces"] < lines[0]["n"]
    # a page that had the previous line is told which one the new one replaces
    before = view.delta("log")
    feed(view, ocd_event(topics.RUN_SHOT_PROGRESS, {**progress, "waited": 180.0},
                         at=T0 + 180, origin=SHOT))
    after = view.delta("log")["items"]
    assert [i["replaces"] for i in after] == [before["items"][-1]["n"]]
    # another shot process's progress has its own line
    feed(view, ocd_event(topics.RUN_SHOT_PROGRESS, progress, at=T0 + 181,
                         origin="ocd_run_shot@other:2"))
    lines = [i for i in view.panel("log")["items"] if i["topic"] == topics.RUN_SHOT_PROGRESS]
    assert len(lines) == 2 and "replaces" not in lines[-1]

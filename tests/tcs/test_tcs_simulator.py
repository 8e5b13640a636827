"""The simulator's event loop, with its events collected (the socket side is tested end to end)."""

import asyncio

from shot_fixtures import fast_clock

from ocd.tcs.sim.events import SimulatorSettings, TcsSimulator
from ocd.tcs.sim.subsystems import SimulatedSubsystems
from ocd.tcs.sim.weather import Weather


def make(clock, **settings):
    events = []

    async def publish(topic, data):
        events.append((topic, data))

    sim = TcsSimulator(clock, publish, SimulatedSubsystems(clock), Weather("steady"),
                       SimulatorSettings(**settings))
    return sim, events


async def test_step_publishes_heartbeat_pointing_and_metrology():
    sim, events = make(fast_clock(speed=1.0))
    await sim.step()
    topics = [t for t, _ in events]
    assert topics == ["tcs.receiver.heartbeat", "tcs.root.ra_dec",
                      "pas.Guider1.metrology_data", "pas.Guider2.metrology_data"]
    assert events[2][1]["seeing"] < 2 and events[2][1]["transparency"] > 0.9
    await sim.step()  # metrology is not due again within 10 s
    assert [t for t, _ in events[4:]] == ["tcs.receiver.heartbeat", "tcs.root.ra_dec"]


async def test_pointing_follows_the_simulated_telescope():
    clock = fast_clock()
    sim, events = make(clock)
    await sim.subsystems.command("tcs", "goto", ra=10.5, dec=51.0, track="W")
    await sim.step()
    pointing = dict(events)["tcs.root.ra_dec"]
    assert (pointing["ra"], pointing["dec"], pointing["track"], pointing["tracking"]) == \
        (10.5, 51.0, "W", True)


async def test_heartbeats_can_be_switched_off():
    sim, events = make(fast_clock(speed=1.0))
    assert sim.toggle_heartbeats() is False
    await sim.step()
    assert "tcs.receiver.heartbeat" not in [t for t, _ in events]


def test_period_is_ocd_time_capped_by_max_rate():
    sim, _ = make(fast_clock(speed=2.0), heartbeat_interval=1.0, max_rate=20.0)
    assert sim.period() == 0.5
    sim, _ = make(fast_clock(speed=600.0), heartbeat_interval=1.0, max_rate=20.0)
    assert sim.period() == 0.05


async def test_run_keeps_the_rate():
    sim, events = make(fast_clock(speed=100.0), heartbeat_interval=1.0, max_rate=100.0)
    task = asyncio.ensure_future(sim.run())
    loop = asyncio.get_running_loop()
    start = loop.time()
    while sim.published.get("tcs.receiver.heartbeat", 0) < 20:
        await asyncio.sleep(0.01)
    elapsed = loop.time() - start
    task.cancel()
    assert 0.15 <= elapsed < 2.0  # 19 periods of 10 ms, with room for a slow machine



async def test_an_exposure_cut_short_leaves_no_waiter_behind():
    subsystems = SimulatedSubsystems(fast_clock(speed=1.0))
    before = asyncio.all_tasks()
    header = {"observation": 1, "exposure": 1, "object": "x", "recipe": "hetdex",
              "x_binning": 1, "y_binning": 1, "type": "sci"}
    exposure = asyncio.ensure_future(subsystems.command("virus", "expose", seconds=360.0,
                                                        **header))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5.0
    while not subsystems.exposing:
        assert not exposure.done(), exposure.exception()
        assert loop.time() < deadline, "the exposure did not begin"
        await asyncio.sleep(0.001)
    exposure.cancel()
    await asyncio.gather(exposure, return_exceptions=True)
    await asyncio.sleep(0)  # let the cancellations run
    assert asyncio.all_tasks() == before
    assert not subsystems.exposing

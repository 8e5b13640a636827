"""The shot runner against the in-process simulated subsystems (events collected in a list)."""

import pytest
from shot_fixtures import fast_clock, make_inputs, shot_dict

from ocd.clock import RealClock
from ocd.shots.runner import ExposurePlan, ShotRunner, parse_dithers
from ocd.tcs.sim.subsystems import SimulatedSubsystems

ORIGINAL_EXP_FIELDS = {"exec_status", "exposure", "seconds", "observation", "object", "shotid",
                       "recipe", "x_binning", "y_binning", "type"}


class Recorder:
    def __init__(self, on_event=None):
        self.events = []
        self.on_event = on_event

    async def __call__(self, topic, data):
        self.events.append((topic, data))
        if self.on_event:
            self.on_event(topic, data)

    def sequence(self):
        return [(t.rsplit(".", 1)[1], d["exec_status"], d.get("exposure")) for t, d in self.events]


def runner(tmp_path, recorder, fail=(), plan=None, **kwargs):
    sim = SimulatedSubsystems(fast_clock(), fail=fail)
    return ShotRunner(recorder, sim, plan or ExposurePlan(), make_inputs(tmp_path, **kwargs),
                      RealClock()), sim


async def test_successful_shot_publishes_every_step_in_order(tmp_path):
    rec, done = Recorder(), []
    shot_runner, sim = runner(tmp_path, rec)
    outcome = await shot_runner.run(shot_dict(), "E", 17, on_success=lambda: done.append(1))
    assert outcome.ok and not outcome.aborted and done == [1]
    assert rec.sequence() == [
        ("run", 0, None), ("setup_telescope", 0, None), ("setup_telescope", 1, None),
        ("exp_hetdex", 0, 1), ("exp_hetdex", 1, 1), ("exp_hetdex", 0, 2), ("exp_hetdex", 1, 2),
        ("exp_hetdex", 0, 3), ("exp_hetdex", 1, 3), ("run", 1, None)]
    exp = rec.events[3][1]
    assert set(exp) >= ORIGINAL_EXP_FIELDS
    assert (exp["observation"], exp["object"], exp["seconds"], exp["type"]) == \
        (17, "HS0015_E", 360.0, "sci")
    assert set(shot_dict()) <= set(exp)  # plus every key of the shot
    assert exp["exposures"] == 3  # OCD's addition: how many the shot has
    finish = rec.events[-1][1]
    assert finish["error"] is False and finish["traceback"] is None
    assert (finish["observation"], finish["obs_track"]) == (17, "E")
    commands = [(s, c) for s, c, _ in sim.log]
    assert commands[:3] == [("tcs", "goto"), ("pas", "setup_guiders"), ("pfip", "acam_image")]
    assert commands.count(("virus", "expose")) == 3
    dithers = [(p["dx"], p["dy"]) for s, c, p in sim.log if c == "dither"]
    assert dithers == list(ExposurePlan().dithers)


async def test_missing_star_file_fails_cleanly(tmp_path):
    rec, done = Recorder(), []
    shot_runner, _ = runner(tmp_path, rec, tracks="E")
    outcome = await shot_runner.run(shot_dict(), "W", 5, on_success=lambda: done.append(1))
    assert not outcome.ok and done == []
    finish = rec.events[-1][1]
    assert finish["error"] is True and finish["exc_type"] == "ShotInputError"
    assert "DEX00001_000_W.cfg: guide star file not found" in finish["exc_value"]
    assert "Traceback" in finish["traceback"]
    assert [t for t, _ in rec.events].count("ocd.run_shot.exp_hetdex") == 0


async def test_bad_star_file_names_the_line(tmp_path):
    rec = Recorder()
    shot_runner, _ = runner(tmp_path, rec, stars="guider1 1 2 3\nguider2 1 x 3\n")
    outcome = await shot_runner.run(shot_dict(), "E", 5)
    assert outcome.exc_type == "ShotInputError"
    assert "DEX00001_000_E.cfg:2: ra, dec and mag must be numbers" in outcome.exc_value


async def test_subsystem_failure_fails_the_shot(tmp_path):
    rec = Recorder()
    shot_runner, _ = runner(tmp_path, rec, fail=("virus.expose",))
    outcome = await shot_runner.run(shot_dict(), "E", 5)
    assert (outcome.ok, outcome.exc_type) == (False, "TcsError")
    assert "virus.expose failed" in outcome.exc_value
    assert rec.sequence()[-2:] == [("exp_hetdex", 0, 1), ("run", 1, None)]


@pytest.mark.parametrize("abort_exposure, finished_exposures", [(True, 1), (False, 2)])
async def test_abort_mid_exposure(tmp_path, abort_exposure, finished_exposures):
    holder = {}

    def on_event(topic, data):
        if topic.endswith("exp_hetdex") and data["exec_status"] == 0 and data["exposure"] == 2:
            assert holder["runner"].abort() is True

    rec = Recorder(on_event)
    shot_runner, _ = runner(tmp_path, rec, plan=ExposurePlan(abort_exposure=abort_exposure))
    holder["runner"] = shot_runner
    outcome = await shot_runner.run(shot_dict(), "E", 5)
    assert outcome.aborted and (outcome.exc_type, outcome.exc_value) == ("ShotAborted", "aborted")
    finished = [d["exposure"] for t, d in rec.events
                if t.endswith("exp_hetdex") and d["exec_status"] == 1]
    assert len(finished) == finished_exposures
    assert rec.events[-1][1]["error"] is True
    assert shot_runner.abort() is False  # nothing running any more


class SlowTelescope(SimulatedSubsystems):
    """A slew that takes an hour of real time unless it is stopped."""

    async def _tcs_goto(self, ra, dec, track):
        import asyncio
        await asyncio.sleep(3600)
        return {}


async def test_an_abort_during_the_slew_stops_the_telescope_at_once(tmp_path):
    import asyncio
    import time

    rec = Recorder()
    sim = SlowTelescope(fast_clock())
    shot_runner = ShotRunner(rec, sim, ExposurePlan(), make_inputs(tmp_path), RealClock())
    shot = asyncio.ensure_future(shot_runner.run(shot_dict(), "E", 5))
    while ("tcs", "goto") not in [(s, c) for s, c, _ in sim.log]:
        await asyncio.sleep(0.01)
    asked = time.monotonic()
    assert shot_runner.abort("aborted by RA at 03:00:00 UTC") is True
    outcome = await asyncio.wait_for(shot, 5)
    assert time.monotonic() - asked < 1.0
    assert outcome.aborted and outcome.exc_value == "aborted by RA at 03:00:00 UTC"
    assert [(s, c) for s, c, _ in sim.log] == [("tcs", "goto"), ("tcs", "stop")]
    assert rec.sequence() == [("run", 0, None), ("setup_telescope", 0, None), ("run", 1, None)]


async def test_an_exposure_let_finish_is_waited_for_and_said_so(tmp_path, caplog, monkeypatch):
    import asyncio

    import ocd.shots.runner as runner_module

    monkeypatch.setattr(runner_module, "ABORT_REPORT_EVERY", 0.05)
    holder = {}

    def on_event(topic, data):
        if topic.endswith("exp_hetdex") and data["exec_status"] == 0:
            asyncio.get_running_loop().call_soon(holder["runner"].abort)

    rec = Recorder(on_event)
    sim = SimulatedSubsystems(fast_clock(speed=1800.0))  # 370 s of exposure: about 0.2 s
    shot_runner = ShotRunner(rec, sim, ExposurePlan(abort_exposure=False),
                             make_inputs(tmp_path), RealClock())
    holder["runner"] = shot_runner
    outcome = await shot_runner.run(shot_dict(), "E", 5)
    assert outcome.aborted
    assert ("virus", "abort") not in [(s, c) for s, c, _ in sim.log]
    assert rec.sequence()[-3:] == [("exp_hetdex", 0, 1), ("exp_hetdex", 1, 1), ("run", 1, None)]
    said = [r.getMessage() for r in caplog.records if "waiting for virus.expose" in r.getMessage()]
    assert len(said) >= 2, said  # said again while it waits


def test_parse_dithers():
    assert parse_dithers("0 0, 1.27 -0.73") == ((0.0, 0.0), (1.27, -0.73))
    with pytest.raises(ValueError, match="is not a 'dx dy' pair"):
        parse_dithers("0 0, 1")


async def test_abort_reaches_the_exposure_in_flight(tmp_path):
    import asyncio

    class AbortingSim(SimulatedSubsystems):
        async def command(self, subsystem, command, **params):
            if command == "expose" and params["exposure"] == 2:
                asyncio.get_running_loop().call_soon(shot_runner.abort)
            return await super().command(subsystem, command, **params)

    rec = Recorder()
    sim = AbortingSim(fast_clock(speed=3600.0))  # 370 s of exposure: about 0.1 s
    shot_runner = ShotRunner(rec, sim, ExposurePlan(), make_inputs(tmp_path), RealClock())
    outcome = await shot_runner.run(shot_dict(), "E", 5)
    assert outcome.aborted
    assert ("virus", "abort") in [(s, c) for s, c, _ in sim.log]
    assert rec.sequence()[-2:] == [("exp_hetdex", 0, 2), ("run", 1, None)]


def test_plan_and_locator_from_config(tmp_path):
    from ocd.config import load_config
    from ocd.errors import ConfigError
    from ocd.shots.runner import locator_from_config, plan_from_config

    cfg = load_config(overrides=[("run_shot", "dithers", "0 0, 1 1"),
                                 ("run_shot", "exposure_time", "30"),
                                 ("run_shot", "shuffle_dir", str(tmp_path))], environ={})
    plan = plan_from_config(cfg)
    assert (plan.n_exposures, plan.exposure_time, plan.abort_exposure) == (2, 30.0, True)
    assert locator_from_config(cfg).paths("DEX1", "042", "E")[0] == tmp_path / "DEX1_042_E.cfg"
    cfg = load_config(overrides=[("run_shot", "dithers", "0 0 0")], environ={})
    with pytest.raises(ConfigError, match=r"^\[run_shot\] dithers = '0 0 0': .*"
                                          r"\(from command line\)$"):
        plan_from_config(cfg)

"""The external ``autoschedule_main`` adapter, driven with small fake programs written here."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
from autoschedule_helpers import calls, fake_program

from ocd.clock import MockClock, utc_to_jd
from ocd.config import load_config, sample_shot_file
from ocd.errors import ConfigError, OcdError
from ocd.shots.store import ShotStore
from ocd.sky.autoschedule import (
    ExternalChoice,
    autoschedule,
    build_command,
    parse_output,
    run_command,
    schedule_with_config,
)

WHEN = dt.datetime(2017, 11, 19, 3, 0, tzinfo=dt.timezone.utc)


def config(program: Path | str, **options: str):
    overrides = [("autoschedule", "executable", str(program)),
                 ("schedule", "scheduler", "autoschedule")]
    overrides += [(section, option, value) for (section, option), value in
                  ((tuple(key.split("__")), value) for key, value in options.items())]
    return load_config([], overrides, environ={})


@pytest.fixture
def store() -> ShotStore:
    return ShotStore.from_text(sample_shot_file().read_text())


def test_contract_parsing():
    assert parse_output("# verbose chatter\n\n  DEX00005  west  extra words\nDEX1 E\n") == \
        ExternalChoice("DEX00005", "W", "extra words")
    assert parse_output("DEX00001 0") == ExternalChoice("DEX00001", "E", "")
    assert parse_output("x 1").track == "W" and parse_output("x EAST").track == "E"
    assert parse_output("none moon too bright\n") == ExternalChoice(None, None,
                                                                     "moon too bright")
    with pytest.raises(OcdError, match=r"output line 2: expected 'SHOTID TRACK' .* got "
                                       r"'DEX00001 north'"):
        parse_output("#\nDEX00001 north\n")
    with pytest.raises(OcdError, match=r"output line 1: .* got 'DEX00001'"):
        parse_output("DEX00001\n")
    with pytest.raises(OcdError, match="no answer in its output"):
        parse_output("# only comments\n\n")


def test_the_program_gets_the_shot_list_and_the_julian_date(tmp_path, store):
    program = fake_program(tmp_path, 'print("# thinking"); print("DEX00014 E")')
    store.decrement("DEX00014")  # the snapshot carries the current n_obs
    result = autoschedule(config(program), store, WHEN)
    [call] = calls(tmp_path)
    assert call["shots"] == store.text()
    args = call["args"]
    assert args[0] == "-v" and args[3:] == ["1000", "1.5", "0.6", "1"]
    assert float(args[2]) == pytest.approx(utc_to_jd(WHEN), abs=1e-5)
    assert not Path(args[1]).exists()  # the snapshot is cleaned up
    assert result.scheduler == "autoschedule"
    assert (result.choice.shotid, result.choice.track) == ("DEX00014", "E")
    assert result.choice.shot.n_obs == 1
    assert result.reason == "chosen by autoschedule_main"  # the built-in agrees it is possible
    assert result.choice.observable and result.choice.azimuth is not None
    assert len(result.candidates) > 20  # the built-in evaluation, for display


def test_a_choice_the_builtin_would_reject_is_kept_and_flagged(tmp_path, store):
    program = fake_program(tmp_path, 'print("DEX00001 W")')
    result = autoschedule(config(program), store, WHEN)
    assert (result.choice.shotid, result.choice.track) == ("DEX00001", "W")
    assert result.reason.startswith("chosen by autoschedule_main (the built-in scheduler would "
                                    "not: window opens at")


def test_nothing_to_observe(tmp_path, store):
    program = fake_program(tmp_path, 'print("NONE clouds")')
    result = autoschedule(config(program), store, WHEN)
    assert result.choice is None and result.reason == "autoschedule_main: nothing to observe: " \
                                                      "clouds"


def test_argument_template_fields(tmp_path, store):
    program = fake_program(tmp_path, 'print("NONE")')
    cfg = config(program, autoschedule__arguments="--at '{utc}' --jd={jd:.3f} -- {shot_file}")
    command = build_command(cfg, Path("my shots.dat"), WHEN)
    assert command[1:] == ["--at", "2017-11-19T03:00:00+00:00",
                           f"--jd={utc_to_jd(WHEN):.3f}", "--", "my shots.dat"]
    bad = config(program, autoschedule__arguments="{shotfile} {jd}")
    with pytest.raises(ConfigError, match=r"\[autoschedule\] arguments = '\{shotfile\} \{jd\}':"
                                          r" unknown field \{shotfile\}"):
        build_command(bad, Path("x"), WHEN)


@pytest.mark.parametrize("body,message", [
    ('sys.stderr.write("reading shots\\nno dark time left\\n"); sys.exit(3)',
     "autoschedule_main: exited with status 3: no dark time left"),
    ('print("DEX99999 E")', "autoschedule_main chose 'DEX99999', which is not in the shot list"),
    ('print("DEX00015 E")', "autoschedule_main chose 'DEX00015', which has n_obs 0"),
    ('print("garbage here")', "autoschedule_main: output line 1: expected 'SHOTID TRACK'"),
])
def test_failures_are_one_line_errors(tmp_path, store, body, message):
    program = fake_program(tmp_path, body)
    with pytest.raises(OcdError) as caught:
        autoschedule(config(program), store, WHEN)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_missing_or_not_executable_program(tmp_path, store):
    with pytest.raises(OcdError, match=r"autoschedule_main: .*nope does not exist"):
        autoschedule(config(tmp_path / "nope"), store, WHEN)
    plain = tmp_path / "plain"
    plain.write_text("#!/bin/sh\necho NONE\n")
    with pytest.raises(OcdError, match="plain is not executable"):
        autoschedule(config(plain), store, WHEN)
    with pytest.raises(OcdError, match="'no-such-autoschedule' not found in PATH"):
        autoschedule(config("no-such-autoschedule"), store, WHEN)
    with pytest.raises(ConfigError, match="environment variable CUREBIN is not set"):
        autoschedule(load_config([], environ={}), store, WHEN)


def test_timeout_kills_the_program_and_its_children(tmp_path):
    program = fake_program(tmp_path, """
import subprocess
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
(here / "child.pid").write_text(str(child.pid))
time.sleep(60)
""")
    started = time.monotonic()
    with pytest.raises(OcdError, match=r"no answer within 0.5 s: killed"):
        run_command([str(program), "x", "y"], timeout=0.5)
    assert time.monotonic() - started < 10
    child = int((tmp_path / "child.pid").read_text())
    deadline = time.monotonic() + 5
    while not process_gone(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process_gone(child)


def process_gone(pid: int) -> bool:
    """No such process, or only a zombie waiting to be reaped (Linux)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"


def test_fallback_to_the_builtin_scheduler(tmp_path, store, caplog):
    program = fake_program(tmp_path, "sys.exit(1)")
    clock = MockClock(WHEN)
    result = schedule_with_config(config(program), store, clock)
    assert result.scheduler == "builtin"
    assert result.fallback == "autoschedule_main: exited with status 1"
    assert result.choice is not None
    assert "using the built-in scheduler" in caplog.text
    strict = config(program, schedule__fallback_builtin="false")
    with pytest.raises(OcdError, match="exited with status 1"):
        schedule_with_config(strict, store, clock)
    unset = load_config([], [("schedule", "scheduler", "autoschedule")], environ={})
    assert "CUREBIN" in schedule_with_config(unset, store, clock).fallback


def test_configured_scheduler_is_used(tmp_path, store):
    program = fake_program(tmp_path, 'print("DEX00009 W")')
    result = schedule_with_config(config(program), store, MockClock(WHEN), when=WHEN)
    assert result.scheduler == "autoschedule" and result.choice.shotid == "DEX00009"
    builtin = schedule_with_config(config(program, schedule__scheduler="builtin"), store,
                                   MockClock(WHEN), when=WHEN)
    assert builtin.scheduler == "builtin"
    assert len(calls(tmp_path)) == 1

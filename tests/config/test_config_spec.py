"""The configuration spec: every option's kind and range, checked once for every layer (files,
environment, ``--set``) and for ``ocd config send``; one line and exit status 2 for a bad value,
at once, never a hang; one seeing and one transparency limit for ``ocd run`` and the schedulers."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from absurd_values import ISSUES_ABSURD
from conftest import ocd_env, run_ocd
from hypothesis import given
from hypothesis import strategies as st

from ocd.config import Config, Origin, literal, load_config, master_specs, parse_specs
from ocd.config.values import KINDS, parse_type
from ocd.errors import ConfigError
from ocd.shell.settings import orchestrator_settings
from ocd.sky.scheduler import ScheduleSettings

#: The absurd values found from outside: (section, option, value, what the error expects).
ABSURD = [
    ("run", "tick_interval", "nan", "expected a finite number >= 0.01 and <= 60"),
    ("run", "tick_interval", "0", "expected a finite number >= 0.01 and <= 60"),
    ("run", "tick_interval", "-1", "expected a finite number >= 0.01 and <= 60"),
    ("bus", "reconnect_interval", "nan", "expected a finite number >= 0.01 and <= 3600"),
    ("bus", "heartbeat_interval", "1e308", "expected a finite number >= 0.1 and <= 3600"),
    ("dates", "mock_speed", "1e308", "expected a finite number >= 0.001 and <= 100000"),
    ("dates", "mock_time", "9999-12-31T23:59:59",
     "expected a date/time >= 1990-01-01 and < 2100-01-01"),
]
IDS = [f"{s}.{o}={v}" for s, o, v, _ in ABSURD]


def _startup_seconds() -> float:
    """How long ``ocd --version`` takes here and now (the machine may be busy)."""
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "ocd", "--version"], capture_output=True,
                   timeout=30, env=ocd_env(), check=True)
    return time.monotonic() - start


def _run_refused(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run ``ocd run ARGS`` to its own end (a deadline kills a hang and fails the test); its
    one stderr line, after checking exit status 2 within a second of start-up (twice the
    start-up measured just before, or just after when that is longer: a busy machine makes
    one start-up vary as much)."""
    before = _startup_seconds()
    start = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", "ocd", "run", *args], cwd=cwd,
                              capture_output=True, text=True, timeout=2 * before + 11,
                              env=env or ocd_env(), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:  # pragma: no cover - the bug this guards against
        pytest.fail(f"ocd run {' '.join(args)} hung")
    elapsed = time.monotonic() - start
    allowed = 2 * before + 1.0
    if elapsed >= allowed:  # the machine may have got busier meanwhile
        allowed = 2 * max(before, _startup_seconds()) + 1.0
    assert done.returncode == 2, done.stderr
    assert elapsed < allowed, f"{elapsed:.2f} s to refuse, more than {allowed:.2f} s"
    assert done.stdout == ""
    assert done.stderr.endswith("\n") and done.stderr.count("\n") == 1, done.stderr
    return done.stderr.rstrip("\n")


@pytest.mark.parametrize("section, option, value, expected", ABSURD, ids=IDS)
def test_absurd_value_in_a_file_is_one_line_exit_2(tmp_path, section, option, value, expected):
    user = tmp_path / "F.cfg"
    user.write_text(f"[{section}]\n{option} = {value}\n")
    line = _run_refused(["--config", str(user)], tmp_path)
    assert line == f"ocd: error: [{section}] {option} = {value}: {expected} (from {user}:2)"


@pytest.mark.parametrize("section, option, value, expected", ABSURD, ids=IDS)
def test_absurd_value_with_set_is_one_line_exit_2(tmp_path, section, option, value, expected):
    line = _run_refused(["--set", f"{section}.{option}={value}"], tmp_path)
    assert line == f"ocd: error: [{section}] {option} = {value}: {expected} (from command line)"


@pytest.mark.parametrize(("section", "option", "value"), ISSUES_ABSURD,
                         ids=[f"{s}.{o}={v}" for s, o, v in ISSUES_ABSURD])
def test_every_absurd_value_of_the_issues_is_refused_at_start_up(tmp_path, section, option,
                                                                  value):
    line = _run_refused(["--set", f"{section}.{option}={value}"], tmp_path)
    assert line.startswith(f"ocd: error: [{section}] {option} = {value}: "), line
    assert line.endswith(" (from command line)"), line


@pytest.mark.parametrize("section, option, value, expected", ABSURD, ids=IDS)
def test_absurd_value_from_the_environment_is_one_line_exit_2(tmp_path, section, option, value,
                                                               expected):
    key = f"OCD__{section.upper()}__{option.upper()}"
    line = _run_refused([], tmp_path, env=ocd_env(**{key: value}))
    assert line == f"ocd: error: [{section}] {option} = {value}: {expected} (from environment " \
                   f"{key})"


def test_every_option_has_a_kind_and_its_default_satisfies_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative defaults (shots.dat, HETcommands) need not exist
    text = (Path(__file__).parents[2] / "ocd" / "static" / "ocd.cfg").read_text()
    specs, problems = parse_specs(text)
    assert problems == []
    assert specs == master_specs()
    cfg = load_config(environ={"CUREBIN": "/opt/cure/bin"})
    for (section, option), spec in specs.items():
        value = spec.value
        assert value.kind in KINDS, (section, option)
        if KINDS[value.kind].bounded and value.kind != "time":
            assert value.bounds, f"[{section}] {option}: a number needs its range"
        if value.kind == "float":  # every interval, speed and size has an upper end too
            assert any(b.op in ("<", "<=") for b in value.bounds), (section, option)
        cfg.get(section, option)  # the master file's own value passes its own spec
        if not spec.default.startswith("empty") and "${" not in spec.default:
            value.convert(spec.default, tmp_path)


def test_secrets_are_a_kind_and_never_shown_in_errors():
    assert master_specs()[("database", "mysql_password")].kind == "secret"
    cfg = load_config(environ={})
    error = cfg.error("database", "mysql_password", "hunter2", "wrong")
    assert "hunter2" not in str(error)
    assert str(error).startswith("[database] mysql_password = ********: wrong")


FLOAT_OPTIONS = sorted(key for key, spec in master_specs().items() if spec.kind == "float")


@given(option=st.sampled_from(FLOAT_OPTIONS),
       number=st.floats(allow_nan=True, allow_infinity=True)
       | st.sampled_from([0.0, -0.0, 1e308, -1e308, 86400.0, 604800.0, 604800.000001]))
def test_a_float_is_accepted_exactly_when_finite_and_in_its_range(option, number):
    spec = master_specs()[option].value
    inside = math.isfinite(number) and all(bound.holds(number) for bound in spec.bounds)
    try:
        spec.convert(repr(number), Path.cwd())
    except ValueError as exc:
        assert not inside, f"{option} refused {number!r}: {exc}"
        assert str(exc) == f"expected {spec.expected}"
    else:
        assert inside, f"{option} accepted {number!r}"


@pytest.mark.parametrize("text, value, message", [
    ("int >= 1024", "1023", "expected an integer >= 1024"),
    ("port", "65536", "expected a port number from 1 to 65535"),
    ("port", "http", "expected a port number from 1 to 65535"),
    ("template(shotid|track)", "{shotid}_{ifu}", "expected a template with the fields {shotid}, "
                                                  "{track}, each bare: not {ifu}"),
    ("template(shotid|track)", "{shotid:>9999999}", "each bare: not {shotid:>9999999}"),
    ("template(shotid|track)", "{shotid.__class__}", "each bare: not {shotid.__class__}"),
    ("template(shotid|track)", "{shotid", "not a template"),
    ("time >= 1990-01-01, < 2100-01-01", "1900-01-01", "expected a date/time >= 1990-01-01"),
    ("file", "/", "expected an existing regular file: not a regular file"),
    ("file", "/no/such/file", "expected an existing regular file: file not found"),
])
def test_kinds_refuse_with_what_they_expect(text, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_type(text).convert(value, Path.cwd())


def test_a_dir_may_be_missing_but_never_a_file(tmp_path):
    spec = parse_type("dir")
    assert spec.convert("later", tmp_path) == tmp_path / "later"
    (tmp_path / "f").write_text("")
    with pytest.raises(ValueError, match="expected a directory"):
        spec.convert("f", tmp_path)


def test_a_bad_spec_in_the_master_file_is_a_spec_problem():
    _, problems = parse_specs("[a]\n# Doc.\n# {optional} {conf static} type: float > zero. "
                              "Default: 1\nx = 1\n# Doc.\n# {optional} {conf static} type: "
                              "colour. Default: red\ny = red\n")
    assert [p.option for p in problems] == ["x", "y"]


@pytest.mark.parametrize("section, option, value, expected", [
    *ABSURD,
    ("run", "max_seeing", "nan", "expected a finite number > 0 and <= 60"),
    ("run", "min_transparency", "1.5", "expected a finite number >= 0 and <= 1"),
    ("run_shot", "shuffle_conf_template", "{shotid}{__import__}", "expected a template"),
], ids=[*IDS, "run.max_seeing=nan", "run.min_transparency=1.5", "template"])
def test_config_send_is_checked_by_the_same_spec(section, option, value, expected):
    """``ocd config send`` checks with ``Config.check_value``; the main loop applies a
    ChangeConfig with ``Config.apply``: both refuse what the loader refuses, and change
    nothing."""
    cfg = load_config(environ={})
    before = cfg.render()
    origin = Origin("config send by test", Path.cwd())
    with pytest.raises(ConfigError) as sent:
        cfg.check_value(section, option, value, origin)
    with pytest.raises(ConfigError) as applied:
        cfg.apply([("run", "max_seeing", "2.5"), (section, option, value)], origin)
    for info in (sent, applied):
        assert str(info.value).startswith(f"[{section}] {option} = {value}: {expected}")
        assert str(info.value).endswith("(from config send by test)")
    assert cfg.render() == before  # the good change before the bad one was undone too


def _limits(cfg: Config) -> tuple[tuple[float | None, float | None], tuple[float, float]]:
    schedule = ScheduleSettings.from_config(cfg)
    metrology = orchestrator_settings(cfg).metrology
    return ((schedule.max_seeing, schedule.min_transparency),
            (metrology.max_seeing, metrology.min_transparency))


def test_the_scheduler_and_the_main_loop_read_one_limit():
    for overrides in ([], [("run", "max_seeing", "1.8"), ("run", "min_transparency", "0.7")]):
        schedule, main_loop = _limits(load_config(overrides=overrides, environ={}))
        assert schedule == main_loop
    assert main_loop == (1.8, 0.7)


@pytest.mark.parametrize("option", ["max_seeing", "min_transparency"])
def test_the_former_schedule_limits_are_refused_with_a_pointer(option):
    with pytest.raises(ConfigError) as info:
        load_config(overrides=[("schedule", option, "0")], environ={})
    assert str(info.value) == (f"[schedule] {option} = 0: no longer an option: set [run] "
                               f"{option}, the one limit of both ocd run and ocd schedule "
                               "(from command line)")


def test_ocd_schedule_applies_the_main_loops_seeing_limit(tmp_path):
    shots = Path(__file__).parents[2] / "ocd" / "static" / "samples" / "shots.dat"
    done = run_ocd("schedule", "--shots", str(shots), "--at", "2017-11-19T03:00:00", "--json",
                   "--seeing", "3.5", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["choice"] is None
    assert document["reason"] == "seeing 3.50 arcsec is above the limit 3.00"  # [run] max_seeing


def test_a_modifiable_secret_is_a_mistake_of_the_master_file():
    _, problems = parse_specs("[a]\n# A key.\n# {optional} {conf modifiable} type: secret. "
                              "Default: x\nkey = x\n")
    assert [p.reason for p in problems] == ["a secret must be {conf static} (it never travels "
                                            "on the bus)"]
    assert not any(spec.secret and spec.modify != "conf static"
                   for spec in master_specs().values())


def test_a_literal_value_is_never_interpolated():
    cfg = load_config(overrides=[("database", "mysql_password", "S3cretPW")],
                      environ={"HOME_KEY": "k"})
    origin = Origin("config send by x", Path.cwd())
    cfg.apply([("run_shot", "recipe", literal("${database:mysql_password} $$ ${HOME_KEY} $"))],
              origin)
    assert cfg.get_str("run_shot", "recipe") == "${database:mysql_password} $$ ${HOME_KEY} $"
    with pytest.raises(ConfigError) as error:
        cfg.check_value("run", "max_seeing", literal("${database:mysql_password}"), origin)
    assert "S3cretPW" not in str(error.value)
    assert str(error.value).startswith("[run] max_seeing = ${database:mysql_password}: ")

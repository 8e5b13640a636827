"""Documentation stays true: every option documented, generated pages current, README in sync."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ocd_env

from ocd.config import master_specs, master_text, parse_specs
from ocd.core.states import MACHINES
from ocd.dev.docgen import (
    MACHINES_BEGIN,
    MACHINES_END,
    configuration_reference,
    machine_diagrams,
    with_machine_diagrams,
)

ROOT = Path(__file__).resolve().parent.parent


def test_every_master_option_has_documentation_and_markers():
    specs, problems = parse_specs(master_text())
    assert problems == [], "\n".join(f"ocd.cfg:{p.line}: [{p.section}] {p.option}: {p.reason}"
                                     for p in problems)
    assert len(specs) > 30


def test_every_master_option_states_its_default():
    for spec in master_specs().values():
        assert spec.default, f"[{spec.section}] {spec.name} has no Default:"


def test_configuration_reference_is_current():
    committed = (ROOT / "doc" / "configuration.md").read_text()
    assert committed == configuration_reference(), (
        "doc/configuration.md is stale: run python -m ocd.dev.docgen config > doc/configuration.md")


def test_the_machine_diagrams_are_those_of_the_tables():
    committed = (ROOT / "doc" / "how-ocd-decides.md").read_text()
    assert committed == with_machine_diagrams(committed), (
        "doc/how-ocd-decides.md shows other machines than ocd/core/states.py: run "
        "python -m ocd.dev.docgen machines --into doc/how-ocd-decides.md")
    generated = committed[committed.index(MACHINES_BEGIN):committed.index(MACHINES_END)]
    for spec in MACHINES:  # every move of every table is an arrow of its diagram
        assert f"### `{spec.name}`" in generated
        for (state, trigger), move in spec.table.items():
            assert f"    {state} --> {move.new_state} : {trigger}" in generated


def test_a_changed_table_makes_the_diagrams_stale(monkeypatch):
    from ocd.core import states

    before = machine_diagrams()
    table = dict(states.TCS.table)
    del table[states.TcsStateName.ALIVE, states.TcsTrigger.HEARTBEAT_TIMEOUT]
    changed = states.MachineSpec("tcs", states.TcsStateName, states.TcsTrigger,
                                 states.TcsStateName.DEAD, table, states.TCS.meanings)
    monkeypatch.setattr(states, "MACHINES", (changed, *states.MACHINES[1:]))
    assert machine_diagrams() != before
    committed = (ROOT / "doc" / "how-ocd-decides.md").read_text()
    assert with_machine_diagrams(committed) != committed


def test_required_sections_exist():
    sections = {section for section, _ in master_specs()}
    for name in ("general", "urls", "topics", "run", "run_shot", "allow_hetdex", "db_replay",
                 "shots", "database", "dates", "autoschedule", "tcs"):
        assert name in sections


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    match = re.search(r"^TEST_COMMAND='(?P<cmd>[^']+)'$", ci, flags=re.M)
    assert match, ".ci/run must define TEST_COMMAND='...'"
    assert f"    {match.group('cmd')}\n" in readme or f"\n{match.group('cmd')}\n" in readme


# -- doc/commands.md against the parser ----------------------------------------------------------

_COMMON_OPTIONS = {"--config", "--set", "--log-level", "--debug", "-h", "--help"}
_OPTION = r"(?<![\w-])(--?[a-zA-Z][\w-]*)"


def _commands(parser, path=()):
    """Every command the parser runs (``("config", "send")``) -> its own options, one tuple of
    spellings per option."""
    import argparse

    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, [tuple(a.option_strings) for a in parser._actions
                     if a.option_strings and not set(a.option_strings) & _COMMON_OPTIONS]
    for action in subs:
        for name, sub in action.choices.items():
            yield from _commands(sub, (*path, name))


def _reference_sections():
    """Each ``## `ocd ...``` section of doc/commands.md: the commands its heading names and
    its text (``## `ocd obsnum init|next|show``` and ``## `ocd keys init` / `add NAME```
    name several)."""
    text = (ROOT / "doc" / "commands.md").read_text()
    for section in re.split(r"^## ", text, flags=re.M)[1:]:
        heading = section.split("\n", 1)[0]
        spans = re.findall(r"`([^`]+)`", heading)
        words = spans[0].split()
        assert words[0] == "ocd", heading
        actions = words[2].split("|") if len(words) > 2 and re.fullmatch(
            r"[a-z_]+(\|[a-z_]+)*", words[2]) else []
        actions += [span.split()[0] for span in spans[1:]]
        names = [(words[1], action) for action in actions] or [(words[1],)]
        yield names, heading, section


def test_every_command_has_its_section_and_every_option_is_documented():
    from ocd.cli import build_parser

    commands = dict(_commands(build_parser()))
    documented = set()
    for names, heading, section in _reference_sections():
        documented.update(names)
        known = {spelling for name in names for option in commands.get(name, [])
                 for spelling in option}
        unknown = set(re.findall(_OPTION, heading)) - known - _COMMON_OPTIONS
        assert not unknown, f"doc/commands.md: {heading}: no such option {sorted(unknown)}"
        for name in names:
            for spellings in commands.get(name, []):
                assert any(re.search(rf"(?<![\w-]){re.escape(s)}(?![\w-])", section)
                           for s in spellings), f"doc/commands.md: {heading}: {spellings}"
    assert set(commands) == documented, (
        f"without a section: {sorted(set(commands) - documented)}; "
        f"no such command: {sorted(documented - set(commands))}")


def test_every_command_line_quoted_in_the_pages_names_real_options():
    """``ocd X --opt`` quoted in the text of the pages: X is a command and --opt one of its
    options (or a common one)."""
    from ocd.cli import build_parser

    commands = dict(_commands(build_parser()))
    options: dict[str, set[str]] = {}
    for path, opts in commands.items():
        options.setdefault(path[0], set()).update(s for o in opts for s in o)
    checked = 0
    for page in ("README.md", "doc/quickstart.md", "doc/commands.md", "doc/rehearsal.md"):
        for span in re.findall(r"`(ocd [^`]+)`", (ROOT / page).read_text()):
            words = span.split()
            if not re.fullmatch(r"[a-z_]+", words[1]):
                continue
            assert words[1] in options, f"{page}: `{span}`: no command {words[1]}"
            unknown = set(re.findall(_OPTION, span)) - options[words[1]] - _COMMON_OPTIONS
            assert not unknown, f"{page}: `{span}`: no option {sorted(unknown)}"
            checked += 1
    assert checked > 50


# -- numbers the pages promise ------------------------------------------------------------------

_PAGES = ("README.md", "doc/quickstart.md", "doc/commands.md", "doc/rehearsal.md", "doc/board.md",
          "doc/bus.md", "doc/recording.md", "doc/simulate.md")
#: "`[section] option`, 60)", "`[section] option` (default `tcp://...`", "(1 in the shipped plan:".
_CLAIM = re.compile(r"`\[(\w+)\]\s+(\w+)`(?:,\s+|\s+\(default\s+|\s+\()"
                    r"(?:`([^`]+)`|(\d[\d.]*)(?: s| in the shipped plan)?)\s*[);:]")


def _shipped(section: str, option: str) -> str:
    return master_specs()[section, option].default


def test_the_defaults_the_pages_quote_are_the_shipped_ones():
    """A default quoted next to its option (``(default `[rehearse] speed`, 60)``,
    ``[board] url` (default `http://127.0.0.1:8600```) is the master file's."""
    claims = 0
    for page in _PAGES:
        text = re.sub(r"\s+", " ", (ROOT / page).read_text())
        for section, option, quoted, bare in _CLAIM.findall(text):
            value = quoted or bare
            if (section, value) in master_specs():  # a list of options, not a value
                continue
            shipped = _shipped(section, option)
            assert value == shipped, (
                f"{page}: [{section}] {option} is said to default to {value!r}; "
                f"the master ocd.cfg says {shipped!r}")
            claims += 1
    assert claims >= 9


def test_the_addresses_the_pages_quote_are_those_of_the_plan():
    """Every ``tcp://127.0.0.1:PORT`` of the pages is an address of the shipped plan, named
    with its option where one is named next to it."""
    plan = {(option, address.strip()) for (section, option), spec in master_specs().items()
            if section == "urls" for address in spec.default.split(",") if address.strip()}
    addresses = {address for _, address in plan}
    seen = 0
    for page in (*_PAGES, "doc/events.md", "doc/security.md", "doc/index.md"):
        text = re.sub(r"\s+", " ", (ROOT / page).read_text())
        for address in re.findall(r"tcp://127\.0\.0\.1:\d+", text):
            assert address in addresses, f"{page}: {address} is not in the shipped [urls]"
            seen += 1
        for option, address in re.findall(r"\b(ocd_\w+|event_urls) `?(tcp://127\.0\.0\.1:\d+)",
                                          text):
            assert (option, address) in plan, f"{page}: {option} {address}"
    assert seen >= 10


# -- the sample rehearsal ----------------------------------------------------------------------

_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}


def _rehearsal_promises() -> tuple[int, list[int]]:
    """The completed shots and observation numbers doc/rehearsal.md promises, checked to be
    the same in its prose, its sample summary and its sample JSON."""
    text = (ROOT / "doc" / "rehearsal.md").read_text()
    prose = re.search(r"about a minute of wall time, (\w+)\s+completed shots", text)
    summary = re.search(r"shots completed:\s+(\d+)", text)
    numbers = re.search(r"observation numbers: ([\d, ]+)\n", text)
    as_json = re.search(r'"shots_completed": (\d+), "shots_failed": \d+, "obsnums": \[([\d, ]+)\]',
                        text)
    assert prose and summary and numbers and as_json, "doc/rehearsal.md: a promise moved"
    completed = _NUMBER_WORDS[prose.group(1)]
    obsnums = [int(n) for n in numbers.group(1).split(",")]
    assert int(summary.group(1)) == completed == int(as_json.group(1))
    assert [int(n) for n in as_json.group(2).split(",")] == obsnums
    return completed, obsnums


@pytest.mark.parametrize("late", [60, 180])
def test_the_sample_rehearsal_completes_the_shots_its_page_promises(late, tmp_path):
    """``ocd rehearse`` with no options: its segment through ``ocd simulate``, which takes the
    same shots as the real processes (tests/e2e/test_simulate_rehearsal.py), starting as late
    as the rehearsal's TCS comes up (its processes take a second or two, one to three minutes
    of the night at 60x): the page's numbers hold whichever it is."""
    from datetime import timedelta

    from ocd.config import load_config, rehearsal_config, sample_night

    completed, obsnums = _rehearsal_promises()
    cfg = load_config([str(rehearsal_config())], [])
    start = cfg.get_time("dates", "mock_time")
    assert start is not None, "rehearsal.cfg sets [dates] mock_time"
    end = start + timedelta(seconds=float(_shipped("rehearse", "duration")))
    done = subprocess.run(
        [sys.executable, "-m", "ocd", "simulate", "--config", str(rehearsal_config()),
         "--from", (start + timedelta(seconds=late)).isoformat(), "--to", end.isoformat(),
         "--replay", str(sample_night()), "--json"],
        capture_output=True, text=True, cwd=tmp_path, env=ocd_env(), timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    night = json.loads(done.stdout)["nights"][0]
    assert night["totals"]["shots_completed"] == completed
    assert [shot["observation"] for shot in night["shots"]] == obsnums


def test_the_sample_data_is_as_described():
    """doc/rehearsal.md: 20 shots; a recorded night of about 1 100 events, under 0.5 MB."""
    import sqlite3

    from ocd.config import sample_night, sample_shot_file
    from ocd.shots.store import load_shots

    text = re.sub(r"\s+", " ", (ROOT / "doc" / "rehearsal.md").read_text())
    shots = re.search(r"`shots.dat` \| (\d+) HETDEX-like shots", text)
    events = re.search(r"about (\d+) (\d+) events, under ([\d.]+) MB", text)
    assert shots and events, "doc/rehearsal.md: the description of the sample data moved"
    assert len(load_shots(sample_shot_file()).all()) == int(shots.group(1))
    with sqlite3.connect(sample_night()) as conn:
        (count,) = conn.execute("SELECT count(*) FROM events").fetchone()
    assert abs(count - int(events.group(1) + events.group(2))) <= 100, count
    assert sample_night().stat().st_size < float(events.group(3)) * 1e6


def test_the_events_reference_shows_the_shipped_address_plan(monkeypatch):
    """doc/events.md's addresses (its table, its minimal monitor) come from the master file:
    another plan makes another page."""
    import dataclasses

    from ocd.dev import docgen

    page = docgen.events_reference()
    assert "| `[urls] ocd_run_shot` | shots: `ocd run` (index 0), `ocd run_shot -e` (index 1) | " \
           "`tcp://127.0.0.1:6601`, `6605` |" in page
    assert "for port in (6600, 6601, 6605, 6602, 6604, 6606, 6607):" in page
    specs = dict(master_specs())
    key = ("urls", "ocd_run_shot")
    specs[key] = dataclasses.replace(specs[key], default="tcp://127.0.0.1:7701, tcp://127.0.0.1:7705")
    monkeypatch.setattr(docgen, "master_specs", lambda: specs)
    moved = docgen.events_reference()
    assert "`tcp://127.0.0.1:7701`, `7705` |" in moved
    assert "for port in (6600, 7701, 7705, 6602, 6604, 6606, 6607):" in moved


def test_security_lists_every_sendable_option_with_its_kind():
    """doc/security.md's table of what ``config send`` may change is the master file's."""
    from ocd.config import master_specs

    text = (ROOT / "doc" / "security.md").read_text()
    table = text.split("| kind | options | refused |", 1)[1].split("\n\n", 1)[0]
    documented = set()
    for row in table.splitlines()[2:]:
        kind, options = row.split("|")[1:3]
        section = None
        for token in re.findall(r"`([^`]+)`", options):
            match = re.fullmatch(r"\[(\w+)\] (\w+)", token)
            section, name = (match.group(1), match.group(2)) if match else (section, token)
            documented.add((section, name, kind.strip()))
    sendable = {(s, o, spec.kind) for (s, o), spec in master_specs().items()
                if spec.modifiable}
    assert documented == sendable
    assert not {"program", "arguments", "secret", "url", "urls"} & {k for _, _, k in documented}

"""Documentation stays true: every option documented, generated pages current, README in sync."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

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


def test_the_readme_plan_and_simulate_commands_work_in_a_fresh_checkout(tmp_path):
    """What the README tells a newcomer to type after set-up runs as written, from the source
    tree (the picture goes to a temporary directory)."""
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^    (ocd (?:plan|simulate) .*)$", readme, flags=re.M)
    assert len(commands) == 2, commands
    for command in commands:
        argv = [arg if arg != "night.png" else str(tmp_path / "night.png")
                for arg in shlex.split(command)]
        done = subprocess.run([sys.executable, "-m", "ocd", *argv[1:]], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (command, done.stderr[-2000:])
        assert "shots:" in done.stdout, done.stdout[-2000:]
    assert (tmp_path / "night.png").read_bytes().startswith(b"\x89PNG")


def test_the_security_page_lists_exactly_the_sendable_options_by_kind():
    """doc/security.md's table of what ``config send`` may change is the master file's."""
    text = (ROOT / "doc" / "security.md").read_text()
    table = text.split("<!-- sendable -->")[1].split("<!-- /sendable -->")[0]
    documented = {}
    for row in table.strip().splitlines()[2:]:
        kind, options = (cell.strip() for cell in row.strip("|").split("|"))
        documented[kind.strip("`")] = re.findall(r"`\[(\w+)\] (\w+)`", options)
    expected: dict[str, list[tuple[str, str]]] = {}
    for (section, option), spec in master_specs().items():
        if spec.modifiable:
            expected.setdefault(spec.kind, []).append((section, option))
    assert documented == expected
    assert not {"program", "arguments", "secret", "url", "urls"} & set(documented)

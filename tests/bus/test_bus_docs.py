"""The events reference is generated from the schemas and committed current."""

from pathlib import Path

from ocd.bus.schemas import topic_schemas
from ocd.dev.docgen import events_reference, main

ROOT = Path(__file__).resolve().parents[2]


def test_events_reference_is_current():
    committed = (ROOT / "doc" / "events.md").read_text()
    assert committed == events_reference(), (
        "doc/events.md is stale: run python -m ocd.dev.docgen events > doc/events.md")


def test_events_reference_lists_every_topic_and_field():
    page = events_reference()
    for topic, schema in topic_schemas().items():
        assert f"### {topic}\n" in page
        for field in schema["properties"]:
            assert f"| `{field}` |" in page


def test_docgen_knows_the_events_page(capsys):
    assert main(["events"]) == 0
    assert capsys.readouterr().out.startswith("# Events reference")
    assert main(["nope"]) == 2


def test_index_links_the_events_page():
    assert "(events.md)" in (ROOT / "doc" / "index.md").read_text()


def test_events_reference_has_what_a_gui_author_needs():
    from ocd.core.orchestrator import Orchestrator, Settings

    page = events_reference()
    for section in ("## OCD's clock", "## Sending a command from a GUI",
                    "## How many messages to expect", "## What OCD reads from the TCS",
                    "## The state machines"):
        assert f"\n{section}\n" in page, section
    for machine in Orchestrator(Settings()).machines:  # every state of every machine, meant
        for state in machine.states:
            assert f"| `{machine.name}` | `{state}` | {machine.meanings[state]} |" in page
    for key in ("__mock_time", "__mock_speed", "__mock_anchor"):
        assert f"| `{key}` |" in page
    assert "| `exposures` | integer ≥ 1 | yes |" in page

"""The events reference is generated from the schemas and committed current."""

from pathlib import Path

from ocd.bus.schemas import topic_schemas
from ocd.dev.docgen import events_reference, main

ROOT = Path(__file__).resolve().parent.parent


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

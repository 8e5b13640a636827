"""The topic schemas shipped in the package: complete, self-consistent, and true to what the
code sends."""

import datetime as dt

import pytest

from ocd.bus.addresses import SERVICES
from ocd.bus.envelope import META_KEYS, MOCK_KEYS, Event, stamp
from ocd.bus.schemas import shared_schema, topic_schemas, validation_errors
from ocd.clock import MockClock, RealClock
from ocd.core.topics import TcsTopics

REQUIRED_TOPICS = {
    "ocd.run_shot.run", "ocd.run_shot.setup_telescope", "ocd.run_shot.exp_hetdex",
    "ocd.states.change", "ocd.states.state", "ocd.heartbeat.enquiry", "ocd.heartbeat.reply",
}


def test_every_ocd_topic_has_a_schema():
    assert set(topic_schemas()) >= REQUIRED_TOPICS


def test_every_tcs_topic_ocd_acts_on_has_a_schema():
    assert set(topic_schemas()) >= set(TcsTopics().all())


def test_the_guiders_share_one_contract():
    one, two = (topic_schemas()[topic] for topic in TcsTopics().metrology)
    assert one["properties"] == two["properties"] and one["required"] == two["required"]


def test_the_envelope_schema_lists_every_metadata_key():
    envelope = shared_schema("envelope")
    assert set(envelope["properties"]) == set(META_KEYS)
    # the mock clock's keys are there only with a mock clock
    assert set(envelope["required"]) == set(META_KEYS) - set(MOCK_KEYS)


@pytest.mark.parametrize("topic", sorted(topic_schemas()))
def test_schema_is_documented_and_its_example_valid(topic):
    schema = topic_schemas()[topic]
    assert schema["title"] == topic and schema["description"]
    assert schema["$id"] == f"urn:ocd:schema:{topic}"
    if topic.startswith("ocd."):
        assert schema["x-ocd-key-fields"]
        assert schema["x-ocd-publisher"] in SERVICES
        assert {"$ref": "urn:ocd:schema:envelope"} in schema["allOf"]
    else:  # a TCS topic OCD acts on
        assert schema["x-ocd-publisher"] == "event_urls"
        assert "allOf" not in schema  # only the fields OCD reads: no envelope required
        assert schema["x-ocd-topic-option"] in ("tcs_heartbeat", "tcs_ra_dec", "metrology")
    for name, spec in schema["properties"].items():
        assert name.startswith("__") or spec.get("description"), (topic, name)
    for field in schema.get("x-ocd-key-fields", ()):
        assert field in schema["properties"] or field in shared_schema("shot")["properties"]
    assert schema["examples"]
    for example in schema["examples"]:
        assert validation_errors(topic, example) == []


@pytest.mark.parametrize("clock", [RealClock(), MockClock(dt.datetime(2017, 11, 18, 18, 0))],
                         ids=["real", "mock"])
@pytest.mark.parametrize("topic", sorted(topic_schemas()))
def test_what_stamp_makes_satisfies_the_schema(topic, clock):
    data = Event(topic, topic_schemas()[topic]["examples"][0]).data
    payload = stamp(topic, data, origin="ocd_main_loop@host:123", seq=1, clock=clock)
    assert validation_errors(topic, payload) == []


def _example(topic):
    return dict(topic_schemas()[topic]["examples"][0])


def test_schema_rejects_missing_and_wrong_fields():
    run = _example("ocd.run_shot.run")
    del run["error"]  # a finished shot must say whether it failed
    assert any("'error' is a required property" in e
               for e in validation_errors("ocd.run_shot.run", run))
    started = _example("ocd.run_shot.run")
    started.update(exec_status=0)
    for key in ("error", "exc_type", "exc_value", "traceback"):
        del started[key]
    assert validation_errors("ocd.run_shot.run", started) == []
    bad = _example("ocd.run_shot.exp_hetdex")
    bad["exec_status"] = 2
    bad["__seq"] = 0
    errors = validation_errors("ocd.run_shot.exp_hetdex", bad)
    assert any(e.startswith("exec_status:") for e in errors)
    assert any(e.startswith("__seq:") for e in errors)
    wrong_topic = _example("ocd.states.state")
    assert validation_errors("ocd.states.change", wrong_topic)
    assert validation_errors("ocd.no.such", {}) == ["no schema for topic ocd.no.such"]

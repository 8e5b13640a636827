"""Validation of what OCD receives: the compiled schemas agree with the reference validator,
and absurd TCS inputs are dropped with a counted kind."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocd.bus.envelope import MalformedMessage
from ocd.bus.schemas import all_schemas, topic_schemas, validation_errors
from ocd.bus.validation import (
    PayloadRules,
    _compiled_checker,
    accept,
    checker,
    command_rules,
    main_loop_rules,
    simple_checker,
    tcs_schemas,
)
from ocd.core.topics import TcsTopics

G1, G2 = TcsTopics().metrology
RULES = main_loop_rules(TcsTopics())

#: Keywords whose meaning is the same in drafts 7 and 2020-12: the compiled validators read
#: the schemas as draft 7.
COMMON_KEYWORDS = {
    "$schema", "$id", "$ref", "title", "description", "examples", "type", "properties",
    "required", "additionalProperties", "items", "minItems", "maxItems", "enum", "const",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
    "pattern", "format", "allOf", "anyOf", "oneOf", "if", "then", "else", "not",
}


def _keywords(node, found):
    if isinstance(node, dict):
        for key, value in node.items():
            if not key.startswith("x-"):
                found.add(key)
            if key == "properties":
                for spec in value.values():
                    _keywords(spec, found)
            elif key not in ("examples", "enum", "const", "required"):
                _keywords(value, found)
    elif isinstance(node, list):
        for item in node:
            _keywords(item, found)
    return found


@pytest.mark.parametrize("name", sorted(all_schemas()))
def test_schemas_use_only_keywords_both_drafts_read_alike(name):
    assert _keywords(all_schemas()[name], set()) <= COMMON_KEYWORDS


def _payload(topic, **changes):
    payload = dict(topic_schemas()[topic]["examples"][0])
    payload.update(changes)
    return payload


def _frames(topic, payload):
    return [topic.encode(), json.dumps(payload).encode()]


@pytest.mark.parametrize("topic, changes", [
    (G1, {"seeing": -1}), (G1, {"seeing": -1e300}), (G1, {"seeing": 0}),
    (G1, {"seeing": 1.7e308}), (G2, {"seeing": 25.0}), (G1, {"seeing": "1.2"}),
    (G1, {"seeing": True}), (G2, {"transparency": -0.1}), (G2, {"transparency": 2.0}),
    (G1, {"transparency": [0.5]}),
    ("tcs.root.ra_dec", {"ra": 24.0}), ("tcs.root.ra_dec", {"ra": -0.5}),
    ("tcs.root.ra_dec", {"dec": 91}), ("tcs.root.ra_dec", {"dec": "56"}),
    ("ocd.heartbeat.enquiry", {"id": [1]}), ("ocd.heartbeat.enquiry", {"id": "x" * 300}),
    ("ocd.command.abort", {"id": ""}), ("ocd.command.allow_hetdex", {"allowed": "yes"}),
    ("ocd.run_shot.run", {"exec_status": 2}), ("ocd.run_shot.run", {"ra": 30.0}),
    ("ocd.run_shot.run", {"__origin": None}),
])
def test_absurd_inputs_are_dropped_as_invalid(topic, changes):
    payload = _payload(topic, **changes)
    with pytest.raises(MalformedMessage) as info:
        accept(_frames(topic, payload), RULES)
    assert info.value.kind == "schema" and info.value.topic == topic
    assert validation_errors(topic, payload)  # the reference validator agrees


def test_missing_fields_ocd_reads_are_invalid():
    payload = _payload(G1)
    del payload["seeing"]
    with pytest.raises(MalformedMessage, match="seeing"):
        accept(_frames(G1, payload), RULES)


def test_valid_inputs_pass_and_a_tcs_event_needs_no_ocd_keys():
    for topic in RULES.schema_of:
        assert accept(_frames(topic, _payload(topic)), RULES).topic == topic
    bare = {"seeing": None, "transparency": 0.9}
    assert accept(_frames(G2, bare), RULES).payload == bare
    assert accept(_frames("tcs.receiver.heartbeat", {}), RULES).payload == {}


def test_unknown_topics_under_the_guarded_prefixes_are_dropped():
    with pytest.raises(MalformedMessage) as info:
        accept(_frames("ocd.command.format_disk", {"id": "x"}), RULES)
    assert info.value.kind == "unknown"
    with pytest.raises(MalformedMessage):
        accept(_frames("ocd.run_shot.fake", {}), RULES)
    # a topic outside the rules passes: the owner does not act on it
    assert accept(_frames("tcs.weather.wind", {"speed": 3}), RULES).topic == "tcs.weather.wind"
    assert accept(_frames("ocd.command.format_disk", {}), None).topic == "ocd.command.format_disk"


def test_configured_tcs_names_get_the_schema_of_their_role():
    tcs = TcsTopics(heartbeat="tcs.hb.beat", ra_dec="tcs.mount.position",
                    metrology=("pas.A.m", "pas.B.m", "pas.C.m"))
    schema_of = tcs_schemas(tcs)
    assert schema_of["tcs.hb.beat"] == "tcs.receiver.heartbeat"
    assert schema_of["tcs.mount.position"] == "tcs.root.ra_dec"
    assert [schema_of[t] for t in tcs.metrology] == [G1, G2, G1]
    rules = PayloadRules(schema_of)
    with pytest.raises(MalformedMessage):
        accept(_frames("pas.C.m", {"seeing": -1, "transparency": 1}), rules)


def test_command_rules_cover_what_run_shot_acts_on():
    rules = command_rules()
    assert "ocd.command.abort" in rules and "ocd.heartbeat.enquiry" in rules
    with pytest.raises(MalformedMessage):
        accept(_frames("ocd.command.abort", _payload("ocd.command.abort", id=7)), rules)


# -- the compiled validators agree with the reference validator ---------------------------

def _accepted(topic, payload) -> bool:
    """Whether the main loop's rules let ``payload`` through."""
    try:
        RULES.check(topic, payload)
    except MalformedMessage:
        return False
    return True


NUMBERS = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=3))


@settings(max_examples=300, deadline=None)
@given(topic=st.sampled_from([G1, G2, "tcs.root.ra_dec"]),
       values=st.dictionaries(st.sampled_from(["seeing", "transparency", "guider", "ra", "dec",
                                               "dx", "track", "tracking", "__seq", "__clock"]),
                              NUMBERS, max_size=6))
def test_compiled_and_reference_validators_agree_on_tcs_payloads(topic, values):
    assert _accepted(topic, values) == (validation_errors(topic, values) == []), (topic, values)


@settings(max_examples=200, deadline=None)
@given(topic=st.sampled_from(sorted(RULES.schema_of)), data=st.data())
def test_compiled_and_reference_validators_agree_on_changed_examples(topic, data):
    payload = _payload(topic)
    key = data.draw(st.sampled_from(sorted(payload)))
    payload[key] = data.draw(NUMBERS)
    assert _accepted(topic, payload) == (validation_errors(topic, payload) == []), \
        (topic, key, payload[key])


def test_the_tcs_topics_get_the_simple_checker_and_the_ocd_topics_the_compiled_one():
    for topic in TcsTopics().all():
        assert simple_checker(all_schemas()[topic]) is not None
    for topic in ("ocd.run_shot.run", "ocd.command.config_send", "ocd.heartbeat.enquiry"):
        assert simple_checker(all_schemas()[topic]) is None  # $ref, enum, anyOf...


@settings(max_examples=300, deadline=None)
@given(topic=st.sampled_from([G1, G2, "tcs.root.ra_dec", "tcs.receiver.heartbeat"]),
       values=st.dictionaries(st.sampled_from(["seeing", "transparency", "guider", "ra", "dec",
                                               "dx", "dy", "track", "tracking", "status"]),
                              NUMBERS, max_size=7))
def test_the_simple_checker_agrees_with_the_compiled_one(topic, values):
    assert (checker(topic)(values) is None) == (_compiled_checker(topic)(values) is None), \
        (topic, values)


@pytest.mark.parametrize(("topic", "values"), [
    ("tcs.root.ra_dec", {"ra": 0, "dec": -90}), ("tcs.root.ra_dec", {"ra": 24, "dec": 0}),
    ("tcs.root.ra_dec", {"ra": 23.999999999999996, "dec": 90}),
    ("tcs.root.ra_dec", {"ra": 24.0, "dec": 0}), ("tcs.root.ra_dec", {"ra": -0.0, "dec": 0}),
    ("tcs.root.ra_dec", {"ra": 1, "dec": 90.00000000000001}),
    ("tcs.root.ra_dec", {"ra": 1, "dec": 0, "track": "E" * 8}),
    ("tcs.root.ra_dec", {"ra": 1, "dec": 0, "track": "E" * 9}),
    ("tcs.root.ra_dec", {"ra": True, "dec": 0}), ("tcs.root.ra_dec", {"ra": 1}),
    ("tcs.root.ra_dec", {"ra": 1, "dec": 0, "tracking": 1}),
    (G1, {"seeing": 0, "transparency": 1}), (G1, {"seeing": 5e-324, "transparency": 1.5}),
    (G1, {"seeing": 20, "transparency": None}), (G1, {"seeing": None, "transparency": 1.5000001}),
    (G1, {"seeing": 1, "transparency": 1, "guider": 2.0}),
    (G1, {"seeing": 1, "transparency": 1, "guider": 1.5}),
    (G1, {"seeing": 1, "transparency": 1, "guider": 3}),
])
def test_the_simple_checker_agrees_with_the_compiled_one_at_the_bounds(topic, values):
    assert (checker(topic)(values) is None) == (_compiled_checker(topic)(values) is None)


def test_the_simple_checker_writes_names_and_bounds_as_data_not_code():
    """Property names and bounds come from schema files: in the generated check they are
    literals, whatever characters they hold."""
    name = "a'\"\n) or True or ('"
    check = simple_checker({"type": "object", "required": [name],
                            "properties": {name: {"type": "number", "maximum": 1.5}}})
    assert check is not None
    assert check({name: 1.5}) is None
    assert check({name: 1.6}) == f"{name} = 1.6 is out of range"
    assert check({}) == f"{name} is required"
    assert check({name: "x"}) == f"{name} has the wrong type (str)"
    assert simple_checker({"type": "object",
                           "properties": {"x": {"type": "number", "maximum": "1"}}}) is None

"""Which received payloads are valid: the topic schemas of ``ocd/schemas``, compiled.

A process that acts on events (``ocd run``, ``ocd run_shot -e``) gives its subscriber the
:class:`PayloadRules` of the topics it reads; :func:`accept` is the one path from frames to an
event: strict decoding (:func:`ocd.bus.envelope.decode`), then the topic's schema with its
physical ranges. What fails is a :class:`~ocd.bus.envelope.MalformedMessage` with a kind to
count, and never reaches a state machine.

The schemas are written for draft 2020-12 (the documentation and the tests read them with
``jsonschema``), using only keywords that mean the same in draft 7, so that ``fastjsonschema``
can compile them to Python functions for the hot path: ``jsonschema`` takes 50 to 170 us per
payload here, the compiled function 2 to 10 us (see doc/performance.md). A test checks that both
agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Any, Protocol

import fastjsonschema

from ocd.bus.envelope import MAX_MESSAGE_BYTES, Event, MalformedMessage, decode
from ocd.bus.schemas import all_schemas, topic_schemas
from ocd.core import topics
from ocd.core.topics import TcsTopics

#: The meta-schema fastjsonschema compiles with (see the module's docstring).
_DRAFT7 = "http://json-schema.org/draft-07/schema#"


class Validator(Protocol):
    def __call__(self, payload: Any) -> Any: ...


def _draft7(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {**schema, "$schema": _DRAFT7}


@cache
def compiled(name: str) -> Validator:
    """The compiled validator of schema ``name`` (a file of ``ocd/schemas`` without
    ``.json``); raises ``fastjsonschema.JsonSchemaValueException`` for an invalid payload."""
    by_id = {schema["$id"]: schema for schema in all_schemas().values()}
    return fastjsonschema.compile(
        _draft7(all_schemas()[name]),
        handlers={"urn": lambda uri: _draft7(by_id[uri])})


class PayloadRules:
    """Topic -> schema name, for the topics a process acts on; ``guarded`` prefixes are those
    under which a topic without a schema is dropped too (``ocd.command.foo`` means nothing to
    the main loop: it must not count as a sign of life of a shot, say)."""

    def __init__(self, schema_of: Mapping[str, str], guarded: Sequence[str] = ()) -> None:
        self.schema_of = dict(schema_of)
        self.guarded = tuple(guarded)
        self._validators = {topic: compiled(name) for topic, name in self.schema_of.items()}

    def check(self, topic: str, payload: dict[str, Any]) -> None:
        """Raise :class:`MalformedMessage` (kind ``schema`` or ``unknown``) unless ``payload``
        is a valid event of ``topic``; topics outside the rules pass."""
        validator = self._validators.get(topic)
        if validator is None:
            if self.guarded and topic.startswith(self.guarded):
                raise MalformedMessage("no such topic", topic, "unknown")
            return
        try:
            validator(payload)
        except fastjsonschema.JsonSchemaValueException as exc:
            raise MalformedMessage(f"invalid payload: {exc.message}", topic, "schema") from None

    def __contains__(self, topic: object) -> bool:
        return topic in self._validators


def tcs_schemas(tcs: TcsTopics) -> dict[str, str]:
    """The configured TCS topic names -> the schema of their role (the schema files carry the
    default names; extra guiders use the first guider's schema)."""
    guiders = topics.GUIDER_METROLOGY
    schema_of = {tcs.heartbeat: topics.TCS_HEARTBEAT, tcs.ra_dec: topics.TCS_RA_DEC}
    for index, topic in enumerate(tcs.metrology):
        schema_of[topic] = guiders[index] if index < len(guiders) else guiders[0]
    return schema_of


def ocd_schemas(prefixes: Iterable[str]) -> dict[str, str]:
    """OCD's own topics under ``prefixes`` (each topic its own schema)."""
    wanted = tuple(prefixes)
    return {name: name for name in topic_schemas() if name.startswith(wanted)}


def main_loop_rules(tcs: TcsTopics) -> PayloadRules:
    """What ``ocd run`` acts on: the TCS topics, shots, commands and heartbeat enquiries."""
    acted_on = (topics.RUN_SHOT_PREFIX, topics.COMMAND_PREFIX, topics.HEARTBEAT_ENQUIRY)
    return PayloadRules({**tcs_schemas(tcs), **ocd_schemas(acted_on)},
                        guarded=(topics.RUN_SHOT_PREFIX, topics.COMMAND_PREFIX))


def command_rules() -> PayloadRules:
    """What a process answering commands and heartbeats acts on (``ocd run_shot -e``)."""
    return PayloadRules(ocd_schemas((topics.COMMAND_PREFIX, topics.HEARTBEAT_ENQUIRY,
                                     topics.HEARTBEAT_REPLY)), guarded=(topics.COMMAND_PREFIX,))


def accept(frames: Sequence[bytes | memoryview], rules: PayloadRules | None = None,
           max_bytes: int = MAX_MESSAGE_BYTES) -> Event:
    """Frames -> a valid event, or :class:`MalformedMessage` saying what kind of drop it is.
    The one function every subscriber calls; it raises nothing else, whatever the frames."""
    event = decode(frames, max_bytes)
    if rules is not None:
        rules.check(event.topic, event.payload)
    return event

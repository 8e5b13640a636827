"""Which received payloads are valid: the topic schemas of ``ocd/schemas``, compiled.

A process that acts on events (``ocd run``, ``ocd run_shot -e``) gives its subscriber the
:class:`PayloadRules` of the topics it reads; :func:`accept` is the one path from frames to an
event: strict decoding (:func:`ocd.bus.envelope.decode`), then the topic's schema with its
physical ranges. What fails is a :class:`~ocd.bus.envelope.MalformedMessage` with a kind to
count, and never reaches a state machine.

The schemas are written for draft 2020-12 (the documentation and the tests read them with
``jsonschema``), using only keywords that mean the same in draft 7, so that ``fastjsonschema``
can compile them to Python functions: ``jsonschema`` takes 50 to 170 us per payload here, the
compiled function 1 to 10 us. The TCS topics, which come at the TCS's rate and are only flat
objects of typed, bounded fields, are checked by :func:`simple_checker` instead, a compiler
of that small subset built from the same schema: 0.3 us against fastjsonschema's 1.1 us for a
pointing event, which is what lets the main loop keep up with a publisher sending as fast as it
can (doc/performance.md). Tests check that all three agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from typing import Any, Protocol, cast

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


#: What :func:`simple_checker` understands of a property; anything else: fastjsonschema.
_SIMPLE_KEYWORDS = frozenset({"type", "description", "minimum", "maximum", "exclusiveMinimum",
                              "exclusiveMaximum", "maxLength"})
#: The JSON types it checks (JSON Schema's names).
_TYPES = frozenset({"number", "integer", "string", "boolean", "null"})

#: A check: None when valid, else what is wrong.
Checker = Callable[[dict[str, Any]], "str | None"]


def simple_checker(schema: Mapping[str, Any]) -> Checker | None:
    """A fast check of a flat object schema (typed properties with bounds and lengths, required
    names, nothing else), or None when ``schema`` uses more than that.

    Like fastjsonschema, it writes the check as Python code and compiles it, but only for this
    subset, so that each property costs a lookup, a type test and its comparisons (no loop, no
    generic keyword handling): it runs for every TCS event."""
    if set(schema) - {"$schema", "$id", "title", "description", "examples", "type",
                      "properties", "required"} - {k for k in schema if k.startswith("x-")} \
            or schema.get("type") != "object":
        return None
    lines = ["def check(payload):"]
    for name in schema.get("required", ()):
        if not isinstance(name, str):
            return None
        lines += [f"    if {name!r} not in payload:", f"        return {name + ' is required'!r}"]
    for name, spec in schema.get("properties", {}).items():
        if set(spec) - _SIMPLE_KEYWORDS:
            return None
        if "type" not in spec:
            continue  # anything goes
        body = _property_check(name, spec)
        if body is None:
            return None
        lines += [f"    if {name!r} in payload:", f"        value = payload[{name!r}]",
                  "        kind = type(value)", *("        " + line for line in body)]
    lines.append("    return None")
    namespace: dict[str, Any] = {"_wrong_type": _wrong_type, "_out_of_range": _out_of_range}
    exec(compile("\n".join(lines), f"<schema {schema.get('title', '?')}>", "exec"), namespace)
    return cast(Checker, namespace["check"])


def _property_check(name: str, spec: Mapping[str, Any]) -> list[str] | None:
    """The lines checking one property's ``value`` (of type ``kind``), or None for what the
    simple checker does not know (a type outside :data:`_TYPES`, a bound that is no number)."""
    kinds = [spec["type"]] if isinstance(spec["type"], str) else list(spec["type"])
    if not kinds or any(kind not in _TYPES for kind in kinds):
        return None
    bounds = {key: spec[key] for key in _BOUNDS if key in spec}
    if any(type(bound) not in (int, float) or not math.isfinite(bound)
           for bound in bounds.values()):
        return None
    tests = [f"{bound!r} {_BOUNDS[key]} value" for key, bound in bounds.items()]
    numeric = "number" in kinds or "integer" in kinds
    branches = []
    if "null" in kinds:
        branches += ["if value is None:", "    pass"]
    if numeric:
        accepted = "kind is int or kind is float" if "number" in kinds else \
            "kind is int or (kind is float and value.is_integer())"
        branches += [f"{'elif' if branches else 'if'} {accepted}:",
                     f"    if not ({' and '.join(tests)}):" if tests else "    pass",
                     *([f"        return _out_of_range({name!r}, value)"] if tests else [])]
    if "string" in kinds:
        longest = spec.get("maxLength")
        if longest is not None and type(longest) is not int:
            return None
        branches += [f"{'elif' if branches else 'if'} kind is str:",
                     f"    if len(value) > {longest!r}:" if longest is not None else "    pass",
                     *([f"        return {f'{name} is longer than {longest} characters'!r}"]
                       if longest is not None else [])]
    if "boolean" in kinds:
        branches += [f"{'elif' if branches else 'if'} kind is bool:", "    pass"]
    return [*branches, "else:", f"    return _wrong_type({name!r}, kind)"]


#: The numeric keywords of :func:`simple_checker`, as the comparison ``bound OP value`` that
#: must hold.
_BOUNDS = {"minimum": "<=", "exclusiveMinimum": "<", "maximum": ">=", "exclusiveMaximum": ">"}


def _wrong_type(name: str, kind: type) -> str:
    return f"{name} has the wrong type ({kind.__name__})"


def _out_of_range(name: str, value: object) -> str:
    return f"{name} = {value!r} is out of range"


def _compiled_checker(name: str) -> Checker:
    validator = compiled(name)

    def check(payload: dict[str, Any]) -> str | None:
        try:
            validator(payload)
        except fastjsonschema.JsonSchemaValueException as exc:
            return str(exc.message)
        return None

    return check


@cache
def checker(name: str) -> Checker:
    """The fastest faithful check of schema ``name``."""
    return simple_checker(all_schemas()[name]) or _compiled_checker(name)


class PayloadRules:
    """Topic -> schema name, for the topics a process acts on; ``guarded`` prefixes are those
    under which a topic without a schema is dropped too (``ocd.command.foo`` means nothing to
    the main loop: it must not count as a sign of life of a shot, say).

    A process compiles the checks at start (``lazy=False``), so that no event waits for a
    schema to compile; a simulation (``lazy=True``), which may never check an event (its
    own are valid by construction), compiles each at its first use.
    """

    def __init__(self, schema_of: Mapping[str, str], guarded: Sequence[str] = (),
                 lazy: bool = False) -> None:
        self.schema_of = dict(schema_of)
        self.guarded = tuple(guarded)
        self._checks: dict[str, Checker] = {} if lazy else {
            topic: checker(name) for topic, name in self.schema_of.items()}

    def check(self, topic: str, payload: dict[str, Any]) -> None:
        """Raise :class:`MalformedMessage` (kind ``schema`` or ``unknown``) unless ``payload``
        is a valid event of ``topic``; topics outside the rules pass."""
        check = self._checks.get(topic)
        if check is None:
            name = self.schema_of.get(topic)
            if name is None:
                if self.guarded and topic.startswith(self.guarded):
                    raise MalformedMessage("no such topic", topic, "unknown")
                return
            check = self._checks[topic] = checker(name)
        problem = check(payload)
        if problem is not None:
            raise MalformedMessage(f"invalid payload: {problem}", topic, "schema")

    def __contains__(self, topic: object) -> bool:
        return topic in self.schema_of


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


def main_loop_rules(tcs: TcsTopics, lazy: bool = False) -> PayloadRules:
    """What ``ocd run`` acts on: the TCS topics, shots, commands, heartbeat enquiries, and
    the replies (a greeting there names another main loop)."""
    acted_on = (topics.RUN_SHOT_PREFIX, topics.COMMAND_PREFIX, topics.HEARTBEAT_ENQUIRY,
                topics.HEARTBEAT_REPLY)
    return PayloadRules({**tcs_schemas(tcs), **ocd_schemas(acted_on)},
                        guarded=(topics.RUN_SHOT_PREFIX, topics.COMMAND_PREFIX), lazy=lazy)


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

"""The JSON Schemas of OCD's topics, shipped in ``ocd/schemas``: the contract with GUIs.

One file per topic (``<topic>.json``) plus the shared ``envelope.json`` and ``shot.json`` they
refer to: OCD's topics, and the TCS topics OCD acts on (the fields it reads, with the physical
ranges it accepts). ``doc/events.md`` is generated from them, and tests validate what OCD sends;
:mod:`ocd.bus.validation` compiles them for what OCD receives.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jsonschema
    from referencing import Registry

#: Schemas that are parts of topic schemas, not topics.
SHARED = ("envelope", "shot")


@cache
def _all() -> dict[str, dict[str, Any]]:
    folder = resources.files("ocd").joinpath("schemas")
    found = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".json"):
            found[entry.name[:-len(".json")]] = json.loads(entry.read_text(encoding="utf-8"))
    return found


def all_schemas() -> dict[str, dict[str, Any]]:
    """Every schema file, topics and shared parts, by name (do not modify them)."""
    return _all()


def shared_schema(name: str) -> dict[str, Any]:
    return _all()[name]


def topic_schemas() -> dict[str, dict[str, Any]]:
    """Every OCD topic's schema, by topic, sorted."""
    return {name: schema for name, schema in sorted(_all().items()) if name not in SHARED}


@cache
def _registry() -> Registry:
    from referencing import Registry, Resource  # jsonschema's; slow to import

    return Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in _all().values())


@cache
def _validator(topic: str) -> jsonschema.protocols.Validator:
    import jsonschema  # slow to import: only when something is validated

    schema = topic_schemas()[topic]
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, registry=_registry(), format_checker=cls.FORMAT_CHECKER)


def validation_errors(topic: str, payload: dict[str, Any]) -> list[str]:
    """What is wrong with ``payload`` as an event of ``topic`` (empty: valid). A topic with
    no schema is an error too."""
    if topic not in topic_schemas():
        return [f"no schema for topic {topic}"]
    return [f"{'/'.join(map(str, e.absolute_path)) or '(payload)'}: {e.message}"
            for e in _validator(topic).iter_errors(payload)]


def validate_event(topic: str, payload: dict[str, Any]) -> None:
    """Raise ValueError naming every problem of ``payload`` against its topic's schema."""
    errors = validation_errors(topic, payload)
    if errors:
        raise ValueError(f"{topic}: " + "; ".join(errors))

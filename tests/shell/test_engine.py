"""The engine carries out every action of the core: one handler per action type, in one file."""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any

from ocd.core import topics
from ocd.core.orchestrator import Action, Publish
from ocd.shell.engine import Engine, UnknownAction


def test_every_action_of_the_core_has_its_handler_in_the_engine():
    """A new action type in the core's ``Action`` union fails here until the engine has its
    handler (and a handler of an action the core no longer has fails too)."""
    assert set(typing.get_args(Action)) == set(Engine.HANDLERS)


def test_each_handler_takes_the_action_it_is_filed_under():
    for action_type, handler in Engine.HANDLERS.items():
        hints = typing.get_type_hints(handler)
        assert hints["action"] is action_type, handler.__name__


class RecordingEdges:
    """The edges' two capabilities this test needs, recorded."""

    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []
        self.failures: list[tuple[str, str, Exception]] = []

    def publish(self, topic: str, data: dict[str, Any]) -> None:
        self.published.append((topic, data))

    def failed(self, stage: str, subject: str, exc: Exception) -> None:
        self.failures.append((stage, subject, exc))


@dataclass(frozen=True)
class Unheard:
    """An action the engine has no handler for."""


def test_an_action_without_a_handler_is_reported_and_the_next_one_runs():
    edges = RecordingEdges()
    engine = Engine(None, None, None, None, None, edges, "test")  # dispatch needs the edges
    engine.execute([Unheard(), Publish(topics.MAIN_STATUS, {"n": 1})], "event", "a topic")
    [(stage, subject, exc)] = edges.failures
    assert (stage, subject) == ("event", "a topic")
    assert isinstance(exc, UnknownAction) and "Unheard" in str(exc)
    assert edges.published == [(topics.MAIN_STATUS, {"n": 1})]

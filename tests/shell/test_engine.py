"""The engine carries out every action of the core: one handler per action type, in one file."""

from __future__ import annotations

import asyncio
import typing
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ocd.clock import RealClock
from ocd.config import load_config
from ocd.core import topics
from ocd.core.orchestrator import Action, ChangeConfig, Orchestrator, Publish
from ocd.errors import OcdError
from ocd.shell.engine import Engine, UnknownAction, sent_paths
from ocd.shell.settings import orchestrator_settings


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


# -- config send: a file read off the loop, the changes in their order -----------------------

class ConfigEdges(RecordingEdges):
    """Edges whose read of a sent file waits until the test lets it finish."""

    def __init__(self, refuse: bool = False) -> None:
        super().__init__()
        self.read_may_end = asyncio.Event()
        self.read: list[list[tuple[str, str, Path]]] = []
        self.refuse = refuse

    def spawn_step(self, work, name):
        return asyncio.ensure_future(work)

    async def read_sent_files(self, paths):
        self.read.append(paths)
        await self.read_may_end.wait()
        if self.refuse:
            raise OcdError("[shots] shot_file = X: refused")

    def config_applied(self) -> None:
        pass


def _engine(edges: ConfigEdges) -> Engine:
    cfg = load_config(environ={})
    clock = RealClock()
    runner = SimpleNamespace(plan=None, inputs=None)
    return Engine(cfg, clock, Orchestrator(orchestrator_settings(cfg, clock)), runner, None,
                  edges, "test")


def _acks(edges: ConfigEdges) -> list[tuple[str, bool]]:
    return [(d["id"], d["ok"]) for t, d in edges.published if t == topics.MAIN_ACK]


def test_sent_paths_are_the_changes_naming_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert sent_paths((("shots", "shot_file", "other.dat"), ("run", "max_seeing", "2"),
                       ("shots", "shot_file", "/abs.dat"))) == [
        ("shots", "shot_file", tmp_path / "other.dat"), ("shots", "shot_file", Path("/abs.dat"))]


async def test_a_change_after_a_sent_file_waits_its_turn():
    edges = ConfigEdges()
    engine = _engine(edges)
    engine.execute([ChangeConfig("file", (("shots", "shot_file", "/x/other.dat"),), "me"),
                    ChangeConfig("seeing", (("run", "max_seeing", "2"),), "me")], "event", "t")
    await asyncio.sleep(0)  # the spawned steps start (a yield, not a wait on time)
    assert edges.read == [[("shots", "shot_file", Path("/x/other.dat"))]]
    assert _acks(edges) == []  # the second change waits behind the first
    edges.read_may_end.set()
    for _ in range(10):
        await asyncio.sleep(0)
    assert _acks(edges) == [("file", True), ("seeing", True)]
    assert engine.cfg.get_float("run", "max_seeing") == 2.0


async def test_a_refused_file_refuses_its_change_only():
    edges = ConfigEdges(refuse=True)
    engine = _engine(edges)
    before = engine.cfg.get_path("shots", "shot_file")
    engine.execute([ChangeConfig("file", (("shots", "shot_file", "/dev/zero"),
                                          ("run", "max_seeing", "1.5")), "me")], "event", "t")
    edges.read_may_end.set()
    for _ in range(10):
        await asyncio.sleep(0)
    assert _acks(edges) == [("file", False)]
    assert engine.cfg.get_path("shots", "shot_file") == before  # nothing applied
    assert engine.cfg.get_float("run", "max_seeing") == 3.0  # the default, kept

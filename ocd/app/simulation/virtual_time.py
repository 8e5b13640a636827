"""Virtual time: an asyncio event loop whose clock jumps to the next timer when nothing is
ready, and the OCD :class:`~ocd.clock.Clock` that reads it.

The shot runner, the simulated subsystems and the simulated TCS are asyncio code that waits in
OCD-clock seconds (``asyncio.sleep``, ``asyncio.wait`` with a timeout). On this loop such a
wait costs no real time: the loop's selector never blocks, it moves the loop's time forward by
the timeout it was given, i.e. to the earliest timer. Everything else (the order of callbacks,
tasks, futures) is asyncio's own, so the code runs exactly as under ``ocd run``, only without
waiting; and since nothing outside the process is involved, the same inputs give the same
night. The loop does no I/O: a thread or a socket would never wake it (the simulation calls the
scheduler and the database directly).

Why a small class of our own rather than a library: ``looptime`` and ``aiofastforward`` (PyPI)
fast-forward time for tests (a pytest marker, or patching a running loop's ``time`` and
``call_at``), and let threads and sockets run in real time; the simulation needs the opposite:
a loop that is virtual from its first instant, owns no I/O at all, and fails loudly when
nothing is left to happen. Overriding ``time()`` and the selector's ``select()`` is all that
takes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import selectors
from typing import Any, Protocol

from ocd.clock import utc_to_jd


class SimulationStalled(RuntimeError):
    """Nothing is ready and no timer is set, yet the simulation awaits something: a bug."""


class Waker(Protocol):
    """Moments the loop must stop at although no timer is set there (an event-driven
    simulation's: the next one that can change a decision), and what to do on arrival."""

    def next_wake(self, now: float) -> float:
        """The next moment after ``now`` to stop at (infinity: none), asked when every task
        waits."""

    def arrive(self, now: float) -> None:
        """The loop's time moved to ``now``: called first, before the timers due then."""


class _Jump(selectors.SelectSelector):
    """A selector that never waits: it moves the loop's virtual time by the timeout (or to
    the waker's next moment, when that comes first)."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        loop, waker = self._loop, self._loop.waker
        if waker is not None and timeout != 0:
            now = loop.time()
            wake = waker.next_wake(now)  # (one not after now would stop time: ignored)
            if now < wake < math.inf and (timeout is None or wake < now + timeout):
                timeout = wake - now
        if timeout is None:
            raise SimulationStalled("the simulation awaits something that can never happen "
                                    "(no task is ready and no timer is set)")
        if timeout > 0:
            loop.advance(timeout)
            if waker is not None:
                loop.call_soon(waker.arrive, loop.time())  # before the timers due now
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on virtual time: :meth:`time` starts at 0 and only moves when every task
    waits, straight to the next timer (or the :class:`Waker`'s next moment)."""

    def __init__(self) -> None:
        self._virtual = 0.0
        #: Set by an event-driven simulation.
        self.waker: Waker | None = None
        super().__init__(_Jump(self))

    def time(self) -> float:
        return self._virtual

    def advance(self, seconds: float) -> None:
        self._virtual += seconds


class VirtualClock:
    """OCD's clock in a simulation: ``start`` plus the virtual time of ``loop`` (one OCD-clock
    second per virtual second)."""

    is_mock = True
    speed = 1.0

    def __init__(self, start: dt.datetime, loop: asyncio.AbstractEventLoop) -> None:
        if start.tzinfo is None:
            start = start.replace(tzinfo=dt.timezone.utc)
        self.start = start
        self._start = start.timestamp()
        self._loop = loop

    def anchor(self) -> None:
        return None  # no real instant reads a virtual time

    def timestamp(self) -> float:
        return self._start + self._loop.time()

    def utc(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.timestamp(), dt.timezone.utc)

    def jd(self) -> float:
        return utc_to_jd(self.utc())

    def describe(self) -> str:
        return f"virtual clock of a simulation from {self.start.isoformat()}"

"""One life cycle for every long-running OCD process.

``ocd run``, ``ocd run_shot``, ``ocd sim_tcs``, ``ocd db_replay``, ``ocd record``, ``ocd listen``
and ``ocd rehearse`` all need the same things: SIGINT and SIGTERM asking for a clean stop, one
ZeroMQ context, resources closed in the reverse order they were opened (sockets before the
context, the database after the sockets that feed it), background tasks kept (an asyncio task
nobody references can vanish) and their exceptions surfaced rather than lost, and a guard
around the handling of each received event (:meth:`Service.guard`) so that no single input can
stop the process. A process is a :class:`Service` subclass that implements
:meth:`Service.main`; everything else is here.

The model is Rubin's ``ts_salobj`` ``BaseCsc`` (one base class for start, close and
simulation mode) reduced to what a command-line process needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import signal
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, Protocol, TypeVar

import zmq.asyncio

from ocd.bus import BusSecurity, RateLimitedLog, Subscriber, bus_context
from ocd.bus.envelope import Event
from ocd.errors import OcdError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Signals that ask every service to stop cleanly.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: Seconds :meth:`Service.receive` may hand out waiting events without letting the event
#: loop run.
BUSY_SLICE = 0.02


class BackgroundTaskFailed(Exception):
    """A background task of a service ended with an exception; the service stopped for it."""


class Closeable(Protocol):
    def close(self) -> Any: ...


C = TypeVar("C", bound=Closeable)


class Service:
    """A long-running process on one asyncio loop.

    Subclasses open their resources in :meth:`start`, registering each with :meth:`closing`
    or :meth:`on_close`; do their work in :meth:`main`; and, if a stop needs more than closing
    resources (abort a shot and publish its end, say), say their last words in
    :meth:`before_close`. Background work is started with :meth:`spawn`. :meth:`run` drives it
    all; :func:`run_service` runs it in a new event loop.
    """

    #: Extra signal handlers (signal -> method name), e.g. ``ocd sim_tcs``'s SIGUSR1.
    extra_signals: dict[signal.Signals, str] = {}
    #: Whether the process raises its file limit at start (:func:`raise_file_limit`): the
    #: processes that accept connections from anyone on the host (``ocd run``, ``ocd board``,
    #: ``ocd record``), so that idle connections cannot take every descriptor they have.
    file_headroom = False

    def __init__(self, name: str) -> None:
        self.name = name
        #: The soft open-file limit before and after :func:`raise_file_limit`, when raised.
        self.file_limit: tuple[int, int] | None = None
        #: Set when a stop is requested (a signal, a failed task, or the service itself).
        self.stopping = asyncio.Event()
        self.stop_reason: str | None = None
        self._resources = contextlib.AsyncExitStack()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._daemons: set[asyncio.Task[Any]] = set()
        self._failure: BaseException | None = None
        self._ctx: zmq.asyncio.Context | None = None
        #: How the process's sockets are secured (``[security]``): a subclass that reads a
        #: configuration sets it before its context is made, so that its binding sockets get
        #: an authenticator when CURVE is on.
        self.security = BusSecurity()
        #: Exceptions caught by :meth:`guard`, by ``stage:ExceptionType``.
        self.handler_errors: Counter[str] = Counter()
        self._error_log = RateLimitedLog(log, 10.0)
        #: Loop time when :meth:`receive` last let the event loop run.
        self._awake_since = 0.0

    # -- resources -----------------------------------------------------------------------
    @property
    def ctx(self) -> zmq.asyncio.Context:
        """The process's one ZeroMQ context, terminated after every socket is closed."""
        if self._ctx is None:
            # with CURVE, a context whose authenticator lets in the allowed client keys only
            self._ctx = bus_context(self.security)
            self._resources.callback(self._ctx.term)
        return self._ctx

    def closing(self, resource: C) -> C:
        """Register ``resource`` to be closed (its ``close()``, awaited if a coroutine) when
        the service ends, before everything registered earlier; returns it."""
        self.on_close(resource.close)
        return resource

    def on_close(self, callback: Callable[[], Any]) -> None:
        """Call ``callback`` (a function or a coroutine function) when the service ends, in
        reverse order of registration."""
        async def call() -> None:
            result = callback()
            if asyncio.iscoroutine(result):
                await result

        self._resources.push_async_callback(call)

    # -- background tasks ----------------------------------------------------------------
    def spawn(self, coroutine: Coroutine[Any, Any, T], *, name: str,
              critical: bool = True, daemon: bool = False) -> asyncio.Task[T]:
        """Run ``coroutine`` in the background, keeping a reference until it ends.

        If it raises, the exception is logged; a ``critical`` task also stops the service,
        and :meth:`run` raises it again (an :class:`~ocd.errors.OcdError` as it is, anything
        else as :class:`BackgroundTaskFailed` naming the task). A task still running at
        the end is cancelled and awaited. A ``daemon`` task (one that serves forever, e.g.
        heartbeat greetings) is not waited for by :meth:`wait_tasks`."""
        task = asyncio.ensure_future(coroutine)
        task.set_name(name)
        self._tasks.add(task)
        if daemon:
            self._daemons.add(task)
        task.add_done_callback(lambda done: self._task_done(done, critical))
        return task

    def _task_done(self, task: asyncio.Task[Any], critical: bool) -> None:
        self._tasks.discard(task)
        self._daemons.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        log.error("%s: %s failed: %s: %s", self.name, task.get_name(), type(exc).__name__, exc,
                  exc_info=exc if log.isEnabledFor(logging.DEBUG) else None)
        if critical and self._failure is None:
            self._failure = exc
            self.request_stop(f"{task.get_name()} failed")

    @property
    def tasks(self) -> frozenset[asyncio.Task[Any]]:
        """The background tasks that do work (daemon tasks, which serve forever, excepted)."""
        return frozenset(self._tasks - self._daemons)

    async def wait_tasks(self, timeout: float | None = None) -> None:
        """Wait (up to ``timeout`` s) for the background tasks to end by themselves (daemon
        tasks excepted: they never do)."""
        pending = [t for t in self._tasks if not t.done() and t not in self._daemons]
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    async def cancel_tasks(self) -> None:
        """Cancel the background tasks still running and wait until they have ended."""
        await self._cancel_tasks()

    async def _cancel_tasks(self) -> None:
        pending = [t for t in self._tasks if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    # -- guarded handling ----------------------------------------------------------------
    @contextlib.contextmanager
    def guard(self, stage: str, subject: str = "") -> Iterator[None]:
        """Run the handling of one input (an event, a request, a tick) inside this: an
        exception is counted, logged once per kind and ten seconds (with its traceback under
        ``--debug``), passed to :meth:`on_guarded_error`, and the process goes on. The body
        may ``await``; cancellation passes through."""
        try:
            yield
        except Exception as exc:
            self.failed(stage, subject, exc)

    def failed(self, stage: str, subject: str, exc: Exception) -> None:
        """What :meth:`guard` does with an exception it caught, for code that catches its own
        (a ``try`` costs nothing until it raises, a ``with`` a little every time)."""
        kind = f"{stage}:{type(exc).__name__}"
        self.handler_errors[kind] += 1
        if self._error_log.log(logging.ERROR, kind, f"{self.name}: handling {stage} "
                               f"{subject[:100]} failed ({self.handler_errors[kind]} "
                               f"time(s)): {type(exc).__name__}: {str(exc)[:300]}") \
                and log.isEnabledFor(logging.DEBUG):
            log.debug("traceback", exc_info=exc)
        try:
            self.on_guarded_error(stage, subject, exc)
        except Exception as again:  # the report itself must not stop the process
            log.error("%s: reporting an error failed too: %s", self.name, again)

    def on_guarded_error(self, stage: str, subject: str, exc: Exception) -> None:
        """Called for each exception :meth:`guard` caught (``ocd run`` publishes it)."""

    # -- stopping ------------------------------------------------------------------------
    def request_stop(self, reason: str = "requested") -> None:
        """Ask the service to stop (idempotent: the first reason is kept)."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self.stopping.set()

    def _on_signal(self, sig: signal.Signals) -> None:
        log.debug("%s: %s received", self.name, sig.name)
        self.request_stop(sig.name)

    async def wait_until_stopped(self, *awaitables: Awaitable[Any]) -> None:
        """Wait until a stop is requested or any of ``awaitables`` ends (its exception, if
        any, propagates)."""
        stop = asyncio.ensure_future(self.stopping.wait())
        others = [asyncio.ensure_future(a) for a in awaitables]
        try:
            done, _ = await asyncio.wait([stop, *others], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stop:
                    task.result()
        finally:
            for task in (stop, *others):
                if not task.done():
                    task.cancel()
            await asyncio.gather(stop, *others, return_exceptions=True)

    async def receive(self, subscriber: Subscriber, timeout: float | None = None
                      ) -> Event | None:
        """The next event of ``subscriber``, or None once a stop is requested;
        TimeoutError after ``timeout`` seconds without one. Costs little while events are
        waiting (no task is created then).

        While events keep waiting, a loop around this call never suspends, so every
        :data:`BUSY_SLICE` seconds it yields once to the event loop: without that, a stream
        faster than the process (a flood on a bus address, a backlog on a loaded machine)
        would starve everything else on the loop, the signal handlers included, and SIGTERM
        would never be seen. A stop requested returns None at once, events waiting or not."""
        if self.stopping.is_set():
            return None
        event = subscriber.recv_nowait()
        if event is not None:
            loop = asyncio.get_running_loop()
            if loop.time() - self._awake_since < BUSY_SLICE:
                return event
            await asyncio.sleep(0)  # signals, timers, pages and other tasks get their turn
            self._awake_since = loop.time()
            return None if self.stopping.is_set() else event
        receiving = asyncio.ensure_future(subscriber.recv(timeout))
        stopped = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait([receiving, stopped], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (receiving, stopped):
                if not task.done():
                    task.cancel()  # a cancelled receive has consumed nothing
            await asyncio.gather(receiving, stopped, return_exceptions=True)
        self._awake_since = asyncio.get_running_loop().time()
        if receiving.cancelled():
            return None
        return receiving.result()  # the event, or its TimeoutError

    # -- what a subclass provides --------------------------------------------------------
    async def start(self) -> None:
        """Open the process's resources (bind, connect, open files), registering each with
        :meth:`closing`; a failure here closes what was already opened."""

    async def main(self) -> int:
        """The process's work; returns the exit status. Runs until done or stopped."""
        raise NotImplementedError

    async def before_close(self) -> None:
        """Called once after :meth:`main` ends (normally or not; not when :meth:`start`
        failed), before background tasks are cancelled and resources closed: the place for a
        clean stop's last words."""

    # -- the life cycle ------------------------------------------------------------------
    def _log_file_limit(self) -> None:
        """Once started (a failed start says one line only): the open-file limit raised."""
        if self.file_limit is not None:
            before, after = self.file_limit
            log.info("%s may open %s files (soft limit %s)", self.name,
                     "unlimited" if after == resource.RLIM_INFINITY else after,
                     f"raised from {before}" if after != before else "as it was")

    async def run(self) -> int:
        """Install the signal handlers, :meth:`start`, run :meth:`main`, then stop cleanly:
        last words, background tasks cancelled, resources closed in reverse order, handlers
        removed."""
        loop = asyncio.get_running_loop()
        handled: list[signal.Signals] = []
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self._on_signal, sig)
            handled.append(sig)
        for sig, method in self.extra_signals.items():
            loop.add_signal_handler(sig, getattr(self, method))
            handled.append(sig)
        try:
            async with self._resources:
                try:
                    await self.start()
                    self._log_file_limit()
                    try:
                        status = await self.main()
                    finally:
                        await self.before_close()
                finally:
                    await self._cancel_tasks()
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)
        if isinstance(self._failure, OcdError):
            raise self._failure
        if self._failure is not None:
            raise BackgroundTaskFailed(
                f"{self.stop_reason}: {type(self._failure).__name__}: {self._failure}"
            ) from self._failure
        return status


#: The soft file limit a process asks for when its hard limit is unlimited.
UNLIMITED_FILES = 1 << 20


def raise_file_limit() -> tuple[int, int]:
    """Raise this process's soft limit on open files (``RLIMIT_NOFILE``) to its hard limit,
    as far as the system lets it; the soft limit before and after.

    Why: a listening socket that cannot get a descriptor for a new connection stops accepting
    any (EMFILE), so a local user holding a thousand idle connections under the usual soft
    limit of 1024 would cut off the commands and monitors too. The hard limit is the
    administrator's; raising the soft one up to it needs no privilege."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = UNLIMITED_FILES if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %d to %d: %s", soft, wanted,
                        exc)
    after = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return soft, after


def run_service(service: Service) -> int:
    """Run ``service`` in a new event loop; its exit status."""
    if service.file_headroom:
        service.file_limit = raise_file_limit()
    return asyncio.run(service.run())

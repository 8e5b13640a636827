"""The one life cycle of every long-running process (``ocd.shell.service``)."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from ocd.errors import OcdError
from ocd.shell.service import BackgroundTaskFailed, Service, run_service


class Resource:
    def __init__(self, name: str, closed: list[str]) -> None:
        self.name, self.closed = name, closed

    def close(self) -> None:
        self.closed.append(self.name)


class Recorded(Service):
    """Opens three resources, runs ``work``, remembers what happened."""

    def __init__(self, work, *, fail_start: bool = False) -> None:
        super().__init__("test service")
        self.work, self.fail_start = work, fail_start
        self.closed: list[str] = []
        self.last_words = 0

    async def start(self) -> None:
        self.closing(Resource("first", self.closed))
        self.closing(Resource("second", self.closed))

        async def close_async() -> None:
            await asyncio.sleep(0)
            self.closed.append("third (async)")

        self.on_close(close_async)
        if self.fail_start:
            raise OcdError("cannot bind")

    async def main(self) -> int:
        return await self.work(self)

    async def before_close(self) -> None:
        self.last_words += 1


def test_resources_close_in_reverse_order_and_the_status_comes_back():
    async def work(service: Recorded) -> int:
        return 3

    service = Recorded(work)
    assert run_service(service) == 3
    assert service.closed == ["third (async)", "second", "first"]
    assert service.last_words == 1


def test_a_failed_start_closes_what_was_opened_and_skips_the_last_words():
    async def work(service: Recorded) -> int:
        raise AssertionError("main must not run")

    service = Recorded(work, fail_start=True)
    with pytest.raises(OcdError, match="cannot bind"):
        run_service(service)
    assert service.closed == ["third (async)", "second", "first"]
    assert service.last_words == 0


def test_a_failing_critical_task_stops_the_service_and_is_raised():
    async def broken() -> None:
        raise ValueError("bad frame")

    async def work(service: Recorded) -> int:
        service.spawn(broken(), name="reader")
        await service.stopping.wait()
        return 0

    service = Recorded(work)
    with pytest.raises(BackgroundTaskFailed, match="reader failed: ValueError: bad frame"):
        run_service(service)
    assert service.stop_reason == "reader failed"
    assert service.closed[-1] == "first"


def test_an_ocd_error_of_a_task_comes_back_as_it_is():
    async def broken() -> None:
        raise OcdError("database down")

    async def work(service: Recorded) -> int:
        service.spawn(broken(), name="obsnum")
        await service.stopping.wait()
        return 0

    with pytest.raises(OcdError, match="^database down$"):
        run_service(Recorded(work))


def test_a_non_critical_task_failure_is_logged_and_the_service_goes_on(caplog):
    async def broken() -> None:
        raise ValueError("scheduler bug")

    async def work(service: Recorded) -> int:
        task = service.spawn(broken(), name="scheduler", critical=False)
        await asyncio.wait([task])
        assert not service.stopping.is_set()
        return 5

    assert run_service(Recorded(work)) == 5
    assert "scheduler failed: ValueError: scheduler bug" in caplog.text


def test_background_tasks_are_kept_then_cancelled_at_the_end():
    cancelled = []
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def work(service: Recorded) -> int:
        service.spawn(forever(), name="forever")
        assert len(service.tasks) == 1
        await asyncio.wait_for(started.wait(), 10)
        return 0

    service = Recorded(work)
    assert run_service(service) == 0
    assert cancelled == [True] and not service.tasks


def test_sigterm_asks_for_a_clean_stop_and_the_handlers_are_removed():
    async def work(service: Recorded) -> int:
        asyncio.get_running_loop().call_soon(os.kill, os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(service.stopping.wait(), 10)
        return 0

    before = signal.getsignal(signal.SIGTERM)
    service = Recorded(work)
    assert run_service(service) == 0
    assert service.stop_reason == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) == before == signal.SIG_DFL
    # a second run of another service installs its own handlers again
    assert run_service(Recorded(work)) == 0


class Guarded(Service):
    """Handles a list of inputs, one of which raises, inside the guard."""

    def __init__(self, inputs) -> None:
        super().__init__("guarded")
        self.inputs, self.handled, self.reported = inputs, [], []

    def on_guarded_error(self, stage, subject, exc) -> None:
        self.reported.append((stage, subject, type(exc).__name__))

    async def main(self) -> int:
        for item in self.inputs:
            with self.guard("event", f"topic{item}"):
                await asyncio.sleep(0)  # the body may await
                if item % 3 == 0:
                    raise ZeroDivisionError("boom")
                self.handled.append(item)
        return 0


def test_the_guard_counts_reports_and_goes_on(caplog):
    service = Guarded(list(range(1, 10)))
    assert run_service(service) == 0
    assert service.handled == [1, 2, 4, 5, 7, 8]
    assert service.handler_errors == {"event:ZeroDivisionError": 3}
    assert service.reported == [("event", f"topic{n}", "ZeroDivisionError") for n in (3, 6, 9)]
    lines = [r for r in caplog.records if "handling event" in r.getMessage()]
    assert len(lines) == 1  # three failures of one kind: one line


def test_the_guard_lets_cancellation_through():
    class Cancelled(Service):
        async def main(self) -> int:
            with self.guard("event"):
                raise asyncio.CancelledError
            return 0

    with pytest.raises(asyncio.CancelledError):
        run_service(Cancelled("cancelled"))

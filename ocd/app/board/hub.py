"""From the night's panels to every open page, at a bounded rate, never waiting for a page.

The bus side calls :meth:`Hub.changed` with the panels an event changed and returns at once.
Each panel is sent at most once per its interval (the first change at once, later ones
coalesced into one update at the end of the interval), encoded once for all pages. Each page
has a mailbox that keeps the latest update per panel (and a bounded run of appended items) and
a writer task of its own: a slow page receives fewer, newer updates; a page that cannot take an
update within ``send_timeout`` is disconnected (its browser reconnects and gets a snapshot).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from ocd.errors import printable

log = logging.getLogger("ocd.board")

#: Appended-item updates a mailbox keeps per panel before it sends the whole panel instead.
MAX_QUEUED_DELTAS = 16

_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode


class PageSocket(Protocol):
    """What the hub needs of a page's WebSocket (aiohttp's ``WebSocketResponse`` is one)."""

    async def send_str(self, data: str) -> None: ...

    async def close(self, *, code: int = ..., message: bytes = ...) -> bool: ...


def shown(value: Any) -> Any:
    """``value`` with every text in it (keys too) made :func:`printable`: the panels quote the
    bus (ids, origins, shot ids, TCS strings), and a page shows a control character or a
    bidirectional override as its escape, never as a reordering of the text around it."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {printable(str(k)): shown(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [shown(v) for v in value]
    return value


def fragment(panel: str, data: dict[str, Any]) -> str:
    """One panel update as JSON text: ``{"p": panel, "d": data}``, its texts escaped.

    Most updates hold nothing to escape: JSON writes a control character with a backslash
    and leaves any other unprintable one as it is, so a printable text without a backslash
    is sent as encoded, and only the others are walked through :func:`shown`."""
    text = _dumps({"p": panel, "d": data})
    if text.isprintable() and "\\" not in text:
        return text
    return _dumps({"p": panel, "d": shown(data)})


class Page:
    """One open page: its mailbox and the task writing it to the socket."""

    def __init__(self, socket: PageSocket, full: Callable[[str], str], number: int) -> None:
        self.socket = socket
        self.number = number
        self._full = full
        #: Per panel, the fragments to send in order (a whole panel replaces what was queued).
        self._mail: dict[str, list[str]] = {}
        self._resync: set[str] = set()
        self._ready = asyncio.Event()
        self.sent = 0
        self.coalesced = 0

    @property
    def queued(self) -> int:
        """Updates waiting in the mailbox (bounded: a few per panel)."""
        return sum(len(queued) for queued in self._mail.values()) + len(self._resync)

    def put(self, panel: str, text: str, delta: bool) -> None:
        queued = self._mail.get(panel)
        if delta and queued is not None and panel not in self._resync:
            if len(queued) >= MAX_QUEUED_DELTAS:
                self._resync.add(panel)  # too far behind: the whole panel when it can take it
                queued.clear()
            else:
                queued.append(text)
        elif not delta or panel not in self._resync:
            if queued:
                self.coalesced += len(queued)
            self._mail[panel] = [text]
            self._resync.discard(panel)
        self._ready.set()

    def take(self) -> list[str]:
        texts = []
        for panel, queued in self._mail.items():
            if panel in self._resync:
                texts.append(self._full(panel))
            else:
                texts.extend(queued)
        self._mail.clear()
        self._resync.clear()
        self._ready.clear()
        return texts

    async def pump(self, send_timeout: float) -> None:
        """Write the mailbox to the socket until it closes or stalls."""
        while True:
            await self._ready.wait()
            texts = self.take()
            if not texts:
                continue
            batch = f'{{"w":{time.time():.3f},"u":[{",".join(texts)}]}}'
            try:
                await asyncio.wait_for(self.socket.send_str(batch), send_timeout)
            except asyncio.TimeoutError:
                log.warning("page %d took more than %g s to take an update: disconnected",
                            self.number, send_timeout)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.socket.close(code=1013, message=b"too slow"), 1)
                return
            except (ConnectionError, RuntimeError):  # closed under us
                return
            self.sent += 1


class Hub:
    """The pages and the pacing of their updates (see the module's docstring).

    ``build(panel, delta)`` gives a panel's data: the whole panel, or for an append panel with
    ``delta`` the items since the last delta (None when the whole panel must go instead).
    """

    def __init__(self, panels: Iterable[str], append_panels: Iterable[str],
                 intervals: dict[str, float],
                 build: Callable[[str, bool], dict[str, Any] | None],
                 send_timeout: float = 10.0, max_pages: int = 100,
                 max_anonymous: int = 80, max_per_address: int = 20) -> None:
        self.panels = tuple(panels)
        self.append_panels = frozenset(append_panels)
        self.intervals = intervals
        self.build = build
        self.send_timeout = send_timeout
        self.max_pages = max_pages
        self.max_anonymous = max_anonymous
        self.max_per_address = max_per_address
        self.pages: set[Page] = set()
        #: The pages of nobody signed in, oldest first, with their client's address.
        self._anonymous: dict[Page, str] = {}
        self._closing: set[asyncio.Task[Any]] = set()
        self._dirty: set[str] = set()
        self._last: dict[str, float] = dict.fromkeys(self.panels, -1e9)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._soon = False
        self._opened = 0
        self.flushes = 0

    # -- pages -----------------------------------------------------------------------------
    def full(self, panel: str) -> str:
        data = self.build(panel, False)
        assert data is not None
        return fragment(panel, data)

    def open(self, socket: PageSocket, hello: dict[str, Any], *, address: str = "",
             signed_in: bool = False) -> Page | None:
        """A new page: its mailbox starts with ``hello`` and every panel whole; None when
        there is no room for it.

        Pages of nobody signed in are capped, ``max_anonymous`` in all and ``max_per_address``
        per client address, so that pages opened by anyone cannot take the room; a signed-in
        page gets in as long as ``max_pages`` are not all signed in: the oldest page of
        nobody signed in is closed to make room for it."""
        if signed_in:
            if len(self.pages) >= self.max_pages and not self._evict_oldest_anonymous():
                return None
        elif (len(self._anonymous) >= self.max_anonymous or len(self.pages) >= self.max_pages
              or sum(a == address for a in self._anonymous.values()) >= self.max_per_address):
            return None
        self._opened += 1
        page = Page(socket, self.full, self._opened)
        page.put("hello", fragment("hello", hello), False)
        for panel in self.panels:
            page.put(panel, self.full(panel), False)
        self.pages.add(page)
        if not signed_in:
            self._anonymous[page] = address
        return page

    def _evict_oldest_anonymous(self) -> bool:
        if not self._anonymous:
            return False
        page = next(iter(self._anonymous))
        self.close(page)
        log.info("page %d closed to make room for a signed-in page", page.number)
        task = asyncio.ensure_future(page.socket.close(
            code=1013, message=b"room needed for a signed-in page"))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        return True

    def close(self, page: Page) -> None:
        self.pages.discard(page)
        self._anonymous.pop(page, None)

    @property
    def anonymous(self) -> int:
        """Pages open of nobody signed in."""
        return len(self._anonymous)

    # -- pacing ----------------------------------------------------------------------------
    def changed(self, panels: Iterable[str]) -> None:
        """These panels changed: send each as soon as its interval allows. Never waits."""
        self._dirty.update(p for p in panels if p in self._last)
        if self._dirty:
            self._schedule()

    def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        due = min(self._last[p] + self.intervals.get(p, 0.0) for p in self._dirty)
        if due <= loop.time():
            if not self._soon:
                self._soon = True
                loop.call_soon(self._flush)
        elif self._timer is None or due < self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = due
            self._timer = loop.call_at(due, self._flush)

    def _flush(self) -> None:
        self._soon = False
        self._timer = None
        now = asyncio.get_running_loop().time()
        ready = [p for p in self._dirty if self._last[p] + self.intervals.get(p, 0.0) <= now]
        for panel in ready:
            self._dirty.discard(panel)
            self._last[panel] = now
            self.send(panel)
        self.flushes += 1
        if self._dirty:
            self._schedule()

    def send(self, panel: str) -> None:
        """Encode one update of ``panel`` once and put it in every mailbox."""
        delta = panel in self.append_panels
        data = self.build(panel, delta) if delta else None
        if data is None:
            delta, data = False, self.build(panel, False)
            assert data is not None
        text = fragment(panel, data)
        for page in self.pages:
            page.put(panel, text, delta)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

"""The board's night picker: a past night of the survey's archive, shown with the live page's
panels.

The night's events are read from the archive in the order they arrived and fed to a fresh
:class:`~ocd.monitor.night.NightView`, the model the live page is drawn from, so a past night
has the same panels, told by the same code; the page then draws them as it draws a snapshot.
The reads run off the event loop, one night at a time, at most :data:`MAX_EVENTS` events of a
night; the last few nights are kept.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from collections import OrderedDict
from typing import Any

from aiohttp import web

from ocd.archive.store import ArchiveStore
from ocd.bus.envelope import Event, loads
from ocd.bus.sequence import SequenceTracker
from ocd.config import Config
from ocd.errors import OcdError
from ocd.monitor.night import PANELS, NightSettings, NightView
from ocd.sky.chart import pointing_chart

log = logging.getLogger("ocd.board")

#: Events of a night fed to the model at most (a night has about 100 000 to 200 000).
MAX_EVENTS = 600_000
#: Nights kept, ready to show again.
KEPT = 3
#: Nights listed in the picker at most (the newest).
LISTED = 2000
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def night_panels(store: ArchiveStore, night: dt.date, settings: NightSettings
                 ) -> dict[str, Any] | None:
    """Every panel of the live page for ``night`` (None: not in the archive). Blocking."""
    span = store.night(night)
    if span is None:
        return None
    view = NightView(settings)
    tracker = SequenceTracker()
    fed = 0
    received = span[1]
    for rows in store.replay_rows(night):
        for topic, text, _data_time, _wire_time, received in rows:
            try:
                payload = loads(text.encode("utf-8"))
            except ValueError:
                continue
            if not isinstance(payload, dict):
                continue
            event = Event(topic, payload)
            origin, seq = event.origin, event.seq
            check = tracker.observe(origin, seq, True) if origin is not None \
                and seq is not None else None
            view.feed(event, received, check)
            fed += 1
        if fed >= MAX_EVENTS:
            break
    view.tick(received)
    panels = {name: view.panel(name) for name in PANELS}
    panels["sky"].update({"shots": [], "error": "a past night: the shot chart is tonight's"})
    pointing = panels["pointing"].get("pointing")
    end = view.ocd_now(received) or span[1]
    if pointing is not None:
        panels["pointing"]["altaz"] = pointing_chart(pointing["ra"], pointing["dec"], end)
    # the night's clock stops at its last event; the page's "now" is when that arrived
    panels["clock"].update({"ocd": end, "wall": received, "speed": 0.0})
    return {"night": night.isoformat(), "events": span[2], "shown": fed,
            "first": span[0], "last": span[1], "wall": received, "panels": panels}


class PastNights:
    """The routes of the night picker: ``/api/archive/nights`` and
    ``/api/archive/night/DATE``."""

    def __init__(self, cfg: Config, settings: NightSettings) -> None:
        self.settings = settings
        self.store = ArchiveStore.from_config(cfg)
        self._kept: OrderedDict[dt.date, dict[str, Any]] = OrderedDict()
        self._lock = asyncio.Lock()  # one read of the archive at a time: one connection

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/archive/nights", self._nights)
        app.router.add_get("/api/archive/night/{night}", self._night)

    def close(self) -> None:
        self.store.close()

    async def _nights(self, request: web.Request) -> web.Response:
        try:
            async with self._lock:
                nights = await asyncio.to_thread(self._read_nights)
        except OcdError as exc:
            return web.json_response({"nights": [], "error": str(exc)}, status=503)
        return web.json_response({"nights": nights, "error": None})

    def _read_nights(self) -> list[dict[str, Any]]:
        self.store.check()
        return [{"night": night.isoformat(), "events": count, "first": first, "last": last}
                for night, first, last, count in self.store.nights(LISTED)]

    async def _night(self, request: web.Request) -> web.Response:
        text = request.match_info["night"]
        try:
            night = dt.date.fromisoformat(text) if _DATE.fullmatch(text) else None
        except ValueError:
            night = None
        if night is None:
            return web.json_response({"error": "expected a night YYYY-MM-DD"}, status=400)
        try:
            async with self._lock:
                shown = self._kept.get(night)
                if shown is None:
                    shown = await asyncio.to_thread(self._read_night, night)
        except OcdError as exc:
            return web.json_response({"error": str(exc)}, status=503)
        if shown is None:
            return web.json_response({"error": f"no night {night.isoformat()} in the archive"},
                                     status=404)
        self._kept[night] = shown
        self._kept.move_to_end(night)
        while len(self._kept) > KEPT:
            self._kept.popitem(last=False)
        return web.json_response(shown)

    def _read_night(self, night: dt.date) -> dict[str, Any] | None:
        self.store.check()
        return night_panels(self.store, night, self.settings)

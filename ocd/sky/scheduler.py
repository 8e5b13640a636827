"""The built-in scheduler: which shot to observe now, and why not the others.

Pure: shots, a time, the latest conditions and the settings in; a :class:`ScheduleResult` out.
The rules, in the order they are applied (``doc/scheduling.md`` lists every reason string):

1. only shots with ``n_obs > 0``;
2. on an allowed track: ``track`` 0 or 1 forces East or West, 2 allows either; a ``forced_az``
   parks the structure at that azimuth (its side names the track);
3. inside the track's window now, with at least one shot duration of window left;
4. in dark time (Sun below the limit) for the whole shot;
5. within the seeing/transparency limits, when the latest metrology is known;
6. ranked by ``priority`` (by default the lowest number first, as HET's queue ranks), then
   by the least remaining opportunity: the usable track time the shot has left tonight on all
   its allowed tracks (the shot that would otherwise be lost goes first), then by the least
   track time left in the current window, then by position in the shot file.

All the arithmetic is numpy over every shot at once (see :mod:`ocd.sky.het`); the per-candidate
explanations are only built when someone reads :attr:`ScheduleResult.candidates`.
"""

from __future__ import annotations

import datetime as dt
import math
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ocd.shots.model import TRACK_EAST, TRACK_EITHER, TRACK_WEST, Shot, ShotTable
from ocd.sky import het

if TYPE_CHECKING:
    from ocd.config import Config

TRACK_LETTERS = ("E", "W")
_SIDE_NAMES = ("East", "West")


@dataclass(frozen=True)
class Conditions:
    """The latest sky conditions from the guiders' metrology; None when unknown."""

    seeing: float | None = None  #: FWHM, arcseconds
    transparency: float | None = None  #: fraction of the clear-sky flux, 0 to 1

    def as_dict(self) -> dict[str, Any]:
        return {"seeing": self.seeing, "transparency": self.transparency}


@dataclass(frozen=True)
class ScheduleSettings:
    """The scheduler's options (``[schedule]`` of the configuration)."""

    shot_duration: float = 1200.0  #: seconds a whole shot needs on track and in dark time
    sun_altitude: float = -18.0  #: dark time: Sun below this altitude, degrees
    max_seeing: float | None = None  #: arcseconds; None: no limit
    min_transparency: float | None = None  #: None: no limit
    priority_order: str = "ascending"  #: "ascending": priority 1 before 2; or "descending"

    @classmethod
    def from_config(cls, cfg: Config) -> ScheduleSettings:
        """``[schedule]``, with the one seeing and transparency limits of ``[run]``, which the
        main loop applies too (the configuration checks every range)."""
        return cls(shot_duration=cfg.get_float("schedule", "shot_duration"),
                   sun_altitude=cfg.get_float("schedule", "sun_altitude"),
                   max_seeing=cfg.get_float("run", "max_seeing"),
                   min_transparency=cfg.get_float("run", "min_transparency"),
                   priority_order=cfg.get_str("schedule", "priority_order"))

    def as_dict(self) -> dict[str, Any]:
        return {"shot_duration": self.shot_duration, "sun_altitude": self.sun_altitude,
                "max_seeing": self.max_seeing, "min_transparency": self.min_transparency,
                "priority_order": self.priority_order}


@dataclass(frozen=True)
class Candidate:
    """One shot on one track, at the time asked: can it be observed now, and if not why."""

    shot: Shot
    track: str  #: "E" or "W"
    azimuth: float | None  #: where the structure parks, degrees; None if never observable
    window_start: dt.datetime | None  #: the window open now or opening next (UTC)
    window_end: dt.datetime | None
    observable: bool  #: every rule passes: it could start now
    reason: str  #: why it is chosen, observable, or rejected
    track_left: float | None = None  #: seconds of window left now; None outside the window
    opportunity: float = 0.0  #: seconds of usable track time the shot has left tonight
    rank: int | None = None  #: 1 for the choice, 2, 3, ... for the other observable ones

    @property
    def shotid(self) -> str:
        return self.shot.shotid

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly, times as ISO-8601 UTC."""
        return {
            "shotid": self.shot.shotid,
            "track": self.track,
            "observable": self.observable,
            "window_start": _iso(self.window_start),
            "window_end": _iso(self.window_end),
            "azimuth": None if self.azimuth is None else round(self.azimuth, 3),
            "track_left": None if self.track_left is None else round(self.track_left, 1),
            "opportunity": round(self.opportunity, 1),
            "rank": self.rank,
            "priority": self.shot.priority,
            "n_obs": self.shot.n_obs,
            "reason": self.reason,
        }


class ScheduleResult:
    """What a scheduler decided at ``when``: the ``choice`` (None if nothing fits, then
    ``reason`` says why) and every ``candidate`` (built on first access), best first."""

    def __init__(self, choice: Candidate | None, reason: str, when: dt.datetime, *,
                 candidates: list[Candidate] | Callable[[], list[Candidate]] | None = None,
                 scheduler: str = "builtin", sun_altitude: float | None = None,
                 dark_start: dt.datetime | None = None, dark_end: dt.datetime | None = None,
                 settings: ScheduleSettings | None = None,
                 conditions: Conditions | None = None, fallback: str | None = None,
                 lookup: Callable[[str, str], Candidate | None] | None = None) -> None:
        self.choice = choice
        self.reason = reason
        self.when = when
        self.scheduler = scheduler  #: "builtin" or "autoschedule"
        self.sun_altitude = sun_altitude
        self.dark_start = dark_start
        self.dark_end = dark_end
        self.settings = settings or ScheduleSettings()
        self.conditions = conditions or Conditions()
        self.fallback = fallback  #: why the configured external scheduler was not used
        self._candidates = candidates
        self._lookup = lookup

    @property
    def candidates(self) -> list[Candidate]:
        if callable(self._candidates):
            self._candidates = self._candidates()
        if self._candidates is None:
            self._candidates = []
        return self._candidates

    def candidate(self, shotid: str, track: str) -> Candidate | None:
        """The candidate for one shot on one track ("E"/"W"), without building the others."""
        if self._lookup is not None and not isinstance(self._candidates, list):
            return self._lookup(shotid, track)
        return next((c for c in self.candidates if c.shotid == shotid and c.track == track),
                    None)

    def as_dict(self, limit: int | None = None) -> dict[str, Any]:
        """The whole result as one JSON-friendly document (``limit``: first candidates only)."""
        candidates = self.candidates
        shown = candidates if limit is None else candidates[:limit]
        return {
            "time": _iso(self.when),
            "scheduler": self.scheduler,
            "fallback": self.fallback,
            "choice": None if self.choice is None else self.choice.as_dict(),
            "reason": self.reason,
            "sun_altitude": None if self.sun_altitude is None else round(self.sun_altitude, 3),
            "dark_start": _iso(self.dark_start),
            "dark_end": _iso(self.dark_end),
            "settings": self.settings.as_dict(),
            "conditions": self.conditions.as_dict(),
            "candidates_total": len(candidates),
            "candidates": [c.as_dict() for c in shown],
        }

    def __repr__(self) -> str:
        picked = "None" if self.choice is None else f"{self.choice.shotid} {self.choice.track}"
        return f"ScheduleResult(choice={picked}, reason={self.reason!r})"


# -- formatting --------------------------------------------------------------------------------

def _iso(when: dt.datetime | None) -> str | None:
    return None if when is None else when.isoformat(timespec="seconds")


def span(seconds: float) -> str:
    """A duration as people say it: ``20 min``, ``1h05m``."""
    minutes = int(round(seconds / 60.0))
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def _clock(seconds: float) -> str:
    return het.to_datetime(seconds).strftime("%H:%M UTC")


def _datetime(seconds: float) -> dt.datetime | None:
    seconds = float(seconds)  # round() of a numpy scalar is slow
    return None if math.isnan(seconds) else het.to_datetime(round(seconds, 3))


# -- the decision ------------------------------------------------------------------------------

@dataclass
class _Night:
    """Everything global to the decision: time, Sun, dark time, conditions."""

    now: float
    settings: ScheduleSettings
    conditions: Conditions
    sun: float
    dark_start: float
    dark_end: float
    dark_reason: str | None = None
    conditions_reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.dark_reason is None and self.conditions_reason is None


def _night(now: float, settings: ScheduleSettings, conditions: Conditions) -> _Night:
    limit = settings.sun_altitude
    sun, start, end = het.night(now, limit)
    night = _Night(now, settings, conditions, sun, start, end)
    if not sun < limit:
        night.dark_reason = (f"not dark: sun at {sun:.1f} deg, above the limit {limit:g} deg; "
                             f"dark time starts at {_clock(start)} (in {span(start - now)})")
    elif end - now < settings.shot_duration:
        night.dark_reason = (f"dark time ends at {_clock(end)}, in {span(end - now)}: too "
                             f"short for a {span(settings.shot_duration)} shot")
    seeing, limit_seeing = conditions.seeing, settings.max_seeing
    transparency, limit_transparency = conditions.transparency, settings.min_transparency
    if seeing is not None and limit_seeing is not None and seeing > limit_seeing:
        night.conditions_reason = (f"seeing {seeing:.2f} arcsec is above the limit "
                                   f"{limit_seeing:.2f}")
    elif (transparency is not None and limit_transparency is not None
          and transparency < limit_transparency):
        night.conditions_reason = (f"transparency {transparency:.2f} is below the limit "
                                   f"{limit_transparency:.2f}")
    return night


@dataclass
class _Rows:
    """Per (shot, track) arrays: rows 0..n-1 are the East tracks, n..2n-1 the West ones."""

    table: ShotTable
    night: _Night
    forced: np.ndarray
    exists: np.ndarray
    allowed: np.ndarray
    reachable: np.ndarray
    todo: np.ndarray
    azimuth: np.ndarray
    start: np.ndarray
    end: np.ndarray
    in_window: np.ndarray
    left: np.ndarray
    long_enough: np.ndarray
    observable: np.ndarray
    usable: np.ndarray  # per row: its window's usable time in tonight's dark time
    opportunity: np.ndarray  # per row: its shot's opportunity


#: The shots' unit vectors, computed once per table (the store keeps its table between
#: decisions, and the vectors cost as much as the rest of a decision).
_VECTORS: weakref.WeakKeyDictionary[ShotTable, np.ndarray] = weakref.WeakKeyDictionary()
#: Seconds of a sidereal day: a target's windows come back after it.
_SIDEREAL_DAY = 2.0 * math.pi / het.SIDEREAL_RATE


def table_vectors(table: ShotTable) -> np.ndarray:
    """ICRS unit vectors of the table's shots (:func:`ocd.sky.het.unit_vectors`), cached."""
    vectors = _VECTORS.get(table)
    if vectors is None:
        vectors = _VECTORS[table] = het.unit_vectors(table.ra, table.dec)
    return vectors


@dataclass(frozen=True)
class _Windows:
    """Every row's window open at a night's noon (:func:`ocd.sky.het.noon_before`) or opening
    next, and the azimuth the structure parks at (rows as in :class:`_Rows`; NaN where a
    track never opens)."""

    start: np.ndarray
    end: np.ndarray
    azimuth: np.ndarray
    two: np.ndarray  #: per shot: it has an East and a West track

    def at(self, reference: float) -> tuple[np.ndarray, np.ndarray]:
        """Start and end of the window open at ``reference`` (in the night) or opening next:
        a window that closed since noon comes back a sidereal day later."""
        passed = self.end <= reference
        if not passed.any():
            return self.start, self.end
        days = np.where(passed, np.floor((reference - self.end) / _SIDEREAL_DAY) + 1.0, 0.0)
        return self.start + days * _SIDEREAL_DAY, self.end + days * _SIDEREAL_DAY


#: The windows of the latest shot lists, by their targets and the night's noon.
_WINDOWS: dict[tuple[bytes, float], _Windows] = {}
#: Each table's key of its targets (right ascension, declination, forced azimuth).
_TARGETS: weakref.WeakKeyDictionary[ShotTable, bytes] = weakref.WeakKeyDictionary()


def _night_windows(table: ShotTable, reference: float) -> _Windows:
    """The windows of the night of ``reference``, computed once for its noon.

    The apparent places are read once a night (:func:`ocd.sky.het.sky` does so too: within
    the night only the Earth's rotation moves them), so a window is the same whichever
    minute of the night asks: a scheduler asked every two minutes, or a plan of the night,
    computes them once, and two callers asking at different minutes get the same times.
    """
    targets = _TARGETS.get(table)
    if targets is None:
        targets = _TARGETS[table] = b"".join(
            column.tobytes() for column in (table.ra, table.dec, table.forced_az))
    key = (targets, het.noon_before(reference))
    found = _WINDOWS.get(key)
    if found is None:
        if len(_WINDOWS) >= 16:  # a few lists of a few nights: plenty
            _WINDOWS.clear()
        found = _WINDOWS[key] = _compute_windows(table, key[1])
    return found


def _compute_windows(table: ShotTable, reference: float) -> _Windows:
    n = len(table)
    sky = het.sky(None, None, reference, vectors=table_vectors(table))
    found = sky.tracks()
    start = np.concatenate([found.start_e, found.start_w])
    end = np.concatenate([found.end_e, found.end_w])
    azimuth = np.concatenate([found.az_e, found.az_w])
    forced = ~np.isnan(table.forced_az)
    if forced.any():
        index = np.flatnonzero(forced)
        f_start, _, f_end = sky.windows_at(table.forced_az[index], index)
        rows = np.where(table.forced_az[index] > 180.0, index + n, index)
        start[rows], end[rows] = f_start, f_end
        azimuth[rows] = table.forced_az[index]
    return _Windows(start, end, azimuth, found.n_tracks == 2)


def _rows(table: ShotTable, night: _Night) -> _Rows:
    n = len(table)
    now = night.now
    # when it is not dark yet, show the windows of the coming dark time
    reference = now if night.sun < night.settings.sun_altitude else max(now, night.dark_start)
    windows = _night_windows(table, reference)
    start, end = windows.at(reference)
    azimuth = windows.azimuth
    track = table.track
    forced = ~np.isnan(table.forced_az)
    west_side = table.forced_az > 180.0  # False for NaN
    two = windows.two
    exists_e = np.where(forced, ~west_side, two | (track != TRACK_WEST))
    exists_w = np.where(forced, west_side, two | (track == TRACK_WEST))
    allowed_e = np.where(two & ~forced, track != TRACK_WEST, True)
    allowed_w = np.where(two & ~forced, track != TRACK_EAST, True)
    forced_ok = (track == TRACK_EITHER) | (track == np.where(west_side, TRACK_WEST, TRACK_EAST))
    allowed_e &= np.where(forced, forced_ok, True)
    allowed_w &= np.where(forced, forced_ok, True)
    exists = np.concatenate([exists_e, exists_w])
    allowed = np.concatenate([allowed_e, allowed_w]) & exists
    reachable = ~np.isnan(start)
    todo = np.tile(table.n_obs > 0, 2)
    in_window = reachable & (start <= now) & (now < end)
    left = np.where(in_window, end - now, np.nan)
    duration = night.settings.shot_duration
    long_enough = in_window & (left >= duration)
    candidate = exists & allowed & todo
    observable = candidate & long_enough & night.ok

    # remaining opportunity: usable (>= one shot) track time left in tonight's dark time
    night_start = max(now, night.dark_start)
    overlap = np.minimum(end, night.dark_end) - np.maximum(start, night_start)
    usable = np.where(reachable, np.maximum(overlap, 0.0), 0.0)
    counted = np.where(candidate & (usable >= duration), usable, 0.0)
    opportunity = np.tile(counted[:n] + counted[n:], 2)
    return _Rows(table, night, forced, exists, allowed, reachable, todo,
                 azimuth, start, end, in_window, left, long_enough, observable, usable, opportunity)


def _rank(rows: _Rows) -> np.ndarray:
    """Indices of the observable rows, best first."""
    index = np.flatnonzero(rows.observable)
    if index.size == 0:
        return index
    n = len(rows.table)
    priority = rows.table.priority[index % n]
    if rows.night.settings.priority_order == "descending":
        priority = -priority
    keys = (index % n, rows.left[index], rows.opportunity[index], priority)  # last is primary
    return index[np.lexsort(keys)]


def _blocked(table: ShotTable, night: _Night) -> str | None:
    """Why nothing can be chosen whatever the windows (no visit left, not dark, bad
    conditions), or None: then only the shots' windows tell (a scheduler asked every two
    minutes through twilight, or after the list is done, need not compute them)."""
    n = len(table)
    if n == 0:
        return "no shots"
    if not table.to_observe:
        return f"no shots with n_obs > 0 (all {n} done)"
    if night.dark_reason:
        return night.dark_reason
    if night.conditions_reason:
        return night.conditions_reason
    return None


@dataclass(frozen=True)
class _Quiet:
    """Why nothing is observable while the night allows it, and until when that holds: until
    a window of a shot that could be chosen opens or closes (a shot in its window with less
    than a shot's length left only loses more), within the night its windows are of. A
    scheduler asked every two minutes while it waits for the next window then answers without
    computing the windows again, with the same words it would compute."""

    settings: ScheduleSettings
    since: float
    until: float
    shots_in_window: int  #: shots in their window, none with a shot's length of it left
    remaining: int  #: shots with n_obs > 0
    opens: float  #: when the next window opens (NaN: none opens)
    shotid: str = ""
    track: str = ""

    @classmethod
    def of(cls, rows: _Rows) -> _Quiet:
        n = len(rows.table)
        night = rows.night
        candidate = rows.exists & rows.allowed & rows.todo
        in_window = candidate & rows.in_window
        upcoming = np.flatnonzero(candidate & rows.reachable & (rows.start > night.now))
        changes = np.concatenate([rows.start[upcoming], rows.end[in_window]])
        until = het.noon_before(night.now) + 86400.0  # (the windows are the night's)
        if changes.size:
            until = min(until, float(changes.min()))
        quiet = cls(night.settings, night.now, until,
                    np.unique(np.flatnonzero(in_window) % n).size, rows.table.to_observe,
                    math.nan)
        if upcoming.size == 0:
            return quiet
        row = upcoming[np.argmin(rows.start[upcoming])]
        return replace(quiet, opens=float(rows.start[row]),
                       shotid=rows.table.shots[row % n].shotid, track=TRACK_LETTERS[row // n])

    def holds(self, night: _Night) -> bool:
        """Whether this is still the answer at ``night`` (its time, settings and verdicts)."""
        return night.ok and self.since <= night.now < self.until \
            and night.settings == self.settings

    def reason(self, now: float) -> str:
        if self.shots_in_window:
            plural = "shot" if self.shots_in_window == 1 else "shots"
            return (f"{self.shots_in_window} {plural} observable, none with "
                    f"{span(self.settings.shot_duration)} of track left")
        if math.isnan(self.opens):
            return (f"none of the {self.remaining} shots with n_obs > 0 can be observed "
                    "from HET")
        return (f"no shot observable now; next window opens at {_clock(self.opens)} (in "
                f"{span(self.opens - now)}): {self.shotid} {self.track}")


#: Each table's latest answer that nothing is observable, kept while it holds.
_QUIET: weakref.WeakKeyDictionary[ShotTable, _Quiet] = weakref.WeakKeyDictionary()


def _reason(rows: _Rows, row: int, rank: int | None) -> str:
    """Why this row is chosen, observable, or rejected (the first rule it fails)."""
    shot = rows.table.shots[row % len(rows.table)]
    night = rows.night
    if not rows.todo[row]:
        return "n_obs is 0: nothing left to observe"
    refused = _track_reason(rows, row) or _window_reason(rows, row)
    if refused:
        return refused
    if night.dark_reason:
        return night.dark_reason
    if night.conditions_reason:
        return night.conditions_reason
    end = rows.end[row]
    left = f"{span(end - night.now)} of track left"
    opportunity = f"{span(rows.opportunity[row])} usable tonight"
    if rank == 1:
        return f"chosen: priority {shot.priority}, {left}, {opportunity}"
    return f"observable, rank {rank}: priority {shot.priority}, {left}, {opportunity}"


def _track_reason(rows: _Rows, row: int) -> str | None:
    """Why this track can never be observed (out of reach, or the wrong side), else None."""
    n = len(rows.table)
    shot = rows.table.shots[row % n]
    side = row // n
    if rows.forced[row % n]:
        if not rows.reachable[row]:
            return f"never within {het.REACH:g} deg of the forced azimuth {shot.forced_az:.1f}"
        if not rows.allowed[row]:
            return (f"forced azimuth {shot.forced_az:.1f} is on the {_SIDE_NAMES[side]} side "
                    f"but track {shot.track} forces {_SIDE_NAMES[1 - side]}")
    elif not rows.reachable[row]:
        return (f"never observable: dec {shot.dec:+.2f} is outside {het.DEC_MIN:+.1f} to "
                f"{het.DEC_MAX:+.1f}")
    elif not rows.allowed[row]:
        return f"track {shot.track} forces {_SIDE_NAMES[1 - side]}"
    return None


def _window_reason(rows: _Rows, row: int) -> str | None:
    """Why this track cannot be observed now (its window is not open, or too short), else
    None."""
    night = rows.night
    start, end = rows.start[row], rows.end[row]
    if not rows.in_window[row]:
        text = f"window opens at {_clock(start)} (in {span(start - night.now)})"
        if start >= night.dark_end:
            text += ", after dark time ends"
        elif rows.usable[row] < end - start:
            text += f", {span(rows.usable[row])} of it in dark time"
        return text
    if not rows.long_enough[row]:
        return (f"only {span(end - night.now)} of track left, a shot needs "
                f"{span(night.settings.shot_duration)}")
    return None


def _candidate(rows: _Rows, row: int, rank: int | None) -> Candidate:
    n = len(rows.table)
    shot = rows.table.shots[row % n]
    reachable = bool(rows.reachable[row])
    return Candidate(
        shot=shot,
        track=TRACK_LETTERS[row // n],
        azimuth=float(rows.azimuth[row]) if reachable else None,
        window_start=_datetime(rows.start[row]) if reachable else None,
        window_end=_datetime(rows.end[row]) if reachable else None,
        observable=bool(rows.observable[row]),
        reason=_reason(rows, row, rank),
        track_left=float(rows.left[row]) if rows.in_window[row] else None,
        opportunity=float(rows.opportunity[row]),
        rank=rank,
    )


def _all_candidates(rows: _Rows, ranked: np.ndarray) -> list[Candidate]:
    """Every existing row: the observable ones by rank, then the rest, soonest usable first."""
    n = len(rows.table)
    others = np.flatnonzero(rows.exists & ~rows.observable)
    group = np.select(
        [rows.todo & rows.allowed & rows.reachable, rows.todo & rows.reachable, rows.todo],
        [1, 2, 3], default=4)[others]
    start = np.where(rows.reachable, rows.start, np.inf)[others]
    others = others[np.lexsort((others % n, start, group))]
    result = [_candidate(rows, int(row), rank) for rank, row in enumerate(ranked, start=1)]
    result.extend(_candidate(rows, int(row), None) for row in others)
    return result


def _lookup(rows: _Rows, ranked: np.ndarray, shotid: str, track: str) -> Candidate | None:
    n = len(rows.table)
    index = next((i for i, shot in enumerate(rows.table.shots) if shot.shotid == shotid), None)
    if index is None or track not in TRACK_LETTERS:
        return None
    row = index + n * TRACK_LETTERS.index(track)
    if not rows.exists[row]:
        return None
    position = np.flatnonzero(ranked == row)
    return _candidate(rows, row, int(position[0]) + 1 if position.size else None)


class _Later:
    """The windows of a decision that did not need them, computed if someone asks."""

    def __init__(self, table: ShotTable, night: _Night) -> None:
        self.table, self.night = table, night
        self._ready: tuple[_Rows, np.ndarray] | None = None

    def ready(self) -> tuple[_Rows, np.ndarray]:
        if self._ready is None:
            rows = _rows(self.table, self.night)
            self._ready = rows, _rank(rows)
        return self._ready

    def candidates(self) -> list[Candidate]:
        return _all_candidates(*self.ready())

    def lookup(self, shotid: str, track: str) -> Candidate | None:
        return _lookup(*self.ready(), shotid, track)


def choose(shots: Iterable[Shot] | ShotTable, when: dt.datetime,
           conditions: Conditions | None = None,
           settings: ScheduleSettings | None = None) -> ScheduleResult:
    """The shot to observe at ``when`` (an aware UTC datetime, from OCD's clock), or why none.

    ``shots`` may be any iterable of :class:`Shot` (those with ``n_obs`` 0 are listed but never
    chosen) or a :class:`ShotTable` (faster: :meth:`ShotStore.table` keeps one ready).
    """
    settings = settings or ScheduleSettings()
    conditions = conditions or Conditions()
    table = shots if isinstance(shots, ShotTable) else ShotTable.from_shots(shots)
    now = het.unix_seconds(when)
    night = _night(now, settings, conditions)
    when = het.to_datetime(now)
    dark_start, dark_end = het.to_datetime(night.dark_start), het.to_datetime(night.dark_end)
    if len(table) == 0:
        return ScheduleResult(None, "no shots", when, candidates=[], sun_altitude=night.sun,
                              dark_start=dark_start, dark_end=dark_end, settings=settings,
                              conditions=conditions)
    known = _blocked(table, night)
    if known is None:
        quiet = _QUIET.get(table)
        known = quiet.reason(now) if quiet is not None and quiet.holds(night) else None
    if known is not None:  # nothing can be chosen: the windows only for who asks
        later = _Later(table, night)
        return ScheduleResult(None, known, when, candidates=later.candidates,
                              lookup=later.lookup,
                              sun_altitude=night.sun, dark_start=dark_start, dark_end=dark_end,
                              settings=settings, conditions=conditions)
    rows = _rows(table, night)
    ranked = _rank(rows)
    choice = _candidate(rows, int(ranked[0]), 1) if ranked.size else None
    if choice is not None:
        reason = choice.reason
    else:  # why nothing is observable though the night allows it: kept while it holds
        quiet = _QUIET[table] = _Quiet.of(rows)
        reason = quiet.reason(now)
    return ScheduleResult(choice, reason, when,
                          candidates=lambda: _all_candidates(rows, ranked),
                          lookup=lambda shotid, track: _lookup(rows, ranked, shotid, track),
                          sun_altitude=night.sun, dark_start=dark_start, dark_end=dark_end,
                          settings=settings, conditions=conditions)

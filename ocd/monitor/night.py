"""What the board shows of a night, as a pure model: events in, panels out.

:class:`NightView` is fed every event the board receives (with the real time it arrived and
its sequence check) and keeps, per panel, what a page shows: OCD's clock, the state machines,
metrology now and over the night, the current shot, the last decision and why OCD waits, the
shots of the night (:class:`~ocd.monitor.tally.Tally`), a log of the notable events and the
health of the bus. It says which panels changed (:meth:`NightView.take_dirty`); the board
decides when to send them. Panels are plain JSON-ready dicts.

Every table keyed by what a sender chooses (origins, topics, machines) is bounded, every text
is cut to a bounded length, every number is read with :func:`~ocd.core.payload.finite_number`:
a hostile publisher can make the board show nonsense, never grow without bound.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ocd.bus.envelope import Event, adopted_clock, stamped_speed
from ocd.bus.sequence import SeqCheck, SeqKind
from ocd.clock import SPLIT, MockClock
from ocd.core import events as ev
from ocd.core import topics
from ocd.core.events import InboundEvent, decode
from ocd.core.payload import finite_number, ocd_time
from ocd.core.topics import TcsTopics
from ocd.monitor.alarm_table import URGENT, AlarmSettings, AlarmTable
from ocd.monitor.lines import format_line
from ocd.monitor.tally import Tally

#: Every panel of the page, in the order the page lays them out.
PANELS = ("clock", "alarms", "states", "metrology", "shot", "decision", "sky", "pointing",
          "completed", "log", "bus")
#: Panels whose ``items`` grow: updates carry only the new items (``delta``), each with ``n``.
APPEND_PANELS = ("metrology", "log")

#: Topics that repeat all night (heartbeats, pointing, state re-publication): shown in their
#: panels and counted in the bus panel, kept out of the log so it shows what happened.
_PERIODIC = (topics.MAIN_STATUS, topics.STATES_STATE, topics.HEARTBEAT_ENQUIRY,
             topics.HEARTBEAT_REPLY, topics.ALARM_LIST)

MAX_TEXT = 300       # longest text kept from a payload
MAX_TOPIC = 120      # longest topic kept
MAX_ORIGINS = 64     # publishers listed in the bus panel
MAX_TOPICS = 128     # topics whose rates are kept
MAX_MACHINES = 16    # state machines shown
MAX_REASONS = 10     # waiting reasons shown
MAX_SHOTS = 200      # shots of the night kept
NOTICES = 5          # clock splits shown (the newest)
MAX_SPLITS = 64      # publishers remembered as off the main loop's clock
RATE_WINDOW = 10     # seconds over which event rates are counted
CLOCK_REANCHOR = 5.0  # real seconds between two clock updates sent when nothing else changed


def text(value: Any, limit: int = MAX_TEXT) -> str | None:
    """``value`` as a bounded text (a string, or a number shown as text), else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        number = finite_number(value)
        return None if number is None else f"{value}"[:limit]
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit - 1] + "…"
    return None


def _int(value: Any) -> int | None:
    return value if type(value) is int and abs(value) < 2 ** 53 else None


@dataclass(frozen=True, slots=True)
class _Arrival:
    """When an event arrived: OCD time (None before any), real time, and its publisher."""

    when: float | None
    received: float
    origin: str | None


#: The TCS's events: not OCD's, kept out of the log.
_TCS_EVENTS = (ev.TcsHeartbeat, ev.Pointing, ev.GuiderReading)


@dataclass(frozen=True)
class NightSettings:
    """What the board knows from its configuration."""

    topics: TcsTopics = field(default_factory=TcsTopics)
    max_seeing: float = 3.0
    min_transparency: float = 0.5
    n_exposures: int = 3
    #: The clock the configuration describes, until OCD's events say better.
    mock: bool = False
    speed: float = 1.0
    log_size: int = 500
    series_size: int = 4000
    alarms: AlarmSettings = field(default_factory=AlarmSettings)


@dataclass
class ClockView:
    """OCD's clock as the events show it: an anchor (OCD time at a real time) and the speed
    the events carry (``__mock_speed``), so that a page can run the clock forward by itself
    between updates."""

    mock: bool
    speed: float
    source: str = "configuration"
    anchor_ocd: float | None = None
    anchor_wall: float | None = None
    _sent_wall: float = -math.inf
    #: The main loop's clock, as its last event carried it.
    main: MockClock | None = None
    #: The last clock splits said (newest last): another process's clock seen off the main
    #: loop's, or this process's own, followed.
    notices: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=NOTICES))
    #: Publishers whose clock was seen off the main loop's (bounded: senders choose origins).
    _split: OrderedDict[str, float] = field(default_factory=OrderedDict)

    def notice(self, text: str, wall: float) -> None:
        """One line about a clock split, shown on the page."""
        self.notices.append({"wall": wall, "text": text})

    def check_split(self, event: Event, received: float, authority: bool) -> bool:
        """Compare the clock ``event`` was stamped with to the main loop's (learnt from the
        main loop's events); True when a new split is noticed (one line per publisher while
        its clock stays off)."""
        stamped = adopted_clock(event)
        if stamped is None:
            return False
        if authority:
            self.main = stamped
            return False
        origin = str(event.origin or "an unnamed publisher")[:MAX_TEXT]
        if self.main is None:
            return False
        off = stamped.reading_at(received) - self.main.reading_at(received)
        if abs(off) <= SPLIT:
            self._split.pop(origin, None)
            return False
        if origin in self._split:
            return False
        self._split[origin] = off
        while len(self._split) > MAX_SPLITS:
            self._split.popitem(last=False)
        self.notice(f"the clock of {origin} reads {off:+.0f} s off the main loop's", received)
        return True

    def now(self, wall: float) -> float | None:
        """OCD time (Unix seconds) at real time ``wall``; None before any OCD event."""
        if self.anchor_ocd is None or self.anchor_wall is None:
            return None
        return self.anchor_ocd + (wall - self.anchor_wall) * self.speed

    def observe(self, payload: dict[str, Any], received: float, authority: bool) -> bool:
        """Learn from one OCD event (``authority``: it comes from the main loop); True when
        the page should hear about it."""
        when = ocd_time(payload)
        if when is None or (not authority and self.source == "ocd run"):
            return False
        ocd = when.timestamp()
        mock = payload.get("__clock") == "mock"
        speed = (stamped_speed(payload) or self.speed) if mock else 1.0
        changed = mock != self.mock or speed != self.speed or self.anchor_ocd is None
        self.mock, self.speed = mock, speed
        source = "ocd run" if authority else "ocd events"
        changed = changed or source != self.source
        self.source = source
        self.anchor_ocd, self.anchor_wall = ocd, received
        if changed or received - self._sent_wall >= CLOCK_REANCHOR:
            self._sent_wall = received
            return True
        return False

    def as_dict(self) -> dict[str, Any]:
        return {"mock": self.mock, "speed": self.speed, "source": self.source,
                "ocd": self.anchor_ocd, "wall": self.anchor_wall,
                "notices": list(self.notices)}


@dataclass
class Publisher:
    """One publisher seen on the bus."""

    events: int = 0
    last_seq: int | None = None
    gaps: int = 0
    lost: int = 0
    restarts: int = 0
    last_seen: float = 0.0


class NightView:
    """Everything the board shows, fed with events; see the module's docstring."""

    def __init__(self, settings: NightSettings) -> None:
        self.settings = settings
        self.clock = ClockView(settings.mock, settings.speed)
        self._dirty: set[str] = set(PANELS)
        # states
        self.machines: dict[str, str] = {}
        self.allowed_by: str | None = None
        self.tcs_heartbeat: float | None = None  # real time of the last TCS heartbeat
        self._heartbeat_shown = 0.0
        self.main_loop: dict[str, Any] = {"origin": None, "seen": None, "started": None,
                                          "stopping": False}
        # metrology
        self.guiders: dict[str, dict[str, Any]] = {}
        self.conditions: dict[str, float | None] = {"seeing": None, "transparency": None}
        self.limits = {"max_seeing": settings.max_seeing,
                       "min_transparency": settings.min_transparency}
        self.series: deque[dict[str, Any]] = deque()
        self._series_sent = 0  # ``n`` of the last series item sent
        self._series_reset = False
        # the shot, the decisions, the night
        self.shot: dict[str, Any] | None = None
        self.decision: dict[str, Any] = {"waiting": [], "pending": None, "decision": None,
                                         "no_shot": None, "error": None, "ack": None,
                                         "obsnum_skipped": None}
        self.tally = Tally(settings.n_exposures)
        self.pointing: dict[str, Any] | None = None
        self.alarms = AlarmTable(settings.alarms)
        # log and bus
        self.log: deque[dict[str, Any]] = deque(maxlen=settings.log_size)
        self._log_sent = 0
        #: Per publisher, the ``n`` of its progress line in the log (folded: see _fold).
        self._progress: OrderedDict[str, int] = OrderedDict()
        self._n = 0  # numbers the appended items of both append panels
        self.received = 0
        self.unsequenced = 0
        self.malformed = 0
        self.publishers: OrderedDict[str, Publisher] = OrderedDict()
        self.forgotten_publishers = 0
        self._second: int | None = None
        self._counts: Counter[str] = Counter()
        self._window: deque[Counter[str]] = deque(maxlen=RATE_WINDOW)
        self.other_topics = 0

    # -- feeding ---------------------------------------------------------------------------
    def take_dirty(self) -> set[str]:
        """The panels changed since the last call."""
        dirty, self._dirty = self._dirty, set()
        return dirty

    def _mark(self, *panels: str) -> None:
        self._dirty.update(panels)

    def feed(self, event: Event, received: float, check: SeqCheck | None = None) -> None:
        """One event, received at real time ``received``, with its sequence check (None for
        events without sequence numbers)."""
        topic, payload = event.topic[:MAX_TOPIC], event.payload
        self._count(topic, received, check)
        authority = str(event.origin or "").startswith("ocd_main_loop@")
        if event.system == "ocd" and self.clock.observe(payload, received, authority):
            self._mark("clock")
        if self.clock.check_split(event, received, authority):
            self._mark("clock")
        decoded = decode(event.topic, payload, self.settings.topics)
        tcs = isinstance(decoded, _TCS_EVENTS)
        if not tcs and topic.startswith(topics.OCD_PREFIX):
            self._heard(event.origin, received)
        taker = _TAKERS.get(type(decoded))
        if taker is not None:
            taker(self, decoded, _Arrival(self._ocd_time(payload, received), received,
                                          event.origin))
        if topic not in _PERIODIC and not tcs and topic not in self.settings.topics.all():
            self._log(event, topic, received, decoded)

    def clock_notice(self, text: str, wall: float) -> None:
        """A line about this process's own clock (it followed the main loop's)."""
        self.clock.notice(text, wall)
        self._mark("clock")

    def set_malformed(self, count: int) -> None:
        """The subscriber's count of malformed messages (they never reach :meth:`feed`)."""
        if count != self.malformed:
            self.malformed = count
            self._mark("bus")

    def tick(self, wall: float) -> None:
        """Time passes (call about once a second): event rates move on."""
        self._roll(wall)
        self._mark("bus")

    def ocd_now(self, wall: float) -> float | None:
        return self.clock.now(wall)

    def _ocd_time(self, payload: dict[str, Any], received: float) -> float | None:
        """When an event happened on OCD's clock: the main loop's clock when it arrived, once
        the main loop is heard (every process of a rehearsal has a mock clock of its own, so
        the main loop's is the one the page runs), else the event's own OCD time."""
        if self.clock.source == "ocd run":
            return self.clock.now(received)
        when = ocd_time(payload)
        return when.timestamp() if when is not None else self.clock.now(received)

    # -- the bus ---------------------------------------------------------------------------
    def _roll(self, wall: float) -> None:
        second = int(wall)
        if self._second is None:
            self._second = second
        while self._second < second:
            self._window.append(self._counts)
            self._counts = Counter()
            self._second += 1
            if second - self._second > RATE_WINDOW:  # a long silence: skip ahead
                self._window.clear()
                self._second = second

    def _count(self, topic: str, received: float, check: SeqCheck | None) -> None:
        self.received += 1
        self._roll(received)
        if topic in self._counts or len(self._counts) < MAX_TOPICS:
            self._counts[topic] += 1
        else:
            self.other_topics += 1
        if check is None:
            self.unsequenced += 1
            return
        name = check.origin[:MAX_TOPIC]
        publisher = self.publishers.get(name)
        if publisher is None:
            publisher = self.publishers[name] = Publisher()
            if len(self.publishers) > MAX_ORIGINS:
                self.publishers.popitem(last=False)
                self.forgotten_publishers += 1
        else:
            self.publishers.move_to_end(name)
        publisher.events += 1
        publisher.last_seq = check.seq
        publisher.last_seen = received
        if check.kind is SeqKind.GAP:
            publisher.gaps += 1
            publisher.lost += check.missing
            self._mark("bus")
        elif check.kind is SeqKind.RESTART:
            publisher.restarts += 1
            self._mark("bus")

    def rates(self) -> dict[str, float]:
        """Events per second of each topic over the last seconds."""
        total: Counter[str] = Counter()
        for counts in self._window:
            total.update(counts)
        seconds = max(1, len(self._window))
        return {topic: round(count / seconds, 2) for topic, count in sorted(total.items())}

    # -- TCS -------------------------------------------------------------------------------
    def _heartbeat(self, e: ev.TcsHeartbeat, at: _Arrival) -> None:
        if self.tcs_heartbeat is None or at.received - self._heartbeat_shown >= 1.0:
            self._heartbeat_shown = at.received  # pages age it by themselves in between
            self._mark("states")
        self.tcs_heartbeat = at.received

    def _pointing(self, e: ev.Pointing, at: _Arrival) -> None:
        ra, dec = e.ra, e.dec
        if ra is None or dec is None or not (0 <= ra < 24 and -90 <= dec <= 90):
            return
        self.pointing = {"ra": ra, "dec": dec, "t": at.when, "tracking": e.tracking}
        self._mark("pointing")

    def _metrology(self, e: ev.GuiderReading, at: _Arrival) -> None:
        seeing, transparency, when = e.seeing, e.transparency, at.when
        if seeing is not None and not 0 <= seeing <= 100:
            seeing = None
        if transparency is not None and not 0 <= transparency <= 10:
            transparency = None
        self.guiders[e.guider] = {"guider": e.number, "seeing": seeing,
                                  "transparency": transparency, "t": when}
        if when is not None and (seeing is not None or transparency is not None):
            self._n += 1
            self.series.append({"n": self._n, "t": round(when, 1), "g": e.number,
                                "s": seeing, "tr": transparency})
            if len(self.series) > self.settings.series_size:
                self._thin_series()
        self._mark("metrology")

    def _thin_series(self) -> None:
        """Keep every other point of the older half: the night stays whole, coarser."""
        items = list(self.series)
        half = len(items) // 2
        self.series = deque(items[:half:2] + items[half:])
        self._series_reset = True

    # -- OCD -------------------------------------------------------------------------------
    def _heard(self, origin: str | None, received: float) -> None:
        if str(origin or "").startswith("ocd_main_loop@"):
            self.main_loop["origin"] = origin[:MAX_TOPIC] if origin else None
            self.main_loop["seen"] = received
            self.main_loop["stopping"] = False

    def _state_changed(self, e: ev.StateChanged, at: _Arrival) -> None:
        self._machine(e.machine, e.new_state)

    def _state_reported(self, e: ev.StateReported, at: _Arrival) -> None:
        self._machine(e.machine, e.state)

    def _hetdex_allowed(self, e: ev.HetdexAllowedSet, at: _Arrival) -> None:
        self.allowed_by = text(e.by)
        self._mark("states")

    def _started(self, e: ev.MainStarted, at: _Arrival) -> None:
        self.main_loop["started"] = {
            "clock": text(e.clock), "input": text(e.input), "scheduler": text(e.scheduler),
            "obsnum": text(e.obsnum_source), "t": at.when}
        self._mark("states")

    def _stopping(self, e: ev.MainStopping, at: _Arrival) -> None:
        self.main_loop["stopping"] = True
        self._mark("states")

    def _waiting_event(self, e: ev.Waiting, at: _Arrival) -> None:
        self._waiting(e.reasons)

    def _decision(self, e: ev.Decision, at: _Arrival) -> None:
        self.decision["decision"] = {
            "shotid": text(e.shotid), "track": text(e.track), "started": e.started,
            "reason": text(e.reason), "scheduler": text(e.scheduler), "t": at.when}
        self._mark("decision", "sky")

    def _no_shot(self, e: ev.NoShot, at: _Arrival) -> None:
        self.decision["no_shot"] = {"reason": text(e.reason), "retry_at": text(e.retry_at),
                                    "t": at.when}
        self._mark("decision")

    def _error(self, e: ev.MainError, at: _Arrival) -> None:
        self.decision["error"] = {"stage": text(e.stage), "shotid": text(e.shotid),
                                  "error": text(e.error), "t": at.when}
        self._mark("decision")

    def _ack(self, e: ev.Ack, at: _Arrival) -> None:
        self.decision["ack"] = {"command": text(e.command), "ok": e.ok,
                                "message": text(e.message), "by": text(at.origin),
                                "t": at.when}
        self._mark("decision")

    def _machine(self, name: str | None, state: str | None) -> None:
        name, state = text(name, 40), text(state, 40)
        if name is None or state is None:
            return
        known = name in self.machines or len(self.machines) < MAX_MACHINES
        if known and self.machines.get(name) != state:
            self.machines[name] = state
            self._mark("states")

    def _status(self, e: ev.MainStatus, at: _Arrival) -> None:
        if e.states is not None:
            for name, state in list(e.states.items())[:MAX_MACHINES]:
                self._machine(name, state)
        self._waiting(e.waiting)
        pending = text(e.pending, 40)
        if (pending, e.obsnum_skipped) != (self.decision["pending"],
                                           self.decision["obsnum_skipped"]):
            self.decision["pending"] = pending
            self.decision["obsnum_skipped"] = e.obsnum_skipped
            self._mark("decision")
        conditions = {"seeing": e.seeing, "transparency": e.transparency}
        if conditions != self.conditions:
            self.conditions = conditions
            self._mark("metrology")

    def _waiting(self, reasons: tuple[str, ...] | None) -> None:
        if reasons is None:
            return
        cleaned = [r for r in (text(item) for item in reasons[:MAX_REASONS]) if r]
        if cleaned != self.decision["waiting"]:
            self.decision["waiting"] = cleaned
            self._mark("decision")

    def _alarm(self, e: ev.AlarmNotice, at: _Arrival) -> None:
        if self.alarms.notice(e, at.when):
            self._mark("alarms")

    def _alarm_list(self, e: ev.AlarmList, at: _Arrival) -> None:
        if self.alarms.listing(e):
            self._mark("alarms")

    def _config_changed(self, e: ev.ConfigChanged, at: _Arrival) -> None:
        if e.changes is None:
            return
        for change in e.changes[:50]:
            if not (isinstance(change, list) and len(change) == 3):
                continue
            section, option, value = change
            if section == "run" and option in self.limits and isinstance(value, str):
                try:
                    number = float(value)
                except ValueError:
                    continue
                if math.isfinite(number):
                    self.limits[option] = number
                    self._mark("metrology")

    # -- the shot --------------------------------------------------------------------------
    def _tally(self, topic: str, e: ev.ShotStarted | ev.ShotEnded | ev.ShotStep) -> None:
        self.tally.take(topic, e)
        if len(self.tally.shots) > MAX_SHOTS:
            del self.tally.shots[:-MAX_SHOTS]
        self._mark("completed")

    def _shot_started(self, e: ev.ShotStarted, at: _Arrival) -> None:
        self._tally(topics.RUN_SHOT_RUN, e)
        self.shot = {"state": ev.RUNNING, "shotid": text(e.shotid, 40),
                     "track": text(e.track, 2), "observation": _int(e.observation),
                     "origin": text(at.origin), "phase": "starting", "started": at.when,
                     "exposure": 0, "n_exposures": self.settings.n_exposures,
                     "exposure_start": None, "seconds": None, "finished": None,
                     "outcome": None}
        self._mark("shot", "sky")

    def _running_shot(self, origin: str | None) -> dict[str, Any] | None:
        """The shot shown, if it runs and ``origin`` runs it."""
        shot = self.shot
        if shot is None or shot["origin"] != text(origin) or shot["state"] != ev.RUNNING:
            return None
        return shot

    def _shot_step(self, e: ev.ShotStep, at: _Arrival) -> None:
        if e.step == ev.EXP_HETDEX:
            self._tally(topics.RUN_SHOT_EXP_HETDEX, e)
        shot = self._running_shot(at.origin)
        if shot is None:
            return
        if e.step == ev.SETUP_TELESCOPE:
            shot["phase"] = "telescope set up" if e.finished else "setting up the telescope"
        else:
            number = _int(e.exposure)
            if number is None or number < 1:
                return
            shot["exposure"] = number
            shot["n_exposures"] = max(shot["n_exposures"], number)
            if e.finished:
                shot.update(phase=f"exposure {number} done", exposure_start=None)
            else:
                shot.update(phase="exposing", exposure_start=at.when,
                            seconds=None if e.seconds is None else float(e.seconds))
        self._mark("shot")

    def _shot_ended(self, e: ev.ShotEnded, at: _Arrival) -> None:
        self._tally(topics.RUN_SHOT_RUN, e)
        shot = self._running_shot(at.origin)
        if shot is None:
            return
        if e.failed:
            shot["state"] = ev.ABORTED_SHOT if e.aborted else ev.FAILED
            shot["outcome"] = text(e.exc_value) or text(e.exc_type)
        else:
            shot["state"], shot["outcome"] = ev.COMPLETED, None
        shot.update(phase="finished", finished=at.when, exposure_start=None)
        self._mark("sky", "shot")

    # -- the log ---------------------------------------------------------------------------
    def _log(self, event: Event, topic: str, received: float,
             decoded: InboundEvent | None) -> None:
        level = "info"
        if isinstance(decoded, ev.MainError) or (isinstance(decoded, ev.ShotEnded)
                                                 and decoded.failed):
            level = "error"
        elif isinstance(decoded, (ev.Ack, ev.SignIn)):
            level = "notice" if decoded.ok else "warning"
        elif isinstance(decoded, ev.StateChanged):
            level = "notice"
        elif isinstance(decoded, ev.AlarmNotice):
            level = "notice" if decoded.kind != "raised" else \
                "error" if decoded.severity in URGENT else "warning"
        self._n += 1
        item: dict[str, Any] = {"n": self._n, "topic": topic, "level": level,
                                "line": format_line(Event(topic, event.payload), received)}
        if topic == topics.RUN_SHOT_PROGRESS:
            self._fold(item, text(event.origin, MAX_TOPIC) or "")
        self.log.append(item)
        self._mark("log")

    def _fold(self, item: dict[str, Any], origin: str) -> None:
        """A shot's progress (every 30 s while it waits) updates its publisher's previous
        progress line instead of adding one: the item says which line it ``replaces``."""
        previous = self._progress.pop(origin, None)
        if previous is not None:
            for old in reversed(self.log):
                if old["n"] == previous:
                    self.log.remove(old)
                    item["replaces"] = previous
                    break
        self._progress[origin] = item["n"]
        while len(self._progress) > MAX_ORIGINS:
            self._progress.popitem(last=False)

    # -- panels ----------------------------------------------------------------------------
    def panel(self, name: str) -> dict[str, Any]:
        """The whole of one panel, as a page needs it after a (re)load."""
        if name == "clock":
            return self.clock.as_dict()
        if name == "states":
            return {"machines": dict(self.machines), "allowed_by": self.allowed_by,
                    "tcs_heartbeat": self.tcs_heartbeat, "main_loop": dict(self.main_loop)}
        if name == "metrology":
            return {**self._metrology_now(), "items": list(self.series)}
        if name == "shot":
            return {"shot": None if self.shot is None else dict(self.shot)}
        if name == "decision":
            return dict(self.decision)
        if name == "sky":
            running = self.shot["shotid"] if self.shot and self.shot["state"] == ev.RUNNING \
                else None
            chosen = self.decision["decision"]
            return {"running": running,
                    "chosen": chosen["shotid"] if chosen and chosen["started"] else None,
                    "completed": sorted({s.shotid for s in self.tally.of_state(ev.COMPLETED)})}
        if name == "pointing":
            return {"pointing": self.pointing}
        if name == "completed":
            return {"shots": [self._shot_row(s) for s in self.tally.shots]}
        if name == "log":
            return {"items": list(self.log)}
        if name == "bus":
            return self._bus()
        if name == "alarms":
            return self.alarms.panel()
        raise KeyError(name)

    def delta(self, name: str) -> dict[str, Any] | None:
        """For an append panel, what every page needs since the last call: the panel's state
        and only the new items (``delta: true``); None when every page must get the whole
        panel instead (the series was thinned). Pages drop items they already have (by
        ``n``), so a page that opened in between loses nothing and repeats nothing."""
        if name == "metrology":
            new = _after(self.series, self._series_sent)
            if new:
                self._series_sent = new[-1]["n"]
            if self._series_reset:
                self._series_reset = False
                return None
            return {**self._metrology_now(), "items": new, "delta": True}
        if name == "log":
            new = _after(self.log, self._log_sent)
            if new:
                self._log_sent = new[-1]["n"]
            return {"items": new, "delta": True}
        raise KeyError(name)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every panel (what a page gets when it opens)."""
        return {name: self.panel(name) for name in PANELS}

    def _metrology_now(self) -> dict[str, Any]:
        return {"conditions": dict(self.conditions), "limits": dict(self.limits),
                "guiders": [self.guiders[t] for t in self.settings.topics.metrology
                            if t in self.guiders]}

    @staticmethod
    def _shot_row(shot: Any) -> dict[str, Any]:
        return {"shotid": text(shot.shotid, 40), "track": text(shot.track, 2),
                "observation": shot.observation, "state": shot.state,
                "exposures": shot.exposures, "error": text(shot.error)}

    def _bus(self) -> dict[str, Any]:
        publishers = [{"origin": origin, "events": p.events, "last_seq": p.last_seq,
                       "gaps": p.gaps, "lost": p.lost, "restarts": p.restarts,
                       "last_seen": p.last_seen}
                      for origin, p in sorted(self.publishers.items())]
        return {"received": self.received, "unsequenced": self.unsequenced,
                "malformed": self.malformed, "publishers": publishers,
                "forgotten_publishers": self.forgotten_publishers,
                "gaps": sum(p.gaps for p in self.publishers.values()),
                "lost": sum(p.lost for p in self.publishers.values()),
                "restarts": sum(p.restarts for p in self.publishers.values()),
                "rates": self.rates(), "other_topics": self.other_topics}


def _after(items: deque[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """The items numbered above ``n`` (numbers increase: read from the end)."""
    found = []
    for item in reversed(items):
        if item["n"] <= n:
            break
        found.append(item)
    found.reverse()
    return found


#: What each kind of event changes (the others only count and go to the log).
_TAKERS: dict[type, Callable[[NightView, Any, _Arrival], None]] = {
    ev.TcsHeartbeat: NightView._heartbeat,
    ev.Pointing: NightView._pointing,
    ev.GuiderReading: NightView._metrology,
    ev.MainStatus: NightView._status,
    ev.StateReported: NightView._state_reported,
    ev.StateChanged: NightView._state_changed,
    ev.HetdexAllowedSet: NightView._hetdex_allowed,
    ev.MainStarted: NightView._started,
    ev.MainStopping: NightView._stopping,
    ev.Waiting: NightView._waiting_event,
    ev.Decision: NightView._decision,
    ev.NoShot: NightView._no_shot,
    ev.MainError: NightView._error,
    ev.Ack: NightView._ack,
    ev.ShotAck: NightView._ack,
    ev.ConfigChanged: NightView._config_changed,
    ev.AlarmNotice: NightView._alarm,
    ev.AlarmList: NightView._alarm_list,
    ev.ShotStarted: NightView._shot_started,
    ev.ShotStep: NightView._shot_step,
    ev.ShotEnded: NightView._shot_ended,
}

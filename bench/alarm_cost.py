"""What the alarm rules cost: the share of one core that ``ocd alarms watch`` spends on alarm
evaluation at the event rates of a 60x rehearsal.

Runs ``ocd rehearse --tcs sim --keep DIR`` (real processes: ``ocd run``, the TCS simulator, the
recorder, the alarm watcher) and reads its recording: every event as it was received, with its
real time of reception. Then, in this process, as fast as it can, the events are fed through

- the bare baseline: the envelope's decoding of each frame pair (``ocd.bus.envelope.decode``),
  which every subscriber does, alarms or not;
- the watcher's work: the same decoding, then what ``ocd alarms watch`` does with each event
  (its clock sample, the typed decoding, every rule's ``observe``), and ``evaluate`` of every
  rule at each tick (every ``TICK`` s of the recording's real time, as the watcher does).

CPU seconds (``time.process_time``) divided by the real seconds the recording spans give the
share of a core each needs at the rehearsal's rates; alarm evaluation is the difference.

    python bench/alarm_cost.py [--duration 20m] [--speed 60] [--repeat 5]

Target: alarm evaluation <= 5 % of a core. The watcher's sockets and its periodic list are
left out (the recorder's and the board's subscribers pay the same); they are not alarm rules.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ocd.app import alarm_watch  # noqa: E402
from ocd.app.alarm_watch import TICK, AlarmWatch  # noqa: E402
from ocd.bus.envelope import decode  # noqa: E402
from ocd.clock import MockClock  # noqa: E402
from ocd.config import load_config  # noqa: E402
from ocd.core import events as ev  # noqa: E402
from ocd.core.alarms import AlarmBook, default_rules  # noqa: E402
from ocd.shell.children import child_env  # noqa: E402
from ocd.shell.settings import tcs_topics  # noqa: E402

MOCK_START = dt.datetime(2017, 11, 19, 3, 0, tzinfo=dt.timezone.utc)


def record(duration: str, speed: float) -> list[tuple[list[bytes], float]]:
    """The frames and reception times of a fresh rehearsal's recording."""
    keep = Path(tempfile.mkdtemp(prefix="ocd-alarm-cost-")) / "night"
    try:
        result = subprocess.run([sys.executable, "-m", "ocd", "rehearse", "--tcs", "sim",
                                 "--speed", f"{speed:g}", "--duration", duration, "--keep",
                                 str(keep)], capture_output=True, text=True, env=child_env())
        if result.returncode != 0:
            raise SystemExit(f"ocd rehearse failed:\n{result.stderr}")
        with sqlite3.connect(keep / "rehearsal.db") as conn:
            rows = conn.execute("SELECT topic, payload, received FROM events ORDER BY id")
            return [([topic.encode(), payload.encode()], received)
                    for topic, payload, received in rows]
    finally:
        shutil.rmtree(keep.parent, ignore_errors=True)


def decoding_alone(events: list[tuple[list[bytes], float]]) -> float:
    began = time.process_time()
    for frames, _ in events:
        decode(frames)
    return time.process_time() - began


class Received:
    """The watcher's real clock, read at each event's reception as recorded (its clock sample
    compares an event's wire time with the time it arrives)."""

    def __init__(self) -> None:
        self.now = 0.0

    def time(self) -> float:
        return self.now


def with_alarms(events: list[tuple[list[bytes], float]], speed: float
                ) -> tuple[float, list[str]]:
    """CPU seconds of the decoding and the watcher's work; the alarm changes it made."""
    cfg = load_config(overrides=[("dates", "mock_time", MOCK_START.isoformat()),
                                 ("dates", "mock_speed", f"{speed:g}")])
    watch = AlarmWatch(cfg)  # its settings and its per-event code, without its sockets
    first = events[0][1]
    clock = MockClock(MOCK_START, speed)
    watch.clock = clock
    tcs = tcs_topics(cfg)
    book = AlarmBook(default_rules(watch.thresholds, MOCK_START.timestamp(), "mock"),
                     watch.escalate_after)
    changes: list[str] = []
    next_tick = first
    received_at = Received()
    alarm_watch.time = received_at  # type: ignore[assignment]
    began = time.process_time()
    for frames, received in events:
        received_at.now = received
        event = decode(frames)
        now = MOCK_START.timestamp() + (received - first) * speed
        sample = watch._clock_sample(event, now)
        if sample is not None:
            book.observe(sample, now)
        decoded = ev.decode(event.topic, event.payload, tcs)
        if decoded is not None:
            book.observe(decoded, now)
        if received >= next_tick:
            next_tick = received + TICK
            changes += [f"{c.kind} {c.payload['alarm']}" for c in book.evaluate(now)]
    return time.process_time() - began, changes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", default="20m", help="OCD-clock time rehearsed")
    parser.add_argument("--speed", type=float, default=60.0, help="mock clock speed")
    parser.add_argument("--repeat", type=int, default=5, help="passes over the recording")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; rehearsing "
          f"{args.duration} at {args.speed:g}x ...", flush=True)
    events = record(args.duration, args.speed)
    span = events[-1][1] - events[0][1]
    print(f"{len(events)} events over {span:.1f} real s ({len(events) / span:.0f}/s)")
    bare, watched = [], []
    changes: list[str] = []
    for _ in range(args.repeat):  # interleaved: a busy moment weighs on both alike
        bare.append(decoding_alone(events))
        seconds, changes = with_alarms(events, args.speed)
        watched.append(seconds)
    base, total = statistics.median(bare), statistics.median(watched)
    alarms = max(0.0, total - base)
    print(f"median of {args.repeat}: decoding alone {100 * base / span:.2f} % of a core; "
          f"decoding and the watcher's work {100 * total / span:.2f} % "
          f"(x{total / base:.2f} the decoding alone); alarm changes: "
          f"{', '.join(changes) or 'none'}")
    print(f"alarm evaluation: {100 * alarms / span:.2f} % of a core at the rehearsal's rates "
          f"(target <= 5 %: {'met' if alarms / span <= 0.05 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Per-publisher sequence tracking: how a subscriber learns that it lost events.

Every OCD publisher numbers its events from 1 (``__seq``) under a unique ``__origin``. A jump
forward is a gap (events lost, e.g. to a high-water mark or a dropped connection); a number
that does not increase is a restart of the publisher object. The first number seen from an
origin is accepted whatever it is: a subscriber that starts late has not lost anything.
Pure code, no sockets.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple

#: Publishers tracked at once. An origin is chosen by its sender, so the table is bounded: the
#: least recently heard origin is forgotten first (if it speaks again, its next event counts as
#: a first one). A night has a few dozen honest origins.
MAX_ORIGINS = 1024


class SeqKind(str, Enum):
    FIRST = "first"        # first event seen from this origin
    IN_ORDER = "in_order"  # the expected next number
    GAP = "gap"            # numbers were skipped: ``missing`` events lost
    RESTART = "restart"    # the number went back: the publisher restarted its count


class SeqCheck(NamedTuple):
    """What one event's sequence number says (a named tuple: one is made per event)."""

    kind: SeqKind
    origin: str
    seq: int
    expected: int | None = None  # the number that was due (None for FIRST)
    missing: int = 0             # events lost just before this one (GAP only)


_new_check = tuple.__new__


@dataclass
class OriginStats:
    """Counters for one publisher."""

    received: int = 0
    first_seq: int = 0
    last_seq: int = 0
    gaps: int = 0
    lost: int = 0
    restarts: int = 0


@dataclass
class SequenceTracker:
    """Counts gaps, lost events and restarts per origin, and in total.

    A publisher numbers all its events, whatever their topic, so only a subscriber that
    receives every topic of that publisher can tell a gap from an event it filtered out: the
    caller says so with ``complete``. Otherwise forward jumps are expected and only restarts
    are detected. At most ``capacity`` origins are kept (least recently heard forgotten
    first); the totals keep counting what forgotten origins lost.
    """

    origins: OrderedDict[str, OriginStats] = field(default_factory=OrderedDict)
    capacity: int = MAX_ORIGINS
    gaps: int = 0
    lost: int = 0
    restarts: int = 0
    forgotten: int = 0  # origins dropped from the table to keep it bounded

    def observe(self, origin: str, seq: int, complete: bool = True) -> SeqCheck:
        stats = self.origins.get(origin)
        if stats is None:
            self.origins[origin] = OriginStats(received=1, first_seq=seq, last_seq=seq)
            if len(self.origins) > self.capacity:
                self.origins.popitem(last=False)
                self.forgotten += 1
            return SeqCheck(SeqKind.FIRST, origin, seq)
        self.origins.move_to_end(origin)
        stats.received += 1
        expected = stats.last_seq + 1
        stats.last_seq = seq
        if seq == expected:  # the common case: made without the named tuple's __new__
            return _new_check(SeqCheck, (SeqKind.IN_ORDER, origin, seq, expected, 0))
        if seq > expected and not complete:
            return SeqCheck(SeqKind.IN_ORDER, origin, seq, seq)
        if seq > expected:
            missing = seq - expected
            stats.gaps += 1
            stats.lost += missing
            self.gaps += 1
            self.lost += missing
            return SeqCheck(SeqKind.GAP, origin, seq, expected, missing)
        stats.restarts += 1
        stats.first_seq = seq
        self.restarts += 1
        return SeqCheck(SeqKind.RESTART, origin, seq, expected)

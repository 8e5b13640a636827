"""The journal of the shot a main loop runs: what survives a ``kill -9``.

Before a shot's start event goes out, ``ocd run`` writes the shot, its track, its observation
number and the publisher that announces it to ``<shot file>.running``; once the exposures are
done it marks the entry completed (the decrement of ``n_obs`` is owed) before writing the
shot file back, then marks ``n_obs`` written, and removes the entry after the finish event.
When the shot file cannot be written (a full disk), the entry stays, saying the decrement is
owed, until a retry writes it. Every write is durable and atomic
(:func:`ocd.shots.store.atomic_write`; in place on a full disk, see
:meth:`ShotJournal.complete`). A main loop that starts and finds an entry knows that its
predecessor died with that shot running: it publishes the shot's finish (``error: true``,
``exc_type: "Interrupted"``; or ``error: false`` when the data were taken), so monitors stop
waiting, and writes an owed decrement. The observation number stays used. A ``kill -9`` in the
milliseconds between the shot file's write-back and the mark "written" would count the visit
twice on the next start: the one window left, far shorter than a shot.

Why beside the shot file rather than in the observation-number database: the journal is part
of the shot list's bookkeeping (it says whether a decrement of ``n_obs`` happened), it must be
written wherever the shot file is, with either database backend, and ``vl_obsnum`` is a table
whose schema OCD shares with HET and does not change.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ocd.bus.envelope import dumps, loads
from ocd.core.events import shot_ended_payload
from ocd.errors import OcdError
from ocd.shots.locks import real_file
from ocd.shots.store import atomic_write, remove_durably

log = logging.getLogger(__name__)

#: What the journal's name adds to the shot file's.
SUFFIX = ".running"


@dataclass(frozen=True)
class JournalEntry:
    """A shot as it was started."""

    shot: dict[str, Any]   # the shot's keys (``Shot.as_dict()``)
    track: str             # E or W
    observation: int
    origin: str            # ``__origin`` of the publisher of its events
    started: str           # OCD-clock ISO time of the start
    completed: bool = False  # the exposures are done: n_obs must go down by one
    n_obs_written: bool = False  # ... and it did (the shot file was written back)
    finished: bool = False  # its finish is published (kept only while n_obs is owed)

    def as_dict(self) -> dict[str, Any]:
        return {"shot": self.shot, "track": self.track, "observation": self.observation,
                "origin": self.origin, "started": self.started, "completed": self.completed,
                "n_obs_written": self.n_obs_written, "finished": self.finished}

    @property
    def n_obs_owed(self) -> bool:
        """The shot's data are taken but its ``n_obs`` is not written yet."""
        return self.completed and not self.n_obs_written

    @classmethod
    def from_dict(cls, data: Any) -> JournalEntry:
        """ValueError unless ``data`` is what :meth:`as_dict` writes."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        try:
            entry = cls(shot=data["shot"], track=data["track"],
                        observation=data["observation"], origin=data["origin"],
                        started=data["started"], completed=data["completed"],
                        # a journal of an older OCD marked completed once n_obs was written
                        n_obs_written=data["n_obs_written"] if "n_obs_written" in data
                        else data["completed"], finished=data.get("finished") is True)
        except KeyError as exc:
            raise ValueError(f"no {exc.args[0]!r}") from None
        if not (isinstance(entry.shot, dict) and isinstance(entry.shot.get("shotid"), str)
                and entry.track in ("E", "W") and type(entry.observation) is int
                and isinstance(entry.origin, str) and isinstance(entry.started, str)
                and isinstance(entry.completed, bool)
                and isinstance(entry.n_obs_written, bool)):
            raise ValueError("a field has the wrong type")
        return entry


class ShotJournal:
    """The journal file of one shot file."""

    def __init__(self, shot_file: Path) -> None:
        real = real_file(shot_file)  # beside the list itself, whichever name it was given
        self.path = real.with_name(real.name + SUFFIX)

    def begin(self, entry: JournalEntry) -> None:
        """Record a shot about to start (before its start event is published)."""
        atomic_write(self.path, dumps(entry.as_dict()), "the journal of the running shot")

    def complete(self, entry: JournalEntry, n_obs_written: bool = True) -> JournalEntry:
        """Record that the shot's data are taken (``n_obs`` owed), or that its ``n_obs`` is
        written back too; returns the entry as recorded. On a full disk the entry is
        rewritten in place: it only gets shorter after :meth:`begin` (each ``false`` that
        becomes ``true``), so the space it needs was taken when the shot began."""
        completed = JournalEntry(**{**entry.as_dict(), "completed": True,
                                    "n_obs_written": n_obs_written})
        self._update(completed)
        return completed

    def finish_owing(self, entry: JournalEntry) -> None:
        """The shot's finish is published while its ``n_obs`` is still owed: the entry stays
        (a restart writes the decrement without publishing the finish again)."""
        self._update(JournalEntry(**{**entry.as_dict(), "finished": True}))

    def _update(self, entry: JournalEntry) -> None:
        data = dumps(entry.as_dict())
        try:
            atomic_write(self.path, data, "the journal of the running shot")
        except OcdError:
            if not self._rewrite_in_place(data):
                raise

    def _rewrite_in_place(self, data: bytes) -> bool:
        """Overwrite the journal with ``data`` padded with spaces to its present size (JSON
        ignores them), without a new block; False when it does not fit or cannot be done."""
        try:
            with open(self.path, "r+b") as stream:
                size = os.fstat(stream.fileno()).st_size
                if len(data) > size:
                    return False
                stream.write(data.ljust(size))
                stream.flush()
                os.fsync(stream.fileno())
        except OSError:
            return False
        return True

    def end(self) -> None:
        """The shot's finish event is published: nothing to recover any more."""
        try:
            remove_durably(self.path)
        except OSError as exc:
            raise OcdError(f"{self.path}: cannot remove the journal of the finished shot: "
                           f"{exc.strerror}") from None

    def read(self) -> JournalEntry | None:
        """The entry of a shot that never finished, or None. A journal that cannot be read
        (a damaged disk; never a crash, writes are atomic) is reported and set aside."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise OcdError(f"{self.path}: cannot read the journal of the running shot: "
                           f"{exc.strerror}") from None
        try:
            return JournalEntry.from_dict(loads(raw))
        except ValueError as exc:
            aside = self.path.with_name(self.path.name + ".unreadable")
            log.error("%s is not a journal OCD wrote (%s): moved to %s; if a shot was running "
                      "when ocd run stopped, its finish was never published", self.path, exc,
                      aside)
            self.path.replace(aside)
            return None


def interrupted_finish(entry: JournalEntry) -> dict[str, Any]:
    """The ``ocd.run_shot.run`` finish that a restarted main loop publishes for ``entry``."""
    base = {**entry.shot, "observation": entry.observation, "obs_track": entry.track}
    if entry.completed:  # the data are taken (n_obs written, or owed: the next loop writes
        # it): the shot is done, only its finish was lost
        return shot_ended_payload(base, error=False, shot_origin=entry.origin)
    return shot_ended_payload(
        base, error=True, exc_type="Interrupted",
        exc_value=f"ocd run stopped without finishing the shot (started {entry.started}, "
                  "found at the next start): its data are incomplete, the observation number "
                  "stays used, n_obs is unchanged", shot_origin=entry.origin)

"""Where a main loop's shot list lives, and what a shot's life does to it.

A main loop schedules from a :class:`~ocd.shots.store.ShotStore`; the shot it starts is
noted (:meth:`ShotBook.began`), a completed one counts one visit (:meth:`ShotBook.completed`:
``n_obs`` down by exactly one, written back), and its end closes the note
(:meth:`ShotBook.ended`). ``ocd run`` keeps the shot file itself (:class:`ShotFile`: journaled
for ``kill -9``, written under the file's lock, reloaded when someone else rewrote it);
``ocd simulate`` keeps a copy (:class:`ShotCopy`), so that a simulated night never touches the
real list.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from pathlib import Path

from ocd.shots.journal import JournalEntry, ShotJournal
from ocd.shots.store import ShotStore, decrement_file, file_stamp, load_shots

log = logging.getLogger(__name__)


class ShotBook(ABC):
    """The shot list a main loop observes from."""

    store: ShotStore

    @property
    @abstractmethod
    def name(self) -> str:
        """The list, for messages (its file)."""

    @abstractmethod
    def reload_if_changed(self) -> None:
        """Pick up a list rewritten by someone else (a shot run by hand, an edit)."""

    @abstractmethod
    def began(self, entry: JournalEntry) -> None:
        """The shot of ``entry`` is about to publish its start."""

    @abstractmethod
    def completed(self, entry: JournalEntry) -> None:
        """The shot of ``entry`` took its data: count one visit (``n_obs`` - 1), written
        back; :class:`~ocd.errors.OcdError` if it cannot be (the shot still succeeded)."""

    @abstractmethod
    def ended(self) -> None:
        """The shot's finish is published (whatever its outcome)."""

    def owed(self) -> list[str]:
        """The shots whose data are taken but whose ``n_obs`` is not written yet."""
        return []

    def retry_owed(self) -> str | None:
        """Write an owed decrement; its shot, or None when none was owed;
        :class:`~ocd.errors.OcdError` while it still cannot be written."""
        return None

    def schedulable(self) -> ShotStore:
        """The list the scheduler chooses from: without a shot whose decrement is owed."""
        return self.store


class ShotFile(ShotBook):
    """The shot file of ``ocd run``: written back under its lock after each completed shot,
    the running shot journaled beside it (:mod:`ocd.shots.journal`)."""

    def __init__(self, path: Path, store: ShotStore | None = None) -> None:
        self.path = path
        self.store = load_shots(path) if store is None else store
        self.stamp = file_stamp(path)
        self.journal = ShotJournal(path)
        #: A completed shot whose decrement could not be written (kept in the journal).
        self.debt: JournalEntry | None = None

    @property
    def name(self) -> str:
        return str(self.path)

    def switch(self, path: Path, store: ShotStore) -> None:
        """Follow another shot file from now on (``ocd config send`` of ``[shots]
        shot_file``), already read into ``store``. The journal stays beside the first file:
        a shot running during the change closes its entry where it opened it."""
        self.path, self.store, self.stamp = path, store, file_stamp(path)

    def reload_if_changed(self) -> None:
        stamp = file_stamp(self.path)
        if stamp != self.stamp:
            self.store = load_shots(self.path)
            self.stamp = stamp
            log.info("shot file %s changed on disk: reloaded", self.path)

    def began(self, entry: JournalEntry) -> None:
        self.journal.begin(entry)

    def completed(self, entry: JournalEntry) -> None:
        # owed before the shot file is touched: in memory, then in the journal
        self.debt = JournalEntry(**{**entry.as_dict(), "completed": True})
        self.journal.complete(entry, n_obs_written=False)
        self._decrement(self.debt)

    def _decrement(self, owed: JournalEntry) -> None:
        # under the file's lock, from the file as it is now: a shot run by hand meanwhile
        # keeps its decrement
        self.store = decrement_file(self.path, str(owed.shot["shotid"]))
        self.stamp = file_stamp(self.path)
        self.debt = None
        self.journal.complete(owed, n_obs_written=True)

    def ended(self) -> None:
        if self.debt is None:
            self.journal.end()
        else:  # an owed decrement stays in the journal until written
            self.debt = JournalEntry(**{**self.debt.as_dict(), "finished": True})
            self.journal.finish_owing(self.debt)

    def owe(self, entry: JournalEntry) -> None:
        """A journal entry found at start whose decrement was never written: write it (now,
        or by :meth:`retry_owed`)."""
        self.debt = entry

    def owed(self) -> list[str]:
        return [] if self.debt is None else [str(self.debt.shot["shotid"])]

    def retry_owed(self) -> str | None:
        debt = self.debt
        if debt is None:
            return None
        self._decrement(debt)
        self.journal.end()  # its finish is out: the retry runs between shots
        log.info("shot %s: n_obs written at last", debt.shot["shotid"])
        return str(debt.shot["shotid"])

    def schedulable(self) -> ShotStore:
        return self.store if self.debt is None else self.store.excluding(self.owed())


class ShotCopy(ShotBook):
    """A copy of a shot list in memory (``ocd simulate``): the same exactly-once decrement
    (:meth:`ShotStore.decrement`), written back to ``path`` by :meth:`write` (never to the
    list it was read from)."""

    def __init__(self, store: ShotStore, path: Path | None = None) -> None:
        self.store = store
        self.path = path

    @property
    def name(self) -> str:
        return f"the copy of {self.store.source}"

    def reload_if_changed(self) -> None:
        pass  # nobody else writes the copy

    def began(self, entry: JournalEntry) -> None:
        pass  # no process can be killed in a simulation: nothing to journal

    def completed(self, entry: JournalEntry) -> None:
        self.store.decrement(str(entry.shot["shotid"]))

    def ended(self) -> None:
        pass

    def write(self) -> Path | None:
        """Write the list as it is now to the copy's file, if it has one (atomically)."""
        return None if self.path is None else self.store.write(self.path)

"""``ocd rehearse``: a dress rehearsal of a night in one command (:mod:`.command`), from its
plan (:mod:`.plan`), in its private directory (:mod:`.layout`), under its supervisor
(:mod:`.supervisor`)."""

from ocd.app.rehearsal.command import rehearse
from ocd.app.rehearsal.plan import parse_duration
from ocd.app.rehearsal.supervisor import RehearsalFailed

__all__ = ["RehearsalFailed", "parse_duration", "rehearse"]

"""The topic filters a process subscribes with.

Filters are prefixes: the topics a command needs, plus extras (``[topics] extra`` and each
``-t``); ``-a no`` keeps only the extras.
"""

from __future__ import annotations

from collections.abc import Iterable

from ocd.config import Config
from ocd.errors import UsageError


def subscription_topics(needed: Iterable[str], extras: Iterable[str],
                        all_needed: bool = True) -> list[str]:
    """The filters to subscribe with, each once; an empty result is a usage error."""
    topics = list(dict.fromkeys([*(needed if all_needed else ()), *extras]))
    if not topics:
        raise UsageError("no topic to subscribe to: with -a no, give at least one -t TOPIC")
    return topics


def passes_whole_system(prefixes: Iterable[str], system: str) -> bool:
    """Whether filters ``prefixes`` pass every topic of ``system`` (``"ocd"``, ``"tcs"``): only
    then is a jump in a publisher's sequence a loss rather than an event filtered out."""
    whole = f"{system}."
    return any(whole.startswith(prefix) for prefix in prefixes)


def extra_topics(cfg: Config, cli_topics: Iterable[str] | None) -> list[str]:
    """``[topics] extra`` followed by the command line's ``-t`` values."""
    return [*(cfg.get_list("topics", "extra") or []), *(cli_topics or [])]

"""Topic names and the topic filters a command subscribes with.

Filters are prefixes: the topics a command needs, plus extras (``[topics] extra`` and each
``-t``); ``-a no`` keeps only the extras.
"""

from __future__ import annotations

from collections.abc import Iterable

from ocd.config import Config
from ocd.errors import UsageError

OCD_PREFIX = "ocd."
RUN_SHOT_RUN = "ocd.run_shot.run"
RUN_SHOT_SETUP_TELESCOPE = "ocd.run_shot.setup_telescope"
RUN_SHOT_EXP_HETDEX = "ocd.run_shot.exp_hetdex"
STATES_CHANGE = "ocd.states.change"
STATES_STATE = "ocd.states.state"
HEARTBEAT_ENQUIRY = "ocd.heartbeat.enquiry"
HEARTBEAT_REPLY = "ocd.heartbeat.reply"


def tcs_topics(cfg: Config) -> list[str]:
    """The TCS topics OCD follows: heartbeat, pointing, guider metrology (``[topics]``)."""
    return [cfg.get("topics", "tcs_heartbeat"), cfg.get("topics", "tcs_ra_dec"),
            *cfg.get("topics", "metrology")]


def subscription_topics(needed: Iterable[str], extras: Iterable[str],
                        all_needed: bool = True) -> list[str]:
    """The filters to subscribe with, each once; an empty result is a usage error."""
    topics = list(dict.fromkeys([*(needed if all_needed else ()), *extras]))
    if not topics:
        raise UsageError("no topic to subscribe to: with -a no, give at least one -t TOPIC")
    return topics


def extra_topics(cfg: Config, cli_topics: Iterable[str] | None) -> list[str]:
    """``[topics] extra`` followed by the command line's ``-t`` values."""
    return [*(cfg.get("topics", "extra") or []), *(cli_topics or [])]

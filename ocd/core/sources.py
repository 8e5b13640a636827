"""Topics bound to their sources: which kind of publisher may send which topics.

A process subscribes to each kind of publisher on a socket of its own, so it knows where every
frame came from, whatever the frame claims in ``__origin``. A frame whose topic its source may
not send is dropped (and counted): a forged ``ocd.command.abort`` on the TCS address, a forged
``ocd.run_shot.run`` on a commander's address, a TCS heartbeat on an OCD address all go
nowhere. Always on, with or without CURVE (doc/security.md).

The sources are the ``[urls]`` options their addresses come from.
"""

from __future__ import annotations

from ocd.core import topics

#: The TCS event stream, ``[urls] event_urls``.
TCS = "event_urls"
#: A recorded night replayed instead of the TCS, ``[urls] ocd_db_replay``.
REPLAY = "ocd_db_replay"
#: ``ocd run``'s own events, ``[urls] ocd_main_loop``.
MAIN_LOOP = "ocd_main_loop"
#: Shots (``ocd run``'s runner, ``ocd run_shot -e``), ``[urls] ocd_run_shot``.
RUN_SHOT = "ocd_run_shot"
#: The commanders (``ocd allow_hetdex``, ``ocd abort``, ``ocd config send``, ``ocd ping``, the
#: board), ``[urls] ocd_allow_hetdex``.
COMMANDERS = "ocd_allow_hetdex"
#: The alarm watcher (``ocd alarms watch``), ``[urls] ocd_alarms``.
ALARMS = "ocd_alarms"
#: Addresses given by hand (``ocd listen --urls``): anything may come from them, and nothing
#: that acts on events subscribes to such a source.
ANY = "any"

#: Sources whose publishers are OCD processes (members of the bus when CURVE is on).
OCD_SOURCES = (MAIN_LOOP, RUN_SHOT, COMMANDERS, REPLAY, ALARMS)
#: Sources of TCS events.
TCS_SOURCES = (TCS, REPLAY)
#: Sources whose publishers come and go or restart (one-shot commands, shots run by hand, a
#: main loop started again): a subscriber retries them without back-off, so that it is back
#: within ``[bus] reconnect_interval`` of a new bind and gets the publisher's first events.
STEADY_SOURCES = (COMMANDERS, RUN_SHOT, MAIN_LOOP, ALARMS)

def source_accepts(source: str, topic: str) -> bool:
    """Whether ``topic`` may come from a publisher of ``source``.

    Commands only from the commanders; shot events only from the shot addresses; the main
    loop's events and states only from its address; alarms only from the alarm watcher's;
    heartbeats and the ``ocd.`` topics of no kind OCD acts on from any OCD address; TCS topics
    (everything outside ``ocd.``) only from the TCS or a replay."""
    if source == ANY:
        return True
    if not topic.startswith(topics.OCD_PREFIX):
        return source in TCS_SOURCES
    if topic.startswith(topics.COMMAND_PREFIX):
        return source == COMMANDERS
    if topic.startswith(topics.RUN_SHOT_PREFIX):
        return source == RUN_SHOT
    if topic.startswith((topics.MAIN_LOOP_PREFIX, topics.STATES_PREFIX)):
        return source == MAIN_LOOP
    if topic.startswith(topics.ALARM_PREFIX):
        return source == ALARMS
    return source in OCD_SOURCES

"""Every topic name OCD publishes or follows, defined once.

OCD's own topics are fixed (they are the contract with GUIs, each with a JSON Schema in
``ocd/schemas``); the TCS topics are configurable (``[topics]``), so :class:`TcsTopics` holds
their defaults and the configured names travel as one value. Prefixes end with a dot: a
subscription to a prefix receives every topic under it.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Every OCD topic starts with this.
OCD_PREFIX = "ocd."

# -- the main loop (``ocd run``), on [urls] ocd_main_loop ---------------------------------------
MAIN_LOOP_PREFIX = "ocd.main_loop."
MAIN_STARTED = "ocd.main_loop.started"
MAIN_STATUS = "ocd.main_loop.status"
MAIN_WAITING = "ocd.main_loop.waiting"
MAIN_DECISION = "ocd.main_loop.decision"
MAIN_NO_SHOT = "ocd.main_loop.no_shot"
MAIN_ERROR = "ocd.main_loop.error"
MAIN_ACK = "ocd.main_loop.ack"
MAIN_CONFIG_CHANGED = "ocd.main_loop.config_changed"
MAIN_STOPPING = "ocd.main_loop.stopping"

# -- the state machines, on [urls] ocd_main_loop -----------------------------------------------
STATES_PREFIX = "ocd.states."
STATES_CHANGE = "ocd.states.change"
STATES_STATE = "ocd.states.state"
STATES_HETDEX_ALLOWED = "ocd.states.hetdex_allowed"

# -- a shot (``ocd run``'s runner or ``ocd run_shot -e``), on [urls] ocd_run_shot --------------
RUN_SHOT_PREFIX = "ocd.run_shot."
RUN_SHOT_RUN = "ocd.run_shot.run"
RUN_SHOT_SETUP_TELESCOPE = "ocd.run_shot.setup_telescope"
RUN_SHOT_EXP_HETDEX = "ocd.run_shot.exp_hetdex"
RUN_SHOT_PROGRESS = "ocd.run_shot.progress"
RUN_SHOT_ACK = "ocd.run_shot.ack"

# -- one-shot commands (``ocd allow_hetdex``, ``ocd abort``, ``ocd config send``) ---------------
COMMAND_PREFIX = "ocd.command."
COMMAND_ALLOW = "ocd.command.allow_hetdex"
COMMAND_ABORT = "ocd.command.abort"
COMMAND_CONFIG = "ocd.command.config_send"

# -- the board (``ocd board``), on its [urls] ocd_allow_hetdex address -------------------------
BOARD_PREFIX = "ocd.board."
BOARD_SIGN_IN = "ocd.board.sign_in"

# -- the alarm watcher (``ocd alarms watch``), on [urls] ocd_alarms -----------------------------
ALARM_PREFIX = "ocd.alarm."
ALARM_RAISED = "ocd.alarm.raised"
ALARM_CLEARED = "ocd.alarm.cleared"
ALARM_ACKNOWLEDGED = "ocd.alarm.acknowledged"
ALARM_MUTED = "ocd.alarm.muted"
ALARM_LIST = "ocd.alarm.list"
ALARM_ACK = "ocd.alarm.ack"
COMMAND_ALARM_ACK = "ocd.command.alarm_ack"
COMMAND_ALARM_MUTE = "ocd.command.alarm_mute"

#: Topics that acknowledge a one-shot command, matched by its ``id``.
ACK_TOPICS = (MAIN_ACK, RUN_SHOT_ACK, ALARM_ACK)

# -- the application heartbeat, on every OCD address -------------------------------------------
HEARTBEAT_PREFIX = "ocd.heartbeat."
HEARTBEAT_ENQUIRY = "ocd.heartbeat.enquiry"
HEARTBEAT_REPLY = "ocd.heartbeat.reply"

# -- the TCS ------------------------------------------------------------------------------------
TCS_HEARTBEAT = "tcs.receiver.heartbeat"
TCS_RA_DEC = "tcs.root.ra_dec"
GUIDER_METROLOGY = ("pas.Guider1.metrology_data", "pas.Guider2.metrology_data")


@dataclass(frozen=True)
class TcsTopics:
    """The TCS topics OCD follows, as configured in ``[topics]``: shared by the main loop, the
    simulator and the monitors so they always agree on what a heartbeat, a pointing and a
    guider reading are called."""

    heartbeat: str = TCS_HEARTBEAT
    ra_dec: str = TCS_RA_DEC
    metrology: tuple[str, ...] = GUIDER_METROLOGY

    def all(self) -> list[str]:
        return [self.heartbeat, self.ra_dec, *self.metrology]


#: What ``ocd run`` always subscribes to from the OCD processes, beside the TCS topics (the
#: replies: another main loop's greeting on an address it subscribes to, one main loop per bus).
MAIN_LOOP_INPUTS = (RUN_SHOT_PREFIX, COMMAND_PREFIX, HEARTBEAT_ENQUIRY, HEARTBEAT_REPLY)

"""``ocd alarms watch|list|ack|mute``: what needs a person (doc/alarms.md)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ocd.config import Config

NAME = "alarms"
HELP = "alarms: watch the bus for what needs a person, list them, ack or mute one"
DESCRIPTION = """\
watch  run the alarm rules on every OCD address and the TCS; publish ocd.alarm.* on
       [urls] ocd_alarms (index [alarms] n_ocd_alarms) until Ctrl+C or SIGTERM
list   print the alarms the running watcher holds (its next ocd.alarm.list)
ack    acknowledge alarm ID: recorded with your user name; a critical alarm is then not
       raised again
mute   silence alarm ID for --for (e.g. 30m, 2h); raised again then if it still holds
ack and mute exit 0 only once the watcher has acknowledged the command."""

NESTED = True


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("watch", parents=[common], help="run the alarm rules on the bus")
    listing = actions.add_parser("list", parents=[common], help="print the alarms raised")
    ack = actions.add_parser("ack", parents=[common], help="acknowledge an alarm")
    mute = actions.add_parser("mute", parents=[common], help="mute an alarm for a while")
    for command in (ack, mute):
        command.add_argument("alarm", metavar="ID", help="the alarm, e.g. tcs_heartbeat")
    mute.add_argument("--for", dest="duration", required=True, metavar="DURATION",
                      help="how long: 30m, 2h, 90s, or minutes")
    for command in (listing, ack, mute):
        command.add_argument("--timeout", type=float, metavar="SECONDS",
                             help="how long to wait for the watcher (default: [allow_hetdex] "
                                  "timeout; for list, twice [alarms] list_interval)")


def run(args: argparse.Namespace, cfg: Config) -> int:
    from ocd.app import alarms_tool
    from ocd.app.alarm_watch import run_watch

    if args.action == "watch":
        return run_watch(cfg)
    if args.action == "list":
        return alarms_tool.list_alarms(cfg, args.timeout)
    if args.action == "ack":
        return alarms_tool.acknowledge(cfg, args.alarm, args.timeout)
    return alarms_tool.mute(cfg, args.alarm, args.duration, args.timeout)

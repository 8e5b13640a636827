"""Helpers for the bus tests: configuration files, raw pyzmq peers, and OCD peer processes.

Run as a script (``python tests/bus_helpers.py respond ...``) it is a real separate process:
a fake main loop that answers heartbeats and acknowledges a command, or a publisher for one
service. Tests start it with the environment of ``conftest.ocd_env``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def free_tcp_url() -> str:
    """A loopback URL whose port was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{probe.getsockname()[1]}"


def write_config(directory: Path, text: str = "", name: str = "bus.cfg", **urls: str) -> Path:
    """A user configuration with every OCD service on ipc sockets inside ``directory``
    (nothing shared with other tests or a real OCD), ``[urls]`` options replaced by ``urls``,
    plus ``text`` (other sections) appended."""
    options = {
        "ocd_main_loop": "ipc://sockets/main_loop.ipc",
        "ocd_run_shot": "ipc://sockets/run_shot.ipc",
        "ocd_allow_hetdex": "ipc://sockets/allow_hetdex.ipc",
        "event_urls": "ipc://sockets/tcs.ipc",
        **urls,
    }
    path = directory / name
    path.write_text("[urls]\n" + "".join(f"{k} = {v}\n" for k, v in options.items())
                    + "[bus]\nreconnect_interval_max = 0.2\n" + text)
    return path


def helper_process(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """Start this file as a process; it prints ``ready`` once bound."""
    return subprocess.Popen([sys.executable, str(Path(__file__)), *args], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def start_ocd(*args: str, env: dict[str, str], cwd: Path | None = None
              ) -> subprocess.Popen[str]:
    """``python -m ocd ARGS`` in the background, pipes on stdin, stdout and stderr."""
    return subprocess.Popen([sys.executable, "-m", "ocd", *args], env=env, cwd=cwd,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for_line(stream, needle: str, timeout: float = 20) -> str:
    """Read ``stream`` line by line until one contains ``needle`` (a process's own report,
    e.g. that it has bound its socket)."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        if needle in line:
            return line
    raise AssertionError(f"{needle!r} not seen; got {''.join(seen)!r}")


def stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    if process.poll() is None:
        process.terminate()
    try:
        return process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()


def tcs_payload(topic: str, **data: object) -> dict[str, object]:
    """An event as the TCS sends it: TCS metadata only, no OCD keys."""
    system, source, key = topic.split(".")
    now = time.time()
    return {"__system": system, "__source": source, "__key": key, "__data_time": now,
            "__wire_time": now, "__data": False, **data}


def raw_frames(topic: str, payload: dict[str, object]) -> list[bytes]:
    """Frames built with nothing but the standard library (not OCD's encoder)."""
    return [topic.encode(), json.dumps(payload).encode()]


# -- the script side -------------------------------------------------------------------------------

async def _respond(args: argparse.Namespace) -> None:
    import zmq.asyncio

    from ocd.bus import SERVICES, HeartbeatResponder, Publisher, Subscriber, connect_urls
    from ocd.clock import clock_from_config
    from ocd.config import load_config

    cfg = load_config([args.config])
    ctx = zmq.asyncio.Context()
    publisher = Publisher.for_service(ctx, cfg, args.service, args.section,
                                      clock=clock_from_config(cfg))
    topics = ["ocd.heartbeat.enquiry"] + ([args.command] if args.command else [])
    subscriber = Subscriber(ctx, connect_urls(cfg, SERVICES), topics)
    responder = HeartbeatResponder(publisher)

    async def on_event(event):
        if event.topic == args.command and args.ack:
            await publisher.publish(args.ack, {"received": event.data,
                                               "command_seq": event.seq})

    print("ready", publisher.url, flush=True)
    await responder.serve(subscriber, on_event)


async def _publish(args: argparse.Namespace) -> None:
    import zmq.asyncio

    from ocd.bus import Publisher
    from ocd.clock import clock_from_config
    from ocd.config import load_config

    cfg = load_config([args.config])
    ctx = zmq.asyncio.Context()
    with Publisher.for_service(ctx, cfg, args.service, args.section, name=args.name,
                               clock=clock_from_config(cfg)) as publisher:
        print("ready", publisher.url, flush=True)
        if args.wait_stdin:  # so a test can hold several publishers bound at once
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        await publisher.wait_for_subscriber(args.topic, 30)
        for i in range(args.count):
            await publisher.publish(args.topic, {"i": i, "url": publisher.url})
        print("done", flush=True)
    ctx.term()


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what", required=True)
    respond = sub.add_parser("respond")
    respond.add_argument("--config", required=True)
    respond.add_argument("--service", default="ocd_main_loop")
    respond.add_argument("--section", default="run")
    respond.add_argument("--command", help="topic of the command to acknowledge")
    respond.add_argument("--ack", help="topic of the acknowledgement (none: never ack)")
    publish = sub.add_parser("publish")
    publish.add_argument("--config", required=True)
    publish.add_argument("--service", required=True)
    publish.add_argument("--section", required=True)
    publish.add_argument("--name")
    publish.add_argument("--topic", required=True)
    publish.add_argument("--count", type=int, default=1)
    publish.add_argument("--wait-stdin", action="store_true",
                         help="after binding, wait for a line on stdin before publishing")
    args = parser.parse_args()
    sys.path.insert(0, os.fspath(ROOT))
    asyncio.run(_respond(args) if args.what == "respond" else _publish(args))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()

"""``ocd listen`` and ``ocd ping`` as a user runs them: real processes, real sockets, and
publishers that are not OCD code."""

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time

import pytest
import zmq
from bus_helpers import (
    free_tcp_url,
    helper_process,
    raw_frames,
    start_ocd,
    stop,
    tcs_payload,
    wait_for_line,
    write_config,
)
from conftest import ocd_env

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def raw_publisher():
    """A bare pyzmq XPUB: the TCS, or any foreign publisher speaking the wire format."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.XPUB)
    url = free_tcp_url()
    sock.bind(url)
    sock.rcvtimeo = 20000
    yield sock, url
    ctx.destroy(linger=0)


def wait_subscribed(sock, *prefixes: bytes) -> set[bytes]:
    """Read subscription notices until each of ``prefixes`` starts one of them (the listener is
    connected, and has subscribed to each)."""
    seen: set[bytes] = set()
    while not all(any(notice.startswith(b"\x01" + prefix) for notice in seen)
                  for prefix in prefixes):
        seen.add(sock.recv())
    return seen


def finish(process, timeout=20):
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def test_listen_prints_events_of_a_foreign_publisher(raw_publisher):
    sock, url = raw_publisher
    listen = start_ocd("listen", "--urls", url, "--count", "2", "--all", env=ocd_env())
    wait_subscribed(sock, b"tcs.root.ra_dec")
    pointing = tcs_payload("tcs.root.ra_dec", ra=12.401733, dec=56.1464)
    pointing["__data_time"] = 1511028000.5  # 2017-11-18 18:00:00.5 UTC
    sock.send_multipart(raw_frames("tcs.root.ra_dec", pointing))
    sock.send_multipart(raw_frames("tcs.receiver.heartbeat",
                                   tcs_payload("tcs.receiver.heartbeat", alive="yes")))
    code, out, err = finish(listen)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "18:00:00  tcs.root.ra_dec  ra=12.401733 dec=56.1464"
    assert lines[1].endswith("  tcs.receiver.heartbeat  alive=yes")
    assert len(lines) == 2
    assert "ocd listen: 2 events (2 without sequence numbers)" in err


def test_listen_hides_periodic_events_unless_asked(raw_publisher):
    sock, url = raw_publisher
    listen = start_ocd("listen", "--urls", url, "--count", "2", "-t", "tcs.root",
                       env=ocd_env())
    wait_subscribed(sock, b"ocd.", b"tcs.root")  # both, or the pointing may go before it
    periodic = {"tcs.receiver.heartbeat": {}, "ocd.states.state": {"state": "idle"},
                "ocd.main_loop.status": {"states": {"tcs": "alive"}},
                "pas.Guider1.metrology_data": {"seeing": 1.2},
                "ocd.heartbeat.reply": {"service": "ocd_main_loop"}}
    for topic, data in periodic.items():
        sock.send_multipart(raw_frames(topic, tcs_payload(topic, **data)))
    change = {"machine_name": "tcs", "old_state": "dead", "new_state": "alive"}
    sock.send_multipart(raw_frames("ocd.states.change", tcs_payload("ocd.states.change",
                                                                    **change)))
    sock.send_multipart(raw_frames("tcs.root.ra_dec", tcs_payload("tcs.root.ra_dec", ra=1.5)))
    code, out, err = finish(listen)
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 2, out
    assert "  ocd.states.change  machine_name=tcs old_state=dead new_state=alive" in lines[0]
    assert lines[1].endswith("  tcs.root.ra_dec  ra=1.5")  # asked for with -t
    assert "ocd listen: 7 events" in err  # received all, printed the two


def test_listen_on_a_terminal_keeps_a_footer_of_the_situation(raw_publisher):
    sock, url = raw_publisher
    master, slave = pty.openpty()
    listen = subprocess.Popen([sys.executable, "-m", "ocd", "listen", "--urls", url,
                               "--count", "2"], stdout=slave, stderr=subprocess.PIPE,
                              env=ocd_env(), text=True)
    os.close(slave)
    try:
        wait_subscribed(sock, b"ocd.")
        events = [
            ("ocd.main_loop.status", {"states": {"tcs": "alive",
                                                 "hetdex_allowed": "not_allowed"}}),
            ("ocd.states.change", {"machine_name": "hetdex_allowed", "old_state": "not_allowed",
                                   "new_state": "allowed"}),
            ("ocd.main_loop.decision", {"shotid": "DEX00009", "track": "W", "started": True,
                                        "scheduler": "builtin", "reason": "best"}),
        ]
        for topic, data in events:
            sock.send_multipart(raw_frames(topic, tcs_payload(topic, **data)))
        assert listen.wait(20) == 0, listen.stderr.read()
        screen = b""
        while select.select([master], [], [], 0.5)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            screen += chunk
    finally:
        listen.kill()
        os.close(master)
    text = screen.decode()
    footers = [part.split("\r")[0] for part in text.split("\x1b[2K")[1:]]
    assert "TCS alive | HETDEX allowed | shot none | chose DEX00009 W" in footers
    assert "ocd.main_loop.status" not in text  # hidden, yet it fed the footer
    assert text.endswith("\r\x1b[2K")  # the footer is erased on the way out


def test_listen_json_gives_topic_and_full_payload(raw_publisher):
    sock, url = raw_publisher
    listen = start_ocd("listen", "--urls", url, "--count", "1", "--json", env=ocd_env())
    wait_subscribed(sock, b"pas.Guider1.metrology_data")
    payload = tcs_payload("pas.Guider1.metrology_data", fwhm=1.4, transparency=0.93,
                          note="clear sky")
    sock.send_multipart(raw_frames("pas.Guider1.metrology_data", payload))
    code, out, err = finish(listen)
    assert code == 0, err
    assert [json.loads(line) for line in out.splitlines()] == [
        {"topic": "pas.Guider1.metrology_data", "payload": payload}]


def test_listen_reports_gaps_and_survives_garbage(raw_publisher):
    sock, url = raw_publisher
    listen = start_ocd("listen", "--urls", url, "--count", "3", "--all", env=ocd_env())
    wait_subscribed(sock, b"ocd.")
    event = {"__seq": 1, "__origin": "fake@host:7", "__ocd_utc": "2017-11-18T18:00:00+00:00",
             "machine_name": "RunShotState", "state": "idle"}
    sock.send_multipart(raw_frames("ocd.states.state", event))
    sock.send_multipart([b"ocd.states.state", b"{not json"])
    sock.send_multipart([b"ocd.states.state"])
    sock.send_multipart(raw_frames("ocd.states.state", {**event, "__seq": 2}))
    sock.send_multipart(raw_frames("ocd.states.state", {**event, "__seq": 5,
                                                        "state": "running"}))
    code, out, err = finish(listen)
    assert code == 0, err
    lines = out.splitlines()
    assert lines == [
        "18:00:00  ocd.states.state  machine_name=RunShotState state=idle",
        "18:00:00  ocd.states.state  machine_name=RunShotState state=idle",
        "!! lost 2 event(s) from fake@host:7 (expected seq 3, got 5)",
        "18:00:00  ocd.states.state  machine_name=RunShotState state=running",
    ]
    assert "dropped a message on topic ocd.states.state" in err
    assert "2 dropped (frames 1, json 1), 1 gap(s), 2 lost" in err


def test_listen_json_reports_gaps_as_objects(raw_publisher):
    sock, url = raw_publisher
    listen = start_ocd("listen", "--urls", url, "--count", "2", "--json", env=ocd_env())
    wait_subscribed(sock, b"ocd.")
    for seq in (4, 9):
        sock.send_multipart(raw_frames("ocd.x.y", {"__seq": seq, "__origin": "o@h:1"}))
    code, out, err = finish(listen)
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert records[1] == {"gap": {"origin": "o@h:1", "expected": 5, "received": 9, "lost": 4}}
    assert [r.get("topic") for r in records] == ["ocd.x.y", None, "ocd.x.y"]


def test_listen_only_extra_topics(raw_publisher):
    sock, url = raw_publisher
    listen = start_ocd("listen", "--urls", url, "-a", "no", "-t", "tcs.root", "--count", "1",
                       env=ocd_env())
    assert wait_subscribed(sock, b"tcs.root") == {b"\x01tcs.root"}
    sock.send_multipart(raw_frames("ocd.x.y", {"x": 1}))
    sock.send_multipart(raw_frames("tcs.root.ra_dec", tcs_payload("tcs.root.ra_dec", ra=1)))
    code, out, err = finish(listen)
    assert code == 0, err
    assert "tcs.root.ra_dec  ra=1" in out and "ocd.x.y" not in out


def test_listen_without_topics_is_a_usage_error(ocd):
    result = ocd("listen", "-a", "no", "--urls", "tcp://127.0.0.1:1")
    assert result.returncode == 2
    assert result.stderr == ("ocd: error: no topic to subscribe to: with -a no, give at least "
                             "one -t TOPIC\n")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_listen_stops_cleanly_on_a_signal(raw_publisher, sig):
    sock, url = raw_publisher
    listen = start_ocd("listen", "--urls", url, env=ocd_env())
    wait_subscribed(sock, b"ocd.")
    sock.send_multipart(raw_frames("ocd.x.y", {"__seq": 1, "__origin": "o@h:1"}))
    assert "ocd.x.y" in listen.stdout.readline()
    listen.send_signal(sig)
    code, _, err = finish(listen)
    assert code == 0, err
    assert "ocd listen: 1 events (0 without sequence numbers) from 1 OCD origin(s)" in err
    assert "Traceback" not in err


def test_listen_follows_the_configured_services(tmp_path):
    cfg = write_config(tmp_path)
    listen = start_ocd("listen", "--config", str(cfg), "--json", "--count", "3",
                       env=ocd_env())
    publisher = helper_process("publish", "--config", str(cfg), "--service", "ocd_main_loop",
                               "--section", "run", "--topic", "ocd.test.event", "--count", "3",
                               env=ocd_env())
    code, out, err = finish(listen)
    stop(publisher)
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["payload"]["__seq"] for r in records] == [1, 2, 3]
    assert all(r["payload"]["__origin"].startswith("ocd_main_loop@") for r in records)
    assert [r["payload"]["i"] for r in records] == [0, 1, 2]


def test_two_processes_publish_for_one_service_at_once(tmp_path):
    """The user note's example: ``ocd run`` binds index 0 of ``ocd_run_shot``, ``ocd run_shot
    -e`` index 1 (an ipc socket), and a listener hears both."""
    tcp = free_tcp_url()
    cfg = write_config(tmp_path, "[run]\nn_ocd_run_shot = 0\n[run_shot]\nn_ocd_run_shot = 1\n",
                       name="note.cfg", ocd_run_shot=f"{tcp}, ipc://run_shot.ipc")
    common = ["publish", "--config", str(cfg), "--service", "ocd_run_shot", "--topic",
              "ocd.run_shot.test", "--count", "2", "--wait-stdin"]
    by_run = helper_process(*common, "--section", "run", "--name", "ocd_run", env=ocd_env())
    by_hand = helper_process(*common, "--section", "run_shot", "--name", "ocd_run_shot_e",
                             env=ocd_env())
    try:
        bound = {wait_for_line(p.stdout, "ready").split()[1] for p in (by_run, by_hand)}
        assert bound == {tcp, f"ipc://{tmp_path / 'run_shot.ipc'}"}  # both bound at once
        listen = start_ocd("listen", "--config", str(cfg), "--json", "--count", "4",
                           env=ocd_env())
        for process in (by_run, by_hand):
            process.stdin.write("go\n")
            process.stdin.flush()
        code, out, err = finish(listen)
    finally:
        stop(by_run)
        stop(by_hand)
    assert code == 0, err
    origins = {json.loads(line)["payload"]["__origin"].split("@")[0]
               for line in out.splitlines()}
    assert origins == {"ocd_run", "ocd_run_shot_e"}


@pytest.mark.parametrize("transport", ["tcp", "ipc"])
def test_an_address_in_use_stops_the_second_process_with_one_line(tmp_path, transport):
    url = free_tcp_url() if transport == "tcp" else "ipc://sockets/allow_hetdex.ipc"
    cfg = write_config(tmp_path, ocd_allow_hetdex=url)  # one address: nowhere else to go
    first = start_ocd("ping", "--config", str(cfg), "--timeout", "30", env=ocd_env())
    try:
        wait_for_line(first.stderr, "enquiring from")
        second = start_ocd("ping", "--config", str(cfg), "--timeout", "1", env=ocd_env())
        code, out, err = finish(second)
        assert first.poll() is None  # the first one is undisturbed
    finally:
        stop(first)
    bound = url if transport == "tcp" else f"ipc://{tmp_path / 'sockets' / 'allow_hetdex.ipc'}"
    assert code == 1
    assert err == (f"ocd: error: cannot bind {bound}: address already in use by another "
                   "process; change [urls] ocd_allow_hetdex or its index 0 ([allow_hetdex] "
                   "n_ocd_allow_hetdex), or stop the other process\n")


def test_commanders_at_once_each_bind_a_free_address_of_the_list(tmp_path):
    urls = [free_tcp_url(), "ipc://sockets/allow1.ipc", "ipc://sockets/allow2.ipc"]
    cfg = write_config(tmp_path, ocd_allow_hetdex=", ".join(urls))
    pings, lines = [], []
    try:
        for _ in range(3):  # each holds an address while the next one starts
            pings.append(start_ocd("ping", "--config", str(cfg), "--timeout", "30",
                                   env=ocd_env()))
            lines.append(wait_for_line(pings[-1].stderr, "enquiring from"))
        full = start_ocd("ping", "--config", str(cfg), "--timeout", "1", env=ocd_env())
        code, out, err = finish(full)
    finally:
        for ping in pings:
            stop(ping)
    bound = [line.split("enquiring from ")[1].split(";")[0].rsplit("/", 1)[-1]
             for line in lines]  # (the end of the path: a log line masks secrets in it)
    assert sorted(bound) == sorted([urls[0].rsplit("/", 1)[-1], "allow1.ipc", "allow2.ipc"])
    assert code == 1
    assert err.startswith(f"ocd: error: cannot bind {urls[0]} nor any other of the 3 "
                          "addresses of [urls] ocd_allow_hetdex: all in use")


def test_ping_without_anybody_fails_with_one_line(ocd, tmp_path):
    cfg = write_config(tmp_path)
    start = time.monotonic()
    result = ocd("ping", "--config", str(cfg), "--timeout", "0.5")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith("ocd: error: no OCD process answered on ")
    assert result.stderr.endswith(" within 0.5 s\n")
    assert time.monotonic() - start < 15


def test_ping_prints_who_answers(ocd, tmp_path):
    cfg = write_config(tmp_path)
    responder = helper_process("respond", "--config", str(cfg), env=ocd_env())
    try:
        wait_for_line(responder.stdout, "ready")
        result = ocd("ping", "--config", str(cfg), "--first", "--timeout", "20")
    finally:
        stop(responder)
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line.startswith("ocd_main_loop ocd_main_loop@") and f":{responder.pid} " in line
    assert line.endswith(" ms") and "answered in" in line


ATTACKS = {
    # a command id that sets the terminal's title and erases the previous line
    "id": "\x1b]0;PWNED-TITLE\x07\x1b[1A\x1b[2K\x1b[32mALL-GOOD",
    # a whole forged line, and a screen clear
    "text": "ok\n03:00:00 hetdex_allowed: allowed -> not_allowed (FORGED LINE)\x1b[2J",
}


@pytest.mark.parametrize("as_json", [False, True])
def test_listen_escapes_control_characters_from_outside(raw_publisher, as_json):
    sock, url = raw_publisher
    listen = start_ocd("listen", "--urls", url, "--count", "1", "--all",
                       *(["--json"] if as_json else []), env=ocd_env())
    wait_subscribed(sock, b"pas.Guider1.metrology_data")
    sock.send_multipart(raw_frames("pas.Guider1.metrology_data",
                                   tcs_payload("pas.Guider1.metrology_data", **ATTACKS)))
    code, out, err = finish(listen)
    assert code == 0, err
    assert "\x1b" not in out and "\x07" not in out
    assert len(out.splitlines()) == 1  # no forged line
    assert "\\u001b]0;PWNED-TITLE\\u0007\\u001b[1A" in out
    assert "ok\\n03:00:00 hetdex_allowed" in out
    if as_json:  # still JSON, with the same text inside
        record = json.loads(out)
        assert record["payload"]["id"] == ATTACKS["id"]
        assert record["payload"]["text"] == ATTACKS["text"]


def test_listen_t_tcs_root_connects_to_the_tcs_stream(raw_publisher, tmp_path):
    """``-t tcs.root`` asks for TCS events, so it listens to ``[urls] event_urls`` without
    ``--tcs`` (the documented use: it printed nothing, forever)."""
    sock, url = raw_publisher
    cfg = write_config(tmp_path, event_urls=url)
    listen = start_ocd("listen", "--config", str(cfg), "-t", "tcs.root", "-a", "no", "-n", "2",
                       env=ocd_env())
    try:
        wait_subscribed(sock, b"tcs.root")
        for ra in (12.5, 12.75):
            sock.send_multipart(raw_frames("tcs.root.ra_dec",
                                           tcs_payload("tcs.root.ra_dec", ra=ra, dec=56.1)))
        code, out, err = finish(listen)
    finally:
        if listen.poll() is None:  # a failed wait leaves no listener behind
            listen.kill()
            listen.wait()
    assert code == 0, err
    assert [line.split("  ")[-1] for line in out.splitlines()] == ["ra=12.5 dec=56.1",
                                                                   "ra=12.75 dec=56.1"]


def test_listen_duration_is_the_total_on_a_busy_bus(raw_publisher, tmp_path):
    """``--duration`` ends the listener that long after it started, even while events keep
    coming (it was a timeout per receive: a busy bus kept it running for ever)."""
    sock, url = raw_publisher
    cfg = write_config(tmp_path, event_urls=url)
    listen = start_ocd("listen", "--config", str(cfg), "--tcs", "--all", "--duration", "2",
                       env=ocd_env())
    wait_subscribed(sock, b"tcs.")
    started = time.monotonic()
    deadline = started + 40  # generous on a loaded machine; far below "for ever"
    frames = raw_frames("tcs.receiver.heartbeat",
                        tcs_payload("tcs.receiver.heartbeat", alive="yes"))
    while listen.poll() is None and time.monotonic() < deadline:
        sock.send_multipart(frames)
        time.sleep(0.02)  # keep the bus busy: an event well within any idle timeout
    assert listen.poll() is not None, "ocd listen --duration 2 still running after 40 s"
    code, out, err = finish(listen)
    assert code == 0, err
    assert time.monotonic() - started >= 2
    assert out.count("tcs.receiver.heartbeat") >= 2


def test_listen_into_a_closed_pipe_ends_quietly(raw_publisher, tmp_path):
    """``ocd listen | head -1``: once the reader is gone the listener ends (it went on for
    ever, logging BrokenPipeError for every event), says no error, exits 128 + SIGPIPE."""
    sock, url = raw_publisher
    listen = start_ocd("listen", "--urls", url, "--all", env=ocd_env())
    wait_subscribed(sock, b"tcs.")
    listen.stdout.close()
    frames = raw_frames("tcs.receiver.heartbeat",
                        tcs_payload("tcs.receiver.heartbeat", alive="yes"))
    deadline = time.monotonic() + 40
    while listen.poll() is None and time.monotonic() < deadline:
        sock.send_multipart(frames)
        time.sleep(0.02)  # events to write: the first write finds the pipe closed
    assert listen.poll() == 141, "ocd listen still running 40 s after its reader went away"
    err = listen.stderr.read()
    assert "Broken" not in err and "error" not in err.lower(), err
    assert "ocd listen: " in err  # the summary, as after -n or --duration

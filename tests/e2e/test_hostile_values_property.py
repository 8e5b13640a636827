"""A property: whatever hostile values a commander sends for the options ``config send`` may
change, ``ocd run`` keeps answering within 1 s and no secret of its environment reaches an event
or its log.

One ``ocd run`` (with a database password and an AWS key in its environment) serves every
example; a second process asks it every 0.5 s (a heartbeat enquiry and ``allow_hetdex stop``)
throughout. Hypothesis draws forged ``config_send`` frames of one to three changes, each an
option that may be sent and a value from the hostile families (NaN, infinities, huge and
negative numbers, a FIFO, a device, a directory, a 10 GB file, a link out of the shot file's
directory, templates with widths, attributes and indexes, ``${...}`` references, control
characters) or any float, integer or short text. Every frame is answered.
"""

from __future__ import annotations

import json
import os
import shutil
from itertools import count

import pytest
from conftest import ocd_env
from e2e_helpers import night_config, short_tmpdir, topic_is
from forgery import Forger
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from pinging import Pinger
from test_main_loop_e2e import start_night, stop_night

from ocd.app.commander import fresh_fields
from ocd.bus.envelope import stamp
from ocd.clock import RealClock
from ocd.config import master_specs

pytestmark = pytest.mark.slow

PASSWORD = "S3cretPW-prop"
AWS_KEY = "AwsK3y-prop-never-shown"
#: Every option ``config send`` may change, as (section, option).
SENDABLE = sorted(key for key, spec in master_specs().items() if spec.modifiable)

NUMBERS = ["nan", "NaN", "-nan", "inf", "-inf", "+Infinity", "1e308", "-1e308", "1e309",
           "-1", "-5", "0", "-0", "1e-300", "-99999999999999999999999",
           "99999999999999999999999", "0x10", "1_000", " 5 "]
TEMPLATES = ["{shotid:>200000000}", "{shotid.__class__.__mro__}", "{shotid[0]}",
             "{shotid:.99}", "{shotid!r}", "{0}", "{}", "{shotid:{track}}", "{" * 3,
             "{shotid}" * 100]
REFERENCES = ["${database:mysql_password}", "${mysql_password}", "${AWS_SECRET_ACCESS_KEY}",
              "${HOME}", "$${AWS_SECRET_ACCESS_KEY}", "x${run:max_seeing}"]
#: (a longer value makes the frame invalid by its schema: dropped, counted, never answered)
TEXTS = ["\x1b]0;PWNED\x07\x1b[2J", "a\nb 03:00:00 INFO FORGED", "\x00", "é" * 300,
         "x" * 4096]


def hostile_paths(root) -> list[str]:
    os.mkfifo(root / "fifo.dat")
    with open(root / "huge.dat", "wb") as stream:
        stream.truncate(10 * 2**30)  # sparse
    os.symlink("/etc/passwd", root / "link.dat")
    return [str(root / "fifo.dat"), "/dev/zero", "/dev/urandom", str(root / "HETcommands"),
            str(root), str(root / "huge.dat"), str(root / "link.dat"), "/etc/shadow",
            "/proc/self/environ", "relative/../../etc/passwd", ""]


def values(paths: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(NUMBERS + TEMPLATES + REFERENCES + TEXTS + paths),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.integers().map(str),
        st.text(max_size=40))


def every_family(paths: list[str]) -> list[list[tuple[tuple[str, str], str]]]:
    """One frame per hostile value, each sent to an option of the kind it attacks."""
    return ([[(("shots", "shot_file"), path)] for path in paths]
            + [[(("run_shot", "shuffle_conf_template"), t)] for t in TEMPLATES]
            + [[(("run", "error_pause"), n), (("run_shot", "x_binning"), n)] for n in NUMBERS]
            + [[(("run_shot", "recipe"), r), (("run", "max_seeing"), r)] for r in REFERENCES]
            + [[(("run_shot", "image_type"), t)] for t in TEXTS])


def test_hostile_values_never_silence_ocd_run_nor_leak_a_secret():
    root = short_tmpdir()
    env = ocd_env(OCD__DATABASE__MYSQL_PASSWORD=PASSWORD, AWS_SECRET_ACCESS_KEY=AWS_KEY)
    night = start_night(root, night_config(root), run_env=env)
    pinger = forger = None
    ids = count(1)
    answered: list[dict] = []
    try:
        paths = hostile_paths(root)
        pinger = Pinger(root, f"ipc://{root}/allow1.ipc", f"ipc://{root}/main.ipc")
        forger = Forger(f"ipc://{root}/allow2.ipc")
        forger.wait_for_subscriber("ocd.command.config_send")

        @settings(max_examples=int(os.environ.get("OCD_PROP_EXAMPLES", "40")),
                  deadline=None, database=None,
                  phases=(Phase.explicit, Phase.generate),  # no shrinking: one live process
                  suppress_health_check=list(HealthCheck))
        @given(st.lists(st.tuples(st.sampled_from(SENDABLE), values(paths)),
                        min_size=1, max_size=3))
        def send(changes):
            request = f"prop-{next(ids)}"
            forger.send("ocd.command.config_send", stamp(
                "ocd.command.config_send",
                {"id": request, "changes": [[s, o, v] for (s, o), v in changes],
                 **fresh_fields()},
                origin="mallory@host:1", seq=int(request[5:]), clock=RealClock()))
            _, ack = night.tap.wait_for(topic_is("ocd.main_loop.ack", id=request), 30,
                                        what=f"the answer to {changes!r:.200}")
            answered.append(ack.payload)

        for changes in every_family(paths):  # each hostile value once, then random ones
            send = example(changes)(send)
        send()
        answers = pinger.stop()
    finally:
        if forger is not None:
            forger.close()
        if pinger is not None and pinger.popen.poll() is None:
            pinger.stop()
        stop_night(night)
    try:
        assert len(answered) >= len(every_family(paths)) + 20
        assert len(answers) >= 2, "the pinger asked nothing during the examples"
        slow = [a for a in answers if a["latency"] is None or a["latency"] >= 1.0]
        assert not slow, slow
        events = "\n".join(json.dumps(e.payload) for e in night.tap.events)
        log = night.run.stderr()
        for secret in (PASSWORD, AWS_KEY):
            assert secret not in events
            assert secret not in log
    finally:
        shutil.rmtree(root, ignore_errors=True)

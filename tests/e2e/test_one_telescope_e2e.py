"""One main loop per telescope, on the telescope itself, with real processes: two ``ocd run``
with their own bus addresses, shot files and observation-number files, but one ``ocd sim_tcs``
(the same TCS gateway). The second is refused, naming the first; and when the second got the
telescope while the first was stopped (SIGSTOP longer than the claim's lease), the first finds
it as soon as it runs again and stops automatic shots, and so does the second. And on the bus:
a main loop that hears another one greet on an address it subscribes to (started since, with
its own telescope and files) stops automatic shots too."""

from __future__ import annotations

import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_ocd
from e2e_helpers import EventTap, OcdProcess, night_config, short_tmpdir, topic_is

pytestmark = pytest.mark.slow

#: Real seconds of the claims in these tests (the default is 10): the second loop waits at
#: most this long for the first to renew.
LEASE = 2


class Telescope:
    """``ocd sim_tcs`` and the first ``ocd run`` on it, and the arguments of a second one."""

    def __init__(self, root: Path) -> None:
        self.root = root
        config = night_config(root)
        config.write_text(config.read_text().replace("[tcs]\n", f"[tcs]\nclaim_lease = {LEASE}\n"))
        self.args = ("--config", str(config))
        self.sim = OcdProcess(("sim_tcs", *self.args), root, "sim_tcs")
        self.run = OcdProcess(("run", *self.args, "--yes"), root, "run")
        self.tap = EventTap([f"ipc://{root}/{name}.ipc" for name in ("main", "shot0", "shot1")])
        self.processes = [self.run, self.sim]

    def second(self) -> tuple[str, ...]:
        """``--set`` arguments of a second main loop: its own addresses, shot file and
        observation numbers; the same TCS (events and gateway)."""
        other = self.root / "second"
        other.mkdir(exist_ok=True)
        shutil.copy(self.root / "shots.dat", other / "shots.dat")
        ipc = f"ipc://{other}"
        sets = {"urls.ocd_main_loop": f"{ipc}/main.ipc",
                "urls.ocd_run_shot": f"{ipc}/shot0.ipc, {ipc}/shot1.ipc",
                "urls.ocd_allow_hetdex": f"{ipc}/allow0.ipc, {ipc}/allow1.ipc",
                "shots.shot_file": str(other / "shots.dat"),
                "database.sqlite_path": str(other / "obsnum.sqlite")}
        return tuple(a for name, value in sets.items() for a in ("--set", f"{name}={value}"))

    def stop(self) -> None:
        self.tap.close()
        for process in self.processes:
            if process.popen.poll() is None:
                process.signal(signal.SIGCONT)
                process.stop()


@pytest.fixture
def telescope() -> Iterator[Telescope]:
    root = short_tmpdir()
    scope = Telescope(root)
    try:
        scope.tap.wait_for(topic_is("ocd.main_loop.status"), 60, what="first main loop status")
        yield scope
    finally:
        scope.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_a_second_main_loop_on_the_same_telescope_refuses_naming_the_first(telescope):
    result = run_ocd("run", *telescope.args, "--yes", *telescope.second(), cwd=telescope.root)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    gateway = f"ipc://{telescope.root}/gateway.ipc"
    assert lines[-1].startswith(f"ocd: error: another ocd run drives the telescope at "
                                f"{gateway}: ocd_main_loop@"), lines[-1]
    assert f"(process {telescope.run.popen.pid} on " in lines[-1]
    assert f"publishing on ipc://{telescope.root}/main.ipc" in lines[-1]
    assert lines[-1].endswith("stop it first (one main loop per telescope)")
    assert sum("error" in line for line in lines) == 1
    # the first loop was not disturbed by the refused one: no guard error on its bus
    assert not [e for e in telescope.tap.events if e.topic == "ocd.main_loop.error"]


def test_a_main_loop_finding_another_on_its_telescope_stops_automatic_shots(telescope):
    first = telescope.run
    allowed = run_ocd("allow_hetdex", "start", *telescope.args, "--timeout", "20",
                      cwd=telescope.root)
    assert allowed.returncode == 0, allowed.stderr
    telescope.tap.wait_for(topic_is("ocd.states.hetdex_allowed", allowed=True), 20)
    other = telescope.root / "second"
    first.signal(signal.SIGSTOP)  # its claim runs out while it is stopped
    try:
        second = OcdProcess(("run", *telescope.args, "--yes", *telescope.second()),
                            telescope.root, "second run")
        telescope.processes.insert(0, second)
        second_tap = EventTap([f"ipc://{other}/main.ipc"])
        try:
            second_tap.wait_for(topic_is("ocd.main_loop.status"), 60,
                                what="the second main loop's status")
        finally:
            first.signal(signal.SIGCONT)
        _, error = telescope.tap.wait_for(topic_is("ocd.main_loop.error", stage="guard"), 30,
                                          what="the first loop's guard error")
        assert error.payload["error"].startswith(
            f"another ocd run drives the telescope at ipc://{telescope.root}/gateway.ipc: ")
        assert f"(process {second.popen.pid} on " in error.payload["error"]
        telescope.tap.wait_for(topic_is("ocd.states.hetdex_allowed", allowed=False,
                                        by="the one-main-loop guard"), 20)
        _, theirs = second_tap.wait_for(topic_is("ocd.main_loop.error", stage="guard"), 30,
                                        what="the second loop's guard error")
        assert f"(process {first.popen.pid} on " in theirs.payload["error"]
        second_tap.close()
    finally:
        first.signal(signal.SIGCONT)
    said = [line for line in first.stderr().splitlines() if "drives the telescope" in line]
    assert len(said) == 1, said
    assert f"(process {second.popen.pid} on " in said[0]
    assert said[0].endswith("automatic shots forbidden (one main loop per telescope)")


def test_a_main_loop_hearing_another_on_an_address_it_subscribes_to_stops_automatic_shots(
        telescope):
    """The second loop binds the first's second shot address (which the first subscribes to,
    as it subscribes to every address of the list) and nothing else of the first's: it starts,
    it greets the first's subscriber, and the first stops automatic shots."""
    first, root = telescope.run, telescope.root
    allowed = run_ocd("allow_hetdex", "start", *telescope.args, "--timeout", "20", cwd=root)
    assert allowed.returncode == 0, allowed.stderr
    other = root / "bus-second"
    other.mkdir()
    shutil.copy(root / "shots.dat", other / "shots.dat")
    sets = {"urls.ocd_main_loop": f"ipc://{other}/main.ipc",
            "urls.ocd_run_shot": f"ipc://{root}/shot1.ipc",
            "urls.ocd_allow_hetdex": f"ipc://{other}/allow0.ipc",
            "urls.event_urls": f"ipc://{other}/tcs.ipc", "tcs.backend": "simulated",
            "shots.shot_file": str(other / "shots.dat"),
            "database.sqlite_path": str(other / "obsnum.sqlite")}
    args = [a for name, value in sets.items() for a in ("--set", f"{name}={value}")]
    second = OcdProcess(("run", *telescope.args, "--yes", *args), root, "second run")
    telescope.processes.insert(0, second)
    _, error = telescope.tap.wait_for(topic_is("ocd.main_loop.error", stage="guard"), 60,
                                      what="the first loop's guard error")
    assert error.origin.endswith(f":{first.popen.pid}"), error.origin
    assert error.payload["error"].startswith(
        "another ocd run publishes on an address this one subscribes to: ")
    assert f":{second.popen.pid} publishing on " in error.payload["error"]
    assert f"ipc://{root}/shot1.ipc" in error.payload["error"]
    telescope.tap.wait_for(topic_is("ocd.states.hetdex_allowed", allowed=False,
                                    by="the one-main-loop guard"), 20)
    assert second.popen.poll() is None, second.stderr()  # it heard nothing of the first

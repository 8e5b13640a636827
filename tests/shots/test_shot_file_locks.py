"""One writer at a time on the shot file, and one main loop per shot file: real processes and
threads writing at the same moment, real OS locks."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ocd_env

from ocd.errors import OcdError
from ocd.shots.locks import OwnerLock, lock_path
from ocd.shots.store import decrement_file, load_shots

ROW = "{shotid} 12.401733 56.146400 2 1 {n_obs} -1 89 HET18-2-100 HS0015_E 000 " \
      "10:55:31.00 +51:07:40.44 2000 0.0 0.0 2000\n"

#: A writer process: waits for the go file (so that all start together), then decrements.
WRITER = """
import sys, time
from pathlib import Path
from ocd.shots.store import decrement_file
path, shotid, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
print("ready", flush=True)
deadline = time.monotonic() + 60
while not go.exists():
    if time.monotonic() > deadline:
        raise SystemExit("no go")
    time.sleep(0.001)
for _ in range(count):
    decrement_file(path, shotid)
"""


def shot_file(tmp_path: Path, **n_obs: int) -> Path:
    path = tmp_path / "shots.dat"
    path.write_text("# two shots\n" + "".join(ROW.format(shotid=s, n_obs=n)
                                                for s, n in n_obs.items()))
    return path


def test_concurrent_writers_lose_no_decrement(tmp_path):
    path = shot_file(tmp_path, DEX00001=40, DEX00002=8)
    go = tmp_path / "go"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), "DEX00001", "8",
                                 str(go)], env=ocd_env(), stdout=subprocess.PIPE, text=True)
               for _ in range(4)]
    for writer in writers:
        assert writer.stdout.readline().strip() == "ready"
    errors: list[BaseException] = []

    def decrement(shotid: str, count: int) -> None:
        try:
            for _ in range(count):
                decrement_file(path, shotid)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=decrement, args=("DEX00001", 4)) for _ in range(2)]
    threads.append(threading.Thread(target=decrement, args=("DEX00002", 8)))
    go.touch()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [w.wait(60) for w in writers] == [0, 0, 0, 0]
    assert errors == []
    # 4 processes x 8 + 2 threads x 4 = 40 visits of DEX00001, 8 of DEX00002: all counted
    shots = {s.shotid: s.n_obs for s in load_shots(path).all()}
    assert shots == {"DEX00001": 0, "DEX00002": 0}
    assert path.read_text().startswith("# two shots\n")  # the rest of the file as it was
    with pytest.raises(OcdError, match="already has n_obs 0"):
        decrement_file(path, "DEX00001")


def test_a_second_owner_is_refused_with_the_first_one_named(tmp_path):
    path = shot_file(tmp_path, DEX00001=1)
    first = OwnerLock(path)
    first.describe("ocd_main_loop@host:42 publishing on tcp://127.0.0.1:6600")
    with pytest.raises(OcdError) as refused:
        OwnerLock(path)
    message = str(refused.value)
    assert message.startswith(f"another ocd run already uses the shot file {path}: "
                              "ocd_main_loop@host:42 publishing on tcp://127.0.0.1:6600")
    first.close()
    OwnerLock(path).close()  # free again
    assert lock_path(path, "run").read_text() == ""


def test_a_killed_owner_leaves_the_shot_file_free(tmp_path):
    path = shot_file(tmp_path, DEX00001=1)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom pathlib import Path\n"
         "from ocd.shots.locks import OwnerLock\nlock = OwnerLock(Path(sys.argv[1]))\n"
         "print('held', flush=True)\ntime.sleep(120)\n", str(path)],
        env=ocd_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(OcdError, match="another ocd run already uses"):
            OwnerLock(path)
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
        OwnerLock(path).close()  # the kernel released the dead process's lock
    finally:
        holder.kill()
        holder.wait(30)


def test_a_stuck_writer_makes_the_next_one_fail_clearly(tmp_path):
    path = shot_file(tmp_path, DEX00001=2)
    from ocd.shots.locks import write_lock

    with write_lock(path, timeout=1):
        began = time.monotonic()
        with pytest.raises(OcdError, match="stayed locked by another writer for 0.2 s"):
            decrement_file(path, "DEX00001", timeout=0.2)
        assert time.monotonic() - began < 5
    assert load_shots(path).get("DEX00001").n_obs == 2


def test_writers_through_a_symlink_and_the_file_share_its_lock_and_keep_the_link(tmp_path):
    """Processes decrementing through a symbolic link in another directory and through the
    file itself at the same moment: every decrement counted, the link still a link to the
    file, a second owner refused whichever name it uses."""
    path = shot_file(tmp_path, DEX00001=16)
    (tmp_path / "elsewhere").mkdir()
    link = tmp_path / "elsewhere" / "tonight.dat"
    link.symlink_to(path)
    go = tmp_path / "go"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(name), "DEX00001", "4",
                                 str(go)], env=ocd_env(), stdout=subprocess.PIPE, text=True)
               for name in (path, link, path, link)]
    for writer in writers:
        assert writer.stdout.readline().strip() == "ready"
    go.touch()
    assert [w.wait(60) for w in writers] == [0, 0, 0, 0]
    assert link.is_symlink() and link.resolve() == path.resolve()
    assert not path.is_symlink()
    assert load_shots(link).get("DEX00001").n_obs == 0
    assert list((tmp_path / "elsewhere").iterdir()) == [link]  # no lock, no copy beside it
    first = OwnerLock(path)
    try:
        with pytest.raises(OcdError) as refused:
            OwnerLock(link)
        assert str(refused.value).startswith(
            f"another ocd run already uses the shot file {link} (= {path.resolve()}): ")
    finally:
        first.close()

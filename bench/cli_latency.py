"""How long the one-shot commands take, from Enter to exit, against a running main loop.

Starts a real ``ocd run`` (ipc sockets and an SQLite observation-number file in a temporary
directory, the real clock), then runs, round after round in turn, ``ocd --help``, ``ocd time``,
``ocd allow_hetdex start``, ``ocd abort`` (answered "no shot is running": the same round trip
as an abort that stops a shot) and ``ocd config send run.max_seeing=3``, each as a new process
exactly as a user types it (the ``ocd`` script of this environment). The baseline, measured in
the same rounds, is ``python -c "import zmq"``: the floor of any Python command that talks
ZeroMQ on this machine.

    python bench/cli_latency.py [--runs 20]

Targets, p50: ``allow_hetdex start``, ``abort`` and ``config send`` <= 0.35 s; ``--help``
<= 0.15 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ocd.config import sample_shot_file  # noqa: E402

#: (label, arguments after ``ocd``, target p50 in seconds or None, exit statuses that count).
COMMANDS = [
    ("ocd --help", ["--help"], 0.15, (0,)),
    ("ocd time", ["time", "{cfg}"], None, (0,)),
    ("ocd allow_hetdex start", ["allow_hetdex", "start", "{cfg}"], 0.35, (0,)),
    ("ocd abort", ["abort", "{cfg}"], 0.35, (0, 1)),  # 1: "no shot is running", answered
    ("ocd config send", ["config", "send", "run.max_seeing=3", "{cfg}"], 0.35, (0,)),
]
BASELINE = 'python -c "import zmq"'


def write_config(root: Path) -> Path:
    ipc = f"ipc://{root}"
    shutil.copyfile(sample_shot_file(), root / "shots.dat")
    config = root / "ocd.cfg"
    config.write_text(f"""
[urls]
event_urls = {ipc}/tcs.ipc
ocd_main_loop = {ipc}/main.ipc
ocd_run_shot = {ipc}/shot0.ipc, {ipc}/shot1.ipc
ocd_allow_hetdex = {ipc}/allow0.ipc, {ipc}/allow1.ipc
ocd_db_replay = {ipc}/replay.ipc
[database]
backend = sqlite
sqlite_path = {root}/obsnum.sqlite
[shots]
shot_file = {root}/shots.dat
""")
    return config


def ocd_command() -> list[str]:
    """The ``ocd`` script next to this Python (what a user types), else ``python -m ocd``."""
    script = Path(sys.executable).with_name("ocd")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ocd"]


def timed(argv: list[str], ok: tuple[int, ...]) -> float:
    began = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True)
    took = time.perf_counter() - began
    if result.returncode not in ok:
        raise SystemExit(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr}")
    return took


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="rounds (default 20)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ocd-cli-"))
    config = write_config(root)
    ocd = ocd_command()
    main_loop = subprocess.Popen([*ocd, "run", "--config", str(config), "--yes"], cwd=root,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        ping = subprocess.run([*ocd, "ping", "--first", "--timeout", "60", "--config",
                               str(config)], capture_output=True, text=True)
        if ping.returncode != 0:
            raise SystemExit(f"ocd run did not answer:\n{ping.stderr}")
        times: dict[str, list[float]] = {BASELINE: []}
        times.update({label: [] for label, *_ in COMMANDS})
        for _ in range(args.runs):
            times[BASELINE].append(timed([sys.executable, "-c", "import zmq"], (0,)))
            for label, words, _, ok in COMMANDS:
                argv = [*ocd, *(w for w in words if w != "{cfg}")]
                if "{cfg}" in words:
                    argv += ["--config", str(config)]
                times[label].append(timed(argv, ok))
    finally:
        main_loop.terminate()
        main_loop.wait(30)
        shutil.rmtree(root, ignore_errors=True)
    base = statistics.median(times[BASELINE])
    print(f"{args.runs} runs of each, interleaved; wall time from start to exit, in seconds")
    print(f"{'command':<26} {'p50':>7} {'p99':>7} {'p50/base':>9}  target")
    for label, values in times.items():
        target = next((t for lab, _, t, _ in COMMANDS if lab == label), None)
        p50 = statistics.median(values)
        verdict = "" if target is None else \
            f"<= {target:.2f} s: {'met' if p50 <= target else 'NOT MET'}"
        print(f"{label:<26} {p50:7.3f} {percentile(values, 0.99):7.3f} {p50 / base:9.1f}  "
              f"{verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

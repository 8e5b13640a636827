"""Wall time of the default ``ocd rehearse`` (the README's main command) against its floor.

The floor is the night segment itself: ``[rehearse] duration / speed`` real seconds (one hour
of OCD time at 60x: 60 s), which no rehearsal can beat; the rest is starting and stopping the
processes. Runs ``ocd rehearse --summary FILE`` as a real subprocess, with no other option, and
prints the wall time, the floor, the overhead and the shots of each run. Target: under 90 s
with at least 2 completed shots. Run from the repository root:

    python bench/rehearse_wall.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ocd.config import (
    load_config,  # noqa: E402
    rehearsal_config,  # noqa: E402
)
from ocd.shell.children import child_env  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    cfg = load_config([rehearsal_config()])
    floor = cfg.get("rehearse", "duration") / cfg.get("rehearse", "speed")
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; floor "
          f"{floor:.0f} s (duration / speed)")
    walls, ok = [], True
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(1, args.runs + 1):
            summary = Path(tmp) / f"summary{run}.json"
            start = time.monotonic()
            result = subprocess.run([sys.executable, "-m", "ocd", "rehearse", "--summary",
                                     str(summary)], env=child_env(), capture_output=True,
                                    text=True, cwd=tmp)
            wall = time.monotonic() - start
            walls.append(wall)
            if result.returncode != 0:
                print(f"run {run}: exit {result.returncode}\n{result.stderr}")
                ok = False
                continue
            data = json.loads(summary.read_text())
            print(f"run {run}: {wall:5.1f} s wall, overhead {wall - floor:4.1f} s; shots "
                  f"completed {data['shots_completed']}, failed {data['shots_failed']}, "
                  f"obsnums {data['obsnums']}, gaps {data['gaps']}, "
                  f"{sum(data['events_by_topic'].values())} events")
            ok = ok and wall < 90 and data["shots_completed"] >= 2 and data["shots_failed"] == 0
    print(f"median {statistics.median(walls):.1f} s (target < 90 s, >= 2 shots); load average "
          f"{os.getloadavg()[0]:.1f} at end")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

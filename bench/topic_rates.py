"""How many messages per second each topic carries: at 1x (real time) and in a 60x rehearsal.

Runs ``ocd rehearse --keep DIR`` (real processes: ``ocd run``, the TCS, ``ocd record``), then
reads its recording: per topic, the events stored divided by the real seconds the recording
spans (from the first event received to the last). The TCS is ``ocd sim_tcs`` (a heartbeat
and a pointing per OCD-clock second, each guider's metrology every 10 s, at most
``[sim_tcs] max_rate`` heartbeats per real second) or the replayed sample night (``replay``).
HETDEX shots are allowed from the start, so shot events are included. The figures feed the
rates table of doc/events.md.

    python bench/topic_rates.py [--speed 60] [--duration 20m] [--tcs sim|replay]

Prints a Markdown table: topic, events, events per real second.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=60.0, help="mock clock speed")
    parser.add_argument("--duration", default="20m", help="OCD-clock time rehearsed")
    parser.add_argument("--tcs", choices=["sim", "replay"], default="sim")
    args = parser.parse_args()
    keep = Path(tempfile.mkdtemp(prefix="ocd-rates-")) / "night"
    try:
        result = subprocess.run([sys.executable, "-m", "ocd", "rehearse", "--speed",
                                 f"{args.speed:g}", "--duration", args.duration, "--tcs",
                                 args.tcs, "--keep", str(keep)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"ocd rehearse failed:\n{result.stderr}")
        with sqlite3.connect(keep / "rehearsal.db") as conn:
            first, last = conn.execute("SELECT min(received), max(received) FROM events").fetchone()
            counts = conn.execute("SELECT topic, count(*) FROM events GROUP BY topic "
                                  "ORDER BY count(*) DESC, topic").fetchall()
    finally:
        shutil.rmtree(keep.parent, ignore_errors=True)
    span = last - first
    total = sum(count for _, count in counts)
    print(f"{args.tcs} TCS at {args.speed:g}x, {args.duration} of OCD time: {total} events in "
          f"{span:.1f} real s ({total / span:.1f}/s)\n")
    print("| topic | events | per real second |\n|---|---|---|")
    for topic, count in counts:
        print(f"| `{topic}` | {count} | {count / span:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Event-driven nights against tick-by-tick ones, on the default TCS: the heavy version of
``tests/app/test_simulate_jumps.py`` (which runs 200 nights on a coarse TCS and 12 on the
default one).

Each seed draws a night (:func:`ocd.app.simulation.agreement.agreement_night`: one to three
hours from a random moment of a night between October and February, a random sky) with
random faults (forbid and allow again, aborts, shots by hand, TCS and database outages, a
slow database, failing commands), runs it both ways on the default configuration (a
heartbeat and a tick every second, metrology every 10 s) and compares them
(:func:`~ocd.app.simulation.agreement.disagreements`): the same shots, order, observation
numbers, tracks and outcomes, starts within one tick, the same idle reasons, ``n_obs`` and
rules. Prints every disagreement, and the time each way.

    python bench/simulate_agreement.py [--nights 200] [--first 1]

About a minute on the development machine (the tick-by-tick side is nine tenths of it).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ocd.app.simulation.agreement import agreement_night, disagreements  # noqa: E402
from ocd.app.simulation.simulate import Request, simulate_nights  # noqa: E402
from ocd.config import load_config, rehearsal_config  # noqa: E402
from ocd.shots.store import ShotStore, load_shots  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=200)
    parser.add_argument("--first", type=int, default=1, help="the first seed")
    args = parser.parse_args(argv)
    cfg = load_config([str(rehearsal_config())], [])
    text = load_shots(cfg.get_path("shots", "shot_file")).text()
    spent = {True: 0.0, False: 0.0}
    found = 0
    for seed in range(args.first, args.first + args.nights):
        start, end, kind = agreement_night(seed)
        nights = []
        for exact in (True, False):
            began = time.perf_counter()
            request = Request([(start, end)], kind, seed, True, exact=exact)
            nights.append(simulate_nights(cfg, request, ShotStore.from_text(text, "s"))[0])
            spent[exact] += time.perf_counter() - began
        for problem in disagreements(*nights):
            found += 1
            print(f"seed {seed} ({kind}, {start:%Y-%m-%d %H:%M} to {end:%H:%M}): {problem}")
    print(f"{args.nights} nights: {found} disagreement(s); tick by tick {spent[True]:.1f} s, "
          f"event-driven {spent[False]:.1f} s ({spent[True] / spent[False]:.1f}x)")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())

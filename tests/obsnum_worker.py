"""A process that allocates observation numbers, for the concurrency tests.

``python obsnum_worker.py N [--set SECTION.OPTION=VALUE ...]``: opens the allocator of that
configuration (and its connection), prints ``ready``, waits for a line on stdin so that every
worker starts at the same moment, then allocates N numbers one at a time and prints them.
"""

from __future__ import annotations

import argparse
import sys

from ocd.clock import clock_from_config
from ocd.config import load_config, parse_override
from ocd.obsnum import allocator_from_config


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("count", type=int)
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args()
    cfg = load_config(overrides=[parse_override(item) for item in args.set])
    with allocator_from_config(cfg, clock_from_config(cfg)) as allocator:
        allocator.check()  # connected before the start signal
        print("ready", flush=True)
        sys.stdin.readline()
        numbers = [allocator.allocate()[0] for _ in range(args.count)]
    print("\n".join(map(str, numbers)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

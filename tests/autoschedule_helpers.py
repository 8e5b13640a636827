"""Fake ``autoschedule_main`` programs for the tests of the external scheduler adapter and of
the simulation that runs it: each records how it was called."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def fake_program(tmp_path: Path, body: str, name: str = "autoschedule_main") -> Path:
    """An executable Python script: it records its arguments and the shot file it was given
    to ``calls.jsonl`` next to itself, then runs ``body``."""
    path = tmp_path / name
    path.write_text(f"""#!{sys.executable}
import json, sys, time, pathlib
here = pathlib.Path(__file__).parent
args = sys.argv[1:]
shots = pathlib.Path(args[1]) if len(args) > 1 else None
shot_text = shots.read_text() if shots is not None and shots.is_file() else None
with open(here / "calls.jsonl", "a") as log:
    log.write(json.dumps({{"args": args, "shots": shot_text}}) + "\\n")
{body}
""")
    path.chmod(0o755)
    return path


def calls(tmp_path: Path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]

"""Helpers to make a shot and its per-shot input files in a temporary directory."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ocd.clock import MockClock
from ocd.shots.inputs import InputLocator

STARS = """# role ra dec mag
guider1 163.87912 51.12801 14.2
guider2 163.95120 51.16010 13.8
wfs1    163.90011 51.14002 12.9
"""


def shot_dict(shotid: str = "DEX00001", qifu: str = "000") -> dict[str, object]:
    return {"shotid": shotid, "ra": 10.925, "dec": 51.128, "track": 2, "priority": 1,
            "n_obs": 1, "forced_az": None, "qidx": 89, "qprog": "HET18-2-100",
            "qobject": "HS0015_E", "qifu": qifu, "qra": "10:55:31.00",
            "qdec": "+51:07:40.44", "qequinox": 2000.0, "qpmra": 0.0, "qpmdec": 0.0,
            "qepoch": 2000.0}


def make_inputs(root: Path, shotid: str = "DEX00001", qifu: str = "000",
                tracks: str = "EW", stars: str = STARS) -> InputLocator:
    shuffle, acam = root / "HETcommands", root / "ACAMimages"
    shuffle.mkdir(exist_ok=True)
    acam.mkdir(exist_ok=True)
    for track in tracks:
        (shuffle / f"{shotid}_{qifu}_{track}.cfg").write_text(stars)
        (acam / f"{shotid}_{qifu}_{track}.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    return InputLocator(shuffle, "{shotid}_{ifuslot}_{track}.cfg", acam,
                        "{shotid}_{ifuslot}_{track}.jpg")


def fast_clock(speed: float = 36000.0) -> MockClock:
    return MockClock(dt.datetime(2017, 11, 19, 3, tzinfo=dt.timezone.utc), speed)

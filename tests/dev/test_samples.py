"""The sample data is complete, small, and what the rehearsal configuration points to."""

from __future__ import annotations

import sqlite3
import struct
from pathlib import Path

import pytest

from ocd.config import load_config, rehearsal_config, sample_night, samples_dir
from ocd.dev.samples import tiny_jpeg, write_inputs
from ocd.recording.store import inspect, open_for_replay
from ocd.shots.inputs import InputLocator
from ocd.shots.store import load_shots

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("config", [rehearsal_config(), ROOT / "conf" / "rehearsal.cfg"])
def test_rehearsal_config_points_at_complete_sample_data(config):
    cfg = load_config([config])
    assert cfg.warnings == []
    assert cfg.get("dates", "mock_time").isoformat() == "2017-11-19T03:00:00+00:00"
    assert (cfg.get("database", "backend"), cfg.get("tcs", "backend")) == ("sqlite", "simulated")
    assert cfg.get("urls", "event_urls") == []  # the replay is the TCS, never both
    assert cfg.get("rehearse", "night").resolve() == sample_night().resolve()
    shots = load_shots(cfg.get("shots", "shot_file")).all()
    locator = InputLocator(cfg.get("run_shot", "shuffle_dir"),
                           cfg.get("run_shot", "shuffle_conf_template"),
                           cfg.get("run_shot", "acam_dir"),
                           cfg.get("run_shot", "acam_image_template"))
    assert len(shots) == 20
    for shot in shots:
        for track in "EW":
            inputs = locator.load(shot.shotid, shot.qifu, track)  # parses the star file
            assert {s.role for s in inputs.stars} == {"guider1", "guider2", "wfs1", "wfs2"}
            assert inputs.acam_image.read_bytes()[:2] == b"\xff\xd8"


def test_sample_night_is_small_tcs_only_and_self_contained():
    night = sample_night()
    assert night.stat().st_size < 600_000
    assert not Path(f"{night}-wal").exists()
    conn = open_for_replay(night)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    # no address of the machine that recorded it
    assert conn.execute("SELECT urls FROM recordings").fetchall() == [('["ipc://tcs.ipc"]',)]
    selection = inspect(conn, "id", [""])
    assert set(selection.topics) == {"tcs.receiver.heartbeat", "tcs.root.ra_dec",
                                     "pas.Guider1.metrology_data",
                                     "pas.Guider2.metrology_data"}
    assert selection.span * 60 >= 3900  # over an hour of OCD-clock time at 60x
    conn.close()


def test_generated_inputs_match_the_shipped_ones(tmp_path):
    count = write_inputs(tmp_path, samples_dir() / "shots.dat")
    assert count == 80
    for sub in ("HETcommands", "ACAMimages"):
        for made in (tmp_path / sub).iterdir():
            assert made.read_bytes() == (samples_dir() / sub / made.name).read_bytes(), made


def _segments(data: bytes) -> list[int]:
    """The markers of a JPEG up to the start of scan."""
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    markers, at = [], 2
    while True:
        marker, length = data[at + 1], struct.unpack(">H", data[at + 2:at + 4])[0]
        markers.append(marker)
        if marker == 0xDA:
            return markers
        at += 2 + length


@pytest.mark.parametrize("level", [0, 1, 127, 128, 200, 255])
def test_placeholder_jpeg_is_baseline_grey_8x8(level):
    data = tiny_jpeg(level)
    assert _segments(data) == [0xE0, 0xDB, 0xC0, 0xC4, 0xC4, 0xDA]
    sof = data.index(b"\xff\xc0")
    assert struct.unpack(">HBHHB", data[sof + 2:sof + 10]) == (11, 8, 8, 8, 1)
    assert len(data) < 200


def test_sample_inputs_are_not_the_same_image_everywhere():
    images = {p.read_bytes() for p in (samples_dir() / "ACAMimages").iterdir()}
    assert len(images) > 10


def test_samples_are_not_left_in_wal_mode():
    for path in samples_dir().rglob("*.db"):
        mode = sqlite3.connect(f"file:{path}?mode=ro", uri=True).execute(
            "PRAGMA journal_mode").fetchone()[0]
        assert mode == "delete", path


def test_user_example_config_loads_cleanly():
    cfg = load_config([ROOT / "conf" / "user.cfg"])
    assert cfg.warnings == []
    assert cfg.get("database", "backend") == "mysql"

"""The sample data shipped with OCD, and how to make it again.

``ocd/static/samples/`` holds a sample shot list (``shots.dat``), each shot's input files
(``HETcommands/*.cfg`` star files, ``ACAMimages/*.jpg`` finding images, both tracks), a short
recorded night (``night.db``: ``ocd sim_tcs`` recorded by ``ocd record``) and the rehearsal
configuration (``rehearsal.cfg``) that ``ocd rehearse`` uses. Regenerate them with::

    python -m ocd.dev.samples inputs     # star files and ACAM images for every shot of shots.dat
    python -m ocd.dev.samples night      # record the night again (about 70 s)

(doc/rehearsal.md). Both write into the samples directory unless ``--out`` says otherwise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sqlite3
import struct
import tempfile
import time
import zlib
from pathlib import Path

from ocd.config import sample_night, samples_dir
from ocd.shell.children import OcdChild, describe_exit
from ocd.shots.store import load_shots

#: Start of the sample night (OCD clock, UTC): dark at HET, the sample shots observable; the
#: rehearsal's mock time (03:00) is a few minutes in.
NIGHT_START = dt.datetime(2017, 11, 19, 2, 55)
#: Mock speed the sample night was recorded at (OCD-clock seconds per real second).
NIGHT_SPEED = 60.0
#: Minutes of OCD-clock time in the sample night.
NIGHT_MINUTES = 70.0


# -- per-shot input files -------------------------------------------------------------------------

#: Offsets (degrees in RA and Dec) and magnitudes of the guide and wavefront-sensor stars
#: around a shot's centre: inside the HET's 22-arcmin field, like the shuffle tool's picks.
_STARS = (("guider1", 0.080, 0.060, 14.2), ("guider2", -0.070, 0.085, 13.8),
          ("wfs1", 0.050, -0.075, 12.9), ("wfs2", -0.065, -0.045, 13.1))


def star_file(ra_hours: float, dec: float, shotid: str) -> str:
    """A star file (doc/shot-inputs.md) for a shot centred at ``ra_hours``, ``dec``."""
    import math

    lines = [f"# {shotid}: guide and wavefront-sensor stars (sample data, not a real field)",
             "# role     ra (deg)     dec (deg)   mag"]
    ra0 = ra_hours * 15.0
    spread = zlib.crc32(shotid.encode()) % 7 / 10.0
    for role, dra, ddec, mag in _STARS:
        ra = (ra0 + dra / max(math.cos(math.radians(dec)), 0.05)) % 360.0
        lines.append(f"{role:<8} {ra:11.5f} {dec + ddec:11.5f}  {mag + spread:5.1f}")
    return "\n".join(lines) + "\n"


def tiny_jpeg(level: int) -> bytes:
    """A valid baseline JPEG of 8x8 grey pixels at ``level`` (0-255): a placeholder ACAM
    finding image small enough to ship dozens of (the real ones come from the shuffle tool).

    One block, DC only, with one-symbol Huffman tables; the DC value encodes ``level``.
    """
    def segment(marker: int, body: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(body) + 2) + body

    # quantisation table: all 1 (the DC coefficient is stored exactly)
    dqt = segment(0xDB, bytes([0]) + bytes([1] * 64))
    sof = segment(0xC0, struct.pack(">BHHB", 8, 8, 8, 1) + bytes([1, 0x11, 0]))
    dc = (level - 128) * 8  # DCT DC of a flat block = 8 x (level - 128)
    size = abs(dc).bit_length()  # the DC category
    dht_dc = segment(0xC4, bytes([0x00]) + bytes([1] + [0] * 15) + bytes([size]))
    dht_ac = segment(0xC4, bytes([0x10]) + bytes([1] + [0] * 15) + bytes([0x00]))  # EOB only
    sos = segment(0xDA, bytes([1, 1, 0x00, 0, 63, 0]))
    bits = "0"  # the DC category's code
    if size:
        value = dc if dc > 0 else dc + (1 << size) - 1
        bits += format(value, f"0{size}b")
    bits += "0"  # end of block
    bits += "1" * (-len(bits) % 8)
    data = bytearray()
    for i in range(0, len(bits), 8):
        byte = int(bits[i:i + 8], 2)
        data.append(byte)
        if byte == 0xFF:
            data.append(0)  # byte stuffing
    app0 = segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    return b"\xff\xd8" + app0 + dqt + sof + dht_dc + dht_ac + sos + bytes(data) + b"\xff\xd9"


def write_inputs(out: Path, shot_file: Path) -> int:
    """Write the star files and ACAM images of every shot of ``shot_file``, both tracks, under
    ``out/HETcommands`` and ``out/ACAMimages``; returns how many files were written."""
    shuffle, acam = out / "HETcommands", out / "ACAMimages"
    shuffle.mkdir(parents=True, exist_ok=True)
    acam.mkdir(parents=True, exist_ok=True)
    written = 0
    for shot in load_shots(shot_file).all():
        for track in "EW":
            name = f"{shot.shotid}_{shot.qifu}_{track}"
            (shuffle / f"{name}.cfg").write_text(star_file(shot.ra, shot.dec, shot.shotid))
            level = 60 + zlib.crc32(name.encode()) % 120
            (acam / f"{name}.jpg").write_bytes(tiny_jpeg(level))
            written += 2
    return written


# -- the recorded night ---------------------------------------------------------------------------

def _night_config(root: Path, speed: float) -> Path:
    ipc = f"ipc://{root}"
    text = f"""# made by python -m ocd.dev.samples night
[urls]
event_urls = {ipc}/tcs.ipc
ocd_main_loop = {ipc}/main.ipc
ocd_run_shot = {ipc}/shot.ipc
ocd_allow_hetdex = {ipc}/allow.ipc
tcs = {ipc}/gateway.ipc
virus = {ipc}/gateway.ipc
pfip = {ipc}/gateway.ipc
pas = {ipc}/gateway.ipc

[dates]
mock_time = {NIGHT_START.isoformat()}
mock_speed = {speed:g}

[sim_tcs]
heartbeat_interval = 10
metrology_interval = 30
max_rate = 50
weather = steady

[bus]
reconnect_interval_max = 0.1
"""
    path = root / "night.cfg"
    path.write_text(text)
    return path


def _latest_ocd_utc(db: Path) -> dt.datetime | None:
    if not db.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            row = conn.execute("SELECT payload FROM events ORDER BY id DESC LIMIT 1").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    if row is None:
        return None
    stamp = json.loads(row[0]).get("__ocd_utc")
    return dt.datetime.fromisoformat(stamp) if isinstance(stamp, str) else None


def record_night(out: Path, minutes: float = NIGHT_MINUTES, speed: float = NIGHT_SPEED) -> str:
    """Run ``ocd sim_tcs`` on a mock clock from :data:`NIGHT_START` at ``speed`` and record its
    events with ``ocd record`` until ``minutes`` of OCD-clock time have passed; write the
    recording to ``out`` as one self-contained SQLite file. Returns the recorder's summary."""
    root = Path(tempfile.mkdtemp(prefix="ocd-night-"))
    try:
        config = _night_config(root, speed)
        raw = root / "night.db"
        recorder = OcdChild("record", ["record", "--config", str(config), "--urls",
                                       f"ipc://{root}/tcs.ipc", str(raw)], root, cwd=root)
        sim = OcdChild("sim_tcs", ["sim_tcs", "--config", str(config)], root, cwd=root)
        end = NIGHT_START.replace(tzinfo=dt.timezone.utc) + dt.timedelta(minutes=minutes)
        deadline = time.monotonic() + minutes * 60 / speed + 60
        reached = False
        try:
            while sim.poll() is None and recorder.poll() is None \
                    and time.monotonic() < deadline:
                latest = _latest_ocd_utc(raw)
                if latest is not None and latest >= end:
                    reached = True
                    break
                time.sleep(0.2)
        finally:
            problems = []
            for child in (sim, recorder):
                code, killed = child.stop(30)
                if code != 0 or killed:
                    problems.append(f"{child.label}: {describe_exit(code)}"
                                    f"{' (did not stop on SIGTERM)' if killed else ''}:\n"
                                    f"{child.stderr_tail()}")
        if problems or not reached:
            raise SystemExit("\n".join(problems) or f"the night did not reach {end} in time")
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.exists():
            out.unlink()
        conn = sqlite3.connect(raw)
        try:
            conn.execute("VACUUM INTO ?", (str(out),))
        finally:
            conn.close()
        conn = sqlite3.connect(out)
        try:
            conn.execute("PRAGMA journal_mode = DELETE")  # one file, readable read-only
            # the address was in a temporary directory of this machine: keep only its name
            conn.execute("UPDATE recordings SET urls = ?", (json.dumps(["ipc://tcs.ipc"]),))
            conn.commit()
        finally:
            conn.close()
        return recorder.stdout().strip()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ocd.dev.samples",
                                     description="regenerate OCD's sample data")
    actions = parser.add_subparsers(dest="action", required=True)
    inputs = actions.add_parser("inputs", help="star files and ACAM images of the sample shots")
    inputs.add_argument("--out", type=Path, default=None,
                        help="directory to write HETcommands/ and ACAMimages/ into "
                             "(default: the samples directory)")
    inputs.add_argument("--shots", type=Path, default=None,
                        help="shot list (default: the sample shots.dat)")
    night = actions.add_parser("night", help="record the sample night again")
    night.add_argument("--out", type=Path, default=None,
                       help="the recording to write (default: the sample night.db)")
    night.add_argument("--minutes", type=float, default=NIGHT_MINUTES,
                       help=f"OCD-clock minutes to record (default {NIGHT_MINUTES:g})")
    night.add_argument("--speed", type=float, default=NIGHT_SPEED,
                       help=f"mock clock speed while recording (default {NIGHT_SPEED:g})")
    args = parser.parse_args(argv)
    if args.action == "inputs":
        out = args.out or samples_dir()
        count = write_inputs(out, args.shots or samples_dir() / "shots.dat")
        print(f"wrote {count} files under {out}")
    else:
        out = args.out or sample_night()
        summary = record_night(out, args.minutes, args.speed)
        print(f"{out}: {out.stat().st_size} bytes; {summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

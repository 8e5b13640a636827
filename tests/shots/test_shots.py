"""The shot file: strict reading, the SQLite store, exact and atomic write-back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from ocd.config import sample_shot_file
from ocd.errors import OcdError
from ocd.shots.model import COLUMNS, Shot, ShotFileError, ShotTable
from ocd.shots.store import ShotStore, load_shots

# the two example rows of the original documentation
ROW1 = ("DEX00001 12.401733 56.146400 2 1 1 -1 89 HET18-2-100 HS0015_E 000 10:55:31.00 "
        "+51:07:40.44 2000 0.0 0.0 2000")
ROW5 = ("DEX00005 14.663467 53.661500 2 2 3 322 90 HET18-2-100 HS0016_E 000 10:56:12.10 "
        "+51:07:40.44 2000 0.0 0.0 2000")


def write(tmp_path: Path, text: str, name: str = "shots.dat") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


def test_the_documented_example_rows_load_with_their_types(tmp_path):
    store = load_shots(write(tmp_path, f"# header\n{ROW1}\n\n{ROW5}\n"))
    first, fifth = store.all()
    assert first == Shot("DEX00001", 12.401733, 56.1464, 2, 1, 1, None, 89, "HET18-2-100",
                         "HS0015_E", "000", "10:55:31.00", "+51:07:40.44", 2000.0, 0.0, 0.0,
                         2000.0)
    assert fifth.forced_az == 322.0 and fifth.n_obs == 3 and fifth.priority == 2
    assert fifth.qifu == "000"  # leading zeros kept: it names files
    assert json.loads(json.dumps(first.as_dict()))["qifu"] == "000"
    assert list(first.as_dict()) == list(COLUMNS)


def test_sample_list_ships_in_the_package_with_both_examples():
    store = load_shots(sample_shot_file())
    shots = store.all()
    assert len(shots) >= 20
    text = sample_shot_file().read_text()
    assert ROW1 in text and ROW5 in text
    ras = sorted(s.ra for s in shots)
    assert max(b - a for a, b in zip(ras, ras[1:], strict=False)) < 8  # spread in RA
    assert any(s.n_obs == 0 for s in shots) and any(s.forced_az is not None for s in shots)


def test_tabs_spaces_trailing_comments(tmp_path):
    row = ROW1.replace(" ", "\t", 3) + "   # first shot"
    store = load_shots(write(tmp_path, row + "\n"))
    assert store.get("DEX00001").dec == 56.1464
    assert store.get("nope") is None
    assert "DEX00001" in store and len(store) == 1


@pytest.mark.parametrize("field,value,expect", [
    ("ra", "12h24m", "column 2 (ra) '12h24m': expected a number"),
    ("ra", "24.0", "column 2 (ra) '24.0': out of range [0, 24)"),
    ("dec", "95.5", "column 3 (dec) '95.5': out of range [-90, 90]"),
    ("dec", "nan", "column 3 (dec) 'nan': expected a finite number"),
    ("track", "3", "column 4 (track) '3': must be 0 (East), 1 (West) or 2 (either)"),
    ("track", "E", "column 4 (track) 'E': expected an integer"),
    ("priority", "1.5", "column 5 (priority) '1.5': expected an integer"),
    ("n_obs", "-1", "column 6 (n_obs) '-1': must be 0 or more"),
    ("forced_az", "-2", "column 7 (forced_az) '-2': must be -1 (none) or an azimuth in [0, 360)"),
    ("forced_az", "360", "column 7 (forced_az) '360'"),
    ("qifu", "A01", "column 11 (qifu) 'A01': expected the IFU slot digits"),
    ("qra", "10.5", "column 12 (qra) '10.5': expected sexagesimal"),
    ("qepoch", "J2000", "column 17 (qepoch) 'J2000': expected a number"),
])
def test_bad_values_name_file_line_column_and_field(tmp_path, field, value, expect):
    tokens = ROW1.split()
    index = COLUMNS.index(field)
    tokens[index] = value
    row = "  ".join(tokens)  # two spaces: columns are not simply 1 + 9 * index
    path = write(tmp_path, f"# list\n{ROW5}\n{row}\n")
    with pytest.raises(ShotFileError) as caught:
        load_shots(path)
    column = len("  ".join(tokens[:index])) + (2 if index else 0) + 1
    assert str(caught.value).startswith(f"{path}:3:{column}: {expect}")
    assert (caught.value.line, caught.value.column) == (3, column)


def test_wrong_column_count(tmp_path):
    short = ROW1.rsplit(" ", 1)[0]
    path = write(tmp_path, f"{short}   \n")
    with pytest.raises(ShotFileError) as caught:
        load_shots(path)
    assert str(caught.value) == (f"{path}:1:{len(short) + 1}: expected 17 columns "
                                 f"({' '.join(COLUMNS)}), found 16")
    long = ROW1 + " extra"
    path = write(tmp_path, f"\n{long}\n")
    with pytest.raises(ShotFileError) as caught:
        load_shots(path)
    assert str(caught.value) == (f"{path}:2:{len(ROW1) + 2}: expected 17 columns "
                                 f"({' '.join(COLUMNS)}), found 18")


def test_duplicate_shotid_names_both_lines(tmp_path):
    path = write(tmp_path, f"{ROW1}\n# again\n  {ROW1}\n")
    with pytest.raises(ShotFileError) as caught:
        load_shots(path)
    assert str(caught.value) == f"{path}:3:3: duplicate shotid 'DEX00001' (first on line 1)"


def test_unreadable_and_non_utf8_files(tmp_path):
    with pytest.raises(OcdError, match="missing.dat: cannot read the shot list"):
        load_shots(tmp_path / "missing.dat")
    path = tmp_path / "latin.dat"
    path.write_bytes(f"{ROW1}\n# caf\xe9\n".encode("latin-1"))
    with pytest.raises(ShotFileError, match=rf"^{path}:2:6: not UTF-8 text$"):
        load_shots(path)


def test_a_slash_in_shotid_is_refused(tmp_path):
    path = write(tmp_path, ROW1.replace("DEX00001", "../etc") + "\n")
    with pytest.raises(ShotFileError, match=r":1:1: column 1 \(shotid\) '../etc': must not "):
        load_shots(path)


def test_write_back_is_byte_identical_when_nothing_changed(tmp_path):
    source = sample_shot_file()
    store = load_shots(source)
    out = store.write(tmp_path / "copy.dat")
    assert out.read_bytes() == source.read_bytes()


def test_decrement_changes_only_that_token(tmp_path):
    text = (f"# planner notes\r\n{ROW1}\r\n\t\r\n# fifth:\r\n"
            + ROW5.replace(" 3 322", "  03   322") + "   # keep me\r\n" + ROW1.replace(
                "DEX00001", "DEX00009"))  # no final newline
    path = write(tmp_path, text)
    store = load_shots(path)
    assert store.decrement("DEX00005") == 2
    assert store.decrement("DEX00001") == 0
    assert store.get("DEX00005").n_obs == 2
    assert [s.shotid for s in store.remaining()] == ["DEX00005", "DEX00009"]
    store.write()
    after = path.read_bytes().decode()
    before_lines, after_lines = text.splitlines(True), after.splitlines(True)
    assert len(before_lines) == len(after_lines)
    changed = [(b, a) for b, a in zip(before_lines, after_lines, strict=True) if b != a]
    assert changed == [
        (before_lines[1], before_lines[1].replace(" 2 1 1 -1", " 2 1 0 -1")),
        (before_lines[4], before_lines[4].replace("  03   322", "  2   322")),
    ]
    reloaded = load_shots(path)
    assert [(s.shotid, s.n_obs) for s in reloaded.all()] == [
        ("DEX00001", 0), ("DEX00005", 2), ("DEX00009", 1)]


def test_only_newlines_end_lines(tmp_path):
    text = f"# form\x0cfeed and \u2028 separator in a comment\n{ROW5}\n"
    path = write(tmp_path, text)
    store = load_shots(path)
    store.decrement("DEX00005")
    assert store.text() == text.replace(" 2 2 3 322", " 2 2 2 322")
    bad = write(tmp_path, f"# \x0c\n{ROW5.replace('53.661500', '99')}\n", "bad.dat")
    column = ROW5.index("53.661500") + 1
    with pytest.raises(ShotFileError, match=rf"bad.dat:2:{column}: column 3 \(dec\) '99'"):
        load_shots(bad)


def test_unchanged_counts_keep_their_spelling(tmp_path):
    path = write(tmp_path, ROW5.replace(" 3 322", " +3 322") + "\n")
    store = load_shots(path)
    assert store.text() == path.read_text()


def test_decrement_errors(tmp_path):
    store = load_shots(write(tmp_path, ROW1 + "\n"))
    assert store.decrement("DEX00001") == 0
    with pytest.raises(OcdError, match="'DEX00001' already has n_obs 0: not decremented"):
        store.decrement("DEX00001")
    with pytest.raises(OcdError, match="no shot 'DEX99999' to decrement"):
        store.decrement("DEX99999")
    assert store.get("DEX00001").n_obs == 0


def test_decrement_is_exactly_once_per_call_across_threads(tmp_path):
    store = load_shots(write(tmp_path, ROW1.replace(" 2 1 1 -1", " 2 1 400 -1") + "\n"))
    results: list[int] = []
    errors: list[Exception] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        for _ in range(60):
            try:
                results.append(store.decrement("DEX00001"))
            except OcdError as exc:
                errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == list(range(400))  # every value exactly once
    assert len(errors) == 8 * 60 - 400
    assert store.get("DEX00001").n_obs == 0


def test_table_is_cached_until_a_decrement(tmp_path):
    store = load_shots(write(tmp_path, f"{ROW1}\n{ROW5}\n"))
    table = store.table()
    assert store.table() is table
    assert list(table.n_obs) == [1, 3] and table.forced_az[1] == 322.0
    assert table.ra[0] == 12.401733 and table.track.tolist() == [2, 2]
    store.decrement("DEX00001")
    assert [s.shotid for s in store.table().shots] == ["DEX00005"]
    assert len(store.table(remaining=False)) == 2
    assert ShotTable.from_shots(store.all()).dec.tolist() == [56.1464, 53.6615]


def test_tables_kept_after_decrements_are_those_read_afresh():
    """The store keeps its tables up to date at each decrement instead of reading the list
    again: after every decrement they equal the tables built from the rows."""
    import random

    store = load_shots(sample_shot_file())
    tables = (store.table(), store.table(remaining=False))
    assert tables[0].to_observe == len(tables[0])
    draw = random.Random(3)
    while store.remaining():
        store.decrement(draw.choice(store.remaining()).shotid)
        for remaining, read in ((True, store.remaining()), (False, store.all())):
            kept, afresh = store.table(remaining), ShotTable.from_shots(read)
            assert kept.shots == afresh.shots
            for column in ("ra", "dec", "track", "priority", "n_obs", "forced_az"):
                assert np.array_equal(getattr(kept, column), getattr(afresh, column),
                                      equal_nan=column in ("ra", "dec", "forced_az")), column
            assert kept.to_observe == afresh.to_observe
    assert len(store.table()) == 0 and store.table(remaining=False).to_observe == 0


def test_write_keeps_the_file_mode_and_leaves_no_temporary(tmp_path):
    path = write(tmp_path, ROW1 + "\n")
    os.chmod(path, 0o640)
    store = load_shots(path)
    store.decrement("DEX00001")
    store.write()
    assert path.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shots.dat"]


def test_write_failure_is_one_line_and_keeps_the_old_file(tmp_path):
    store = load_shots(write(tmp_path, ROW1 + "\n"))
    with pytest.raises(OcdError, match=r"cannot write the shot list"):
        store.write(tmp_path / "no" / "such" / "dir" / "shots.dat")
    with pytest.raises(OcdError, match="no file to write the shot list to"):
        ShotStore.from_text(ROW1).write()


WRITER = """
import sys
from ocd.shots.store import load_shots
store = load_shots(sys.argv[1])
print("ready", flush=True)
while True:
    for shot in store.remaining()[:1]:
        store.decrement(shot.shotid)
    store.write()
"""


def test_a_killed_writer_never_leaves_a_half_written_file(tmp_path):
    """A real process rewrites a big list in a loop and is killed at a random moment;
    meanwhile and after, the file is always whole (checked by bytes: fast enough to catch a
    non-atomic write in the act)."""
    rows = [ROW1.replace("DEX00001", f"DEX{i:05d}").replace(" 2 1 1 -1", " 2 1 9 -1")
            for i in range(20000)]
    path = write(tmp_path, "# big list\n" + "\n".join(rows) + "\n")
    lines = len(rows) + 1
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    for _round in range(2):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], env=env,
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert writer.stdout.readline().strip() == "ready"
            # read for 0.8 s, and on until the writer has written (a loaded machine may
            # start it late), within 60 s
            deadline = time.monotonic() + 0.8
            give_up = deadline + 60
            before = path.stat().st_mtime_ns
            while time.monotonic() < deadline or (
                    path.stat().st_mtime_ns == before and time.monotonic() < give_up):
                data = path.read_bytes()
                assert data.count(b"\n") == lines and data.endswith(b"\n")
            assert path.stat().st_mtime_ns != before  # it did write meanwhile
        finally:
            writer.kill()
            writer.wait()
        assert len(load_shots(path)) == len(rows)
    leftovers = [p for p in tmp_path.iterdir() if p.name != "shots.dat"]
    assert all(p.name.startswith(".shots.dat.") for p in leftovers)

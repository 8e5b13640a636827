"""A shot file's columns are plain text and its integers fit: control characters, NUL and
out-of-range integers are refused with FILE:LINE:COLUMN, by the reader and by ``ocd schedule``
as a user runs it (one line, escaped)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_ocd

from ocd.shots.model import ShotFileError
from ocd.shots.store import load_shots

ROW5 = ("DEX00005 14.663467 53.661500 2 2 3 322 90 HET18-2-100 HS0016_E 000 10:56:12.10 "
        "+51:07:40.44 2000 0.0 0.0 2000")

CASES = {
    "escape in the shot id": (ROW5.replace("DEX00005", "DEX\x1b[2J05"), 4,
                              r"control character \\u001b: a shot's columns are plain text"),
    "bell in an object": (ROW5.replace("HS0016_E", "HS\x07"), ROW5.index("HS0016_E") + 3,
                          r"control character \\u0007"),
    "NUL in the shot id": (ROW5.replace("DEX00005", "DEX\x0005"), 4, r"control character "
                           r"\\u0000"),
    "26-digit priority": (ROW5.replace(" 2 2 3 322", " 2 12345678901234567890123456 3 322"),
                          ROW5.index(" 2 2 3 322") + 4,
                          r"column 5 \(priority\) '12345678901234567890123456': out of range "
                          r"\[-2147483648, 2147483647\]"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_reader_refuses_with_file_and_line(tmp_path, case):
    line, column, message = CASES[case]
    path = tmp_path / "shots.dat"
    path.write_bytes(f"# header\n{line}\n".encode())
    with pytest.raises(ShotFileError, match=rf"shots.dat:2:{column}: {message}"):
        load_shots(path)


def test_a_control_character_in_a_comment_is_kept(tmp_path):
    path = tmp_path / "shots.dat"
    path.write_bytes(f"{ROW5} # \x1b comment\n".encode())
    assert [s.shotid for s in load_shots(path).all()] == ["DEX00005"]


def test_ocd_schedule_says_one_line(tmp_path: Path):
    path = tmp_path / "shots.dat"
    path.write_bytes((ROW5.replace("DEX00005", "DEX\x1b]0;PWNED\x0705") + "\n").encode())
    result = run_ocd("schedule", "--set", f"shots.shot_file={path}", cwd=tmp_path)
    assert result.returncode == 2, result.stderr  # a bad input file: a usage error
    assert result.stderr == (f"ocd: error: {path}:1:4: control character \\u001b: a shot's "
                             "columns are plain text\n")
    assert "\x1b" not in result.stdout + result.stderr

"""``printable``: text from outside shown with its control characters escaped."""

import json

from hypothesis import given
from hypothesis import strategies as st

from ocd.errors import printable, printable_lines


def test_control_characters_become_escapes():
    assert printable("DEX00009 West") == "DEX00009 West"
    assert printable("a\x1b]0;PWNED\x07\nb\tc") == "a\\u001b]0;PWNED\\u0007\\nb\\tc"
    assert printable("\x9b2J\u2028\x00") == "\\u009b2J\\u2028\\u0000"
    assert printable("été ✓") == "été ✓"


@given(st.text())
def test_the_result_is_printable_and_reads_back_inside_json(text):
    shown = printable(text)
    assert all(c.isprintable() for c in shown)
    if "\\" not in text and '"' not in text:
        assert json.loads(f'"{shown}"') == text


def test_a_report_keeps_its_own_lines_and_no_forged_one():
    report = "shots: 1\n  1x tcs.root\x1b[2J: bad\r\n  by evil\u202e@host:1\x00"
    assert printable_lines(report) == ("shots: 1\n  1x tcs.root\\u001b[2J: bad\\r\n"
                                       "  by evil\\u202e@host:1\\u0000")

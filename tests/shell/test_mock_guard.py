"""The mock-time guard asks on a terminal, obeys --yes, and refuses without a terminal."""

import datetime as dt
import io

import pytest

from ocd.clock import MockClock, RealClock
from ocd.errors import UsageError
from ocd.shell.mock_guard import confirm_mock_time

MOCK = MockClock(dt.datetime(2017, 11, 18, 18, tzinfo=dt.timezone.utc))


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_real_clock_needs_no_confirmation():
    confirm_mock_time(RealClock(), assume_yes=False, stdin=io.StringIO(""), stdout=io.StringIO())


def test_yes_skips_the_question():
    out = io.StringIO()
    confirm_mock_time(MOCK, assume_yes=True, stdin=io.StringIO(""), stdout=out)
    assert out.getvalue() == ""


@pytest.mark.parametrize("answer", ["y\n", "yes\n", "maybe\nY\n"])
def test_terminal_yes_proceeds(answer):
    out = io.StringIO()
    confirm_mock_time(MOCK, assume_yes=False, stdin=Terminal(answer), stdout=out)
    assert "proceed with mock time starting at 2017-11-18T18:00:00+00:00? [y/n]" in out.getvalue()


@pytest.mark.parametrize("answer", ["n\n", "no\n", ""])
def test_terminal_no_refuses(answer):
    with pytest.raises(UsageError, match="not proceeding"):
        confirm_mock_time(MOCK, assume_yes=False, stdin=Terminal(answer), stdout=io.StringIO())


def test_no_terminal_refuses_with_hint():
    with pytest.raises(UsageError, match="pass --yes"):
        confirm_mock_time(MOCK, assume_yes=False, stdin=io.StringIO("y\n"), stdout=io.StringIO())

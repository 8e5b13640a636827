"""Argument types shared by the subcommands' parsers (light: parsing imports no command code)."""

from __future__ import annotations

import argparse
import datetime as dt


def date_argument(text: str) -> dt.date:
    """A ``YYYY-MM-DD`` option or argument (argparse says what is wrong with another)."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None

"""Typed option values: the text of an option turned into the type its spec names."""

from __future__ import annotations

import configparser
import datetime as dt
import re
from pathlib import Path
from typing import Any

from ocd.errors import quoted

_URL = re.compile(r"^(tcp://[^\s:/]+:(\d+|\*)|ipc://\S+|inproc://\S+)$")


def convert(type_name: str, raw: str, base_dir: Path) -> Any:
    """Turn the text ``raw`` into a value of ``type_name``; ValueError says what is wrong."""
    if type_name in ("str", "program", "arguments"):
        return raw
    if type_name == "int":
        try:
            return int(raw)
        except ValueError:
            raise ValueError("expected an integer") from None
    if type_name == "float":
        try:
            return float(raw)
        except ValueError:
            raise ValueError("expected a number") from None
    if type_name == "bool":
        state = configparser.ConfigParser.BOOLEAN_STATES.get(raw.lower())
        if state is None:
            raise ValueError("expected true/false, yes/no, on/off or 1/0")
        return state
    if type_name in ("url", "urls"):
        urls = [u.strip() for u in raw.split(",") if u.strip()]
        for url in urls:
            if not _URL.match(url):
                raise ValueError(f"{quoted(url)} is not a tcp://HOST:PORT or ipc://PATH address")
        if type_name == "url":
            if len(urls) > 1:
                raise ValueError("expected a single address")
            return urls[0] if urls else None
        return urls
    if type_name == "list":
        return [item.strip() for item in raw.split(",") if item.strip()]
    if type_name == "path":
        if not raw:
            return None
        path = Path(raw).expanduser()
        return path if path.is_absolute() else base_dir / path
    if type_name == "time":
        return parse_time(raw) if raw else None
    if type_name.startswith("choice("):
        choices = re.fullmatch(r"choice\((.*)\)", type_name).group(1).split("|")  # type: ignore[union-attr]
        for choice in choices:
            if raw.lower() == choice.lower():
                return choice
        raise ValueError(f"expected one of {', '.join(choices)}")
    raise ValueError(f"unknown option type {type_name!r}")


def parse_time(text: str) -> dt.datetime:
    """Parse a UTC date/time with astropy (every format ``Time`` accepts), timezone aware.

    ISO-8601 (``2017-11-19T03:00:00``, the form everybody writes) is read by the standard
    library first: astropy takes a fifth of a second to import, which every command would pay
    for a mock time in its configuration. A time without an offset is UTC, as for astropy.
    """
    try:
        iso = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        pass
    else:
        if iso.tzinfo is None:
            return iso.replace(tzinfo=dt.timezone.utc)
        return iso.astimezone(dt.timezone.utc)
    from astropy.time import Time  # imported here: astropy is slow to import

    try:
        value = Time(text, scale="utc")
    except (ValueError, TypeError) as exc:
        first = str(exc).splitlines()[0].rstrip(":")
        raise ValueError(f"not a date/time astropy.time.Time can parse ({first})") from None
    when: dt.datetime = value.to_datetime(timezone=dt.timezone.utc)
    return when

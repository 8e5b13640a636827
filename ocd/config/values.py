"""Option kinds and ranges: the text of an option turned into a checked value.

A value spec is what the master file writes after ``type:``: a kind, its arguments in
parentheses, then bounds, e.g. ``float > 0, <= 86400``, ``choice(auto|live)``,
``template(shotid|ifuslot|track)`` or ``time >= 1990-01-01, < 2100-01-01``. :func:`parse_type`
reads it once; :meth:`ValueSpec.convert` turns an option's text into its value and checks its
range, so every layer (files, environment, ``--set``, ``config send``) is checked by the same
rule. A ValueError says what was expected.
"""

from __future__ import annotations

import configparser
import datetime as dt
import math
import operator
import re
import string
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ocd.errors import quoted

_URL = re.compile(r"^(tcp://[^\s:/]+:(\d+|\*)|ipc://\S+|inproc://\S+)$")

#: (raw text, the kind's arguments, directory relative paths start from) -> value. A
#: :class:`Refused` says why in its own words; any other ValueError gets the spec's expectation.
Converter = Callable[[str, tuple[str, ...], Path], Any]


class Refused(ValueError):
    """A value refused with its own explanation (``'http://x' is not a tcp://... address``)."""


def _text(raw: str, args: tuple[str, ...], base_dir: Path) -> str:
    return raw


def _int(raw: str, args: tuple[str, ...], base_dir: Path) -> int:
    return int(raw)  # its ValueError: the spec's expectation says the rest


def _port(raw: str, args: tuple[str, ...], base_dir: Path) -> int:
    port = int(raw)
    if not 1 <= port <= 65535:
        raise ValueError("out of range")
    return port


def _float(raw: str, args: tuple[str, ...], base_dir: Path) -> float:
    number = float(raw)
    if not math.isfinite(number):  # nan, inf: a timer or a speed that never makes sense
        raise ValueError("not finite")
    return number


def _bool(raw: str, args: tuple[str, ...], base_dir: Path) -> bool:
    state = configparser.ConfigParser.BOOLEAN_STATES.get(raw.lower())
    if state is None:
        raise Refused("expected true/false, yes/no, on/off or 1/0")
    return state


def _urls(raw: str, args: tuple[str, ...], base_dir: Path) -> list[str]:
    urls = [u.strip() for u in raw.split(",") if u.strip()]
    for url in urls:
        if not _URL.match(url):
            raise Refused(f"{quoted(url)} is not a tcp://HOST:PORT or ipc://PATH address")
    return urls


def _url(raw: str, args: tuple[str, ...], base_dir: Path) -> str | None:
    urls = _urls(raw, args, base_dir)
    if len(urls) > 1:
        raise Refused("expected a single address")
    return urls[0] if urls else None


def _list(raw: str, args: tuple[str, ...], base_dir: Path) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def _path(raw: str, args: tuple[str, ...], base_dir: Path) -> Path | None:
    if not raw:
        return None
    path = Path(raw).expanduser()
    return path if path.is_absolute() else base_dir / path


def _file(raw: str, args: tuple[str, ...], base_dir: Path) -> Path | None:
    """An existing regular file: never a directory, nor a FIFO or device a read would block on."""
    path = _path(raw, args, base_dir)
    try:
        found, regular = path is None or path.exists(), path is None or path.is_file()
    except OSError as exc:
        raise Refused(f"expected an existing regular file: {exc.strerror}") from None
    if not regular:
        why = "not a regular file" if found else "file not found"
        raise Refused(f"expected an existing regular file: {why}")
    return path


def _dir(raw: str, args: tuple[str, ...], base_dir: Path) -> Path | None:
    """A directory, which may not exist yet (read or made when first needed), never a file."""
    path = _path(raw, args, base_dir)
    try:
        other = path is not None and path.exists() and not path.is_dir()
    except OSError as exc:
        raise Refused(f"expected a directory ({exc.strerror})") from None
    if other:
        raise Refused("expected a directory (this is not one)")
    return path


def _time(raw: str, args: tuple[str, ...], base_dir: Path) -> dt.datetime | None:
    try:
        return parse_time(raw) if raw else None
    except ValueError as exc:
        raise Refused(str(exc)) from None


def _choice(raw: str, args: tuple[str, ...], base_dir: Path) -> str:
    for choice in args:
        if raw.lower() == choice.lower():
            return choice
    raise Refused(f"expected one of {', '.join(args)}")


#: Longest template (a file name: ``NAME_MAX`` is 255 bytes on Linux).
MAX_TEMPLATE_CHARS = 255
#: Longest text a template may expand to (each field's value is at most a shot id's length, yet
#: the text is cut by this rule, not by trust in the values).
MAX_EXPANDED_CHARS = 255


def _template(raw: str, args: tuple[str, ...], base_dir: Path) -> str:
    """A ``str.format`` template using only the fields ``args``, each bare (``{shotid}``): no
    attribute, index, conversion or width, so a value can neither fail nor grow when filled."""
    if len(raw) > MAX_TEMPLATE_CHARS:
        raise Refused(f"a template of at most {MAX_TEMPLATE_CHARS} characters")
    try:
        fields = [(name, spec, conversion)
                  for _, name, spec, conversion in string.Formatter().parse(raw)
                  if name is not None]
    except ValueError as exc:
        raise Refused(f"not a template ({exc})") from None
    for name, spec, conversion in fields:
        if name not in args or spec or conversion:
            raise Refused(_not_bare(args, name, spec, conversion))
    return raw


def _not_bare(fields: tuple[str, ...], name: str, spec: str | None,
              conversion: str | None) -> str:
    """Why the field ``{name!conversion:spec}`` is refused."""
    shown = "{" + name + (f"!{conversion}" if conversion else "") + \
        (f":{spec}" if spec else "") + "}"
    return ("expected a template with the fields " + ", ".join("{" + a + "}" for a in fields)
            + f", each bare: not {shown}")


def fill_template(template: str, fields: dict[str, str],
                  limit: int = MAX_EXPANDED_CHARS) -> str:
    """``template`` (checked by the ``template(...)`` kind) with its fields filled in; a
    ValueError when it names another field or the text would be longer than ``limit``.
    Checked again here, so a template that did not come through the kind is no risk."""
    parts = []
    for literal_text, name, spec, conversion in string.Formatter().parse(template):
        parts.append(literal_text)
        if name is None:
            continue
        if name not in fields or spec or conversion:
            raise ValueError(_not_bare(tuple(fields), name, spec, conversion))
        parts.append(fields[name])
    text = "".join(parts)
    if len(text) > limit:
        raise ValueError(f"the name would be {len(text)} characters long (at most {limit})")
    return text


@dataclass(frozen=True)
class Kind:
    """One kind of option value: how its text is read and what a user must write."""

    convert: Converter
    #: What a value must be, in words (bounds follow): "a finite number".
    noun: str
    #: The typed getter of :class:`~ocd.config.Config` that returns it.
    getter: str
    #: Whether ``>``, ``<=``... bounds may follow (numbers and times).
    bounded: bool = False
    #: Whether ``ocd config send`` may change it at run time (with ``{conf modifiable}``):
    #: never what names a program OCD runs or an address it binds or connects.
    runtime_safe: bool = True


#: Every kind the master file may name, by name.
KINDS: dict[str, Kind] = {
    "str": Kind(_text, "text", "str"),
    "secret": Kind(_text, "text (a secret, never shown)", "str"),
    "template": Kind(_template, "a template", "str"),
    "choice": Kind(_choice, "one of the choices", "str"),
    "program": Kind(_text, "a program", "str", runtime_safe=False),
    "arguments": Kind(_text, "a command line", "str", runtime_safe=False),
    "int": Kind(_int, "an integer", "int", bounded=True),
    "port": Kind(_port, "a port number from 1 to 65535", "int"),
    "float": Kind(_float, "a finite number", "float", bounded=True),
    "bool": Kind(_bool, "true or false", "bool"),
    "url": Kind(_url, "an address", "url", runtime_safe=False),
    "urls": Kind(_urls, "a list of addresses", "urls", runtime_safe=False),
    "list": Kind(_list, "a comma-separated list", "list"),
    "path": Kind(_path, "a path", "path"),
    "file": Kind(_file, "an existing regular file", "path"),
    "dir": Kind(_dir, "a directory", "path"),
    "time": Kind(_time, "a date/time", "time", bounded=True),
}

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
_TYPE = re.compile(r"(?P<kind>\w+)(?:\((?P<args>[^)]*)\))?\s*(?P<bounds>.*)")
_BOUND = re.compile(r"(?P<op>>=|<=|>|<)\s*(?P<value>\S+)")


@dataclass(frozen=True)
class Bound:
    """One end of a range: ``> 0`` is ``Bound(">", "0", 0.0)``."""

    op: str
    text: str  #: as written in the master file
    value: Any

    def holds(self, value: Any) -> bool:
        return _COMPARE[self.op](value, self.value)

    def __str__(self) -> str:
        return f"{self.op} {self.text}"


@dataclass(frozen=True)
class ValueSpec:
    """A kind, its arguments (choices, template fields) and its bounds."""

    kind: str
    args: tuple[str, ...] = ()
    bounds: tuple[Bound, ...] = ()

    @property
    def expected(self) -> str:
        """``a finite number > 0 and <= 86400``: what a value must be, in words."""
        if self.kind == "choice":
            return f"one of {', '.join(self.args)}"
        if self.kind == "template":
            return "a template with the fields " + ", ".join("{" + a + "}" for a in self.args)
        ends = " and ".join(map(str, self.bounds))
        return f"{KINDS[self.kind].noun} {ends}".rstrip()

    def convert(self, raw: str, base_dir: Path) -> Any:
        """The value of the text ``raw``, in range; ValueError says what was expected."""
        try:
            value = KINDS[self.kind].convert(raw, self.args, base_dir)
        except Refused:
            raise
        except (ValueError, OverflowError):
            raise ValueError(f"expected {self.expected}") from None
        if value is not None and not all(bound.holds(value) for bound in self.bounds):
            raise ValueError(f"expected {self.expected}")
        return value

    def __str__(self) -> str:
        args = f"({'|'.join(self.args)})" if self.args or self.kind == "choice" else ""
        ends = ", ".join(map(str, self.bounds))
        return f"{self.kind}{args} {ends}".rstrip()


@cache
def parse_type(text: str) -> ValueSpec:
    """Read a value spec (``float > 0, <= 60``); ValueError names what is wrong with it."""
    match = _TYPE.fullmatch(text.strip())
    if match is None or match.group("kind") not in KINDS:
        raise ValueError(f"unknown kind in {text!r} (known: {', '.join(KINDS)})")
    kind = KINDS[match.group("kind")]
    args = tuple(a.strip() for a in (match.group("args") or "").split("|") if a.strip())
    bounds = []
    for part in filter(None, (p.strip() for p in match.group("bounds").split(","))):
        bound = _BOUND.fullmatch(part)
        if bound is None or not kind.bounded:
            raise ValueError(f"{part!r} in {text!r}: expected a bound like '> 0' or "
                             "'<= 60' after a number or time kind")
        value = kind.convert(bound.group("value"), (), Path())
        bounds.append(Bound(bound.group("op"), bound.group("value"), value))
    return ValueSpec(match.group("kind"), args, tuple(bounds))


def convert(type_text: str, raw: str, base_dir: Path) -> Any:
    """The value of ``raw`` by the value spec ``type_text`` (e.g. ``float > 0``)."""
    return parse_type(type_text).convert(raw, base_dir)


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
    if not any(char.isdigit() for char in text):  # "nan", "never": no import to refuse them
        raise ValueError("not a date/time (no digit in it)")
    from astropy.time import Time  # imported here: astropy is slow to import

    # ERFA's "dubious year" and its like are library noise in a command's output: the mock
    # time of a rehearsal may well lie beyond the leap-second table
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            value = Time(text, scale="utc")
        except (ValueError, TypeError) as exc:
            first = str(exc).splitlines()[0].rstrip(":")
            raise ValueError(f"not a date/time astropy.time.Time can parse ({first})") from None
        when: dt.datetime = value.to_datetime(timezone=dt.timezone.utc)
    return when

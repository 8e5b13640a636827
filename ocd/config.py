"""Layered, typed configuration.

The standard library's :mod:`configparser` does the parsing; this module adds what OCD needs on
top of it: the master file is loaded first, then user files, then ``OCD__SECTION__OPTION``
environment variables, then command line overrides; every value remembers where it was set (file
and line) so errors and relative paths can refer to it; and the master file's comments are the
schema (markers and types), so documentation and validation cannot drift apart.
"""

from __future__ import annotations

import configparser
import contextlib
import datetime as dt
import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from ocd.errors import ConfigError

log = logging.getLogger(__name__)

MASTER_NAME = "ocd.cfg"
#: Companion files that ``ocd config copy`` writes next to ``ocd.cfg``.
COMPANION_NAMES = ("loggers.cfg",)
ENV_PREFIX = "OCD__"
MASK = "********"

_MARKERS = re.compile(
    r"\{(?P<need>mandatory|optional)\}\s*"
    r"\{(?P<modify>conf modifiable|conf static|conf do not modify)\}\s*"
    r"type:\s*(?P<type>[\w]+(?:\([^)]*\))?)\.\s*Default:\s*(?P<default>.*)$"
)
_SECTION_LINE = re.compile(r"^\s*\[(?P<name>[^\]]+)\]")
_OPTION_LINE = re.compile(r"^(?P<name>[^\s#;=:\[][^=:]*?)\s*[=:]")
_URL = re.compile(r"^(tcp://[^\s:/]+:(\d+|\*)|ipc://\S+|inproc://\S+)$")


def is_secret(option: str) -> bool:
    """Options whose values must never be shown (passwords)."""
    return "password" in option.lower()


@dataclass(frozen=True)
class OptionSpec:
    """What the master file says about one option: its markers, type and documentation."""

    section: str
    name: str
    type: str
    mandatory: bool
    modify: str  # "conf modifiable", "conf static" or "conf do not modify"
    default: str
    doc: str

    @property
    def modifiable(self) -> bool:
        return self.modify == "conf modifiable"

    @property
    def choices(self) -> tuple[str, ...]:
        match = re.fullmatch(r"choice\((.*)\)", self.type)
        return tuple(match.group(1).split("|")) if match else ()


@dataclass(frozen=True)
class Origin:
    """Where a value was set: a file and line, the environment, or the command line.

    ``by_user`` is False only for the master file shipped in the package: its values are the
    defaults, everything else (a user file, the environment, ``--set``) is the user's choice.
    """

    label: str
    base_dir: Path
    by_user: bool = True

    def __str__(self) -> str:
        return self.label


@dataclass
class SpecProblem:
    """An option of the master file that lacks its documentation or markers."""

    section: str
    option: str
    line: int
    reason: str


def master_text() -> str:
    return resources.files("ocd").joinpath("static", MASTER_NAME).read_text(encoding="utf-8")


def static_file(name: str) -> Path:
    """Path of a file shipped in ``ocd/static``."""
    return Path(str(resources.files("ocd").joinpath("static", name)))


def parse_specs(text: str) -> tuple[dict[tuple[str, str], OptionSpec], list[SpecProblem]]:
    """Read option specifications from the comment block above each option of ``text``."""
    specs: dict[tuple[str, str], OptionSpec] = {}
    problems: list[SpecProblem] = []
    section: str | None = None
    comments: list[str] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            comments = []
            continue
        if stripped.startswith(("#", ";")):
            comments.append(stripped.lstrip("#;").strip())
            continue
        match = _SECTION_LINE.match(line)
        if match:
            section = match.group("name").strip()
            comments = []
            continue
        match = _OPTION_LINE.match(line)
        if not match or section is None:
            continue
        name = match.group("name").strip().lower()
        marker = next((m for m in map(_MARKERS.search, comments) if m), None)
        doc = " ".join(c for c in comments if not _MARKERS.search(c)).strip()
        if marker is None:
            problems.append(SpecProblem(section, name, lineno, "no {markers} line"))
        elif not doc:
            problems.append(SpecProblem(section, name, lineno, "no description"))
        if marker is not None:
            specs[(section, name)] = OptionSpec(
                section=section,
                name=name,
                type=marker.group("type"),
                mandatory=marker.group("need") == "mandatory",
                modify=marker.group("modify"),
                default=marker.group("default").strip(),
                doc=doc,
            )
        comments = []
    return specs, problems


@cache
def master_specs() -> dict[tuple[str, str], OptionSpec]:
    return parse_specs(master_text())[0]


def option_lines(text: str) -> dict[tuple[str, str], int]:
    """Line number of every ``option = value`` line, by (section, option)."""
    lines: dict[tuple[str, str], int] = {}
    section: str | None = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        match = _SECTION_LINE.match(line)
        if match:
            section = match.group("name").strip()
            continue
        match = _OPTION_LINE.match(line)
        if match and section is not None:
            lines[(section, match.group("name").strip().lower())] = lineno
    return lines


class _Interpolation(configparser.Interpolation):
    """``${section:option}`` and ``${option}`` of the same section, else ``${VAR}`` from the
    environment (the environment acts as defaults for every section); ``$$`` is a dollar.

    Written here rather than subclassing ExtendedInterpolation because that class does not let
    an environment lookup apply inside a referenced option of another section.
    """

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def before_get(self, parser, section, option, value, defaults):  # type: ignore[override]
        return self._expand(parser, section, option, value, 0)

    def _expand(self, parser: configparser.ConfigParser, section: str, option: str, value: str,
                depth: int) -> str:
        if depth > configparser.MAX_INTERPOLATION_DEPTH:
            raise _Unresolved(f"references nested more than "
                              f"{configparser.MAX_INTERPOLATION_DEPTH} deep (a loop?)")

        def substitute(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            ref_section, name = match.group("section"), match.group("name")
            if ref_section is not None:
                if not parser.has_option(ref_section, name):
                    raise _Unresolved(f"refers to ${{{ref_section}:{name}}}, which is not set")
                raw = parser.get(ref_section, name, raw=True)
                return self._expand(parser, ref_section, name, raw, depth + 1)
            if name.lower() != option and parser.has_option(section, name):
                raw = parser.get(section, name, raw=True)
                return self._expand(parser, section, name, raw, depth + 1)
            if name in self.environ:
                return self.environ[name]
            raise _MissingVariable(name)

        return _REFERENCE.sub(substitute, value)


_REFERENCE = re.compile(r"\$\$|\$\{(?:(?P<section>[^}:]+):)?(?P<name>[^}:]+)\}")


class _Unresolved(Exception):
    """A ``${...}`` reference that cannot be expanded."""


class UnsetVariableError(ConfigError):
    """An option refers to an environment variable that is not set. Commands that never read
    that option (``${CUREBIN}`` without the external scheduler) must not fail for it."""


class _MissingVariable(_Unresolved):
    def __init__(self, name: str) -> None:
        super().__init__(f"environment variable {name} is not set")
        self.name = name


def _convert(type_name: str, raw: str, base_dir: Path) -> Any:
    """Turn the text ``raw`` into a value of ``type_name``; ValueError says what is wrong."""
    if type_name == "str":
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
                raise ValueError(f"{url!r} is not a tcp://HOST:PORT or ipc://PATH address")
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
    """Parse a UTC date/time with astropy (every format ``Time`` accepts), timezone aware."""
    from astropy.time import Time  # imported here: astropy is slow to import

    try:
        value = Time(text, scale="utc")
    except (ValueError, TypeError) as exc:
        first = str(exc).splitlines()[0].rstrip(":")
        raise ValueError(f"not a date/time astropy.time.Time can parse ({first})") from None
    return value.to_datetime(timezone=dt.timezone.utc)


@dataclass
class Config:
    """The merged configuration with typed getters. Build it with :func:`load_config`."""

    parser: configparser.ConfigParser
    origins: dict[tuple[str, str], Origin] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    # -- raw access -----------------------------------------------------------------------
    def sections(self) -> list[str]:
        return self.parser.sections()

    def options(self, section: str) -> list[str]:
        return self.parser.options(section) if self.parser.has_section(section) else []

    def has(self, section: str, option: str) -> bool:
        return self.parser.has_option(section, option)

    def origin(self, section: str, option: str) -> Origin:
        return self.origins.get((section, option),
                                Origin("master ocd.cfg", Path.cwd(), by_user=False))

    def set_by_user(self, section: str, option: str) -> bool:
        """Whether a user file, the environment or the command line set this option (rather
        than the shipped master file, or nobody)."""
        return self.has(section, option) and self.origin(section, option).by_user

    def raw(self, section: str, option: str) -> str:
        """The value with ``${...}`` references resolved, as text."""
        if not self.parser.has_option(section, option):
            raise ConfigError(f"[{section}] {option}: option missing from the configuration")
        try:
            return self.parser.get(section, option).strip()
        except _Unresolved as exc:
            value = self.parser.get(section, option, raw=True)
            error = self.error(section, option, value, str(exc))
            if isinstance(exc, _MissingVariable):
                raise UnsetVariableError(str(error)) from None
            raise error from None

    def error(self, section: str, option: str, value: str, reason: str) -> ConfigError:
        """A ConfigError naming where ``[section] option`` was set, its value and ``reason``."""
        shown = MASK if is_secret(option) else value
        return ConfigError(
            f"{self.origin(section, option)}: [{section}] {option} = {shown!r}: {reason}"
        )

    # -- typed access ---------------------------------------------------------------------
    def get(self, section: str, option: str, type: str | None = None) -> Any:
        """The value converted to its type (from the master file's spec unless ``type``)."""
        spec = master_specs().get((section, option))
        type_name = type or (spec.type if spec else "str")
        value = self.raw(section, option)
        if not value and spec is not None and spec.mandatory:
            raise self.error(section, option, value, "a value is mandatory")
        try:
            return _convert(type_name, value, self.origin(section, option).base_dir)
        except ValueError as exc:
            raise self.error(section, option, value, str(exc)) from None

    def get_str(self, section: str, option: str) -> str:
        return self.get(section, option, "str")

    def get_int(self, section: str, option: str) -> int:
        return self.get(section, option, "int")

    def get_float(self, section: str, option: str) -> float:
        return self.get(section, option, "float")

    def get_bool(self, section: str, option: str) -> bool:
        return self.get(section, option, "bool")

    def get_urls(self, section: str, option: str) -> list[str]:
        return self.get(section, option, "urls")

    def get_list(self, section: str, option: str) -> list[str]:
        return self.get(section, option, "list")

    def get_path(self, section: str, option: str) -> Path | None:
        return self.get(section, option, "path")

    def validate(self) -> None:
        """Read every option that has a spec, so a bad value fails at start-up, not at 3 am.

        Options that refer to an unset environment variable are only checked when read, since
        most commands never need them (e.g. ``${CUREBIN}`` without the external scheduler).
        """
        for section, option in master_specs():
            if not self.has(section, option):
                continue
            with contextlib.suppress(UnsetVariableError):
                self.get(section, option)

    # -- changes --------------------------------------------------------------------------
    def set(self, section: str, option: str, value: str, origin: Origin,
            check: bool = True) -> None:
        """Set one value; with ``check`` it is read back by type and the change undone if bad
        (the loader checks everything at the end instead, once references can resolve)."""
        if not self.parser.has_section(section):
            self.parser.add_section(section)
        previous = self.parser.get(section, option, raw=True, fallback=None)
        previous_origin = self.origins.get((section, option))
        self.parser.set(section, option, value)
        self.origins[(section, option)] = origin
        if not check or (section, option) not in master_specs():
            return
        try:
            self.get(section, option)
        except UnsetVariableError:
            return
        except ConfigError:
            self._restore(section, option, previous, previous_origin)
            raise

    def check_value(self, section: str, option: str, value: str, origin: Origin) -> None:
        """Raise the ConfigError that setting ``value`` would raise; change nothing."""
        previous = self.parser.get(section, option, raw=True, fallback=None)
        previous_origin = self.origins.get((section, option))
        self.set(section, option, value, origin)  # undoes itself when the value is bad
        self._restore(section, option, previous, previous_origin)

    def _restore(self, section: str, option: str, previous: str | None,
                 previous_origin: Origin | None) -> None:
        """Put back a value and its origin as they were (None: absent)."""
        if previous is None:
            self.parser.remove_option(section, option)
        else:
            self.parser.set(section, option, previous)
        if previous_origin is None:
            self.origins.pop((section, option), None)
        else:
            self.origins[(section, option)] = previous_origin

    # -- display --------------------------------------------------------------------------
    def render(self, mask: bool = True,
               notes: Mapping[tuple[str, str], str] | None = None) -> str:
        """The effective configuration as INI text, each option followed by where it came from
        and by its entry of ``notes`` (e.g. what an ``auto`` value resolved to), if any."""
        notes = notes or {}
        out: list[str] = []
        for section in self.sections():
            out.append(f"[{section}]")
            for option in self.options(section):
                try:
                    value = self.raw(section, option)
                except ConfigError:
                    value = self.parser.get(section, option, raw=True) + "  ; unresolved"
                if mask and is_secret(option) and value:
                    value = MASK
                out.append(f"{option} = {value}".rstrip())
                out.append(f"    ; from {self.origin(section, option)}")
                if (section, option) in notes:
                    out.append(f"    ; {notes[(section, option)]}")
            out.append("")
        return "\n".join(out)

    def secrets(self) -> list[str]:
        """Every secret value present, so log filters can redact them wherever they appear."""
        found = []
        for section in self.sections():
            for option in self.options(section):
                if is_secret(option):
                    value = self.parser.get(section, option, raw=True).strip()
                    if value:
                        found.append(value)
        return found


def _new_parser(environ: Mapping[str, str]) -> configparser.ConfigParser:
    return configparser.ConfigParser(interpolation=_Interpolation(environ))


def _read_file(cfg: Config, text: str, label: str, path: Path, user: bool) -> None:
    """Merge one file's text into ``cfg``, recording origins and warning on unknown options.

    Relative paths of a user file are relative to its directory; those of the master file
    (defaults such as ``shots.dat``) to the current directory, since the package directory
    holds no user data."""
    layer = configparser.ConfigParser(interpolation=None)
    try:
        layer.read_string(text, source=label)
    except configparser.Error as exc:
        errors = getattr(exc, "errors", None)
        if errors:  # ParsingError: lines that are neither a section, an option nor a comment
            lineno, line = errors[0]
            raise ConfigError(f"{label}:{lineno}: cannot parse {line.strip()!r}: expected "
                              "'option = value', a [section] or a # comment") from None
        message = exc.message.splitlines()[0]
        lineno = getattr(exc, "lineno", None)
        where = f"{label}:{lineno}" if lineno else label
        raise ConfigError(f"{where}: {message}") from None
    lines = option_lines(text)
    specs = master_specs()
    for section in layer.sections():
        for option in layer.options(section):
            line = lines.get((section, option))
            where = f"{label}:{line}" if line else label
            if user and (section, option) not in specs:
                known_section = any(s == section for s, _ in specs)
                what = "option" if known_section else "section"
                cfg.warnings.append(f"{where}: unknown {what} [{section}] {option}: ignored "
                                    f"by OCD (a typo?)")
            base = path.parent if user else Path.cwd()
            cfg.set(section, option, layer.get(section, option),
                    Origin(where, base, by_user=user), check=False)


def parse_override(text: str) -> tuple[str, str, str]:
    """Split ``SECTION.OPTION=VALUE`` (the form used by ``--set`` and ``config send``)."""
    key, sep, value = text.partition("=")
    section, dot, option = key.strip().partition(".")
    if not sep or not dot or not section or not option:
        raise ConfigError(f"{text!r}: expected SECTION.OPTION=VALUE")
    return section.strip(), option.strip().lower(), value.strip()


def load_config(
    user_files: Iterable[str | os.PathLike[str]] = (),
    overrides: Iterable[tuple[str, str, str]] = (),
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Merge master file, user files, ``OCD__SECTION__OPTION`` variables and CLI overrides.

    A user file that does not exist is skipped with a warning (the original OCD's behaviour, so
    ``--config`` can point to an optional local file).
    """
    environ = os.environ if environ is None else environ
    cfg = Config(_new_parser(environ))
    master = static_file(MASTER_NAME)
    _read_file(cfg, master_text(), f"{master}", master, user=False)
    cfg.files.append(master)
    for name in user_files:
        path = Path(name).expanduser()
        if not path.is_file():
            cfg.warnings.append(f"configuration file {path} not found: skipped")
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read: {exc}") from None
        _read_file(cfg, text, str(path), path.resolve(), user=True)
        cfg.files.append(path.resolve())
    cwd = Path.cwd()
    for key in sorted(environ):
        if not key.startswith(ENV_PREFIX):
            continue
        section, sep, option = key[len(ENV_PREFIX):].partition("__")
        if not sep:
            continue
        section, option = section.lower(), option.lower()
        if (section, option) not in master_specs():
            cfg.warnings.append(f"environment {key}: unknown option [{section}] {option}: ignored")
        cfg.set(section, option, environ[key], Origin(f"environment {key}", cwd), check=False)
    for section, option, value in overrides:
        if (section, option) not in master_specs():
            cfg.warnings.append(f"command line: unknown option [{section}] {option}")
        cfg.set(section, option, value, Origin("command line", cwd), check=False)
    cfg.validate()
    return cfg

"""The merged configuration: typed getters, where each value was set, and safe changes."""

from __future__ import annotations

import configparser
import contextlib
import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ocd.config.interpolation import MissingVariable, UnresolvedReference, UnsetVariableError
from ocd.config.spec import MASK, is_secret, master_specs
from ocd.config.values import KINDS, convert
from ocd.errors import ConfigError, quoted


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


def literal(value: str) -> str:
    """``value`` written so that the configuration takes it as it is: no ``${...}`` reference
    expands and ``$$`` stays two dollars (for a value received from the bus, which is data)."""
    return value.replace("$", "$$")


def shown_value(value: str) -> str:
    """A value in a one-line message as the user wrote it (``nan``, ``1e308``), quoted when it
    is empty or has spaces or control characters, and cut when it is long."""
    if len(value) > 80:
        value = value[:80] + "..."
    if value and all(c.isprintable() and not c.isspace() and c not in "'\"" for c in value):
        return value
    return quoted(value)


@dataclass
class Config:
    """The merged configuration with typed getters. Build it with :func:`load_config`."""

    parser: configparser.ConfigParser
    origins: dict[tuple[str, str], Origin] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: The user files that were read, as they were named (``files`` has them resolved).
    user_files: list[Path] = field(default_factory=list)
    #: The command line's ``--set`` values, as (section, option, value), in order.
    overrides: list[tuple[str, str, str]] = field(default_factory=list)

    # -- raw access -----------------------------------------------------------------------
    def sections(self) -> list[str]:
        return self.parser.sections()

    def options(self, section: str) -> list[str]:
        return self.parser.options(section) if self.parser.has_section(section) else []

    def has(self, section: str, option: str) -> bool:
        return self.parser.has_option(section, option)

    def origin(self, section: str, option: str) -> Origin:
        found = self.origins.get((section, option))
        if found is None:  # (the working directory is asked only when needed: every get asks)
            found = Origin("master ocd.cfg", Path.cwd(), by_user=False)
        return found

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
        except UnresolvedReference as exc:
            value = self.parser.get(section, option, raw=True)
            error = self.error(section, option, value, str(exc))
            if isinstance(exc, MissingVariable):
                raise UnsetVariableError(str(error)) from None
            raise error from None

    def error(self, section: str, option: str, value: str, reason: str) -> ConfigError:
        """``[run] tick_interval = nan: expected a finite number > 0 (from F:12)``: the
        option, its value as given (a secret masked), ``reason``, and where it was set."""
        shown = MASK if is_secret(option) and value else shown_value(value)
        return ConfigError(f"[{section}] {option} = {shown}: {reason} "
                           f"(from {self.origin(section, option)})")

    # -- typed access ---------------------------------------------------------------------
    def get(self, section: str, option: str, type: str | None = None) -> Any:
        """The value converted to its type (from the master file's spec unless ``type``)."""
        spec = master_specs().get((section, option))
        type_name = type or (spec.type if spec else "str")
        value = self.raw(section, option)
        if not value and spec is not None and spec.mandatory:
            raise self.error(section, option, value, "a value is mandatory")
        try:
            return convert(type_name, value, self.origin(section, option).base_dir)
        except ValueError as exc:
            raise self.error(section, option, value, str(exc)) from None

    def _typed(self, section: str, option: str, type_name: str) -> Any:
        """``get`` for a caller that expects ``type_name``: an option the master file types
        otherwise is a programming error (so a typed getter never lies about its result)."""
        spec = master_specs().get((section, option))
        if spec is not None:
            if KINDS[spec.kind].getter != type_name:
                raise TypeError(f"[{section}] {option} is of type {spec.type}, not {type_name}")
            return self.get(section, option)
        return self.get(section, option, type_name)

    def get_str(self, section: str, option: str) -> str:
        """A ``str`` or ``choice(...)`` option (a choice comes back spelled as declared)."""
        value: str = self._typed(section, option, "str")
        return value

    def get_int(self, section: str, option: str) -> int:
        value: int = self._typed(section, option, "int")
        return value

    def get_float(self, section: str, option: str) -> float:
        value: float = self._typed(section, option, "float")
        return value

    def get_bool(self, section: str, option: str) -> bool:
        value: bool = self._typed(section, option, "bool")
        return value

    def get_url(self, section: str, option: str) -> str | None:
        value: str | None = self._typed(section, option, "url")
        return value

    def get_urls(self, section: str, option: str) -> list[str]:
        value: list[str] = self._typed(section, option, "urls")
        return value

    def get_list(self, section: str, option: str) -> list[str]:
        value: list[str] = self._typed(section, option, "list")
        return value

    def get_path(self, section: str, option: str) -> Path | None:
        value: Path | None = self._typed(section, option, "path")
        return value

    def get_time(self, section: str, option: str) -> dt.datetime | None:
        value: dt.datetime | None = self._typed(section, option, "time")
        return value

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

    def apply(self, changes: Iterable[tuple[str, str, str]],
              origin: Origin) -> Callable[[], None]:
        """Set every (section, option, value) or none: a bad value undoes the changes already
        made and raises its ConfigError. Returns the function that undoes them all (for a
        caller whose own use of the new values fails)."""
        saved: list[tuple[str, str, str | None, Origin | None]] = []

        def undo() -> None:
            for section, option, previous, previous_origin in reversed(saved):
                self._restore(section, option, previous, previous_origin)
            saved.clear()

        try:
            for section, option, value in changes:
                saved.append((section, option,
                              self.parser.get(section, option, raw=True, fallback=None),
                              self.origins.get((section, option))))
                self.set(section, option, value, origin)
        except ConfigError:
            undo()
            raise
        return undo

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

"""Loading the layers: master file, user files, ``OCD__SECTION__OPTION`` environment
variables, then command line overrides; later layers win, and every value remembers where it
was set (file and line) so errors and relative paths can refer to it."""

from __future__ import annotations

import configparser
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from ocd.config.interpolation import EnvInterpolation
from ocd.config.model import Config, Origin
from ocd.config.runtime import with_runtime_dir
from ocd.config.spec import MASTER_NAME, RETIRED, master_specs, master_text, option_lines
from ocd.config.static import static_file
from ocd.errors import ConfigError, quoted, unknown_option

log = logging.getLogger(__name__)

ENV_PREFIX = "OCD__"


def _new_parser(environ: Mapping[str, str]) -> configparser.ConfigParser:
    return configparser.ConfigParser(interpolation=EnvInterpolation(environ))


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
            lineno = errors[0][0]  # (its text there is a repr: show the line as written)
            line = text.splitlines()[lineno - 1].strip() if lineno <= len(text.splitlines()) \
                else ""
            raise ConfigError(f"{label}:{lineno}: cannot parse {quoted(line)}: expected "
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
                cfg.warnings.append(f"{where}: {unknown_option(section, option, specs)}: "
                                    "ignored by OCD")
            base = path.parent if user else Path.cwd()
            cfg.set(section, option, layer.get(section, option),
                    Origin(where, base, by_user=user), check=False)


def parse_override(text: str) -> tuple[str, str, str]:
    """Split ``SECTION.OPTION=VALUE`` (the form used by ``--set`` and ``config send``)."""
    key, sep, value = text.partition("=")
    section, dot, option = key.strip().partition(".")
    if not sep or not dot or not section or not option:
        raise ConfigError(f"{quoted(text)}: expected SECTION.OPTION=VALUE, e.g. "
                          "run.max_seeing=2.5")
    return section.strip(), option.strip().lower(), value.strip()


class ImplicitFile(str):
    """A configuration file named by default, not by the user (``--config`` without FILE):
    optional, so its absence is a warning where a file the user named is an error."""

    __slots__ = ()


def load_config(
    user_files: Iterable[str | os.PathLike[str]] = (),
    overrides: Iterable[tuple[str, str, str]] = (),
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Merge master file, user files, ``OCD__SECTION__OPTION`` variables and CLI overrides.

    A user file that does not exist stops the command (a mistyped ``--config`` path must not
    carry on with the shipped defaults), except an :class:`ImplicitFile` (``--config`` without
    FILE: ``./ocd.cfg``, optional), which is skipped with a warning.
    """
    environ = os.environ if environ is None else environ
    # ${OCD_RUNTIME_DIR} (the single-host address plan's directory) has a default
    cfg = Config(_new_parser(with_runtime_dir(environ)))
    master = static_file(MASTER_NAME)
    _read_file(cfg, master_text(), f"{master}", master, user=False)
    cfg.files.append(master)
    for name in user_files:
        path = Path(name).expanduser()
        if not path.is_file():
            if isinstance(name, ImplicitFile) and not path.exists():
                cfg.warnings.append(f"configuration file {path} not found: skipped")
                continue
            why = "not a regular file" if path.exists() else "no such file"
            raise ConfigError(f"configuration file {quoted(str(path))}: {why} (--config)")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read: {exc}") from None
        _read_file(cfg, text, str(path), path.resolve(), user=True)
        cfg.files.append(path.resolve())
        cfg.user_files.append(path)
    cwd = Path.cwd()
    for key in sorted(environ):
        if not key.startswith(ENV_PREFIX):
            continue
        section, sep, option = key[len(ENV_PREFIX):].partition("__")
        if not sep:
            continue
        section, option = section.lower(), option.lower()
        if (section, option) not in master_specs():
            cfg.warnings.append(f"environment {key}: "
                                f"{unknown_option(section, option, master_specs())}: ignored")
        cfg.set(section, option, environ[key], Origin(f"environment {key}", cwd), check=False)
    for section, option, value in overrides:
        if (section, option) not in master_specs():
            cfg.warnings.append(f"command line: "
                                f"{unknown_option(section, option, master_specs())}: ignored")
        cfg.set(section, option, value, Origin("command line", cwd), check=False)
        cfg.overrides.append((section, option, value))
    _refuse_retired(cfg)
    cfg.validate()
    return cfg


def _refuse_retired(cfg: Config) -> None:
    """A retired option set anywhere stops the command with the name of the one to set."""
    for (section, option), (new_section, new_option) in RETIRED.items():
        if cfg.has(section, option):
            raise cfg.error(section, option, cfg.parser.get(section, option, raw=True),
                            f"no longer an option: set [{new_section}] {new_option}, the one "
                            "limit of both ocd run and ocd schedule")

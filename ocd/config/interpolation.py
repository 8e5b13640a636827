"""``${...}`` references in option values: other options, then environment variables."""

from __future__ import annotations

import configparser
import re
from collections.abc import Mapping, MutableMapping

from ocd.errors import ConfigError


class EnvInterpolation(configparser.Interpolation):
    """``${section:option}`` and ``${option}`` of the same section, else ``${VAR}`` from the
    environment (the environment acts as defaults for every section); ``$$`` is a dollar.

    Written here rather than subclassing ExtendedInterpolation because that class does not let
    an environment lookup apply inside a referenced option of another section.
    """

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def before_get(self, parser: MutableMapping[str, Mapping[str, str]], section: str,
                   option: str, value: str, defaults: Mapping[str, str]) -> str:
        assert isinstance(parser, configparser.ConfigParser)
        return self._expand(parser, section, option, value, 0)

    def _expand(self, parser: configparser.ConfigParser, section: str, option: str, value: str,
                depth: int) -> str:
        if depth > configparser.MAX_INTERPOLATION_DEPTH:
            raise UnresolvedReference(f"references nested more than "
                              f"{configparser.MAX_INTERPOLATION_DEPTH} deep (a loop?)")

        def substitute(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            ref_section, name = match.group("section"), match.group("name")
            if ref_section is not None:
                if not parser.has_option(ref_section, name):
                    raise UnresolvedReference(
                        f"refers to ${{{ref_section}:{name}}}, which is not set")
                raw = parser.get(ref_section, name, raw=True)
                return self._expand(parser, ref_section, name, raw, depth + 1)
            if name.lower() != option and parser.has_option(section, name):
                raw = parser.get(section, name, raw=True)
                return self._expand(parser, section, name, raw, depth + 1)
            if name in self.environ:
                return self.environ[name]
            raise MissingVariable(name)

        return _REFERENCE.sub(substitute, value)


_REFERENCE = re.compile(r"\$\$|\$\{(?:(?P<section>[^}:]+):)?(?P<name>[^}:]+)\}")


class UnresolvedReference(Exception):
    """A ``${...}`` reference that cannot be expanded."""


class UnsetVariableError(ConfigError):
    """An option refers to an environment variable that is not set. Commands that never read
    that option (``${CUREBIN}`` without the external scheduler) must not fail for it."""


class MissingVariable(UnresolvedReference):
    def __init__(self, name: str) -> None:
        super().__init__(f"environment variable {name} is not set")
        self.name = name

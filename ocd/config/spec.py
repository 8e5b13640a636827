"""The master file is the schema: each option's markers, kind, range and default sit in the
comment block above it, so documentation (``doc/configuration.md``) and validation cannot drift
apart. The kinds and their ranges are read by :mod:`ocd.config.values`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from ocd.config.static import static_file
from ocd.config.values import KINDS, ValueSpec, parse_type

MASTER_NAME = "ocd.cfg"
#: Companion files that ``ocd config copy`` writes next to ``ocd.cfg``.
COMPANION_NAMES = ("loggers.cfg",)
MASK = "********"

#: Options merged into another one: setting one is an error naming the one to set, never a
#: second source of truth. (section, option) -> (section, option) to use instead.
RETIRED = {
    ("schedule", "max_seeing"): ("run", "max_seeing"),
    ("schedule", "min_transparency"): ("run", "min_transparency"),
}

_MARKERS = re.compile(
    r"\{(?P<need>mandatory|optional)\}\s*"
    r"\{(?P<modify>conf modifiable|conf static|conf do not modify)\}\s*"
    r"type:\s*(?P<type>.*?)\.\s*Default:\s*(?P<default>.*)$"
)
_SECTION_LINE = re.compile(r"^\s*\[(?P<name>[^\]]+)\]")
_OPTION_LINE = re.compile(r"^(?P<name>[^\s#;=:\[][^=:]*?)\s*[=:]")


#: Kinds of options that name something OCD executes: always {conf static}.
EXECUTION_TYPES = frozenset({"program", "arguments"})


def is_secret(option: str) -> bool:
    """Options whose values must never be shown: those of kind ``secret``, and any option
    named like a password (an unknown one included, to be safe)."""
    name = option.lower()
    return "password" in name or name in _secret_names()


@cache
def _secret_names() -> frozenset[str]:
    return frozenset(name for (_, name), spec in master_specs().items() if spec.secret)


@dataclass(frozen=True)
class OptionSpec:
    """What the master file says about one option: its markers, type and documentation."""

    section: str
    name: str
    type: str  #: the value spec as written: ``float > 0, <= 60``
    mandatory: bool
    modify: str  # "conf modifiable", "conf static" or "conf do not modify"
    default: str
    doc: str

    @property
    def value(self) -> ValueSpec:
        """The kind, its arguments and its range."""
        return parse_type(self.type)

    @property
    def kind(self) -> str:
        """The kind without its arguments and bounds: ``choice`` for ``choice(a|b)``."""
        return self.value.kind

    @property
    def secret(self) -> bool:
        return self.kind == "secret"

    @property
    def executes(self) -> bool:
        """Whether it names something OCD executes (a program, its arguments)."""
        return self.kind in EXECUTION_TYPES

    @property
    def modifiable(self) -> bool:
        """Whether ``ocd config send`` may change it: marked {conf modifiable}, and of a type
        that cannot make OCD execute anything."""
        return self.modify == "conf modifiable" and KINDS[self.kind].runtime_safe

    @property
    def choices(self) -> tuple[str, ...]:
        return self.value.args if self.kind == "choice" else ()



@dataclass
class SpecProblem:
    """An option of the master file that lacks its documentation or markers."""

    section: str
    option: str
    line: int
    reason: str


def master_text() -> str:
    return static_file(MASTER_NAME).read_text(encoding="utf-8")


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
        spec = _option_spec(section, name, lineno, comments, problems)
        if spec is not None:
            specs[(section, name)] = spec
        comments = []
    return specs, problems


def _option_spec(section: str, name: str, lineno: int, comments: list[str],
                 problems: list[SpecProblem]) -> OptionSpec | None:
    """The spec of one option from its comment block; what is missing or wrong goes to
    ``problems`` (an unreadable kind or range gives no spec)."""
    marker = next((m for m in map(_MARKERS.search, comments) if m), None)
    doc = " ".join(c for c in comments if not _MARKERS.search(c)).strip()
    if marker is None:
        problems.append(SpecProblem(section, name, lineno, "no {markers} line"))
        return None
    if not doc:
        problems.append(SpecProblem(section, name, lineno, "no description"))
    try:
        kind = parse_type(marker.group("type")).kind
    except ValueError as exc:
        problems.append(SpecProblem(section, name, lineno, str(exc)))
        return None
    if kind in EXECUTION_TYPES and marker.group("modify") == "conf modifiable":
        problems.append(SpecProblem(section, name, lineno, "a program or its arguments must "
                                    "be {conf static}"))
    if kind == "secret" and marker.group("modify") == "conf modifiable":
        problems.append(SpecProblem(section, name, lineno, "a secret must be {conf static} "
                                    "(it never travels on the bus)"))
    return OptionSpec(section=section, name=name, type=marker.group("type").strip(),
                      mandatory=marker.group("need") == "mandatory",
                      modify=marker.group("modify"),
                      default=marker.group("default").strip(), doc=doc)


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

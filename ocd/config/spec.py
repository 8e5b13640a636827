"""The master file is the schema: each option's markers, type and default sit in the comment
block above it, so documentation (``doc/configuration.md``) and validation cannot drift apart."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from ocd.config.static import static_file

MASTER_NAME = "ocd.cfg"
#: Companion files that ``ocd config copy`` writes next to ``ocd.cfg``.
COMPANION_NAMES = ("loggers.cfg",)
MASK = "********"

_MARKERS = re.compile(
    r"\{(?P<need>mandatory|optional)\}\s*"
    r"\{(?P<modify>conf modifiable|conf static|conf do not modify)\}\s*"
    r"type:\s*(?P<type>[\w]+(?:\([^)]*\))?)\.\s*Default:\s*(?P<default>.*)$"
)
_SECTION_LINE = re.compile(r"^\s*\[(?P<name>[^\]]+)\]")
_OPTION_LINE = re.compile(r"^(?P<name>[^\s#;=:\[][^=:]*?)\s*[=:]")


#: Types of options that name something OCD executes: always {conf static}.
EXECUTION_TYPES = frozenset({"program", "arguments"})
#: Types read as text by ``Config.get_str``.
TEXT_TYPES = frozenset({"str", "choice", *EXECUTION_TYPES})
#: Types whose values cannot make OCD execute anything: the only ones a running ``ocd run``
#: lets ``ocd config send`` change (with the option's {conf modifiable} marker).
RUNTIME_SAFE_TYPES = frozenset({"str", "int", "float", "bool", "choice", "list", "path",
                                "time"})


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
    def kind(self) -> str:
        """The type without its arguments: ``choice`` for ``choice(a|b)``."""
        return self.type.split("(", 1)[0]

    @property
    def executes(self) -> bool:
        """Whether it names something OCD executes (a program, its arguments)."""
        return self.kind in EXECUTION_TYPES

    @property
    def modifiable(self) -> bool:
        """Whether ``ocd config send`` may change it: marked {conf modifiable}, and of a type
        that cannot make OCD execute anything."""
        return self.modify == "conf modifiable" and self.kind in RUNTIME_SAFE_TYPES

    @property
    def choices(self) -> tuple[str, ...]:
        match = re.fullmatch(r"choice\((.*)\)", self.type)
        return tuple(match.group(1).split("|")) if match else ()



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
        marker = next((m for m in map(_MARKERS.search, comments) if m), None)
        doc = " ".join(c for c in comments if not _MARKERS.search(c)).strip()
        if marker is None:
            problems.append(SpecProblem(section, name, lineno, "no {markers} line"))
        elif not doc:
            problems.append(SpecProblem(section, name, lineno, "no description"))
        if marker is not None and marker.group("type").split("(", 1)[0] in EXECUTION_TYPES \
                and marker.group("modify") == "conf modifiable":
            problems.append(SpecProblem(section, name, lineno, "a program or its arguments must "
                                        "be {conf static}"))
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

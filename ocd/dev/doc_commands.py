"""The command lines a page of ``doc/`` tells a reader to type, so that a test can run them.

Every code block of a page is one of three things, and says which:

- a block of command lines, typed in order (a long-running command stays running, as in a
  terminal of its own, while the next lines run): a plain indented or fenced block, or a fenced
  block whose info string is a shell (``sh``, ``bash``, ``console``, ``shell``);
- a file the page asks the reader to write: ``<!-- file: NAME -->`` on the line before the
  block; the command lines after it on the page find it in their directory;
- anything else (sample output, a snippet, a command that needs a telescope or installs
  packages): ``<!-- illustrative: WHY -->`` on the line before the block, or a fenced block
  whose info string names another language (``json``, ``python``, ``ini``).

An unmarked block is run: a sample of output that is not marked fails the test that runs it,
so no block escapes the decision.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

#: The info strings of fenced blocks that hold command lines.
SHELLS = frozenset({"", "sh", "bash", "console", "shell"})

_MARKER = re.compile(r"^<!--\s*(illustrative|file)\b:?\s*(.*?)\s*-->$")
_FENCE = re.compile(r"^(```+|~~~+)\s*([\w+-]*)")


@dataclass(frozen=True)
class Block:
    """A code block of a page (``line``: its first line): ``kind`` is ``run``, ``file`` or
    ``illustrative``; ``name`` the file's name (``file``) or why it is not run."""

    page: str
    line: int
    kind: str
    name: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class CommandLine:
    """One command line of a page, with what it needs: the earlier command lines of its
    block (``before``, typed first) and the files the page asked for above it."""

    page: str
    line: int
    text: str
    before: tuple[str, ...]
    files: tuple[tuple[str, str], ...]

    @property
    def words(self) -> list[str]:
        return words(self.text)


def words(line: str) -> list[str]:
    """The words of a command line as a shell splits them, without a trailing ``# comment``."""
    return shlex.split(line, comments=True)


def _marker(lines: list[str], start: int) -> tuple[str, str] | None:
    """The marker comment on the nearest non-blank line above line ``start``, if any."""
    index = start - 1
    while index >= 0 and not lines[index].strip():
        index -= 1
    if index < 0:
        return None
    match = _MARKER.match(lines[index].strip())
    return (match.group(1), match.group(2)) if match else None


def _fenced(lines: list[str], start: int) -> tuple[int, str, list[str]]:
    """The fenced block opening at ``start``: the index after it, its info string, its lines."""
    match = _FENCE.match(lines[start])
    assert match is not None
    fence, info = match.group(1), match.group(2)
    end = start + 1
    while end < len(lines) and not lines[end].startswith(fence):
        end += 1
    return end + 1, info, lines[start + 1:end]


def _indented(lines: list[str], start: int) -> tuple[int, list[str]]:
    """The indented block starting at ``start``: the index after it, its lines (unindented)."""
    end = start
    while end < len(lines) and (lines[end].startswith("    ") or not lines[end].strip()):
        end += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return end, [line[4:] for line in lines[start:end]]


def blocks(page: str, text: str) -> list[Block]:
    """The code blocks of a Markdown page, in order, each with its kind."""
    lines = text.splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        previous_blank = index == 0 or not lines[index - 1].strip()
        if _FENCE.match(line):
            end, info, body = _fenced(lines, index)
            kind, name = _marker(lines, index) or ("run", "")
            if kind == "run" and info not in SHELLS:
                kind, name = "illustrative", f"a {info} block"
            first = index + 2
        elif line.startswith("    ") and line.strip() and previous_blank:
            end, body = _indented(lines, index)
            kind, name = _marker(lines, index) or ("run", "")
            first = index + 1
        else:
            index += 1
            continue
        found.append(Block(page, first, kind, name, tuple(body)))
        index = end
    return found


def _logical_lines(block: Block) -> list[tuple[int, str]]:
    """The command lines of a block with their line numbers: continuation lines (ending in a
    backslash) joined, blank lines and comment lines left out."""
    joined: list[tuple[int, str]] = []
    parts: list[str] = []
    first = 0
    for offset, raw in enumerate(block.lines):
        text = raw.strip()
        if not parts and (not text or text.startswith("#")):
            continue
        if not parts:
            first = block.line + offset
        parts.append(text.removesuffix("\\").strip())
        if not text.endswith("\\"):
            joined.append((first, " ".join(parts)))
            parts = []
    if parts:
        joined.append((first, " ".join(parts)))
    return joined


def command_lines(page: str, text: str) -> list[CommandLine]:
    """Every command line of a page, each with the lines typed before it in its block and
    the files written above it."""
    commands: list[CommandLine] = []
    files: list[tuple[str, str]] = []
    for block in blocks(page, text):
        if block.kind == "file":
            files.append((block.name, "\n".join(block.lines) + "\n"))
        if block.kind != "run":
            continue
        logical = _logical_lines(block)
        for position, (line, command) in enumerate(logical):
            before = tuple(earlier for _, earlier in logical[:position])
            commands.append(CommandLine(page, line, command, before, tuple(files)))
    return commands

"""Expected errors: the CLI prints them as one line and exits with their code.

Anything else is a bug and shows a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

#: Exit code for usage and configuration errors (the same as argparse's).
EXIT_USAGE = 2
#: Exit code for failures at run time (database down, no main loop answering, ...).
EXIT_RUNTIME = 1
#: Exit code after Ctrl+C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130
#: Exit code when the reader of the standard output went away (``ocd listen | head -1``):
#: 128 + SIGPIPE, as shells report a command the closed pipe stopped.
EXIT_BROKEN_PIPE = 141


class OcdError(Exception):
    """An error the user can act on; its message is the whole explanation."""

    exit_code = EXIT_RUNTIME


class ConfigError(OcdError):
    """Bad configuration: names the file, section, option and value when known."""

    exit_code = EXIT_USAGE


class UsageError(OcdError):
    """Bad command line arguments detected after argparse (e.g. two exclusive inputs)."""

    exit_code = EXIT_USAGE


class Interrupted(OcdError):
    """The user interrupted the command (Ctrl+C or SIGTERM) before it could finish."""

    exit_code = EXIT_INTERRUPTED


# -- wording shared by every message ----------------------------------------------------------

def quoted(text: str) -> str:
    """``'text'`` for a one-line message: what the user wrote, as written, never a Python
    repr with escapes; a line break shows as ``⏎`` and other control characters as ``?``."""
    shown = "⏎".join(text.splitlines())
    return "'" + "".join(c if c.isprintable() or c in "⏎\t" else "?" for c in shown) + "'"


#: Characters an error text keeps in an event or a log line (an exception's message, a
#: traceback can be anything: a hostile value, a whole file).
MAX_ERROR_CHARS = 2000


def cut(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters: when longer, its start followed by a visible
    marker saying how many characters were cut (``… [1234 characters cut]``), so a reader
    never takes a cut text for a whole one."""
    if len(text) <= limit:
        return text
    widest = len(f"… [{len(text)} characters cut]")
    kept = max(0, limit - widest)
    return f"{text[:kept]}… [{len(text) - kept} characters cut]"


_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """``text`` from outside (an id, an origin, a shot id, a TCS string) safe to show on a
    terminal or in a log: every control or other unprintable character written as an escape
    (``\\n``, ``\\u001b``), so it can neither forge a line nor drive the terminal. The
    escapes are valid inside a JSON string too, so a JSON line stays JSON."""
    if text.isprintable():
        return text
    out = []
    for char in text:
        if char.isprintable() or char == " ":
            out.append(char)
        elif char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif ord(char) > 0xFFFF:  # a JSON escape is two UTF-16 halves
            code = ord(char) - 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            out.append(f"\\u{ord(char):04x}")
    return "".join(out)


def printable_lines(text: str) -> str:
    """A report of several lines that quotes text from outside (topics, origins, reasons of a
    recording), each line made :func:`printable`: its own line breaks stay, none can be forged
    and no control character reaches the terminal."""
    return "\n".join(printable(line) for line in text.split("\n"))


def suggestion(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean X?)`` naming the closest of ``choices`` to a mistyped ``word``, or
    nothing when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def unknown_option(section: str, option: str, known: Iterable[tuple[str, str]]) -> str:
    """``unknown option [run] max_seing (did you mean [run] max_seeing?)``: the closest option
    of the same section, else of any section (``[run] exposure_time`` is in ``[run_shot]``);
    ``unknown section [...]`` when no known option has that section."""
    known = list(known)
    sections = {s for s, _ in known}
    if section in sections:
        same = suggestion(option, [o for s, o in known if s == section])
        hint = same.replace("mean ", f"mean [{section}] ") if same else suggestion(
            f"[{section}] {option}", [f"[{s}] {o}" for s, o in known])
        return f"unknown option [{section}] {option}{hint}"
    if (moved := [s for s, o in known if o == option]):
        return f"unknown section [{section}] with option {option} (did you mean [{moved[0]}] " \
               f"{option}?)"
    return (f"unknown section [{section}] with option {option}"
            + suggestion(f"[{section}] {option}", [f"[{s}] {o}" for s, o in known]))

"""Expected errors: the CLI prints them as one line and exits with their code.

Anything else is a bug and shows a traceback.
"""

from __future__ import annotations

#: Exit code for usage and configuration errors (the same as argparse's).
EXIT_USAGE = 2
#: Exit code for failures at run time (database down, no main loop answering, ...).
EXIT_RUNTIME = 1
#: Exit code after Ctrl+C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130


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

"""Logging set-up: stdlib logging, real-time stamps, control characters escaped everywhere.

Secrets are kept out of the logs where they are shown, not by search and replace here: the
only places that show an option's value (``ocd config show``, a configuration error) mask the
value of a secret option, and no code logs a secret. Replacing a secret's text in every line
would also mask it inside other words: a password ``test`` turned ``test_db`` into
``********_db``.
"""

from __future__ import annotations

import logging
import logging.config

from ocd.config import Config
from ocd.errors import printable

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class EscapeControls(logging.Filter):
    """Write the control characters of every log message as escapes (:func:`printable`): a
    text from outside (an origin, an id, a TCS string) can neither forge a log line with a
    line break nor drive the terminal showing the log. A traceback keeps its lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        shown = printable(message)
        if shown != message:
            record.msg, record.args = shown, None
        return True


#: Libraries whose INFO and DEBUG lines are noise in a command's output (matplotlib's "generated
#: new fontManager", asyncio's "Using selector"): only their warnings and errors are shown.
QUIET_LIBRARIES = ("matplotlib", "PIL", "asyncio")


def setup_logging(level: str = "INFO", cfg: Config | None = None) -> None:
    """Configure the root logger from ``[general]``; ``level`` is the effective console level."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    logging_config = cfg.get_path("general", "logging_config") if cfg is not None else None
    if cfg is not None and logging_config is not None:  # an existing file: the config checks it
        logging.config.fileConfig(logging_config, disable_existing_loggers=False)
    else:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
    escape = EscapeControls()
    for handler in root.handlers:
        handler.addFilter(escape)

"""Logging set-up: stdlib logging, real-time stamps, secrets redacted and control characters
escaped everywhere."""

from __future__ import annotations

import logging
import logging.config
from collections.abc import Iterable

from ocd.config import MASK, Config
from ocd.errors import printable

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class RedactSecrets(logging.Filter):
    """Replace every known secret value (e.g. ``mysql_password``) by a mask in log records.

    A filter on the handlers rather than care at every call site: a password inside an
    exception text from a driver is redacted too.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        redacted = message
        for secret in self.secrets:
            redacted = redacted.replace(secret, MASK)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            for secret in self.secrets:
                text = text.replace(secret, MASK)
            record.exc_text, record.exc_info = text, None
        return True


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
    redact = RedactSecrets(cfg.secrets() if cfg is not None else ())
    escape = EscapeControls()
    for handler in root.handlers:
        handler.addFilter(redact)
        handler.addFilter(escape)

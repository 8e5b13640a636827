"""Logging: secrets never reach a log record, the logging config file is honoured."""

import logging

import pytest

from ocd.cli.logs import setup_logging
from ocd.config import load_config
from ocd.errors import ConfigError


@pytest.fixture(autouse=True)
def restore_root_logger():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_password_is_redacted_from_messages_and_tracebacks(capsys):
    cfg = load_config(overrides=[("database", "mysql_password", "pa55-w0rd!")], environ={})
    setup_logging("DEBUG", cfg)
    log = logging.getLogger("ocd.test")
    log.info("connecting with %s", "pa55-w0rd!")
    try:
        raise RuntimeError("driver said: bad password pa55-w0rd!")
    except RuntimeError:
        log.exception("failed")
    err = capsys.readouterr().err
    assert "pa55-w0rd!" not in err
    assert "connecting with ********" in err
    assert "RuntimeError: driver said: bad password ********" in err


def test_logging_config_file_is_used(tmp_path):
    log_file = tmp_path / "ocd.log"
    conf = tmp_path / "loggers.cfg"
    conf.write_text(
        "[loggers]\nkeys = root\n[handlers]\nkeys = file\n[formatters]\nkeys = plain\n"
        "[logger_root]\nlevel = DEBUG\nhandlers = file\n"
        f"[handler_file]\nclass = FileHandler\nformatter = plain\nargs = ({str(log_file)!r},)\n"
        "[formatter_plain]\nformat = %(levelname)s %(message)s\n")
    cfg = load_config(overrides=[("general", "logging_config", str(conf)),
                                 ("database", "mysql_password", "zz-secret-zz")], environ={})
    setup_logging("INFO", cfg)
    logging.getLogger("ocd.test").warning("hello zz-secret-zz")
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert log_file.read_text() == "WARNING hello ********\n"


def test_missing_logging_config_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="logging_config .* file not found"):
        cfg = load_config(overrides=[("general", "logging_config", str(tmp_path / "no.cfg"))],
                          environ={})
        setup_logging("INFO", cfg)

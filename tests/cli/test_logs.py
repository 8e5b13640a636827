"""Logging: a secret's letters in other text are left alone, the logging config file is
honoured."""

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


def test_a_secrets_letters_in_other_text_are_left_alone(capsys):
    """Only a secret option's value is masked, where it is shown: a password ``ocd`` must not
    turn every ``ocd`` of the logs into a mask."""
    cfg = load_config(overrides=[("database", "mysql_password", "ocd")], environ={})
    setup_logging("DEBUG", cfg)
    logging.getLogger("ocd.test").info("ocd run: database 'ocd_db' (user 'ocd')")
    assert "ocd run: database 'ocd_db' (user 'ocd')" in capsys.readouterr().err


def test_logging_config_file_is_used(tmp_path):
    log_file = tmp_path / "ocd.log"
    conf = tmp_path / "loggers.cfg"
    conf.write_text(
        "[loggers]\nkeys = root\n[handlers]\nkeys = file\n[formatters]\nkeys = plain\n"
        "[logger_root]\nlevel = DEBUG\nhandlers = file\n"
        f"[handler_file]\nclass = FileHandler\nformatter = plain\nargs = ({str(log_file)!r},)\n"
        "[formatter_plain]\nformat = %(levelname)s %(message)s\n")
    cfg = load_config(overrides=[("general", "logging_config", str(conf))], environ={})
    setup_logging("INFO", cfg)
    logging.getLogger("ocd.test").warning("hello\x1b[2J")
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert log_file.read_text() == "WARNING hello\\u001b[2J\n"


def test_missing_logging_config_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="logging_config .* file not found"):
        cfg = load_config(overrides=[("general", "logging_config", str(tmp_path / "no.cfg"))],
                          environ={})
        setup_logging("INFO", cfg)

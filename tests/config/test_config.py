"""The layered configuration: merge order, typed getters, errors that say where, warnings."""

from pathlib import Path

import pytest

from ocd.config import ImplicitFile, load_config, parse_override, parse_specs
from ocd.errors import ConfigError


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_master_defaults_are_typed():
    cfg = load_config(environ={})
    assert cfg.get("run", "n_ocd_main_loop") == 0
    assert cfg.get("urls", "ocd_main_loop") == ["tcp://127.0.0.1:6600"]
    assert cfg.get("urls", "ocd_db_replay") == ["tcp://127.0.0.1:6603"]
    assert cfg.get("database", "mysql_update_obsnum") is True
    assert cfg.get("dates", "mock_time") is None
    assert cfg.get("dates", "mock_speed") == 1.0
    assert cfg.get("general", "log_level") == "INFO"


def test_merge_order_master_user_environment_cli(tmp_path):
    first = write(tmp_path, "a.cfg", "[run]\nn_ocd_main_loop = 1\nn_ocd_run_shot = 1\n")
    second = write(tmp_path, "b.cfg", "[run]\nn_ocd_run_shot = 2\n[tcs]\nheartbeat_timeout = 7\n")
    environ = {"OCD__RUN__N_OCD_MAIN_LOOP": "3", "OCD__TCS__HEARTBEAT_TIMEOUT": "8"}
    cfg = load_config([first, second], [("tcs", "heartbeat_timeout", "9")], environ=environ)
    assert cfg.get("run", "n_ocd_run_shot") == 2          # later file wins
    assert cfg.get("run", "n_ocd_main_loop") == 3         # environment wins over files
    assert cfg.get("tcs", "heartbeat_timeout") == 9.0     # command line wins over everything
    assert str(cfg.origin("run", "n_ocd_run_shot")) == f"{second}:2"
    assert str(cfg.origin("run", "n_ocd_main_loop")) == "environment OCD__RUN__N_OCD_MAIN_LOOP"
    assert str(cfg.origin("tcs", "heartbeat_timeout")) == "command line"


def test_url_lists_from_the_user_note(tmp_path):
    user = write(tmp_path, "ocd.cfg", "[urls]\nocd_run_shot = tcp://127.0.0.1:6601, "
                 "ipc://run_shot.ipc\n[run_shot]\nn_ocd_run_shot = 1\n")
    cfg = load_config([user], environ={})
    assert cfg.get_urls("urls", "ocd_run_shot") == ["tcp://127.0.0.1:6601", "ipc://run_shot.ipc"]
    assert cfg.get("run_shot", "n_ocd_run_shot") == 1


def test_bad_value_names_file_line_section_option_and_value(tmp_path):
    user = write(tmp_path, "bad.cfg", "# comment\n[run]\n\nn_ocd_main_loop = two\n")
    with pytest.raises(ConfigError) as info:
        load_config([user], environ={})
    message = str(info.value)
    assert message == f"[run] n_ocd_main_loop = two: expected an integer >= 0 (from {user}:4)"


@pytest.mark.parametrize("option, value, reason", [
    ("urls.ocd_main_loop", "http://x:1", "is not a tcp://HOST:PORT or ipc://PATH address"),
    ("database.mysql_update_obsnum", "maybe", "expected true/false"),
    ("database.backend", "oracle", "expected one of auto, mysql, sqlite"),
    ("dates.mock_speed", "fast", "expected a finite number >= 0.001"),
    ("dates.mock_time", "not a date", "not a date/time"),
    ("urls.ocd_main_loop", "", "a value is mandatory"),
])
def test_type_errors_from_the_command_line(option, value, reason):
    with pytest.raises(ConfigError) as info:
        load_config(overrides=[parse_override(f"{option}={value}")], environ={})
    assert str(info.value).startswith(f"[{option.replace('.', '] ')} = ")
    assert str(info.value).endswith(" (from command line)")
    assert reason in str(info.value)


def test_parse_error_names_file_and_line(tmp_path):
    user = write(tmp_path, "broken.cfg", "[run]\nn_ocd_main_loop = 1\nthis line has no equals\n")
    with pytest.raises(ConfigError) as info:
        load_config([user], environ={})
    # the line as written: no Python repr, no escaped line break
    assert str(info.value) == (f"{user}:3: cannot parse 'this line has no equals': expected "
                               "'option = value', a [section] or a # comment")


def test_unknown_options_and_missing_implicit_file_warn(tmp_path):
    user = write(tmp_path, "u.cfg", "[run]\nn_ocd_main_lop = 1\n[nosuch]\nx = 1\n")
    cfg = load_config([user, ImplicitFile(tmp_path / "absent.cfg")], environ={})
    assert f"{user}:2: unknown option [run] n_ocd_main_lop (did you mean [run] " \
           "n_ocd_main_loop?): ignored by OCD" in cfg.warnings
    assert f"{user}:4: unknown section [nosuch] with option x: ignored by OCD" in cfg.warnings
    assert any("absent.cfg not found: skipped" in w for w in cfg.warnings)


def test_missing_named_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"absent.cfg': no such file") as info:
        load_config([tmp_path / "absent.cfg"], environ={})
    assert info.value.exit_code == 2
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config([tmp_path], environ={})


def test_environment_interpolation_and_missing_variable():
    cfg = load_config(environ={"CUREBIN": "/opt/cure/bin"})
    assert cfg.get("autoschedule", "executable") == "/opt/cure/bin/autoschedule_main"
    cfg = load_config(environ={})  # loads: the variable matters only when the option is read
    with pytest.raises(ConfigError, match="environment variable CUREBIN is not set"):
        cfg.get("autoschedule", "executable")


def test_cross_section_interpolation(tmp_path):
    user = write(tmp_path, "x.cfg", "[urls]\nocd_main_loop = ${run_shot:where}\n"
                 "[run_shot]\nwhere = ipc://${HOME}/x.ipc\n")
    cfg = load_config([user], environ={"HOME": "/home/ra"})
    assert cfg.get("urls", "ocd_main_loop") == ["ipc:///home/ra/x.ipc"]


def test_paths_are_relative_to_the_file_that_set_them(tmp_path):
    sub = tmp_path / "conf"
    sub.mkdir()
    user = write(sub, "ocd.cfg", "[shots]\nshot_file = ../night/shots.dat\n")
    cfg = load_config([user], environ={})
    assert cfg.get("shots", "shot_file") == sub.resolve() / "../night/shots.dat"
    cfg = load_config(overrides=[("shots", "shot_file", "/abs/shots.dat")], environ={})
    assert cfg.get("shots", "shot_file") == Path("/abs/shots.dat")


def test_set_by_user_tells_the_users_values_from_the_master_defaults(tmp_path):
    user = write(tmp_path, "u.cfg", "[run]\nn_ocd_main_loop = 0\n")
    environ = {"OCD__TCS__HEARTBEAT_TIMEOUT": "5"}
    cfg = load_config([user], [("bus", "linger", "1")], environ=environ)
    # the same values as the master file's, but the user wrote them
    assert cfg.set_by_user("run", "n_ocd_main_loop")
    assert cfg.set_by_user("tcs", "heartbeat_timeout")
    assert cfg.set_by_user("bus", "linger")
    assert not cfg.set_by_user("run", "n_ocd_run_shot")          # master default
    assert not cfg.origin("run", "n_ocd_run_shot").by_user
    assert not cfg.set_by_user("run", "no_such_option")           # set by nobody


def test_render_adds_notes_after_the_origin():
    cfg = load_config(environ={})
    lines = cfg.render(notes={("run", "n_ocd_main_loop"): "a note"}).splitlines()
    at = lines.index("n_ocd_main_loop = 0")
    assert lines[at + 1].startswith("    ; from ") and lines[at + 2] == "    ; a note"


def test_set_checks_type_and_rolls_back():
    cfg = load_config(environ={})
    from ocd.config import Origin
    with pytest.raises(ConfigError):
        cfg.set("tcs", "heartbeat_timeout", "soon", Origin("config send", Path.cwd()))
    assert cfg.get("tcs", "heartbeat_timeout") == 5.0


def test_password_is_masked_in_show_and_errors():
    cfg = load_config(overrides=[("database", "mysql_password", "s3cret-pw")], environ={})
    shown = cfg.render()
    assert "s3cret-pw" not in shown
    assert "mysql_password = ********" in shown


def test_parse_override_rejects_malformed():
    assert parse_override("run.n_ocd_main_loop=2") == ("run", "n_ocd_main_loop", "2")
    for bad in ("run=2", "run.n", ".x=1"):
        with pytest.raises(ConfigError, match="SECTION.OPTION=VALUE"):
            parse_override(bad)


def test_spec_parser_reports_undocumented_options():
    specs, problems = parse_specs("[a]\n# doc only\nx = 1\n\n"
                                  "# {optional} {conf static} type: int. Default: 1\ny = 1\n"
                                  "# Good.\n# {optional} {conf static} type: int. Default: 2\n"
                                  "z = 2\n")
    assert [(p.option, p.reason) for p in problems] == [("x", "no {markers} line"),
                                                        ("y", "no description")]
    assert specs[("a", "z")].type == "int" and specs[("a", "z")].default == "2"


def test_check_value_changes_nothing():
    from ocd.config import Origin
    cfg = load_config(environ={})
    cfg.check_value("tcs", "heartbeat_timeout", "9", Origin("x", Path.cwd()))
    assert cfg.get("tcs", "heartbeat_timeout") == 5.0
    assert "ocd.cfg" in str(cfg.origin("tcs", "heartbeat_timeout"))
    with pytest.raises(ConfigError, match="expected a finite number > 0"):
        cfg.check_value("tcs", "heartbeat_timeout", "soon", Origin("x", Path.cwd()))
    assert cfg.get("tcs", "heartbeat_timeout") == 5.0


def test_master_defaults_are_relative_to_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(environ={})
    assert cfg.get("shots", "shot_file") == tmp_path / "shots.dat"
    assert cfg.get("run_shot", "shuffle_dir") == tmp_path / "HETcommands"

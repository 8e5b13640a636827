"""The ``ocd`` executable as a user runs it: real subprocesses."""

import argparse
import re
import subprocess
import sys

import pytest
from conftest import ocd_env

from ocd.cli import build_parser
from ocd.config import sample_shot_file


def leaf_parsers(parser):
    """Every parser that runs a command (the innermost level of subcommands)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield parser
    for action in subs:
        for sub in action.choices.values():
            yield from leaf_parsers(sub)


def test_help_lists_subcommands_and_each_has_help(ocd):
    result = ocd("--help")
    assert result.returncode == 0
    names = re.findall(r"^    (\w+)\s", result.stdout, flags=re.M)
    assert {"config", "time"} <= set(names), result.stdout
    for name in names:
        sub = ocd(name, "--help")
        assert sub.returncode == 0, sub.stderr


def test_every_command_takes_the_common_options():
    leaves = list(leaf_parsers(build_parser()))
    assert len(leaves) >= 3
    for leaf in leaves:
        options = {o for a in leaf._actions for o in a.option_strings}
        for option in ("--config", "--log-level", "--debug", "--set"):
            assert option in options, (leaf.prog, option)


def test_every_parser_action_has_help_text():
    parser = build_parser()

    def walk(p):
        for action in p._actions:
            if action.help is None and action.dest not in ("help", "command", "action"):
                yield p.prog, action.dest
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    yield from walk(sub)

    assert list(walk(parser)) == []


def test_config_copy_refuses_then_forces(ocd, tmp_path):
    first = ocd("config", "copy", str(tmp_path))
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "ocd.cfg").read_text().startswith("# OCD master configuration")
    assert (tmp_path / "loggers.cfg").exists()
    (tmp_path / "ocd.cfg").write_text("[run]\n")
    again = ocd("config", "copy", str(tmp_path))
    assert again.returncode == 2  # a usage error, as doc/commands.md says
    assert again.stderr.count("\n") == 1 and "use --force" in again.stderr
    assert (tmp_path / "ocd.cfg").read_text() == "[run]\n"
    forced = ocd("config", "copy", "--force", str(tmp_path))
    assert forced.returncode == 0
    assert (tmp_path / "ocd.cfg").read_text().startswith("# OCD master configuration")
    nowhere = ocd("config", "copy", str(tmp_path / "absent"))
    assert nowhere.returncode == 2
    assert nowhere.stderr == f"ocd: error: {tmp_path / 'absent'}: no such directory\n"


def test_config_with_no_value_means_ocd_cfg_in_cwd(ocd, tmp_path):
    (tmp_path / "ocd.cfg").write_text("[run]\nn_ocd_main_loop = 4\n")
    result = ocd("config", "show", "--config", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "n_ocd_main_loop = 4" in result.stdout
    assert "ocd.cfg:2" in result.stdout


def test_missing_named_config_is_one_line_exit_2(ocd, tmp_path):
    result = ocd("run", "--config", str(tmp_path / "nigth.cfg"), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr == (f"ocd: error: configuration file '{tmp_path / 'nigth.cfg'}': "
                             "no such file (--config)\n")


def test_missing_implicit_ocd_cfg_warns_and_goes_on(ocd, tmp_path):
    result = ocd("time", "--config", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ocd.cfg not found: skipped" in result.stderr


def test_config_show_masks_password_everywhere(ocd, tmp_path):
    user = tmp_path / "u.cfg"
    user.write_text("[database]\nmysql_password = hunter2-secret\n")
    result = ocd("config", "show", "--config", str(user), "--log-level", "DEBUG")
    assert result.returncode == 0
    assert "hunter2-secret" not in result.stdout + result.stderr
    assert "mysql_password = ********" in result.stdout


def test_config_show_masks_only_the_secret_value(ocd, tmp_path):
    """A password that is also a common word (the original's ``test``, or ``ocd``) is masked
    where it is the value of a secret option, and nowhere else."""
    user = tmp_path / "u.cfg"
    user.write_text("[database]\nmysql_password = ocd\nmysql_database = ocd_db\n"
                    "mysql_user = ocd\n")
    result = ocd("config", "show", "--config", str(user), "--log-level", "DEBUG")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "mysql_password = ********" in lines
    assert "mysql_database = ocd_db" in lines and "mysql_user = ocd" in lines
    assert "[general]" in lines and "********" not in result.stderr
    assert sum("********" in line for line in lines) == 1


def test_configuration_error_is_one_line_exit_2(ocd, tmp_path):
    user = tmp_path / "u.cfg"
    user.write_text("[dates]\nmock_speed = quick\n")
    result = ocd("time", "--config", str(user))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("ocd: error: [dates] mock_speed = quick: expected a finite "
                                    "number >= 0.001")
    assert result.stderr.rstrip().endswith(f"(from {user}:2)")
    assert "Traceback" not in result.stderr


def test_debug_shows_traceback(ocd):
    result = ocd("time", "--debug", "--set", "dates.mock_speed=quick")
    assert result.returncode == 2
    assert "Traceback" in result.stderr
    assert "ocd: error:" in result.stderr


def test_usage_error_exit_2(ocd):
    result = ocd("nosuchcommand")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


@pytest.mark.parametrize("speed, marker", [("1", "MOCKED"), (None, "real")])
def test_time_command(ocd, speed, marker):
    args = ["time"]
    if speed:
        args += ["--set", "dates.mock_time=2017-11-18T18:00:00"]
    result = ocd(*args)
    assert result.returncode == 0, result.stderr
    assert marker in result.stdout
    assert re.search(r"^JD:\s+24\d{5}\.\d{6}$", result.stdout, flags=re.M)
    if speed:
        assert "UTC:   2017-11-18T18:00" in result.stdout


@pytest.mark.parametrize("args, usage, said", [
    (["run", "--confg"], "usage: ocd run ", "unrecognized arguments: --confg (did you mean "
                                            "--config?)"),
    (["listen", "--jsno"], "usage: ocd listen ", "--jsno (did you mean --json?)"),
    (["config", "send", "run.x=1", "--timout", "3"], "usage: ocd config send ",
     "--timout (did you mean --timeout?)"),
    (["rehersae"], "usage: ocd [-h]", "(did you mean rehearse?)"),
    (["allow_hetdex", "strat"], "usage: ocd allow_hetdex ", "(did you mean start?)"),
    (["--config", "my.cfg", "run"], "usage: ocd [-h]",
     "--config is an option of each command: give it after the command's name, e.g. ocd run "
     "--config my.cfg"),
    (["--debug", "time"], "usage: ocd [-h]", "e.g. ocd run --debug"),
])
def test_a_mistyped_word_gets_the_subcommand_usage_and_the_closest_name(ocd, args, usage, said):
    result = ocd(*args)
    assert result.returncode == 2
    assert result.stderr.startswith(usage), result.stderr
    assert said in result.stderr.splitlines()[-1]


@pytest.mark.parametrize("args, line", [
    (["time", "--set", "run.max_seing=3"],
     "command line: unknown option [run] max_seing (did you mean [run] max_seeing?): ignored"),
    (["time", "--set", "dates.mock_speed"],
     "ocd: error: 'dates.mock_speed': expected SECTION.OPTION=VALUE, e.g. run.max_seeing=2.5"),
    (["config", "send", "run.n_ocd_main_loop=1"],
     "ocd: error: [run] n_ocd_main_loop is read only when ocd run starts: it cannot change in a "
     "running ocd run (restart it with the new value)"),
    (["config", "send", "run.exposure_time=30"],
     "ocd: error: unknown option [run] exposure_time (did you mean [run_shot] exposure_time?)"),
])
def test_messages_name_things_in_words_with_the_closest_name(ocd, args, line):
    result = ocd(*args)
    assert line in result.stderr
    assert "{conf" not in result.stderr and "\\n" not in result.stderr
    assert "Traceback" not in result.stderr


def test_board_hash_password_prints_an_entry_the_board_accepts(ocd):
    from ocd.app.board.auth import check_password, parse_users

    result = ocd("board", "--hash-password", "alice", input="correct horse\n")
    assert result.returncode == 0, result.stderr
    entry = result.stdout.strip()
    assert entry.startswith("alice:scrypt:") and "[board] users" in result.stderr
    assert check_password(parse_users([entry]), "alice", "correct horse")
    short = ocd("board", "--hash-password", "alice", input="short\n")
    assert short.returncode == 2 and short.stderr.startswith("ocd: error: ")
    bad_name = ocd("board", "--hash-password", "al ice", input="correct horse\n")
    assert bad_name.returncode == 2 and "al ice" in bad_name.stderr


def test_board_bad_settings_are_one_line(ocd, tmp_path):
    bad_url = ocd("board", "--url", "https://127.0.0.1:8600", cwd=tmp_path)
    assert bad_url.returncode == 2
    assert bad_url.stderr.count("\n") == 1 and "[board] url" in bad_url.stderr
    bad_users = ocd("board", "--set", "board.users=alice:plain", cwd=tmp_path)
    assert bad_users.returncode == 2 and "[board] users" in bad_users.stderr
    assert "Traceback" not in bad_users.stderr + bad_url.stderr


def test_board_address_in_use_says_what_to_change(ocd, tmp_path):
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        port = taken.getsockname()[1]
        result = ocd("board", "--url", f"http://127.0.0.1:{port}", cwd=tmp_path)
    finally:
        taken.close()
    assert result.returncode == 1
    assert "address already in use" in result.stderr and "[board] url" in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr


def test_help_imports_no_command_code():
    """``ocd --help`` (and parsing any command line) stays fast: argument parsing imports no
    command's code, so none of the heavy libraries (the speed itself: bench/cli_latency.py)."""
    import subprocess
    import sys

    from conftest import ocd_env

    probe = ("import sys\nfrom ocd.cli import build_parser\nbuild_parser().parse_args(['time'])\n"
             "heavy = ('astropy', 'numpy', 'jsonschema', 'aiohttp', 'zmq', 'asyncio', "
             "'ocd.app', 'ocd.bus', 'pymysql')\n"
             "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in heavy "
             "or m.startswith(heavy))))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            env=ocd_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


@pytest.mark.parametrize("args", [
    ("config", "show"),
    ("schedule", "--shots", str(sample_shot_file()), "--at", "2017-11-19T03:00", "--all",
     "--json"),
], ids=["config-show", "schedule"])
def test_a_closed_output_ends_the_command_quietly(args, tmp_path):
    """``ocd config show | head -1``: the reader is gone before the first write; the command
    ends with 128 + SIGPIPE and says nothing (it said "internal error BrokenPipeError")."""
    process = subprocess.Popen([sys.executable, "-m", "ocd", *args], cwd=tmp_path,
                               env=ocd_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    process.stdout.close()
    err = process.stderr.read()
    assert process.wait(timeout=60) == 141, err
    assert "Broken" not in err and "error" not in err and "Traceback" not in err, err


def test_the_help_of_ocd_names_every_action_of_a_command():
    """``ocd --help`` is where a newcomer looks: ``ocd config`` there must say ``send`` too."""
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {choice.dest: choice.help for choice in commands._choices_actions}
    nested = 0
    for name, sub in commands.choices.items():
        for action in sub._actions:
            if isinstance(action, argparse._SubParsersAction):
                nested += 1
                for verb in action.choices:
                    assert re.search(rf"\b{verb}\b", helps[name]), (name, verb, helps[name])
    assert nested >= 4

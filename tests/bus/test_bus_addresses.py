"""Addresses and socket options from the configuration."""

import socket
from pathlib import Path

import pytest

from ocd.bus.addresses import (
    SERVICES,
    bind_url,
    connect_urls,
    resolve_ipc,
    service_urls,
    tcs_urls,
)
from ocd.bus.options import BusOptions, bus_options
from ocd.clock import RealClock
from ocd.config import load_config
from ocd.errors import ConfigError

NOTE_EXAMPLE = """\
[urls]
ocd_main_loop = tcp://127.0.0.1:6600
ocd_run_shot = tcp://127.0.0.1:6601, ipc://run_shot.ipc
[run]
n_ocd_main_loop = 0
n_ocd_run_shot = 0
[run_shot]
n_ocd_run_shot = 1
"""


def test_the_user_note_example(tmp_path):
    user = tmp_path / "conf" / "ocd.cfg"
    user.parent.mkdir()
    user.write_text(NOTE_EXAMPLE)
    cfg = load_config([user])
    ipc = f"ipc://{(tmp_path / 'conf' / 'run_shot.ipc').as_posix()}"
    assert bind_url(cfg, "ocd_main_loop", "run") == "tcp://127.0.0.1:6600"
    assert bind_url(cfg, "ocd_run_shot", "run") == "tcp://127.0.0.1:6601"
    assert bind_url(cfg, "ocd_run_shot", "run_shot") == ipc
    assert service_urls(cfg, "ocd_run_shot") == ["tcp://127.0.0.1:6601", ipc]
    # ocd run listens to every run_shot address, its own included
    assert connect_urls(cfg, ["ocd_main_loop", "ocd_run_shot"]) == [
        "tcp://127.0.0.1:6600", "tcp://127.0.0.1:6601", ipc]


def test_an_index_out_of_range_names_both_options(tmp_path):
    user = tmp_path / "u.cfg"
    user.write_text("[run_shot]\nn_ocd_run_shot = 2\n")
    with pytest.raises(ConfigError) as info:
        bind_url(load_config([user]), "ocd_run_shot", "run_shot")
    message = str(info.value)
    assert message.startswith(f"{user}:2: [run_shot] n_ocd_run_shot = 2: no such index")
    assert "[urls] ocd_run_shot has 2 addresses (indices 0 to 1)" in message
    assert "\n" not in message


def test_an_empty_list_cannot_be_bound():
    with pytest.raises(ConfigError, match=r"\[urls\] ocd_db_replay is empty"):
        bind_url(load_config(overrides=[("urls", "ocd_db_replay", "")]), "ocd_db_replay",
                 "db_replay")


def test_relative_ipc_paths_follow_their_origin(tmp_path):
    assert resolve_ipc("ipc://a/b.ipc", tmp_path) == f"ipc://{tmp_path.as_posix()}/a/b.ipc"
    assert resolve_ipc("ipc:///abs/b.ipc", tmp_path) == "ipc:///abs/b.ipc"
    assert resolve_ipc("ipc://@abstract", tmp_path) == "ipc://@abstract"
    assert resolve_ipc("tcp://127.0.0.1:1", tmp_path) == "tcp://127.0.0.1:1"
    cfg = load_config(overrides=[("urls", "event_urls", "ipc://tcs.ipc")])
    assert tcs_urls(cfg) == [f"ipc://{(Path.cwd() / 'tcs.ipc').as_posix()}"]


def test_connect_urls_lists_each_address_once():
    cfg = load_config(overrides=[("urls", "ocd_run_shot", "tcp://127.0.0.1:6600")])
    assert connect_urls(cfg, ["ocd_main_loop", "ocd_run_shot"], tcs=True) == [
        "tcp://127.0.0.1:6600", "tcp://127.0.0.1:5585"]


def test_default_addresses_are_loopback_only():
    cfg = load_config()
    for option in (*SERVICES, "event_urls"):
        for url in cfg.get("urls", option) or []:
            assert url.startswith(("tcp://127.0.0.1:", "ipc://")), (option, url)


def test_unknown_service_is_a_programming_error():
    with pytest.raises(ValueError):
        service_urls(load_config(), "ocd_nope")


def test_bus_options_defaults_match_the_master_file():
    assert bus_options(load_config()) == BusOptions()


def test_negative_bus_option_is_a_configuration_error():
    with pytest.raises(ConfigError, match=r"\[bus\] send_hwm = -1: expected an integer >= 0"):
        bus_options(load_config(overrides=[("bus", "send_hwm", "-1")]))


def test_bind_hint_names_a_non_standard_index_option():
    from ocd.bus.addresses import BindHint

    assert BindHint("event_urls", "sim_tcs", 2, "n_event_urls_x").describe() == (
        "change [urls] event_urls or its index 2 ([sim_tcs] n_event_urls_x)")


def test_host_names_are_resolved_for_bind_only():
    from ocd.bus.addresses import bindable

    assert bindable("tcp://localhost:6600") == "tcp://127.0.0.1:6600"
    assert bindable("tcp://127.0.0.1:6600") == "tcp://127.0.0.1:6600"
    assert bindable("tcp://*:6600") == "tcp://*:6600"
    assert bindable("ipc://run_shot.ipc") == "ipc://run_shot.ipc"
    assert bindable("tcp://no-such-host.invalid:1") == "tcp://no-such-host.invalid:1"


async def test_a_publisher_binds_a_host_name_that_subscribers_connect_to():
    import zmq.asyncio

    from ocd.bus import Publisher, Subscriber

    ctx = zmq.asyncio.Context()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"tcp://localhost:{port}"
    publisher = Publisher(ctx, url, "test", RealClock())
    subscriber = Subscriber(ctx, [url], ["ocd."])
    await publisher.wait_for_subscriber("ocd.x.y", 5)
    await publisher.publish("ocd.x.y", {"n": 1})
    assert (await subscriber.recv(timeout=5)).payload["n"] == 1
    subscriber.close()
    publisher.close()
    ctx.term()

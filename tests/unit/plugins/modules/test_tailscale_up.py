"""tailscale_up against a tailscale CLI double fed with recorded status/prefs shapes
(fixtures/tailscale, see SOURCES.md): login only when needed, `set` for preferences,
nothing on a second run, the auth key never in argv."""
from __future__ import annotations

import os

import pytest

from ansible_collections.colab.cluster.plugins.modules import tailscale_up
from tests.unit.plugins.modules.mesh_doubles import FakeTailscale, run_module

LOGIN = "https://headscale.example.org"
KEY = "hskey-auth-CsLiZAFSkM2z-Yp3m0Qk8Rz2TfXw6Ab1Cd5Ef7Gh9Ij0K"
JOIN = {"login_server": LOGIN, "auth_key": KEY, "hostname": "director", "accept_dns": True,
        "accept_routes": False}


def test_first_join_four_steps(monkeypatch, capsys):
    cli = FakeTailscale("status_needslogin.json", "prefs_needslogin.json", accept_key=KEY)
    check, failed = run_module(tailscale_up.main, JOIN, monkeypatch, capsys, cli, check_mode=True, diff=True)
    assert not failed and check["changed"] and check["action"] == "up"
    assert [c[1] for c in cli.calls] == ["status", "debug"]
    assert "--auth-key=********" in check["commands"][0]
    result, failed = run_module(tailscale_up.main, JOIN, monkeypatch, capsys, cli)
    assert not failed and result["changed"] and result["action"] == "up"
    up = [c for c in cli.calls if c[1] == "up"][0]
    assert not any(KEY in part for part in up), "the key must not be in argv"
    assert cli.key_file_seen and not os.path.exists(cli.key_file_seen), "key file removed after use"
    assert result["mesh"]["ipv4"] == "100.64.0.2" and result["mesh"]["dns_name"] == "director.colab"
    assert result["ansible_facts"]["tailscale_mesh"]["ips"] == ["100.64.0.2", "fd7a:115c:a1e0::2"]
    assert KEY not in str(result)
    again_check, dummy = run_module(tailscale_up.main, JOIN, monkeypatch, capsys, cli, check_mode=True)
    again, dummy = run_module(tailscale_up.main, dict(JOIN, auth_key=None), monkeypatch, capsys, cli)
    assert not again_check["changed"] and not again["changed"] and again["action"] == "none"


def test_logged_out_without_key_fails_clearly(monkeypatch, capsys):
    cli = FakeTailscale("status_needslogin.json", "prefs_needslogin.json")
    args = dict(JOIN)
    del args["auth_key"]
    result, failed = run_module(tailscale_up.main, args, monkeypatch, capsys, cli)
    assert failed and result["msg"].startswith("auth_key: a login is needed")
    assert not any(c[1] == "up" for c in cli.calls)
    check, failed = run_module(tailscale_up.main, args, monkeypatch, capsys, cli, check_mode=True)
    assert not failed and check["changed"] and check["action"] == "up"


def test_logged_in_node_needs_no_key_for_prefs(monkeypatch, capsys):
    cli = FakeTailscale()
    args = {"login_server": LOGIN, "accept_routes": True, "advertise_routes": ["172.20.0.0/16"]}
    result, failed = run_module(tailscale_up.main, args, monkeypatch, capsys, cli, diff=True)
    assert not failed and result["action"] == "set"
    assert cli.calls[2][1:] == ["set", "--accept-routes=true", "--advertise-routes=172.20.0.0/16"]
    assert result["diff"]["before"] == {"accept_routes": False, "advertise_routes": []}
    again, dummy = run_module(tailscale_up.main, args, monkeypatch, capsys, cli)
    assert not again["changed"]


def test_stopped_node_is_brought_up_without_key(monkeypatch, capsys):
    cli = FakeTailscale("status_stopped.json", "prefs_stopped.json")
    result, failed = run_module(tailscale_up.main, {"login_server": LOGIN}, monkeypatch, capsys, cli)
    assert not failed and result["action"] == "up"
    up = [c for c in cli.calls if c[1] == "up"][0]
    assert not any(p.startswith("--auth-key") for p in up)


def test_down_and_back(monkeypatch, capsys):
    cli = FakeTailscale()
    result, dummy = run_module(tailscale_up.main, {"state": "down"}, monkeypatch, capsys, cli)
    assert result["action"] == "down" and cli.prefs["WantRunning"] is False
    again, dummy = run_module(tailscale_up.main, {"state": "down"}, monkeypatch, capsys, cli)
    assert not again["changed"]


def test_exit_node_by_name_is_stable(monkeypatch, capsys):
    cli = FakeTailscale(prefs="prefs_exit_node.json")
    args = {"exit_node": "cooperator", "accept_routes": True, "advertise_routes": ["172.20.0.0/16"]}
    result, failed = run_module(tailscale_up.main, args, monkeypatch, capsys, cli)
    assert not failed and not result["changed"]


@pytest.mark.parametrize("args, message", [
    ({"login_server": "headscale.example.org"}, "login_server"),
    ({"tags": ["server"]}, "tags"),
    ({"advertise_routes": ["172.20.0.1/16"]}, "advertise_routes"),
    ({"hostname": " "}, "hostname"),
    ({"force_reauth": True}, "auth_key"),
])
def test_bad_input_fails_before_any_call(args, message, monkeypatch, capsys):
    cli = FakeTailscale()
    result, failed = run_module(tailscale_up.main, args, monkeypatch, capsys, cli)
    assert failed and message in result["msg"] and cli.calls == []


def test_daemon_not_running(monkeypatch, capsys):
    def down(module, argv, **kwargs):
        return 1, "", "failed to connect to local tailscaled; it doesn't appear to be running\n"
    result, failed = run_module(tailscale_up.main, {}, monkeypatch, capsys, down)
    assert failed and "is tailscaled running" in result["msg"]

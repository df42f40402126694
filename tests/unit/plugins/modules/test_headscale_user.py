"""headscale_user against the headscale CLI double of 0.23, 0.26 and 0.28 (mesh_doubles.py)."""
from __future__ import annotations

import pytest

from ansible_collections.colab.cluster.plugins.modules import headscale_user
from tests.unit.plugins.modules.mesh_doubles import FakeHeadscale, run_module

VERSIONS = ["0.23", "0.26", "0.28"]


@pytest.mark.parametrize("version", VERSIONS)
def test_create_four_steps(version, monkeypatch, capsys):
    cli = FakeHeadscale(version)
    args = {"name": "lab"}
    check, failed = run_module(headscale_user.main, args, monkeypatch, capsys, cli, check_mode=True, diff=True)
    assert not failed and check["changed"] and check["diff"]["before"] == {}
    assert not any(c[1:3] == ["users", "create"] for c in cli.calls)
    first, failed = run_module(headscale_user.main, args, monkeypatch, capsys, cli)
    assert not failed and first["changed"] and first["user"]["name"] == "lab"
    assert isinstance(first["user"]["id"], int) and first["user"]["id"] >= 2
    assert first["version"].startswith(version)
    again_check, dummy = run_module(headscale_user.main, args, monkeypatch, capsys, cli, check_mode=True)
    again, dummy = run_module(headscale_user.main, args, monkeypatch, capsys, cli)
    assert not again_check["changed"] and not again["changed"]
    assert again["user"]["id"] == first["user"]["id"]


@pytest.mark.parametrize("version", VERSIONS)
def test_existing_user_is_no_change(version, monkeypatch, capsys):
    cli = FakeHeadscale(version)
    result, dummy = run_module(headscale_user.main, {"name": "colab"}, monkeypatch, capsys, cli)
    assert not result["changed"] and result["user"]["id"] == 1
    assert [c[1:] for c in cli.calls] == [["version"], ["users", "list", "--output", "json"]]


@pytest.mark.parametrize("version", VERSIONS)
def test_absent_uses_each_release_destroy_syntax(version, monkeypatch, capsys):
    cli = FakeHeadscale(version)
    check, dummy = run_module(headscale_user.main, {"name": "colab", "state": "absent"}, monkeypatch, capsys, cli,
                              check_mode=True)
    assert check["changed"] and any(u["name"] == "colab" for u in cli.users)
    result, failed = run_module(headscale_user.main, {"name": "colab", "state": "absent"}, monkeypatch, capsys, cli)
    assert not failed and result["changed"] and not any(u["name"] == "colab" for u in cli.users)
    again, dummy = run_module(headscale_user.main, {"name": "colab", "state": "absent"}, monkeypatch, capsys, cli)
    assert not again["changed"]


def test_given_version_skips_detection(monkeypatch, capsys):
    cli = FakeHeadscale("0.26")
    result, dummy = run_module(headscale_user.main, {"name": "colab", "version": "0.26.1"}, monkeypatch, capsys, cli)
    assert ["version"] not in [c[1:] for c in cli.calls] and result["version"] == "0.26.1"


def test_config_path_and_timeout_reach_the_cli(monkeypatch, capsys):
    cli = FakeHeadscale("0.28", timeout=7)
    run_module(headscale_user.main, {"name": "colab", "config_path": "/etc/headscale/config.yaml", "timeout": 7},
               monkeypatch, capsys, cli)
    assert cli.calls[-1][1:3] == ["--config", "/etc/headscale/config.yaml"]


@pytest.mark.parametrize("args, message", [
    ({"name": " "}, "name: must not be empty"),
    ({"name": "x", "timeout": 0}, "timeout: must be a positive"),
])
def test_bad_input_fails_before_any_call(args, message, monkeypatch, capsys):
    cli = FakeHeadscale("0.28")
    result, failed = run_module(headscale_user.main, args, monkeypatch, capsys, cli)
    assert failed and message in result["msg"] and cli.calls == []


def test_cli_error_is_reported(monkeypatch, capsys):
    def broken(module, argv, **kwargs):
        return 1, "", '{\n\t"error": "rpc error: code = Unavailable desc = connection refused"\n}\n'
    result, failed = run_module(headscale_user.main, {"name": "x"}, monkeypatch, capsys, broken)
    assert failed and "connection refused" in result["msg"] and "version" in result["msg"]


def test_hung_cli_is_reported_as_timeout(monkeypatch, capsys):
    def hung(module, argv, **kwargs):
        return 124, "", ""
    result, failed = run_module(headscale_user.main, {"name": "x", "version": "0.28.0"}, monkeypatch, capsys, hung)
    assert failed and "did not answer within 30s" in result["msg"]

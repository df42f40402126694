"""headscale_preauth_key against the headscale CLI double of 0.23, 0.26 and 0.28.

The double rejects what each release rejects (a user name where 0.26 wants the id, a
missing --user before 0.28), so the version-dependent argv is really exercised.
"""
from __future__ import annotations

import pytest

from ansible_collections.colab.cluster.plugins.modules import headscale_preauth_key
from tests.unit.plugins.modules.mesh_doubles import FakeHeadscale, run_module

VERSIONS = ["0.23", "0.26", "0.28"]


@pytest.mark.parametrize("version", VERSIONS)
def test_registered_node_gets_no_key(version, monkeypatch, capsys):
    cli = FakeHeadscale(version)
    result, failed = run_module(headscale_preauth_key.main, {"node": "cooperator", "user": "colab"},
                                monkeypatch, capsys, cli, diff=True)
    assert not failed and not result["changed"] and result["registered"] and result["key"] is None
    assert not any(c[1:3] == ["preauthkeys", "create"] for c in cli.calls)


@pytest.mark.parametrize("version, user_arg", [("0.23", "colab"), ("0.26", "1"), ("0.28", "1")])
def test_new_node_gets_one_short_lived_key(version, user_arg, monkeypatch, capsys):
    cli = FakeHeadscale(version)
    args = {"node": "projector", "user": "colab", "tags": ["tag:workstation"], "expiration": "30m"}
    check, failed = run_module(headscale_preauth_key.main, args, monkeypatch, capsys, cli, check_mode=True, diff=True)
    assert not failed and check["changed"] and check["key"] is None and cli.keys == []
    result, failed = run_module(headscale_preauth_key.main, args, monkeypatch, capsys, cli, diff=True)
    assert not failed and result["changed"] and not result["registered"]
    create = [c for c in cli.calls if c[1:3] == ["preauthkeys", "create"]][-1]
    assert create[3:5] == ["--user", user_arg]
    assert create[5:7] == ["--expiration", "30m"] and "--reusable" not in create
    assert "--tags" in create and create[create.index("--tags") + 1] == "tag:workstation"
    assert result["key"] == cli.keys[-1]["key"] and isinstance(result["key_id"], int)
    assert result["key"] not in str(result["diff"])
    # once the node has registered with it, no new key
    cli.register("projector", "colab")
    again, dummy = run_module(headscale_preauth_key.main, args, monkeypatch, capsys, cli)
    assert not again["changed"] and again["registered"] and again["key"] is None
    assert len(cli.keys) == 1


def test_0_28_tag_only_key(monkeypatch, capsys):
    cli = FakeHeadscale("0.28")
    result, failed = run_module(headscale_preauth_key.main, {"node": "edge1", "tags": ["tag:server"]},
                                monkeypatch, capsys, cli)
    assert not failed and result["changed"] and result["key"].startswith("hskey-auth-")
    create = [c for c in cli.calls if c[1:3] == ["preauthkeys", "create"]][-1]
    assert "--user" not in create


@pytest.mark.parametrize("version", ["0.23", "0.26"])
def test_tag_only_key_is_refused_before_0_28(version, monkeypatch, capsys):
    cli = FakeHeadscale(version)
    result, failed = run_module(headscale_preauth_key.main, {"node": "edge1", "tags": ["tag:server"]},
                                monkeypatch, capsys, cli)
    assert failed and "user: required" in result["msg"] and cli.keys == []


def test_missing_user_fails_naming_it(monkeypatch, capsys):
    cli = FakeHeadscale("0.26")
    result, failed = run_module(headscale_preauth_key.main, {"node": "edge1", "user": "nobody"},
                                monkeypatch, capsys, cli)
    assert failed and "no headscale user named 'nobody'" in result["msg"]
    check, failed = run_module(headscale_preauth_key.main, {"node": "edge1", "user": "nobody"},
                               monkeypatch, capsys, cli, check_mode=True)
    assert not failed and check["changed"]


@pytest.mark.parametrize("args, message", [
    ({"node": "x", "user": "colab", "expiration": "1 hour"}, "expiration"),
    ({"node": "x", "user": "colab", "tags": ["server"]}, "tags"),
    ({"node": "", "user": "colab"}, "node: must not be empty"),
    ({"node": "x"}, "tags: a key without a user"),
])
def test_bad_input_fails_early(args, message, monkeypatch, capsys):
    cli = FakeHeadscale("0.28")
    result, failed = run_module(headscale_preauth_key.main, args, monkeypatch, capsys, cli)
    assert failed and message in result["msg"]
    assert not any(c[1:3] == ["preauthkeys", "create"] for c in cli.calls)


def test_double_really_rejects_a_name_on_0_26(monkeypatch, capsys):
    """The double is strict: the wrong argv for 0.26 fails like the real CLI."""
    cli = FakeHeadscale("0.26")
    rc, _out, err = cli(None, ["/usr/bin/timeout", "--kill-after=5", "30s", "/usr/bin/headscale",
                               "preauthkeys", "create", "--user", "colab", "--expiration", "1h",
                               "--output", "json"], environ_update={"HEADSCALE_CLI_TIMEOUT": "30s"})
    assert rc == 1 and "ParseUint" in err

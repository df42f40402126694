"""headscale_node_info against the headscale CLI double (mesh_doubles.py)."""
from __future__ import annotations

import pytest

from ansible_collections.colab.cluster.plugins.modules import headscale_node_info
from tests.unit.plugins.modules.mesh_doubles import FakeHeadscale, run_module


@pytest.mark.parametrize("version", ["0.23", "0.26", "0.28"])
def test_lists_nodes_in_one_shape(version, monkeypatch, capsys):
    cli = FakeHeadscale(version)
    result, failed = run_module(headscale_node_info.main, {}, monkeypatch, capsys, cli, check_mode=True)
    assert not failed and not result["changed"]
    coop = result["nodes"][0]
    assert coop["name"] == "cooperator" and coop["ipv4"] == ["100.64.0.1"] and coop["tags"] == ["tag:server"]


def test_filters(monkeypatch, capsys):
    cli = FakeHeadscale("0.26")
    result, dummy = run_module(headscale_node_info.main, {"name": "Director"}, monkeypatch, capsys, cli)
    assert [n["name"] for n in result["nodes"]] == ["director"]
    result, dummy = run_module(headscale_node_info.main, {"user": "guests"}, monkeypatch, capsys, cli)
    assert result["nodes"] == []


def test_empty_server(monkeypatch, capsys):
    cli = FakeHeadscale("0.28", nodes=False)
    result, dummy = run_module(headscale_node_info.main, {}, monkeypatch, capsys, cli)
    assert result["nodes"] == []

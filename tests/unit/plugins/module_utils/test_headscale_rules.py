"""The mesh rules written once in _headscale.py: upgrades, client minimums, live DNS
records, expiry, stale nodes, durations and tags."""
from __future__ import annotations

import datetime

import pytest

from ansible_collections.colab.cluster.plugins.module_utils import _headscale as hs


@pytest.mark.parametrize("installed, wanted, allow, refused", [
    ("", "0.26.1", False, None),
    ("0.25.1", "0.26.1", False, None),
    ("0.26.0", "0.26.1", False, None),
    ("0.26.1", "0.26.1", False, None),
    ("0.25.1", "0.28.0", False, "skips a minor release"),
    ("0.26.1", "0.28.0", False, "skips a minor release"),
    ("0.26.1", "0.25.1", False, "downgrades are refused"),
    ("0.26.1", "0.26.0", False, "downgrades are refused"),
    ("0.26.1", "0.25.1", True, None),
])
def test_upgrade_one_minor_at_a_time_never_down(installed, wanted, allow, refused):
    problem = hs.upgrade_problem(installed, wanted, allow)
    assert (problem == "") if refused is None else (refused in problem)


@pytest.mark.parametrize("server, client", [("0.25.1", "1.62.0"), ("0.26.1", "1.62.0"),
                                            ("0.27.1", "1.64.0"), ("0.28.0", "1.64.0"),
                                            ("0.23.0", "")])
def test_min_client_per_server_release(server, client):
    assert hs.min_client_version(server) == client


def _node(node_id, name, ip, expiry=None, given=None):
    return {"id": node_id, "name": name, "given_name": given or name, "ipv4": [ip], "ipv6": [],
            "node_key": f"nodekey:{node_id}", "expiry": expiry, "user": "colab"}


def test_extra_records_follow_the_live_addresses():
    records = [{"name": "gitea.colab", "type": "A", "node": "cooperator"},
               {"name": "ollama.colab", "type": "A", "node": "director"},
               {"name": "late.colab", "type": "A", "node": "projector"},
               {"name": "static.colab", "type": "A", "value": "100.64.9.9"}]
    # director joined first this time: it has .1, cooperator .2
    nodes = [_node(1, "director", "100.64.0.1"), _node(2, "cooperator", "100.64.0.2")]
    assert hs.extra_records(records, nodes) == [
        {"name": "gitea.colab", "type": "A", "value": "100.64.0.2"},
        {"name": "ollama.colab", "type": "A", "value": "100.64.0.1"},
        {"name": "static.colab", "type": "A", "value": "100.64.9.9"},
    ]
    past = "2020-01-01T00:00:00Z"
    expired = [_node(1, "director", "100.64.0.1", expiry=past), _node(2, "cooperator", "100.64.0.2")]
    assert [r["name"] for r in hs.extra_records(records, expired)] == ["gitea.colab", "static.colab"]


def test_expired_node_and_stale_nodes():
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    assert hs.node_expired({"expiry": "2025-12-31T23:59:59Z"}, now)
    assert not hs.node_expired({"expiry": "2026-01-02T00:00:00Z"}, now)
    assert not hs.node_expired({"expiry": None}, now)
    nodes = [_node(1, "director", "100.64.0.1"), _node(2, "director", "100.64.0.3", given="director-ab12cd34"),
             _node(3, "cooperator", "100.64.0.2")]
    assert [n["id"] for n in hs.stale_nodes(nodes, "director", "nodekey:2")] == [1]


def test_normalised_nodes_carry_their_keys():
    node = hs.normalise_node({"id": 4, "name": "x", "machine_key": "mkey:1", "node_key": "nodekey:2"})
    assert node["machine_key"] == "mkey:1" and node["node_key"] == "nodekey:2"


@pytest.mark.parametrize("value, ok", [("30m", True), ("1h", True), ("2d", True), ("0s", False),
                                       ("0h", False), ("1w", False), ("h", False), ("", False)])
def test_duration_rule(value, ok):
    assert hs.is_duration(value) is ok


@pytest.mark.parametrize("value, ok", [("tag:server", True), ("tag:Web-1", True), ("tag:", False),
                                       ("tag:-x", False), ("server", False), ("tag:a_b", False)])
def test_tag_rule(value, ok):
    assert hs.is_tag(value) is ok

"""The exposure table's two filters: exposure_addresses (table, service, host facts) and
published_ports (addresses -> Compose's ADDR:PORT:PORT entries), and the table the wiring
holds (inventory/common/wiring.yml) read through them for every host of both inventories."""
from __future__ import annotations

import os
import re

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.colab.cluster.plugins.filter.exposure import (check_ports, exposure_addresses,
                                                                       exposure_listen_addr, published_ports)
from tests.helpers import ROOT

FACTS = {"colab_lan_ip": "192.168.254.30", "colab_mesh_ip": "100.64.0.2"}
TABLE = {
    "ollama": {"bind": ["loopback", "tailnet"], "reach": "mesh clients"},
    "webui": {"bind": ["loopback", "lan", "loopback"], "reach": "LAN browsers"},
    "open": {"bind": ["all"], "reach": "anyone", "reason": "a public service"},
}


@pytest.mark.parametrize("service,expected", [
    ("ollama", ["127.0.0.1", "100.64.0.2"]),
    ("webui", ["127.0.0.1", "192.168.254.30"]),
    ("open", ["0.0.0.0"]),
])
def test_scopes_become_the_hosts_addresses(service, expected):
    assert exposure_addresses(TABLE, service, FACTS) == expected


def test_an_override_replaces_the_keys_it_gives():
    overrides = {"ollama": {"bind": ["loopback"], "reach": "director only"}}
    assert exposure_addresses(TABLE, "ollama", FACTS, overrides) == ["127.0.0.1"]
    # an override without reach keeps the table's
    assert exposure_addresses(TABLE, "open", FACTS, {"open": {"bind": ["lan"]}}) == ["192.168.254.30"]
    # an entry only the override has
    assert exposure_addresses(TABLE, "extra", FACTS, {"extra": {"bind": ["lan"], "reach": "x"}}) == \
        ["192.168.254.30"]


def test_exposure_listen_addr():
    table = {"headscale": {"group": "headscale_servers", "ports": [{"port": 8080, "proto": "tcp"}],
                           "bind": ["loopback"], "reach": "Caddy"},
             "stun": {"ports": [{"port": "3478", "proto": "udp"}], "bind": ["lan"], "reach": "clients"},
             "two": {"ports": [{"port": 1, "proto": "tcp"}], "bind": ["loopback", "lan"], "reach": "x"},
             "byvar": {"ports": [{"var": "some_port", "proto": "tcp"}], "bind": ["lan"], "reach": "x"},
             "v6": {"ports": [{"port": 53, "proto": "udp"}], "bind": ["lan"], "reach": "x"}}
    assert exposure_listen_addr(table, "headscale", FACTS) == "127.0.0.1:8080"
    assert exposure_listen_addr(table, "stun", FACTS) == "192.168.254.30:3478"
    assert exposure_listen_addr(table, "v6", {"colab_lan_ip": "fd00::2"}) == "[fd00::2]:53"
    for service in ("two", "byvar"):
        with pytest.raises(AnsibleFilterError, match=f"colab_exposure.{service} must bind one scope"):
            exposure_listen_addr(table, service, FACTS)


@pytest.mark.parametrize("ports,message", [
    (None, "colab_exposure.svc.ports must be a non-empty list"),
    ([], "colab_exposure.svc.ports must be a non-empty list"),
    ([{"proto": "tcp"}], "colab_exposure.svc.ports[0] must have exactly one of port"),
    ([{"port": 1, "var": "x", "proto": "tcp"}], "colab_exposure.svc.ports[0] must have exactly one of port"),
    ([{"port": 22, "proto": "tcp"}, {"port": 22, "proto": "sctp"}], "colab_exposure.svc.ports[1].proto must be"),
    ([{"port": 70000, "proto": "udp"}], "colab_exposure.svc.ports[0].port must be a port number"),
    ([{"port": "some", "proto": "udp"}], "colab_exposure.svc.ports[0].port must be a port number"),
    ([{"var": "", "proto": "udp"}], "colab_exposure.svc.ports[0].var must name a variable"),
    ([{"port": "any", "proto": "tcp"}], "colab_exposure.svc.process must name the process"),
])
def test_bad_ports_fail_naming_the_field(ports, message):
    with pytest.raises(AnsibleFilterError) as err:
        check_ports("svc", {"ports": ports})
    assert message in str(err.value)


@pytest.mark.parametrize("table,facts,message", [
    ({}, FACTS, "colab_exposure has no entry 'svc'"),
    ({"svc": {"bind": [], "reach": "x"}}, FACTS, "colab_exposure.svc.bind must be a non-empty list"),
    ({"svc": {"bind": ["lan"]}}, FACTS, "colab_exposure.svc.reach must say who may reach"),
    ({"svc": {"bind": ["wan"], "reach": "x"}}, FACTS, "unknown scope(s) ['wan']"),
    ({"svc": {"bind": ["all"], "reach": "x"}}, FACTS, "colab_exposure.svc.reason must say why"),
    ({"svc": {"bind": ["all", "lan"], "reach": "x", "reason": "y"}}, FACTS, "list it alone"),
    ({"svc": {"bind": ["tailnet"], "reach": "x"}}, {"colab_mesh_ip": ""},
     "binds the tailnet address, but this host's colab_mesh_ip is empty"),
    ({"svc": {"bind": ["lan"], "reach": "x"}}, {"colab_lan_ip": "cooperator"}, "is not an IP address"),
])
def test_a_bad_entry_fails_naming_it(table, facts, message):
    with pytest.raises(AnsibleFilterError) as err:
        exposure_addresses(table, "svc", facts)
    assert message in str(err.value)


def test_published_ports():
    assert published_ports(["127.0.0.1", "10.0.0.5"], 3300, 3000) == ["127.0.0.1:3300:3000", "10.0.0.5:3300:3000"]
    assert published_ports(["::1"], 53, 53, "udp") == ["[::1]:53:53/udp"]
    assert published_ports(["127.0.0.1"], "9000") == ["127.0.0.1:9000:9000"]
    with pytest.raises(AnsibleFilterError, match="non-empty list"):
        published_ports([], 80)
    with pytest.raises(AnsibleFilterError, match="not an IP address"):
        published_ports(["localhost"], 80)


def _wiring_table():
    with open(os.path.join(ROOT, "inventory", "common", "wiring.yml"), encoding="utf-8") as fh:
        return yaml.safe_load(fh)["all"]["vars"]["colab_exposure"]


def _wired_entries():
    """The entries the wiring turns into role variables (exposure_addresses/_listen_addr)."""
    with open(os.path.join(ROOT, "inventory", "common", "wiring.yml"), encoding="utf-8") as fh:
        text = fh.read()
    return set(re.findall(r"colab\.cluster\.exposure_(?:addresses|listen_addr)\('([a-z_]+)'", text))


def test_the_wiring_table_binds_nothing_everywhere_without_a_reason():
    table = _wiring_table()
    assert {"ollama", "open_webui", "pihole_dns", "pihole_web", "cockpit", "gitea_http", "gitea_ssh",
            "minio_api", "minio_console", "registry", "registry_mirror", "headscale", "headscale_metrics",
            "headscale_grpc", "headscale_stun", "caddy", "smbd", "sshd", "tailscaled"} <= set(table)
    for service, entry in table.items():
        assert entry["reach"].strip(), service
        assert "all" not in entry["bind"] or entry.get("reason"), service


def test_every_entry_names_its_group_and_ports():
    """group: an inventory group of both inventories; ports: checked {port|var, proto}."""
    groups = {}
    for inventory in ("production", "lab"):
        with open(os.path.join(ROOT, "inventory", inventory, "hosts.yml"), encoding="utf-8") as fh:
            groups[inventory] = set(yaml.safe_load(fh)["all"]["children"]) | {"all"}
    for service, entry in _wiring_table().items():
        for inventory, names in groups.items():
            assert entry.get("group") in names, (service, inventory, entry.get("group"))
        check_ports(service, entry)


def test_every_wired_entry_is_in_the_table():
    wired = _wired_entries()
    assert {"registry", "registry_mirror", "headscale", "headscale_stun", "pihole_dns"} <= wired
    assert wired <= set(_wiring_table())


@pytest.mark.parametrize("inventory", ["production", "lab"])
def test_the_table_resolves_for_every_host(inventory):
    """Each entry resolves with each Linux host's facts (the lab with its overrides)."""
    base = os.path.join(ROOT, "inventory", inventory)
    overrides = {}
    path = os.path.join(base, "group_vars", "all", "exposure.yml")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            overrides = yaml.safe_load(fh)["colab_exposure_overrides"]
    table = _wiring_table()
    for host in ("cooperator", "director"):
        with open(os.path.join(base, "host_vars", f"{host}.yml"), encoding="utf-8") as fh:
            facts = yaml.safe_load(fh)
        for service in sorted(_wired_entries()):
            addresses = exposure_addresses(table, service, facts, overrides)
            assert "0.0.0.0" not in addresses, (inventory, host, service)

"""The control URL the clients are told is served: an SSOT entry for its host, proxied by
the edge to the address headscale listens on (issue: nothing served https://headscale.*)."""
from __future__ import annotations

import os
from urllib.parse import urlsplit

import yaml

from ansible_collections.colab.cluster.plugins.filter.exposure import exposure_listen_addr
from tests.helpers import ROOT


def _load(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def test_the_edge_serves_the_headscale_control_url():
    cluster = {}
    for name in sorted(os.listdir(os.path.join(ROOT, "inventory", "production", "group_vars", "all"))):
        cluster.update(_load("inventory", "production", "group_vars", "all", name) or {})
    wiring = _load("inventory", "common", "wiring.yml")["all"]["children"]
    servers = wiring["headscale_servers"]["vars"]
    clients = wiring["mesh_clients"]["vars"]
    domain = cluster["colab_domain"]
    url = servers["headscale_server_url"].replace("{{ colab_domain }}", domain)
    assert clients["tailscale_login_server"].replace("{{ colab_domain }}", domain) == url
    host = urlsplit(url).hostname
    entries = {e["fqdn"]: e for e in _load("ssot", "state", "domains.yml")}
    assert host in entries, f"{host} is not in ssot/state/domains.yml: nothing serves {url}"
    # the wiring takes the address from the exposure table (colab_exposure.headscale)
    assert "exposure_listen_addr('headscale'," in servers["headscale_listen_addr"]
    table = _load("inventory", "common", "wiring.yml")["all"]["vars"]["colab_exposure"]
    listen = exposure_listen_addr(table, "headscale", _load("inventory", "production", "host_vars", "cooperator.yml"))
    assert listen.startswith("127.0.0.1:"), "behind the edge headscale listens on loopback"
    assert entries[host]["backend"] == "localhost:" + listen.rsplit(":", 1)[1]
    assert entries[host]["external_dns"] is True

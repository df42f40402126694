"""Every published port and listen address comes from the exposure table (issue 30).

Each role's definition (compose ports, Cockpit's socket drop-in) rendered by
ansible-playbook from the roles' own defaults and vars with both inventories' wiring (a
play of debug tasks: no host is contacted, no secret is looked up). The roles' defaults
are loaded as the lowest inventory layer (a generated inventory file given first), so the
wiring and the lab's group_vars win over them as they do in a real run. The rules: every
port has an explicit address, none is 0.0.0.0 unless its table entry says all with a
reason, and the addresses are the ones colab.cluster.exposure_addresses gives for the
entry (checked against hand-written expectations for both inventories).
"""
from __future__ import annotations

import json
import os
import textwrap

import pytest
import yaml

from tests.helpers import ROOT, render_debug_play

ROLES = ("mcp", "minio", "gitea", "edge", "samba_server", "registry", "headscale")
PLAY = textwrap.dedent("""\
    - name: Render the exposed ports
      hosts: ai_hosts:minio_servers:gitea_servers:edge:samba_servers:registry_servers:headscale_servers
      gather_facts: false
      tasks:
        - name: Load the roles' derived variables
          ansible.builtin.include_vars:
            file: "{root}/roles/{{{{ item }}}}/vars/main.yml"
          loop: {roles}
        - name: Show them
          ansible.builtin.debug:
            msg:
              ollama: "{{{{ _mcp_definition.services.ollama.ports if inventory_hostname in groups['ai_hosts'] else None }}}}"
              open_webui: "{{{{ _mcp_definition.services['open-webui'].ports if inventory_hostname in groups['ai_hosts'] else None }}}}"
              minio: "{{{{ _minio_definition.services.minio.ports if inventory_hostname in groups['minio_servers'] else None }}}}"
              gitea: "{{{{ _gitea_definition.services.gitea.ports if inventory_hostname in groups['gitea_servers'] else None }}}}"
              pihole: "{{{{ _edge_pihole_definition.services.pihole.ports if inventory_hostname in groups['edge'] else None }}}}"
              pihole_env: "{{{{ _edge_pihole_definition.services.pihole.environment if inventory_hostname in groups['edge'] else None }}}}"
              cockpit: "{{{{ _samba_server_cockpit_listen_conf | default('') if inventory_hostname in groups['samba_servers'] else None }}}}"
              registry: "{{{{ _registry_definition.services.registry.ports if inventory_hostname in groups['registry_servers'] else None }}}}"
              registry_mirror: >-
                {{{{ _registry_definition.services.mirror.ports | default(None)
                     if inventory_hostname in groups['registry_servers'] else None }}}}
              headscale: >-
                {{{{ [headscale_listen_addr, headscale_metrics_listen_addr, headscale_grpc_listen_addr,
                      headscale_derp_stun_listen_addr] if inventory_hostname in groups['headscale_servers'] else None }}}}
              dnsmasq: "{{{{ _edge_dnsmasq_config if inventory_hostname in groups['edge'] else None }}}}"
    """)


def _defaults_inventory(path):
    merged = {}
    for role in ROLES:
        with open(os.path.join(ROOT, "roles", role, "defaults", "main.yml"), encoding="utf-8") as fh:
            merged.update(yaml.safe_load(fh) or {})
    path.write_text(yaml.safe_dump({"all": {"vars": merged}}), encoding="utf-8")


def render(inventory, tmp_path):
    play = tmp_path / "exposure.yml"
    play.write_text(PLAY.format(root=ROOT, roles=json.dumps(list(ROLES))), encoding="utf-8")
    defaults = tmp_path / "defaults.yml"
    _defaults_inventory(defaults)
    # no secret is looked up: the definitions hold only ${VAR} references
    return render_debug_play(play, [defaults, os.path.join("inventory", inventory)],
                             "-e", "{'mcp_secrets': {}, 'gitea_secrets': {}, 'minio_secrets': {}, "
                                   "'edge_pihole_web_password': 'unused', '_mcp_gpu_enabled': false}")


COOP, DIR = "cooperator", "director"
EXPECTED = {
    "production": {
        COOP: {"gitea": ["127.0.0.1:3300:3000", "192.168.254.10:2222:2222"],
               "minio": ["127.0.0.1:9000:9000", "127.0.0.1:9001:9001"],
               # the other nodes' engines pull git.ism.la:5000, cooperator's LAN address
               "registry": ["127.0.0.1:5000:5000", "192.168.254.10:5000:5000"],
               "registry_mirror": ["127.0.0.1:5001:5000", "192.168.254.10:5001:5000"],
               "headscale": ["127.0.0.1:8080", "127.0.0.1:9098", "127.0.0.1:50443", "192.168.254.10:3478"],
               "pihole": ["127.0.0.1:53:53/tcp", "192.168.254.10:53:53/tcp",
                          "127.0.0.1:53:53/udp", "192.168.254.10:53:53/udp", "127.0.0.1:8081:80"]},
        DIR: {"ollama": ["127.0.0.1:11434:11434", "100.64.0.2:11434:11434"],
              "open_webui": ["127.0.0.1:8080:8080", "192.168.254.30:8080:8080"]},
    },
    "lab": {
        # the lab's tests reach MinIO's S3 API from the controller at the node's LAN address
        COOP: {"gitea": ["127.0.0.1:3300:3000", "172.31.254.10:2222:2222"],
               "minio": ["127.0.0.1:9000:9000", "172.31.254.10:9000:9000", "127.0.0.1:9001:9001"],
               # director's engine pulls cooperator:5000 (its hosts file: the LAN address)
               "registry": ["127.0.0.1:5000:5000", "172.31.254.10:5000:5000"],
               "registry_mirror": None,
               "headscale": ["127.0.0.1:8080", "127.0.0.1:9098", "127.0.0.1:50443", "172.31.254.10:3478"],
               "pihole": ["127.0.0.1:53:53/tcp", "172.31.254.10:53:53/tcp",
                          "127.0.0.1:53:53/udp", "172.31.254.10:53:53/udp", "127.0.0.1:8081:80"]},
        DIR: {"ollama": ["127.0.0.1:11434:11434"],
              "open_webui": ["127.0.0.1:8080:8080", "172.31.254.30:8080:8080"]},
    },
}


@pytest.fixture(scope="module", params=["production", "lab"])
def rendered(request, tmp_path_factory):
    return request.param, render(request.param, tmp_path_factory.mktemp(request.param))


def test_every_published_port_names_its_address(rendered):
    _inventory, hosts = rendered
    for host, values in hosts.items():
        for service in ("ollama", "open_webui", "minio", "gitea", "pihole", "registry", "registry_mirror"):
            for entry in values[service] or []:
                parts = str(entry).split(":")
                assert len(parts) == 3 and parts[0], f"{host} {service}: {entry!r} publishes on every address"
                assert parts[0] != "0.0.0.0", f"{host} {service}: {entry!r}"


def test_ports_are_the_exposure_tables(rendered):
    inventory, hosts = rendered
    for host, services in EXPECTED[inventory].items():
        for service, ports in services.items():
            assert hosts[host][service] == ports, (inventory, host, service)


def test_pihole_answers_only_on_its_published_addresses_and_has_its_password(rendered):
    _inventory, hosts = rendered
    env = hosts[COOP]["pihole_env"]
    # ALL inside the bridge container (docker-pi-hole README.md@2025.08.0); the published
    # addresses above keep it from being an open resolver
    assert env["FTLCONF_dns_listeningMode"] == "all"
    assert env["FTLCONF_webserver_api_password"] == "${PIHOLE_WEB_PASSWORD}"


def test_cockpit_listens_on_loopback_only(rendered):
    _inventory, hosts = rendered
    conf = hosts[COOP]["cockpit"]
    assert conf.splitlines()[1:] == ["[Socket]", "ListenStream=", "ListenStream=127.0.0.1:9090",
                                     "FreeBind=yes"], conf


def test_headscale_listens_where_the_table_says(rendered):
    """No 0.0.0.0 from the role's default (127.0.0.1:8080 now) or the wiring."""
    _inventory, hosts = rendered
    assert not any(addr.startswith("0.0.0.0:") for addr in hosts[COOP]["headscale"])


@pytest.mark.parametrize("inventory,listen,servers", [
    ("production", ["127.0.0.1", "192.168.254.10"], ["1.1.1.1", "9.9.9.9"]),
    # the lab forwards nothing: a name outside the SSOT is REFUSED (tests/lab/test_listeners.py)
    ("lab", ["127.0.0.1", "172.31.254.10"], []),
])
def test_dnsmasq_listens_on_the_tables_addresses_only(inventory, listen, servers, tmp_path):
    conf = render(inventory, tmp_path)[COOP]["dnsmasq"].splitlines()
    assert [line.split("=", 1)[1] for line in conf if line.startswith("listen-address=")] == listen
    assert "bind-dynamic" in conf and "no-resolv" in conf
    assert [line.split("=", 1)[1] for line in conf if line.startswith("server=")] == servers

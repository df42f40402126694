"""Which address serves what, as both inventories wire it (issue 15, point 1).

The docker role's daemon.json options and the registry role's variables, rendered by
ansible-playbook for every host of inventory/production and inventory/lab (a play of
debug tasks: no host is contacted). The rules: the cluster registry runs on a
registry_servers host; every daemon reaches its push registry and the mirror over TLS,
trusting the cluster CA that host keeps (certs.d, issue 30), never through
insecure-registries; only a registry in proxy mode (the registry role's mirror) may be in
registry-mirrors, as https://, since Docker consults registry-mirrors for Docker Hub
images alone and a push registry there would shadow Docker Hub's images with whatever was
pushed as library/<name>. The certificate names both addresses, and the push registry
has an account that every Linux engine logs in with (the same Infisical pair).
"""
from __future__ import annotations

import os
import textwrap

import pytest

from tests.helpers import ROOT, render_debug_play

PLAY = textwrap.dedent("""\
    - name: Render the registry wiring
      hosts: docker_hosts:registry_servers
      gather_facts: false
      tasks:
        - name: Load the docker role's derived variables
          ansible.builtin.include_vars:
            file: {root}/roles/docker/vars/main.yml
          when: inventory_hostname in groups['docker_hosts']
        - name: Show them
          ansible.builtin.debug:
            msg:
              daemon: "{{{{ _docker_registry_options | default(None) }}}}"
              trust: "{{{{ {{'registries': _docker_trusted_registries, 'from': docker_registry_ca_from,
                            'ca': docker_registry_ca_path}}
                           if inventory_hostname in groups['docker_hosts'] else None }}}}"
              registry: "{{{{ {{'address': registry_address, 'port': registry_port | int,
                               'mirror': registry_mirror_enabled | bool,
                               'mirror_port': registry_mirror_port | int,
                               'mirror_address': registry_mirror_address,
                               'ca': registry_ca_dir ~ '/ca.crt'}}
                              if inventory_hostname in groups['registry_servers'] else None }}}}"
    """)


def _render(inventory, tmp_path):
    play = tmp_path / "registry-wiring.yml"
    play.write_text(PLAY.format(root=ROOT), encoding="utf-8")
    return render_debug_play(play, [os.path.join("inventory", inventory)])


@pytest.mark.parametrize("inventory", ["production", "lab"])
def test_daemons_trust_the_push_registry_and_mirror_only_a_proxy(inventory, tmp_path):
    """Fails before issue 30: daemon.json listed both in insecure-registries, the mirror as http://."""
    hosts = _render(inventory, tmp_path)
    servers = {h: v["registry"] for h, v in hosts.items() if v["registry"]}
    assert list(servers) == ["cooperator"], f"registry_servers: {sorted(servers)}"
    reg = servers["cooperator"]
    assert reg["address"].endswith(f":{reg['port']}")
    host_part = reg["address"].rsplit(":", 1)[0]
    mirror = f"{host_part}:{reg['mirror_port']}" if reg["mirror"] else None
    for host, values in hosts.items():
        daemon = values["daemon"]
        if daemon is None:  # in registry_servers only
            continue
        assert "insecure-registries" not in daemon, (host, daemon)
        mirrors = daemon.get("registry-mirrors", [])
        assert f"https://{reg['address']}" not in mirrors, \
            f"{host}: the push registry {reg['address']} is in registry-mirrors"
        assert mirrors == ([f"https://{mirror}"] if mirror else []), (host, daemon)
        trust = values["trust"]
        # the CA is read from the node that signs, at the path the registry role keeps it
        assert trust["from"] == "cooperator" and trust["ca"] == reg["ca"], (host, trust)
        assert trust["registries"] == [reg["address"]] + ([mirror] if mirror else []), (host, trust)
    if mirror:
        assert reg["mirror_address"] == mirror, reg
    # production mirrors Docker Hub; the lab cannot reach it and runs no mirror
    assert reg["mirror"] is (inventory == "production")

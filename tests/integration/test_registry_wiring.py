"""Which address serves what, as both inventories wire it (issue 15, point 1).

The docker role's daemon.json options and the registry role's variables, rendered by
ansible-playbook for every host of inventory/production and inventory/lab (a play of
debug tasks: no host is contacted). The rules: the cluster registry runs on a
registry_servers host; every daemon trusts its push registry (insecure-registries); only a
registry in proxy mode (the registry role's mirror) may be in registry-mirrors, since
Docker consults registry-mirrors for Docker Hub images alone and a push registry there
would shadow Docker Hub's images with whatever was pushed as library/<name>.
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
              registry: "{{{{ {{'address': registry_address, 'port': registry_port | int,
                               'mirror': registry_mirror_enabled | bool,
                               'mirror_port': registry_mirror_port | int}}
                              if inventory_hostname in groups['registry_servers'] else None }}}}"
    """)


def _render(inventory, tmp_path):
    play = tmp_path / "registry-wiring.yml"
    play.write_text(PLAY.format(root=ROOT), encoding="utf-8")
    return render_debug_play(play, [os.path.join("inventory", inventory)])


@pytest.mark.parametrize("inventory", ["production", "lab"])
def test_daemons_trust_the_push_registry_and_mirror_only_a_proxy(inventory, tmp_path):
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
        assert reg["address"] in daemon["insecure-registries"], (host, daemon)
        mirrors = daemon.get("registry-mirrors", [])
        assert f"http://{reg['address']}" not in mirrors, \
            f"{host}: the push registry {reg['address']} is in registry-mirrors"
        assert mirrors == ([f"http://{mirror}"] if mirror else []), (host, daemon)
        if mirror:
            assert mirror in daemon["insecure-registries"], (host, daemon)
    # production mirrors Docker Hub; the lab cannot reach it and runs no mirror
    assert reg["mirror"] is (inventory == "production")

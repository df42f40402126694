"""No two roles of one host wired to the same port, in production and in the lab.

The preflight's own port table (roles/preflight/vars/main.yml, read with the roles' own
defaults) is rendered for every Linux host of each inventory through ansible's templating,
and the preflight module's rule (preflight_check.port_clashes) finds any port two roles
declare: on cooperator Cockpit (samba_server) listens on 9090, headscale's metrics default
too, and only one of them can bind it. No host is contacted (connection local, debug only).
"""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from ansible_collections.colab.cluster.plugins.modules.preflight_check import port_clashes
from tests.helpers import ROOT, ansible_env, tool

PREFLIGHT = os.path.join(ROOT, "roles", "preflight")


def _declared_ports(inventory):
    env = ansible_env(ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
    proc = subprocess.run(
        [tool("ansible"), "-i", os.path.join(ROOT, "inventory", inventory), "linux", "-c", "local",
         "-m", "ansible.builtin.debug", "-e", "@" + os.path.join(PREFLIGHT, "vars", "main.yml"),
         "-e", "@" + os.path.join(PREFLIGHT, "defaults", "main.yml"), "-e", "role_path=" + PREFLIGHT,
         "-a", "var=_preflight_ports"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    result = json.loads(proc.stdout)
    hosts = result["plays"][0]["tasks"][0]["hosts"]
    return {host: res["_preflight_ports"] for host, res in hosts.items()}


@pytest.mark.parametrize("inventory", ["production", "lab"])
def test_no_port_is_wired_to_two_roles_of_one_host(inventory):
    declared = _declared_ports(inventory)
    assert "cooperator" in declared and declared["cooperator"], declared
    clashes = {host: port_clashes(ports) for host, ports in declared.items()}
    assert not any(clashes.values()), clashes


def test_the_rule_finds_a_clash():
    rows = port_clashes([
        {"port": 9090, "proto": "tcp", "role": "samba_server (Cockpit)"},
        {"port": "9090", "proto": "tcp", "role": "headscale (metrics)"},
        {"port": 9090, "proto": "udp", "role": "something on udp"},
        {"port": 445, "proto": "tcp", "role": "samba_server (smbd)"},
        {"port": 445, "proto": "tcp", "role": "samba_server (smbd)"},
    ])
    assert rows == [("port 9090/tcp", "samba_server (Cockpit) and headscale (metrics) both need it; "
                     "give one of them another port")]

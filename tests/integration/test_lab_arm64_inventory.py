"""inventory/lab-arm64 (`make lab LAB_COOPERATOR_ARCH=arm64`) is the lab's inventory less
what cannot run on an emulated cooperator: the same hosts, groups and director, with
cooperator out of docker_hosts, gitea_servers and registry_servers, and no mesh (no host is
contacted)."""
from __future__ import annotations

import json
import os
import subprocess

from tests.helpers import ROOT, ansible_env, tool

# Groups cooperator leaves under emulation: the nested engine cannot run under qemu-user
# (README "arm64 cooperator"), and the Gitea, MinIO and registry stacks need it.
NOT_EMULATED = {"docker_hosts", "gitea_servers", "minio_servers", "registry_servers"}
# Groups the arm64 lab leaves empty: lab/gobuild.py builds headscale and tailscale for the
# controller's architecture only, so neither node joins a mesh there (README "arm64 cooperator").
NO_MESH = {"headscale_servers", "mesh_clients"}


def _inventory(name):
    proc = subprocess.run([tool("ansible-inventory"), "-i", os.path.join(ROOT, "inventory", name),
                           "--list"], cwd=ROOT, env=ansible_env(), capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    members = {group: set(value.get("hosts", [])) for group, value in data.items() if group != "_meta"}
    return members, data["_meta"]["hostvars"]


def test_arm64_lab_drops_only_what_cannot_run_emulated():
    lab_groups, lab_vars = _inventory("lab")
    arm_groups, arm_vars = _inventory("lab-arm64")
    assert set(arm_vars) == set(lab_vars) == {"cooperator", "director"}
    for group in set(lab_groups) | set(arm_groups):
        if group in NO_MESH:
            assert lab_groups.get(group), f"the lab has no {group}: nothing is left out"
            expected = set()
        else:
            expected = lab_groups.get(group, set()) - ({"cooperator"} if group in NOT_EMULATED
                                                       else set())
        assert arm_groups.get(group, set()) == expected, group
    # director is the same host less the mesh clients' group variables (tailscale_*).
    left_out = set(lab_vars["director"]) - set(arm_vars["director"])
    assert left_out and all(name.startswith("tailscale_") for name in left_out), left_out
    assert {name: value for name, value in lab_vars["director"].items()
            if name not in left_out} == arm_vars["director"]
    assert arm_vars["cooperator"]["colab_arch"] == "aarch64"
    assert arm_vars["cooperator"]["colab_lan_ip"] == lab_vars["cooperator"]["colab_lan_ip"]

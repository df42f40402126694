"""The lab's mesh packages are named from the inventory, not from gathered facts.

A run with tags that skip fact gathering (`--limit director --tags mcp`) still validates
the tailscale and headscale roles' arguments (the validation task is tagged always), and
the lab's package paths were templated from ansible_facts['architecture'] there: every such
run stopped with "object of type 'dict' has no attribute 'architecture'". Rendered here with
an ad-hoc debug, which gathers no facts, as such a run sees them. No host is contacted.
"""
from __future__ import annotations

import json
import os
import subprocess

import pytest
import yaml

from tests.helpers import ROOT, ansible_env, tool

DEB_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


def _version(role):
    with open(os.path.join(ROOT, "roles", role, "defaults", "main.yml"), encoding="utf-8") as fh:
        return yaml.safe_load(fh)[f"{role}_version"]


def _render(pattern, var):
    # Only the pinned versions come from the roles' defaults: the rest is the inventory's.
    env = ansible_env(ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
    proc = subprocess.run(
        [tool("ansible"), "-i", os.path.join(ROOT, "inventory", "lab"), pattern, "-c", "local",
         "-e", "tailscale_version=" + _version("tailscale"),
         "-e", "headscale_version=" + _version("headscale"),
         "-m", "ansible.builtin.debug", "-a", "msg={{ [" + var + ", colab_arch] }}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    hosts = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]
    return {host: res.get("msg", res) for host, res in hosts.items()}


@pytest.mark.parametrize("pattern,var,expected", [
    ("mesh_clients", "tailscale_package_src", {"cooperator", "director"}),
    ("headscale_servers", "headscale_package_src", {"cooperator"}),
])
def test_lab_mesh_packages_render_without_facts(pattern, var, expected):
    rendered = _render(pattern, var)
    assert set(rendered) == expected, rendered
    for host, value in rendered.items():
        assert isinstance(value, list), (host, value)
        path, arch = value
        assert path.endswith(f"_{DEB_ARCH[arch]}.deb"), (host, path, arch)
        assert path.startswith(os.path.join(ROOT, ".lab", "mesh") + "/"), (host, path)

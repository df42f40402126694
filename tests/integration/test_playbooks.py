"""The inventories and site.yml: structure, syntax and tag selection (no host is contacted)."""
from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
import yaml

from tests.helpers import ROOT, ansible_env, tool

PRODUCTION = os.path.join(ROOT, "inventory", "production")


def _run(*cmd):
    proc = subprocess.run(list(cmd), cwd=ROOT, env=ansible_env(), capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _site_roles():
    """The roles site.yml applies, read from the layer playbooks."""
    roles = set()
    for name in os.listdir(os.path.join(ROOT, "playbooks")):
        with open(os.path.join(ROOT, "playbooks", name), encoding="utf-8") as fh:
            roles.update(re.findall(r"role:\s+colab\.cluster\.(\w+)", fh.read()))
    return sorted(roles)


def test_production_inventory_has_the_four_nodes_in_their_groups():
    data = json.loads(_run(tool("ansible-inventory"), "-i", PRODUCTION, "--list"))
    hosts = set(data["_meta"]["hostvars"])
    assert hosts == {"cooperator", "director", "projector", "terminator"}
    members = {g: set(v.get("hosts", [])) for g, v in data.items() if g != "_meta"}
    assert members["samba_servers"] == {"cooperator"}
    assert members["headscale_servers"] == {"cooperator"}
    assert members["windows"] == {"projector"}
    assert members["macos"] == {"terminator"}
    assert members["linux"] == {"cooperator", "director"}
    assert {"cooperator", "director", "projector", "terminator"} <= members["mesh_clients"]
    assert data["_meta"]["hostvars"]["projector"]["ansible_connection"] == "ansible.builtin.winrm"
    assert data["_meta"]["hostvars"]["projector"]["ansible_port"] == 5986
    assert data["_meta"]["hostvars"]["cooperator"]["colab_mesh_ip"] == "100.64.0.1"


def test_production_graph_shows_every_node():
    graph = _run(tool("ansible-inventory"), "-i", PRODUCTION, "--graph")
    for node in ("cooperator", "director", "projector", "terminator"):
        assert node in graph


SECRET_KEY = re.compile(r"(password|passwd|secret|token|api_key|private_key)$", re.I)


class _VaultLoader(yaml.SafeLoader):
    """SafeLoader that accepts ansible-vault inline values (`!vault |`)."""


_VaultLoader.add_constructor("!vault", lambda loader, node: {"__vault__": True})
_VaultLoader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def _secret_literals(node, path):
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}"
            if (isinstance(key, str) and SECRET_KEY.search(key) and isinstance(value, str)
                    and value.strip() and "{{" not in value):
                yield where
            yield from _secret_literals(value, where)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _secret_literals(item, f"{path}[{index}]")


def test_no_secret_values_in_inventories():
    """A variable named like a secret holds a template (lookup/env), a vault value or nothing."""
    offenders = []
    for base, _dirs, files in os.walk(os.path.join(ROOT, "inventory")):
        for name in files:
            if not name.endswith((".yml", ".yaml")):
                continue
            path = os.path.join(base, name)
            with open(path, encoding="utf-8") as fh:
                data = yaml.load(fh, Loader=_VaultLoader)  # noqa: S506 - a SafeLoader subclass
            offenders.extend(_secret_literals(data, os.path.relpath(path, ROOT)))
    assert not offenders, "literal secret values in the inventories: " + ", ".join(offenders)


@pytest.mark.parametrize("inventory", ["inventory/production", "inventory/lab"])
def test_site_syntax(inventory):
    _run(tool("ansible-playbook"), "-i", inventory, "site.yml", "--syntax-check")


# A role's tag may also list another role's tasks only where the play calls them on purpose,
# named here with the task file they come from: `--tags registry` (re)deploys the registry
# and the trust its clients need (its CA in every Linux engine's certs.d and root's login:
# the docker role's registry_trust tasks, which services_edge.yml runs after the registry).
_CALLED_TASK_FILES = {
    "registry": [("docker", "registry_trust.yml")],
}


def _task_names(role, task_file):
    with open(os.path.join(ROOT, "roles", role, "tasks", task_file), encoding="utf-8") as fh:
        return {f"colab.cluster.{role} : {task['name']}" for task in yaml.safe_load(fh)}


@pytest.mark.parametrize("role", _site_roles())
def test_tags_select_only_that_role(role):
    out = _run(tool("ansible-playbook"), "-i", PRODUCTION, "site.yml", "--list-tasks",
               "--tags", role)
    # Ansible tags every role's argument-spec validation `always`: it runs (and only
    # validates) whatever tags are asked for, so it is not counted here. The preflight
    # play is tagged `always` on purpose: every --tags run checks the hosts first.
    tasks = [line.strip() for line in out.splitlines()
             if line.startswith("      ") and "TAGS:" in line
             and "Validating arguments against arg spec" not in line]
    assert tasks, f"--tags {role} lists no task"
    preflight = [t for t in tasks if t.startswith("colab.cluster.preflight : ")]
    assert preflight or role == "preflight", f"--tags {role} does not start with the preflight"
    called = set()
    for other, task_file in _CALLED_TASK_FILES.get(role, []):
        called |= _task_names(other, task_file)
    foreign = [t for t in tasks
               if not t.startswith((f"colab.cluster.{role} : ", "colab.cluster.preflight : "))
               and t.split("\t")[0].strip() not in called]
    assert not foreign, f"--tags {role} also lists: {foreign}"
    # and what is called is all there: the whole task file, not a part of it
    listed = {t.split("\t")[0].strip() for t in tasks}
    assert called <= listed, f"--tags {role} lacks: {sorted(called - listed)}"

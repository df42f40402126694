"""colab.cluster.windows_connection, and the preflight role's branches on the production inventory."""
from __future__ import annotations

import os

import pytest
import yaml

from ansible_collections.colab.cluster.plugins.test.connection import windows_connection
from tests.helpers import ROOT


@pytest.mark.parametrize("name", ["winrm", "psrp", "ansible.builtin.winrm", "ansible.builtin.psrp",
                                  "ansible.legacy.winrm", " ansible.builtin.winrm "])
def test_windows_connections_in_every_spelling(name):
    assert windows_connection(name)


@pytest.mark.parametrize("name", ["ssh", "ansible.builtin.ssh", "local", "ansible.builtin.local",
                                  "community.docker.docker", "", None, "winrmx", "other.coll.winrm"])
def test_other_connections_are_not_windows(name):
    assert not windows_connection(name)


def _production_host_vars(host):
    from ansible.inventory.manager import InventoryManager  # pylint: disable=import-outside-toplevel
    from ansible.parsing.dataloader import DataLoader  # pylint: disable=import-outside-toplevel
    from ansible.vars.manager import VariableManager  # pylint: disable=import-outside-toplevel

    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[os.path.join(ROOT, "inventory", "production")])
    manager = VariableManager(loader=loader, inventory=inventory)
    return loader, manager.get_vars(host=inventory.get_host(host))


def _preflight_branches():
    """Each task of roles/preflight/tasks/main.yml that picks the Windows or the POSIX branch."""
    with open(os.path.join(ROOT, "roles", "preflight", "tasks", "main.yml"), encoding="utf-8") as fh:
        tasks = yaml.safe_load(fh)
    flat = []
    for task in tasks:
        flat.extend(task.get("block", [task]))
    picked = {}
    for task in flat:
        module = next((k for k in ("ansible.builtin.ping", "ansible.windows.win_ping") if k in task), None)
        target = (task.get("ansible.builtin.include_tasks") or {}).get("file") if module is None else module
        if target in ("ansible.builtin.ping", "ansible.windows.win_ping", "posix.yml", "windows.yml"):
            when = task["when"] if isinstance(task["when"], list) else [task["when"]]
            picked[target] = [w for w in when if w != "_preflight_reached"]
    assert set(picked) == {"ansible.builtin.ping", "ansible.windows.win_ping", "posix.yml", "windows.yml"}
    return picked


def _taken(host):
    """The branches a `when:` list lets through, evaluated as the task executor does."""
    from ansible.template import Templar, trust_as_template  # pylint: disable=import-outside-toplevel

    loader, hostvars = _production_host_vars(host)
    templar = Templar(loader=loader, variables=hostvars)
    taken = set()
    for target, conditions in _preflight_branches().items():
        if all(templar.evaluate_conditional(trust_as_template(c)) for c in conditions):
            taken.add(target)
    return taken


def test_preflight_takes_the_windows_branch_for_the_production_projector():
    assert _taken("projector") == {"ansible.windows.win_ping", "windows.yml"}


@pytest.mark.parametrize("host", ["cooperator", "director", "terminator"])
def test_preflight_takes_the_posix_branch_for_the_other_production_hosts(host):
    assert _taken(host) == {"ansible.builtin.ping", "posix.yml"}

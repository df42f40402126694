"""tests/layout.py: a missing or empty molecule/ or targets directory, or a role without a
scenario, is reported (so the slow layers fail instead of collecting zero tests)."""
from __future__ import annotations

import os

from tests import layout
from tests.helpers import ROOT


def _write(path, text="---\n"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def _role(tree, name):
    _write(os.path.join(tree, "roles", name, "tasks", "main.yml"))


def _scenario(tree, name, applies=()):
    _write(os.path.join(tree, "molecule", name, "molecule.yml"))
    body = "".join(f"    - role: colab.cluster.{role}\n" for role in applies)
    _write(os.path.join(tree, "molecule", name, "converge.yml"),
           f"---\n- name: Converge\n  hosts: all\n  roles:\n{body}")


def _problems(tree, shared):
    return layout.role_scenario_problems(os.path.join(tree, "roles"),
                                         os.path.join(tree, "molecule"), shared)


def test_missing_molecule_directory_is_a_problem(tmp_path):
    missing = str(tmp_path / "molecule")
    problems = layout.empty_problems(missing, layout.scenarios(missing), "scenario")
    assert problems == [f"{missing} is missing: no scenario would run"]


def test_molecule_directory_without_scenarios_is_a_problem(tmp_path):
    _write(str(tmp_path / "molecule" / "_shared" / "prepare.yml"))  # not a scenario
    path = str(tmp_path / "molecule")
    assert layout.scenarios(path) == []
    assert layout.empty_problems(path, [], "scenario") == [f"{path} holds no scenario"]


def test_targets_directory_missing_or_all_disabled_is_a_problem(tmp_path):
    path = str(tmp_path / "targets")
    assert layout.empty_problems(path, layout.targets(path), "target")
    _write(os.path.join(path, "one", "tasks", "main.yml"))
    _write(os.path.join(path, "one", "aliases"), "disabled\n")
    assert layout.targets(path) == []
    assert layout.empty_problems(path, layout.targets(path), "target") == [f"{path} holds no target"]
    _write(os.path.join(path, "two", "tasks", "main.yml"))
    assert layout.targets(path) == ["two"]
    assert layout.empty_problems(path, ["two"], "target") == []


def test_role_without_scenario_is_a_problem(tmp_path):
    tree = str(tmp_path)
    _role(tree, "base")
    _role(tree, "gitea")
    _scenario(tree, "base", applies=["base"])
    assert _problems(tree, {}) == ["role gitea has no molecule scenario (molecule/gitea/molecule.yml)"]


def test_scenario_must_apply_its_role(tmp_path):
    tree = str(tmp_path)
    _role(tree, "edge")
    _scenario(tree, "edge", applies=["base"])
    assert _problems(tree, {}) == ["molecule/edge does not apply colab.cluster.edge"]


def test_shared_scenario_counts_until_the_role_has_its_own(tmp_path):
    tree = str(tmp_path)
    _role(tree, "samba_server")
    _scenario(tree, "samba", applies=["samba_server"])
    shared = {"samba_server": "samba"}
    assert _problems(tree, shared) == []
    # its own scenario, once it exists, is the one that must apply it
    _scenario(tree, "samba_server", applies=[])
    assert _problems(tree, shared) == [
        "molecule/samba_server does not apply colab.cluster.samba_server"]


def test_stale_shared_entry_is_a_problem(tmp_path):
    tree = str(tmp_path)
    _role(tree, "base")
    _scenario(tree, "base", applies=["base"])
    assert _problems(tree, {"gone": "samba"}) == ["the shared-scenario entry for gone (samba) names no role"]


def test_this_checkout_has_a_scenario_per_role():
    problems = layout.role_scenario_problems(os.path.join(ROOT, "roles"),
                                             os.path.join(ROOT, "molecule"))
    assert problems == []

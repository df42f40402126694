"""What the slow test layers run, found on disk, and what is missing from it.

tests/molecule runs every scenario under molecule/, tests/integration every target under
tests/integration/targets/. A directory that is missing or holds nothing to run must fail
the run, not collect zero tests, and every role must have a scenario that applies it.
The functions take their directories as arguments so tests/unit can check them on
trees made for the purpose.
"""
from __future__ import annotations

import os
import re

# Roles proven by a scenario of another name: role -> that scenario. A scenario named
# after the role, once it exists, is used instead (so the owner can add one any time).
SHARED_SCENARIOS = {
    "headscale": "mesh",       # mesh (#14): coordinator and clients, the real headscale and tailscaled
    "tailscale": "mesh",
}
# Roles no molecule scenario can run here, and where they are proven instead. A scenario
# named after the role, once it exists, is used instead.
PROVEN_ELSEWHERE = {
    "gpu": "Windows/WSL2 only (projector): contract tests, tests/integration/test_workstations_contract.py",
    "workstation": "macOS only (terminator): contract tests, tests/integration/test_workstations_contract.py",
    "minio": "tests/integration/test_minio_role.py on the host engine (the S3 stand-in, real S3 traffic)",
}
# Scenarios that `make test` does not run: each has its own make target.
OPT_IN_SCENARIOS = {
    "arm64": "make test-arm64 (emulated aarch64: too slow for make test)",
    # the services roles are converged and checked in tests/lab by make test already; their
    # own scenarios run with `make test-molecule-services` (about 7 min on an idle machine)
    "gitea": "make test-molecule-services (tests/lab converges and checks gitea in make test)",
    "edge": "make test-molecule-services (tests/lab converges and checks edge in make test)",
    "mcp": "make test-molecule-services (tests/lab converges and checks mcp in make test)",
    "chezmoi_export": "make test-molecule-services (tests/lab runs chezmoi_export in make test)",
    # a nested engine installed in prepare, then push, mirror pull-through and refusal:
    # 4.5-6 min here, over make test's budget; tests/lab converges the registry in make test
    "registry": "make test-registry (tests/lab converges and checks the registry in make test)",
}
_PLAYBOOK = re.compile(r"\.ya?ml$")


def scenarios(molecule_dir):
    """Names of the scenarios (subdirectories holding molecule.yml), sorted."""
    if not os.path.isdir(molecule_dir):
        return []
    return sorted(name for name in os.listdir(molecule_dir)
                  if os.path.isfile(os.path.join(molecule_dir, name, "molecule.yml")))


def roles(roles_dir):
    """Names of the roles (subdirectories holding tasks/main.yml), sorted."""
    if not os.path.isdir(roles_dir):
        return []
    return sorted(name for name in os.listdir(roles_dir)
                  if os.path.isfile(os.path.join(roles_dir, name, "tasks", "main.yml")))


def targets(targets_dir):
    """Names of the enabled integration targets (tasks/main.yml, no `disabled` alias)."""
    found = []
    if not os.path.isdir(targets_dir):
        return found
    for name in sorted(os.listdir(targets_dir)):
        if not os.path.isfile(os.path.join(targets_dir, name, "tasks", "main.yml")):
            continue
        aliases = os.path.join(targets_dir, name, "aliases")
        if os.path.exists(aliases):
            with open(aliases, encoding="utf-8") as fh:
                if "disabled" in fh.read().split():
                    continue
        found.append(name)
    return found


def empty_problems(path, found, what):
    """Why a test directory runs nothing, or [] when it holds something to run."""
    if not os.path.isdir(path):
        return [f"{path} is missing: no {what} would run"]
    if not found:
        return [f"{path} holds no {what}"]
    return []


def _applies(scenario_dir, role):
    """Whether a playbook of the scenario applies the role by its FQCN."""
    pattern = re.compile(rf"\bcolab\.cluster\.{re.escape(role)}\b")
    for name in os.listdir(scenario_dir):
        if _PLAYBOOK.search(name) and name != "molecule.yml":
            with open(os.path.join(scenario_dir, name), encoding="utf-8") as fh:
                if pattern.search(fh.read()):
                    return True
    return False


def role_scenario_problems(roles_dir, molecule_dir, shared=None):
    """Every role needs a scenario that applies it: the one named after it, else the one
    `shared` names. Returns one line per problem, [] when every role is covered."""
    shared = SHARED_SCENARIOS if shared is None else shared
    have = set(scenarios(molecule_dir))
    problems = []
    for role in roles(roles_dir):
        if role not in have and role in PROVEN_ELSEWHERE and shared is SHARED_SCENARIOS:
            continue
        scenario = role if role in have else shared.get(role, role)
        if scenario not in have:
            problems.append(f"role {role} has no molecule scenario (molecule/{scenario}/molecule.yml)")
        elif not _applies(os.path.join(molecule_dir, scenario), role):
            problems.append(f"molecule/{scenario} does not apply colab.cluster.{role}")
    known = set(roles(roles_dir))
    for role, scenario in sorted(shared.items()):
        if role not in known:
            problems.append(f"the shared-scenario entry for {role} ({scenario}) names no role")
    return problems

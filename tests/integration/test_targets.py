"""Runs every integration target (tests/integration/targets/<name>/tasks/main.yml).

Targets keep ansible-test's layout (tasks/main.yml + aliases), so they also run under
``ansible-test integration``. Here each one runs as a role on localhost with the local
connection and the .venv's interpreter, against the real services on this machine
(the Docker engine, Compose V2, test doubles the target starts itself).
An ``aliases`` file containing ``disabled`` skips a target. A missing targets directory,
or one with no enabled target, fails the run.
"""
from __future__ import annotations

import os
import sys

import pytest

from tests import layout
from tests.helpers import ROOT, OUTPUT, ansible_env, run_logged, tail, tool

TARGETS_DIR = os.path.join(ROOT, "tests", "integration", "targets")


def test_targets_directory_holds_targets():
    problems = layout.empty_problems(TARGETS_DIR, layout.targets(TARGETS_DIR),
                                     "enabled integration target (<name>/tasks/main.yml)")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("target", layout.targets(TARGETS_DIR))
def test_integration_target(target, tmp_path):
    playbook = tmp_path / "run.yml"
    playbook.write_text(
        "---\n"
        f"- name: Integration target {target}\n"
        "  hosts: localhost\n"
        "  connection: local\n"
        "  gather_facts: true\n"
        "  roles:\n"
        f"    - role: {target}\n",
        encoding="utf-8",
    )
    out_dir = os.path.join(OUTPUT, "integration", target)
    os.makedirs(out_dir, exist_ok=True)
    env = ansible_env(ANSIBLE_ROLES_PATH=TARGETS_DIR)
    rc, text = run_logged(
        [tool("ansible-playbook"), "-i", "localhost,", str(playbook),
         "-e", f"ansible_python_interpreter={sys.executable}",
         "-e", f"output_dir={out_dir}"],
        f"integration-{target}.log", timeout=1200, env=env)
    assert rc == 0, f"target {target} failed (rc={rc}):\n{tail(text)}"

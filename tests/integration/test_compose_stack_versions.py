"""Runs the compose_stack integration target with Compose 2.26.1 too.

tests/integration/test_targets.py runs every target with the host's Compose (2.40.3, Debian sid's,
the version the seed pins); the lab nodes run Debian trixie's 2.26.1. Here the same target runs
with trixie's plugin binary, fetched once into .cache/compose-2.26/cli-plugins by
``lab/lab.py compose-plugin`` (a private apt state, dpkg-deb -x) and selected through
DOCKER_CONFIG, which both the docker CLI and compose_stack search first for cli-plugins.
The target's semantics cases assert each behaviour for the version that runs.
"""
from __future__ import annotations

import os
import subprocess
import sys

from tests.helpers import OUTPUT, ROOT, ansible_env, run_logged, tail, tool

TARGETS_DIR = os.path.join(ROOT, "tests", "integration", "targets")
COMPOSE_SUITES = {"2.26.1": "trixie"}
CACHE = os.path.join(ROOT, ".cache")


def _docker_config(version):
    config_dir = os.path.join(CACHE, "compose-" + version.rsplit(".", 1)[0])
    plugin = os.path.join(config_dir, "cli-plugins", "docker-compose")
    if not os.path.exists(plugin):
        subprocess.run([sys.executable, os.path.join(ROOT, "lab", "lab.py"), "compose-plugin",
                        COMPOSE_SUITES[version], os.path.dirname(plugin)], check=True, timeout=900)
    out = subprocess.run([plugin, "version", "--short"], check=True, timeout=30,
                         stdout=subprocess.PIPE, text=True).stdout
    assert out.strip().lstrip("v").startswith(version), f"{plugin} is Compose {out.strip()}, not {version}"
    return config_dir


def test_compose_stack_target_on_compose_2_26(tmp_path):
    config_dir = _docker_config("2.26.1")
    playbook = tmp_path / "run.yml"
    playbook.write_text(
        "---\n"
        "- name: Integration target compose_stack on Compose 2.26.1\n"
        "  hosts: localhost\n"
        "  connection: local\n"
        "  gather_facts: true\n"
        "  roles:\n"
        "    - role: compose_stack\n",
        encoding="utf-8",
    )
    out_dir = os.path.join(OUTPUT, "integration", "compose_stack-2.26.1")
    os.makedirs(out_dir, exist_ok=True)
    env = ansible_env(ANSIBLE_ROLES_PATH=TARGETS_DIR, DOCKER_CONFIG=config_dir)
    rc, text = run_logged(
        [tool("ansible-playbook"), "-i", "localhost,", str(playbook),
         "-e", f"ansible_python_interpreter={sys.executable}",
         "-e", f"output_dir={out_dir}"],
        "integration-compose_stack-2.26.1.log", timeout=1200, env=env)
    assert rc == 0, f"target compose_stack on Compose 2.26.1 failed (rc={rc}):\n{tail(text)}"

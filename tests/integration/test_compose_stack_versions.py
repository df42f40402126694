"""Runs the compose_stack integration target with Compose 2.26.1 and Compose v5 too.

tests/integration/test_targets.py runs every target with the host's Compose (2.40.3, Debian sid's,
the version the seed pins); the lab nodes run Debian trixie's 2.26.1, and Docker's own packages
ship Compose v5. Here the same target runs with each of them, selected through DOCKER_CONFIG, which
both the docker CLI and compose_stack search first for cli-plugins:
- 2.26.1: trixie's plugin binary, fetched once into .cache/compose-2.26/cli-plugins by
  ``lab/lab.py compose-plugin`` (a private apt state, dpkg-deb -x);
- 5.6.0 (the pin in lab/gobuild.py): built from its Go module github.com/docker/compose/v5 by
  ``lab/gobuild.py compose-plugin`` (a throwaway module, cached in ~/.cache/colab-cluster by
  version), copied into .cache/compose-5.6/cli-plugins. A new machine builds it here (~Go build,
  CPU-heavy: run the integration layer under ``flock /tmp/colab-heavy.lock``).
The target's semantics cases assert each behaviour for the version that runs.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from tests.helpers import OUTPUT, ROOT, ansible_env, run_logged, tail, tool

TARGETS_DIR = os.path.join(ROOT, "tests", "integration", "targets")
CACHE = os.path.join(ROOT, ".cache")
# The host's own plugin (lab/lab.py ensure_compose: Debian sid's); no DOCKER_CONFIG for it.
HOST_VERSION = "2.40.3"


def _gobuild():
    spec = importlib.util.spec_from_file_location("colab_gobuild_compose", os.path.join(ROOT, "lab", "gobuild.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


COMPOSE_V5 = _gobuild().pinned("compose")
# Where each version's plugin comes from: a Debian suite's docker-compose .deb, or its Go module.
COMPOSE_SOURCES = {"2.26.1": ["lab/lab.py", "compose-plugin", "trixie"],
                   COMPOSE_V5: ["lab/gobuild.py", "compose-plugin", "--version", COMPOSE_V5]}
VERSIONS = sorted(COMPOSE_SOURCES)


def _docker_config(version):
    """A DOCKER_CONFIG directory whose cli-plugins/docker-compose is Compose ``version``, made when
    missing; the plugin and `docker compose version` through it are checked to be that version."""
    config_dir = os.path.join(CACHE, "compose-" + version.rsplit(".", 1)[0])
    plugin = os.path.join(config_dir, "cli-plugins", "docker-compose")
    if not os.path.exists(plugin):
        script, *args = COMPOSE_SOURCES[version]
        subprocess.run([sys.executable, os.path.join(ROOT, script), *args, os.path.dirname(plugin)],
                       check=True, timeout=3600)
    out = subprocess.run([plugin, "version", "--short"], check=True, timeout=30,
                         stdout=subprocess.PIPE, text=True).stdout
    assert out.strip().lstrip("v").startswith(version), f"{plugin} is Compose {out.strip()}, not {version}"
    out = subprocess.run(["docker", "compose", "version", "--short"], check=True, timeout=30,
                         stdout=subprocess.PIPE, text=True, env=dict(os.environ, DOCKER_CONFIG=config_dir)).stdout
    assert out.strip().lstrip("v").startswith(version), f"docker compose with {config_dir} is {out.strip()}"
    return config_dir


@pytest.mark.parametrize("version", VERSIONS)
def test_compose_stack_target_on_compose_version(version, tmp_path):
    config_dir = _docker_config(version)
    playbook = tmp_path / "run.yml"
    playbook.write_text(
        "---\n"
        f"- name: Integration target compose_stack on Compose {version}\n"
        "  hosts: localhost\n"
        "  connection: local\n"
        "  gather_facts: true\n"
        "  roles:\n"
        "    - role: compose_stack\n",
        encoding="utf-8",
    )
    out_dir = os.path.join(OUTPUT, "integration", f"compose_stack-{version}")
    os.makedirs(out_dir, exist_ok=True)
    env = ansible_env(ANSIBLE_ROLES_PATH=TARGETS_DIR, DOCKER_CONFIG=config_dir)
    rc, text = run_logged(
        [tool("ansible-playbook"), "-i", "localhost,", str(playbook),
         "-e", f"ansible_python_interpreter={sys.executable}",
         "-e", f"output_dir={out_dir}"],
        f"integration-compose_stack-{version}.log", timeout=1200, env=env)
    assert rc == 0, f"target compose_stack on Compose {version} failed (rc={rc}):\n{tail(text)}"

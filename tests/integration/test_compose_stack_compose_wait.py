"""compose_stack waits through Compose's own ``up --wait --wait-timeout`` (issue 27, item 3).

Real Docker engine, real Compose (the host's 2.40.3 and trixie's 2.26.1, selected through
DOCKER_CONFIG as in test_compose_stack_versions), image colab/compose-test:1. Each run:

- a service that turns unhealthy: the up runs with ``--wait --wait-timeout 90``, and the task
  fails as soon as Compose says so (before: the module polled on until wait_timeout, 90 s), quoting
  Compose, naming the service, with its log line;
- a service with ``healthcheck: {disable: true}``: Compose before 5.0.2 fails its --wait with "has no
  healthcheck configured" (convergence.go isServiceHealthy@v2.40.3), so that up runs without
  --wait and the task succeeds on a running container; from 5.0.2 (commit 2f108ffaa) the up runs
  with --wait (Compose v5, built by lab/gobuild.py, is in the matrix); a second run changes nothing
  and runs no up.
"""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.helpers import ansible_env, run_logged, tool
from tests.integration.test_compose_stack_secrets import _ensure_image
from tests.integration.test_compose_stack_versions import COMPOSE_V5, _docker_config

PROJECT = "colab-it-compose-cwait"

PLAYBOOK = """---
- name: compose_stack through up --wait
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: A service that turns unhealthy (a healthcheck that fails, one retry)
      colab.cluster.compose_stack:
        project_name: {project}-sick
        project_dir: {project_dir}-sick
        definition:
          services:
            sick:
              image: colab/compose-test:1
              command: [sh, -c, "echo sick-log-line; sleep infinity"]
              healthcheck: {{test: [CMD, "false"], interval: 1s, retries: 1, start_period: 1s}}
        wait: true
        wait_timeout: 90
      register: r_sick
      ignore_errors: true
    - name: A service without a healthcheck, twice
      colab.cluster.compose_stack:
        project_name: {project}
        project_dir: {project_dir}
        definition:
          services:
            plain:
              image: colab/compose-test:1
              command: [sleep, infinity]
              healthcheck: {{disable: true}}
        wait: true
        wait_timeout: 60
      loop: [1, 2]
      register: r_plain
    - name: What Compose was asked and what the module made of it
      ansible.builtin.assert:
        that:
          - r_sick is failed and r_sick is changed
          - r_sick.service == 'sick'
          - "'service sick did not become healthy: it is running' in r_sick.msg"
          - "'Compose: container {project}-sick-sick-1 is unhealthy' in r_sick.msg"
          - "'sick-log-line' in r_sick.msg"
          - r_sick.commands | map('join', ' ') | select('search', ' up -d --wait --wait-timeout 90 sick$') | list | length == 1
          - r_plain.results[0] is changed and r_plain.results[0].services.plain.state == 'running'
          - r_plain.results[0].commands | map('join', ' ') | select('search', ' up ') | list | length == 1
          - r_plain.results[0].commands | map('join', ' ') | select('search', '--wait') | list | length == {disabled_waits}
          - r_plain.results[1] is not changed and r_plain.results[1].commands == []
"""


@pytest.mark.parametrize("version", ["host", "2.26.1", COMPOSE_V5])
def test_up_waits_through_compose(tmp_path, version):
    _ensure_image()
    env = ansible_env() if version == "host" else ansible_env(DOCKER_CONFIG=_docker_config(version))
    playbook = tmp_path / "cwait.yml"
    # Compose from 5.0.2 takes a disabled healthcheck as none, so that up can wait through it
    disabled_waits = 1 if version == COMPOSE_V5 else 0
    playbook.write_text(PLAYBOOK.format(project=PROJECT, project_dir=tmp_path / "project",
                                        disabled_waits=disabled_waits), encoding="utf-8")
    started = time.monotonic()
    try:
        rc, text = run_logged([tool("ansible-playbook"), "-i", "localhost,", str(playbook),
                               "-e", f"ansible_python_interpreter={sys.executable}"],
                              f"compose_stack-cwait-{version}.log", timeout=400, env=env)
    finally:
        for project in (PROJECT, PROJECT + "-sick"):
            subprocess.run(["docker", "compose", "-p", project, "down", "-t", "0"], capture_output=True, timeout=120,
                           check=False)
    elapsed = time.monotonic() - started
    assert rc == 0, text[-3000:]
    # the unhealthy service failed when Compose saw it unhealthy (the image's health check turns
    # unhealthy within ~12 s here), not after wait_timeout=90
    assert elapsed < 80, f"the run took {elapsed:.0f} s: the module waited on an unhealthy container"

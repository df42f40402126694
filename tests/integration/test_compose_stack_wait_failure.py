"""compose_stack: a deploy whose wait fails reports what it applied (issue 17.1, a service
that never becomes healthy). Real Docker engine and Compose V2, image colab/compose-test:1.

When the wait fails, `up` has returned: Compose's recreate (new container under a temporary
name, the old one stopped and removed, the new one renamed) is complete. So the failed task
must say changed (before: changed=false, though the container had been replaced), list the
actions and commands it ran, and the service is left with exactly one container, the new one,
under its own name.
"""
from __future__ import annotations

import subprocess
import sys

from tests.helpers import ansible_env, run_logged, tool
from tests.integration.test_compose_stack_secrets import _ensure_image

PROJECT = "colab-it-compose-waitfail"

PLAYBOOK = """---
- name: compose_stack wait failure
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    app: {{image: "colab/compose-test:1", command: [sleep, infinity]}}
  tasks:
    - name: A healthy service, then its new definition that never gets healthy
      colab.cluster.compose_stack:
        project_name: {project}
        project_dir: {project_dir}
        definition: {{services: {{app: "{{{{ app | combine({{'healthcheck': {{'test': ['CMD', item], 'interval': '1s'}}}}) }}}}"}}}}
        wait: true
        wait_timeout: 8
      loop: ["true", "false"]
      register: r_runs
      ignore_errors: true
    - name: The failure names the service and says what it applied
      vars:
        r_fail: "{{{{ r_runs.results[1] }}}}"
      ansible.builtin.assert:
        that:
          - r_runs.results[0] is not failed
          - r_fail is failed
          - r_fail.service == 'app'
          - "'did not become healthy' in r_fail.msg"
          - r_fail is changed
          - r_fail.actions | length > 0
          - r_fail.commands | map('join', ' ') | select('search', ' up ') | list | length == 1
"""


def test_failed_wait_reports_changed_and_leaves_one_container(tmp_path):
    _ensure_image()
    playbook = tmp_path / "waitfail.yml"
    playbook.write_text(PLAYBOOK.format(project=PROJECT, project_dir=tmp_path / "project"), encoding="utf-8")
    try:
        rc, text = run_logged([tool("ansible-playbook"), "-i", "localhost,", str(playbook),
                               "-e", f"ansible_python_interpreter={sys.executable}"],
                              "compose_stack-waitfail.log", timeout=300, env=ansible_env())
        names = subprocess.run(["docker", "ps", "-a", "--filter", f"label=com.docker.compose.project={PROJECT}",
                                "--format", "{{.Names}} {{.State}}"], capture_output=True, text=True, timeout=60,
                               check=True).stdout.split("\n")
    finally:
        subprocess.run(["docker", "compose", "-p", PROJECT, "down"], capture_output=True, timeout=120, check=False)
    assert rc == 0, text[-3000:]
    assert [n for n in names if n] == [f"{PROJECT}-app-1 running"], names

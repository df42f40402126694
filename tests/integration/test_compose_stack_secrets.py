"""Secret-leak scan for colab.cluster.compose_stack at -vvv.

Runs a small playbook against the real Docker engine and Compose V2 (image colab/compose-test:1 from
the compose_stack target's Dockerfile, built here when missing) with a unique secret
in ``env``: a deploy from ``definition``, one from a templated ``src`` (the action plugin), a
check+diff run, and a failing ``wait`` whose container prints the secret in its logs. The secret
must not appear in the -vvv output, in the project directory, in /tmp or in ~/.ansible/tmp.
A second secret lives only in a service's ``env_file`` (issue 27): printed by a container whose
wait fails, it must not appear in the output either.
"""
from __future__ import annotations

import os
import secrets
import subprocess
import sys

from tests.helpers import ROOT, ansible_env, run_logged, tool

PROJECT = "colab-it-compose-secrets"

PLAYBOOK = """---
- name: compose_stack secret scan
  hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    colab.cluster.compose_stack:
      project_name: {project}
      project_dir: {project_dir}
      env:
        LEAK_SECRET: "{{{{ lookup('ansible.builtin.env', 'LEAK_SECRET') }}}}"
  tasks:
    - name: Deploy from a definition
      colab.cluster.compose_stack:
        definition:
          services:
            app:
              image: colab/compose-test:1
              environment:
                APP_SECRET: ${{LEAK_SECRET}}
        wait: true
    - name: Same project from a templated src, check and diff
      colab.cluster.compose_stack:
        src: {src}
      check_mode: true
      diff: true
    - name: Deploy from the templated src
      colab.cluster.compose_stack:
        src: {src}
    - name: A service that prints the secret and a value of its env_file, and never gets healthy
      colab.cluster.compose_stack:
        definition:
          services:
            app:
              image: colab/compose-test:1
              command: [sh, -c, "echo leaked=$$APP_SECRET from-file=$$FILE_SECRET; sleep infinity"]
              env_file: [app.env]
              environment:
                APP_SECRET: ${{LEAK_SECRET}}
              healthcheck:
                test: [CMD, "false"]
                interval: 1s
                retries: 1
        wait: true
        wait_timeout: 8
      ignore_errors: true
    - name: Remove
      colab.cluster.compose_stack:
        state: absent
"""

SRC = """services:
  app:
    image: colab/compose-test:{{ 1 }}
    environment:
      APP_SECRET: ${LEAK_SECRET}
      TEMPLATED: "{{ 'yes' }}"
"""


def _ensure_image():
    """Build colab/compose-test:1 from the compose_stack target's Dockerfile when it is missing."""
    proc = subprocess.run(["docker", "image", "inspect", "colab/compose-test:1"], capture_output=True, timeout=30,
                          check=False)
    if proc.returncode != 0:
        subprocess.run(["docker", "build", "-q", "-t", "colab/compose-test:1", "--build-arg", "VERSION=1",
                        os.path.join(ROOT, "tests", "integration", "targets", "compose_stack", "files")],
                       capture_output=True, timeout=600, check=True)


def _files_containing(needle, roots):
    hits = []
    for root in roots:
        if not os.path.isdir(root):
            continue
        proc = subprocess.run(["grep", "-rlF", "--no-messages", "-e", needle, root], capture_output=True,
                              text=True, timeout=120, check=False)
        hits += proc.stdout.split()
    return hits


def test_no_secret_in_vvv_output_or_files(tmp_path):
    _ensure_image()
    secret = "leak" + secrets.token_hex(16)
    file_secret = "fileleak" + secrets.token_hex(16)  # only in the service's env_file
    project_dir = tmp_path / "project"
    project_dir.mkdir()
    (project_dir / "app.env").write_text(f"FILE_SECRET={file_secret}\n", encoding="utf-8")
    src = tmp_path / "compose.yml.j2"
    src.write_text(SRC, encoding="utf-8")
    playbook = tmp_path / "secrets.yml"
    playbook.write_text(PLAYBOOK.format(project=PROJECT, project_dir=project_dir, src=src), encoding="utf-8")
    env = ansible_env(LEAK_SECRET=secret)
    try:
        rc, text = run_logged([tool("ansible-playbook"), "-vvv", "-i", "localhost,", str(playbook),
                               "-e", f"ansible_python_interpreter={sys.executable}"],
                              "compose_stack-secrets-vvv.log", timeout=300, env=env)
    finally:
        subprocess.run(["docker", "compose", "-p", PROJECT, "down", "--volumes"], capture_output=True, timeout=120,
                       check=False)
    assert rc == 0, text[-3000:]
    # the run really exercised the paths: the failing wait showed the (redacted) log line
    assert "did not become healthy" in text and "leaked=********" in text
    # issue 27 point 5: a value from a service's env_file, printed by the container, is redacted too
    assert "from-file=********" in text
    assert file_secret not in text, "the env_file value appeared in the -vvv output"
    assert [h for h in _files_containing(file_secret, [str(project_dir)]) if not h.endswith("app.env")] == []
    assert "TEMPLATED" in text, "the check+diff run through the action plugin showed the templated config"
    assert secret not in text, "the secret appeared in the -vvv output"
    roots = [str(project_dir), "/tmp", os.path.expanduser("~/.ansible/tmp")]
    hits = [h for h in _files_containing(secret, roots) if not h.endswith("compose_stack-secrets-vvv.log")]
    assert hits == [], f"the secret was written to {hits}"

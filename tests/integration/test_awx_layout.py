"""The playbooks in AWX's job layout: controller-side files are found from the project.

AWX puts the project at <private_data_dir>/project and the inventory, flattened by
`ansible-inventory --export`, at <private_data_dir>/inventory/hosts (tests/awx.py cites
the AWX source). A path built from inventory_dir (`inventory_dir | dirname | dirname`)
then points at the private_data_dir's parent and an AWX job of site.yml fails. Here the
layout is made on the host (no container): the controller-side files must resolve inside
project/, and a fresh checkout (no `make link`) must find colab.cluster with AWX's
collections path. The EE run itself is tests/lab/test_awx_runner.py.
"""
from __future__ import annotations

import json
import os
import subprocess

import pytest
import re

from tests.awx import copy_project, job_env, private_data_dir
from tests.helpers import ROOT, ansible_env, tool

USES_INVENTORY_DIR = re.compile(r"\{[{%][^}]*\binventory_dir\b")

PROBE = """\
- name: Print the controller-side paths as a job sees them
  hosts: all
  gather_facts: false
  tasks:
    - name: The paths
      ansible.builtin.debug:
        msg: "{{ {'host': inventory_hostname, 'paths': _paths} | to_json }}"
      vars:
        _paths: >-
          {{ ([edge_domains_file | default(omit), gitea_ssot_file | default(omit)]
              + (docker_image_archives | default([]) | map(attribute='src') | list))
             | reject('equalto', omit) | list }}
"""


def _awx_job(tmp_path, inventory):
    pdd = tmp_path / "pdd"
    project = pdd / "project"
    copy_project(str(project))
    with open(project / "playbooks" / "zz_probe.yml", "w", encoding="utf-8") as fh:
        fh.write(PROBE)
    env = ansible_env(ANSIBLE_CONFIG=str(project / "ansible.cfg"))
    source = str(project / "inventory" / inventory)
    export = subprocess.run([tool("ansible-inventory"), "--list", "--export", "-i", source,
                             "--playbook-dir", source], cwd=project, env=env,
                            capture_output=True, text=True, timeout=120, check=True).stdout
    private_data_dir(str(pdd), json.loads(export))
    # The job's collections path is AWX's (from the project's ansible.cfg), not this checkout's.
    job = {k: v.replace("/runner", str(pdd)) for k, v in job_env(str(project)).items()}
    # A home of its own: what this machine has in ~/.ansible/collections is not the job's.
    home = tmp_path / "home"
    home.mkdir()
    return pdd, project, ansible_env(ANSIBLE_CONFIG=str(project / "ansible.cfg"), HOME=str(home),
                                     ANSIBLE_CALLBACK_RESULT_FORMAT="json", **job)


@pytest.mark.parametrize("inventory, ssot", [("production", "ssot/state/domains.yml"),
                                             ("lab", ".lab/ssot/domains.yml")])
def test_controller_side_files_resolve_in_the_project(tmp_path, inventory, ssot):
    pdd, project, env = _awx_job(tmp_path, inventory)
    proc = subprocess.run([tool("ansible-playbook"), "-i", str(pdd / "inventory" / "hosts"),
                           "playbooks/zz_probe.yml", "--limit", "cooperator", "-c", "local"],
                          cwd=project, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if '"msg":' in ln)
    paths = json.loads(json.loads(line.split('"msg": ', 1)[1]))["paths"]
    assert str(project / ssot) in paths, paths
    outside = [p for p in paths if not p.startswith(str(project) + os.sep)]
    assert not outside, f"controller-side files outside the project {project}: {outside}"


def test_a_fresh_checkout_finds_the_collection_with_awx_paths(tmp_path):
    """No `make link`: ansible.cfg's collections_path must exist in the checkout itself."""
    pdd, project, env = _awx_job(tmp_path, "production")
    assert not (project / ".ansible").exists()
    proc = subprocess.run([tool("ansible-playbook"), "-i", str(pdd / "inventory" / "hosts"),
                           "site.yml", "--syntax-check"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_no_inventory_dir_for_controller_side_files():
    offenders = []
    for top in ("roles", "inventory", "playbooks", "site.yml"):
        for dirpath, _dirs, files in os.walk(os.path.join(ROOT, top)):
            for name in files:
                path = os.path.join(dirpath, name)
                with open(path, encoding="utf-8", errors="replace") as fh:
                    if USES_INVENTORY_DIR.search(fh.read()):
                        offenders.append(os.path.relpath(path, ROOT))
    assert not offenders, f"inventory_dir used in: {offenders}"

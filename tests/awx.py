"""AWX's private_data_dir, made the way AWX makes it for a job, to run the playbooks as AWX does.

Transcribed from ansible/awx@24.6.1, awx/main/tasks/jobs.py:
- the inventory update runs ``ansible-inventory --list --export -i <project>/<source_path>
  --playbook-dir <project>/<source_path>`` (RunInventoryUpdate.build_args) and AWX stores
  the groups, hosts and variables it prints;
- a job gets that inventory as ``inventory/hosts``, a script printing the JSON
  (BaseTask.write_inventory_file: ``#! /usr/bin/env python3`` + ``print(<json>)``, mode 0700);
- the project checkout is ``project/``, extra vars go to ``env/extravars``, the job's
  environment (credential injectors) to ``env/envvars``, the machine credential's key to
  ``env/ssh_key``; the container sees all of it under /runner (CONTAINER_ROOT);
- RunJob.build_env sets ANSIBLE_COLLECTIONS_PATH (and ANSIBLE_ROLES_PATH) to
  /runner/requirements_collections, then the project ansible.cfg's collections_path, then
  ~/.ansible/collections:/usr/share/ansible/collections.
"""
from __future__ import annotations

import configparser
import json
import os
import shutil
import stat
import subprocess

import yaml

from tests.helpers import ROOT

CONTAINER_ROOT = "/runner"
_PATH_VARS = (
    ("ANSIBLE_COLLECTIONS_PATH", "collections_path", "requirements_collections",
     "~/.ansible/collections:/usr/share/ansible/collections"),
    ("ANSIBLE_ROLES_PATH", "roles_path", "requirements_roles",
     "~/.ansible/roles:/usr/share/ansible/roles:/etc/ansible/roles"),
)


def copy_project(dest):
    """The project as an SCM checkout has it: the files git tracks (and would track)."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, check=True, timeout=60).stdout
    for rel in filter(None, files.decode().split("\0")):
        src = os.path.join(ROOT, rel)
        if not os.path.lexists(src):
            continue
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.islink(src):
            os.symlink(os.readlink(src), target)
        else:
            shutil.copy2(src, target)


def inventory_script(export):
    """inventory/hosts as AWX writes it for a job."""
    return "#! /usr/bin/env python3\n# -*- coding: utf-8 -*-\nprint(%r)\n" % json.dumps(export)


def job_env(project_dir):
    """The path variables AWX's RunJob.build_env derives from the project's ansible.cfg."""
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(project_dir, "ansible.cfg"))
    env = {}
    for env_key, setting, folder, default in _PATH_VARS:
        paths = default.split(":")
        value = cfg.get("defaults", setting, fallback=None)
        if value:
            for path in value.split(":"):
                if path not in paths:
                    paths = [value] + paths
        env[env_key] = ":".join([os.path.join(CONTAINER_ROOT, folder)] + paths)
    return env


def private_data_dir(pdd, export, extravars=None, envvars=None, ssh_key=None):
    """Write pdd/{project,inventory/hosts,env/*}; the caller has filled pdd/project."""
    for sub in ("inventory", "env", "artifacts"):
        os.makedirs(os.path.join(pdd, sub), exist_ok=True)
    hosts = os.path.join(pdd, "inventory", "hosts")
    with open(hosts, "w", encoding="utf-8") as fh:
        fh.write(inventory_script(export))
    os.chmod(hosts, 0o700)

    def _private(name, text):
        path = os.path.join(pdd, "env", name)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)

    _private("extravars", yaml.safe_dump(extravars or {}))
    _private("envvars", yaml.safe_dump({**job_env(os.path.join(pdd, "project")), **(envvars or {})}))
    if ssh_key:
        _private("ssh_key", ssh_key)
    return pdd

"""site.yml the way AWX runs it: ansible-runner inside the execution environment, against the lab.

The EE image is built from execution-environment.yml by tests/ee.py (offline, cached by a
hash of its inputs). The job's private_data_dir is made as AWX makes it (tests/awx.py,
transcribed from ansible/awx@24.6.1): the project checkout in project/, the inventory
imported with `ansible-inventory --list --export` *inside the EE* and written as the
inventory/hosts script, extra vars in env/extravars, the Infisical identity in
env/envvars (what AWX's credential injector does). The container sees it at /runner and
runs `ansible-runner run /runner -p site.yml`, on the host's network so the lab's secret
store on 127.0.0.1 answers. The lab's controller-side state (.lab/) is mounted at
/runner/lab and passed as `lab_state_dir`, since AWX's project checkout never has it.

A file site.yml manages is changed on each node first, so the first run has something to
converge; the second run must report changed=0. Both recaps are parsed: both nodes, ok>0.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from tests import ee
from tests.awx import copy_project, private_data_dir
from tests.helpers import OUTPUT, ROOT, ansible_env, assert_recap, parse_recap, tail, tool

pytestmark = pytest.mark.lab

NODES = ("cooperator", "director")
LAB_STATE = "/runner/lab"


@pytest.fixture(scope="module")
def ee_image():
    os.makedirs(OUTPUT, exist_ok=True)
    with open(os.path.join(OUTPUT, "ee-build.log"), "w", encoding="utf-8") as log:
        names, seconds, built = ee.build(log)
    print(f"EE {names['ee']}: built {built or 'nothing (cached)'} in {seconds:.0f} s")
    return names["ee"]


def _lab_inventory_vars():
    out = subprocess.run([tool("ansible-inventory"), "-i", "inventory/lab", "--host", "cooperator"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
                         env=ansible_env())
    return json.loads(out.stdout)


def _docker_args(pdd, connection):
    args = ["--rm", "--network", "host", "--user", "root", "-v", f"{pdd}:/runner"]
    if os.path.isdir(os.path.join(ROOT, ".lab")):
        args += ["-v", f"{os.path.join(ROOT, '.lab')}:{LAB_STATE}"]
    if connection.endswith("docker"):
        # The lab is reached with the docker connection: the job needs the engine's socket
        # and a docker CLI (the host's, a static binary), as an AWX runner would for such an
        # inventory. Over ssh (the production path) nothing of the host is needed.
        cli = shutil.which("docker")
        args += ["-v", "/var/run/docker.sock:/var/run/docker.sock",
                 "-v", f"{os.path.realpath(cli)}:/usr/local/bin/docker:ro"]
    return args


def _in_ee(image, pdd, connection, *cmd, timeout=2400):
    return subprocess.run(["docker", "run", *_docker_args(pdd, connection), image, *cmd],
                          capture_output=True, text=True, timeout=timeout, check=False)


def _drift_nodes(lab):
    """Remove the block the base role keeps in /etc/hosts, on each node."""
    for node in NODES:
        res = lab.exec(node, "sh", "-c", "sed '/colab.cluster nodes/,/colab.cluster nodes/d' /etc/hosts"
                                         " > /tmp/hosts && cat /tmp/hosts > /etc/hosts")
        assert res.returncode == 0, res.stderr


def _runner(image, pdd, connection, name, recap=True):
    proc = _in_ee(image, pdd, connection, "ansible-runner", "run", "/runner", "-p", "site.yml",
                  "--ident", name)
    stdout_file = os.path.join(pdd, "artifacts", name, "stdout")
    text = ""
    if os.path.exists(stdout_file):
        with open(stdout_file, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    with open(os.path.join(OUTPUT, f"awx-runner-{name}.log"), "w", encoding="utf-8") as log:
        log.write(text + "\n--- container ---\n" + proc.stdout + proc.stderr)
    return proc.returncode, text or proc.stdout + proc.stderr, parse_recap(text + "\n") if recap else None


def _export_in_ee(image, pdd, connection, inventory):
    """AWX's inventory update, inside the EE (RunInventoryUpdate.build_args)."""
    source = f"/runner/project/inventory/{inventory}"
    inv = _in_ee(image, pdd, connection, "sh", "-c",
                 f"cd /runner/project && ansible-inventory --list --export -i {source} --playbook-dir {source}",
                 timeout=300)
    assert inv.returncode == 0, inv.stdout + inv.stderr
    return json.loads(inv.stdout)


def test_production_site_in_the_ee_finds_every_role_from_the_project(ee_image):
    """No lab needed: AWX's layout for inventory/production, `--syntax-check` through the
    runner in the EE resolves every colab.cluster role from the project checkout."""
    pdd = os.path.join(OUTPUT, "awx-runner-syntax")
    shutil.rmtree(pdd, ignore_errors=True)
    copy_project(os.path.join(pdd, "project"))
    private_data_dir(pdd, {})
    private_data_dir(pdd, _export_in_ee(ee_image, pdd, "ssh", "production"))
    with open(os.path.join(pdd, "env", "cmdline"), "w", encoding="utf-8") as fh:
        fh.write("--syntax-check")
    rc, text, _recap = _runner(ee_image, pdd, "ssh", "syntax", recap=False)
    assert rc == 0, tail(text, 40)
    assert "playbook: site.yml" in text


def test_site_through_ansible_runner_in_the_ee_converges_then_changes_nothing(converged_lab, ee_image):
    pdd = os.path.join(OUTPUT, "awx-runner")
    shutil.rmtree(pdd, ignore_errors=True)
    copy_project(os.path.join(pdd, "project"))
    lab_vars = _lab_inventory_vars()
    connection = lab_vars.get("ansible_connection", "ansible.builtin.ssh")
    private_data_dir(pdd, {})
    export = _export_in_ee(ee_image, pdd, connection, "lab")
    with open(os.path.join(ROOT, ".lab", "infisical", "client_secret"), encoding="utf-8") as fh:
        client_secret = fh.read().strip()
    with open(os.path.join(ROOT, ".lab", "infisical", "port"), encoding="utf-8") as fh:
        port = fh.read().strip()
    ssh_key = None
    key_path = os.path.join(ROOT, ".lab", "ssh", "id_ed25519")
    if not connection.endswith("docker") and os.path.exists(key_path):
        with open(key_path, encoding="utf-8") as fh:
            ssh_key = fh.read()   # AWX's machine credential: runner loads it into ssh-agent
    private_data_dir(pdd, export,
                     extravars={"lab_state_dir": LAB_STATE,
                                "colab_infisical_url": f"http://127.0.0.1:{port}"},
                     envvars={"COLAB_INFISICAL_CLIENT_ID": "colab-lab-identity",
                              "COLAB_INFISICAL_CLIENT_SECRET": client_secret},
                     ssh_key=ssh_key)
    try:
        _drift_nodes(converged_lab)
        rc, first_text, first = _runner(ee_image, pdd, connection, "converge")
        assert rc == 0, tail(first_text, 80)
        assert_recap(first, NODES)
        assert all(first[n]["changed"] > 0 for n in NODES), f"nothing converged: {first}"
        rc, second_text, second = _runner(ee_image, pdd, connection, "idempotence")
        assert rc == 0, tail(second_text, 80)
        assert_recap(second, NODES, changed=0)
        for text in (first_text, second_text):
            assert client_secret not in text
    finally:
        # The identity stays only where the lab keeps it (.lab/infisical, 0600).
        for name in ("envvars", "ssh_key"):
            if os.path.exists(os.path.join(pdd, "env", name)):
                os.remove(os.path.join(pdd, "env", name))

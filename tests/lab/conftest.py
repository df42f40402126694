"""The lab as a pytest fixture: bring it up and converge site.yml the way `make lab` does.

`converged_lab` runs once per session: `lab/lab.py up`, then `site.yml` twice (the
second run must change nothing), then `--check --diff` (must predict nothing to do).
Every run goes the way `make lab` goes: over ssh as the lab's admin user `colab` with
become (inventory/lab/group_vars/all/connection.yml). Tests of any layer that need the
converged lab take this fixture; they read the nodes' state with `docker exec` (an
observer beside the connection under test) or through `Lab.ssh`, as an admin would.
Recaps are read with the one parser in tests/helpers.py, never by matching text.

LAB_FRESH=1 (set by .ci/run) or CI=true starts from an empty lab (`lab.py down` first),
as a new user would; otherwise a lab that is already up is reused.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess

import pytest

from tests.helpers import (OUTPUT, ROOT, RecapError, ansible_env, assert_recap, parse_recap, run_logged,
                           tail, tool)
from tests.lab.exposure import ArgvSampler
from tests.lab.traffic import ConntrackSampler, SocketSampler

_spec = importlib.util.spec_from_file_location("colab_lab_tool_fixture",
                                               os.path.join(ROOT, "lab", "lab.py"))
lab_tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lab_tool)


class Lab:
    nodes = tuple(lab_tool.NODES)

    def __init__(self):
        self.runs = {}

    @staticmethod
    def container(host):
        return f"colab-lab-{host}"

    def exec(self, host, *cmd, check=False, timeout=120):
        return subprocess.run(["docker", "exec", self.container(host), *cmd],
                              capture_output=True, text=True, timeout=timeout, check=check)

    @staticmethod
    def ip(host):
        return lab_tool.NODES[host]["ip"]

    @staticmethod
    def ssh_argv(host):
        """The ssh command `lab.py summary` prints for `host`."""
        return lab_tool.ssh_argv(host)

    def ssh(self, host, *cmd, timeout=60):
        """Run a command on a node as the admin user over ssh, the way a person would."""
        return subprocess.run([*self.ssh_argv(host), *cmd], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def playbook(self, name, *args, playbook="site.yml"):
        env = ansible_env(ANSIBLE_CALLBACKS_ENABLED="colab_lab_summary",
                          ANSIBLE_CALLBACK_PLUGINS=os.path.join(ROOT, "lab", "callback_plugins"))
        rc, text = run_logged([tool("ansible-playbook"), "-i", "inventory/lab", playbook, *args],
                              f"lab-{name}.log", timeout=2400, env=env)
        try:
            recap, error = parse_recap(text), None
        except RecapError as exc:
            recap, error = None, str(exc)
        self.runs[name] = {"rc": rc, "text": text, "recap": recap, "recap_error": error}
        return self.runs[name]

    def recap(self, name):
        """The parsed recap of run `name`; a run without one fails the test that asks."""
        run = self.runs[name]
        if run["recap"] is None:
            raise AssertionError(f"run {name}: {run['recap_error']}\n{tail(run['text'], 80)}")
        return run["recap"]

    def assert_run(self, name, changed=None):
        """Run `name` passed, and its recap holds both nodes with work done (ok>0)."""
        run = self.runs[name]
        assert run["rc"] == 0, f"run {name} failed (rc={run['rc']}):\n{tail(run['text'], 80)}"
        try:
            assert_recap(self.recap(name), self.nodes, changed=changed)
        except AssertionError as exc:
            raise AssertionError(f"run {name}: {exc}\n{tail(run['text'], 120)}") from None

    @staticmethod
    def summary():
        with open(os.path.join(ROOT, ".lab", "last-run.json"), encoding="utf-8") as fh:
            return json.load(fh)


@pytest.fixture(scope="session")
def converged_lab():
    if os.environ.get("LAB_FRESH") == "1" or os.environ.get("CI") == "true":
        down = subprocess.run(["python3", os.path.join(ROOT, "lab", "lab.py"), "down"],
                              capture_output=True, text=True, timeout=600, check=False)
        assert down.returncode == 0, f"lab down failed:\n{down.stdout}\n{down.stderr}"
    up = subprocess.run(["python3", os.path.join(ROOT, "lab", "lab.py"), "up"],
                        capture_output=True, text=True, timeout=1800, check=False)
    assert up.returncode == 0, f"lab up failed:\n{up.stdout}\n{up.stderr}"
    lab = Lab()
    lab.up_output = up.stdout
    # The first converge runs at -vvv while every process's argv is sampled on the
    # controller and in both nodes (tests/lab/test_exposure.py reads both).
    sampler = ArgvSampler([lab.container(host) for host in lab.nodes]).start()
    # Every socket in every node and every flow leaving a node through the docker bridge,
    # from the first converge to the end of the check run (tests/lab/test_mesh.py reads them).
    sockets = SocketSampler([lab.container(host) for host in lab.nodes]).start()
    flows = ConntrackSampler([lab.ip(host) for host in lab.nodes]).start()
    lab.socket_sampler, lab.flow_sampler = sockets, flows
    try:
        try:
            lab.playbook("converge", "-vvv")
        finally:
            sampler.stop()
            sampler.save(os.path.join(OUTPUT, "lab-converge-argv.json"))
        lab.argv_sampler = sampler
        lab.assert_run("converge")
        lab.first_summary = lab.summary()
        lab.playbook("idempotence")
        lab.playbook("check", "--check", "--diff")
    finally:
        sockets.stop()
        flows.stop()
        sockets.save(os.path.join(OUTPUT, "lab-sockets.json"))
    return lab

"""The lab as a pytest fixture: bring it up and converge site.yml the way `make lab` does.

`converged_lab` runs once per session: `lab/lab.py up`, then `site.yml` twice (the
second run must change nothing), then `--check --diff` (must predict nothing to do).
Tests of any layer that need the converged lab take this fixture and inspect the
nodes with `docker exec`.
"""
from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from tests.helpers import ROOT, ansible_env, run_logged, tool

RECAP = re.compile(r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
                   r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)", re.M)


def parse_recap(text):
    return {m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")}
            for m in RECAP.finditer(text)}


class Lab:
    nodes = ("cooperator", "director")

    def __init__(self):
        self.runs = {}

    @staticmethod
    def container(host):
        return f"colab-lab-{host}"

    def exec(self, host, *cmd, check=False, timeout=120):
        return subprocess.run(["docker", "exec", self.container(host), *cmd],
                              capture_output=True, text=True, timeout=timeout, check=check)

    def playbook(self, name, *args):
        env = ansible_env(ANSIBLE_CALLBACKS_ENABLED="colab_lab_summary",
                          ANSIBLE_CALLBACK_PLUGINS=os.path.join(ROOT, "lab", "callback_plugins"))
        rc, text = run_logged([tool("ansible-playbook"), "-i", "inventory/lab", "site.yml", *args],
                              f"lab-{name}.log", timeout=2400, env=env)
        self.runs[name] = {"rc": rc, "text": text, "recap": parse_recap(text)}
        return self.runs[name]

    @staticmethod
    def summary():
        with open(os.path.join(ROOT, ".lab", "last-run.json"), encoding="utf-8") as fh:
            return json.load(fh)


@pytest.fixture(scope="session")
def converged_lab():
    # CI (and LAB_FRESH=1) starts from an empty lab, as a new user would; a developer's
    # `make test` reuses a lab that is already up.
    if os.environ.get("LAB_FRESH") == "1" or os.environ.get("CI") == "true":
        subprocess.run(["python3", os.path.join(ROOT, "lab", "lab.py"), "down"], check=False)
    up = subprocess.run(["python3", os.path.join(ROOT, "lab", "lab.py"), "up"],
                        capture_output=True, text=True, timeout=1800, check=False)
    assert up.returncode == 0, f"lab up failed:\n{up.stdout}\n{up.stderr}"
    lab = Lab()
    first = lab.playbook("converge")
    assert first["rc"] == 0, "first converge failed:\n" + "\n".join(first["text"].splitlines()[-80:])
    lab.first_summary = lab.summary()
    lab.playbook("idempotence")
    lab.playbook("check", "--check", "--diff")
    return lab

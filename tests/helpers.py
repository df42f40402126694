"""Small helpers the pytest layers share: where things are, how to run a tool."""
from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
OUTPUT = os.path.join(ROOT, "tests", "output")


def tool(name):
    """Path of a console script installed beside the running interpreter (the .venv)."""
    path = os.path.join(BIN, name)
    return path if os.path.exists(path) else name


def ansible_env(**extra):
    env = dict(os.environ)
    env.setdefault("ANSIBLE_CONFIG", os.path.join(ROOT, "ansible.cfg"))
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env["PY_COLORS"] = "0"
    env["NO_COLOR"] = "1"
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
    env.update(extra)
    return env


def run_logged(cmd, log_name, timeout, env=None, cwd=ROOT):
    """Run a command, keep its whole output in tests/output/<log_name>, return (rc, text)."""
    os.makedirs(OUTPUT, exist_ok=True)
    log_path = os.path.join(OUTPUT, log_name)
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.run(cmd, cwd=cwd, env=env or ansible_env(), stdout=log,
                              stderr=subprocess.STDOUT, timeout=timeout, check=False)
    with open(log_path, encoding="utf-8", errors="replace") as log:
        text = log.read()
    return proc.returncode, text


def tail(text, lines=60):
    return "\n".join(text.splitlines()[-lines:])

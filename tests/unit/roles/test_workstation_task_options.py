"""Every module option the Windows/macOS/GPU/workstation tasks use exists in the installed
collections' argument specs (`ansible-doc -j`), and every literal value is one of its choices.

ansible-lint checks module arguments too, but only where it can load the module; this test
reads the same documentation ansible-doc shows and fails naming the file, task and option.
"""
from __future__ import annotations

import glob
import json
import os
import subprocess

import pytest
import yaml
from ansible.playbook.block import Block
from ansible.playbook.handler import Handler
from ansible.playbook.task import Task

from tests.helpers import ROOT, ansible_env, tool

FILES = sorted(
    glob.glob(os.path.join(ROOT, "roles", "docker", "tasks", "windows*.yml"))
    + glob.glob(os.path.join(ROOT, "roles", "docker", "tasks", "macos*.yml"))
    + [os.path.join(ROOT, "roles", "docker", "tasks", "desktop_compose.yml"),
       os.path.join(ROOT, "roles", "docker", "handlers", "main.yml")]
    + glob.glob(os.path.join(ROOT, "roles", "gpu", "tasks", "*.yml"))
    + glob.glob(os.path.join(ROOT, "roles", "workstation", "tasks", "*.yml"))
    + [os.path.join(ROOT, "roles", "base", "tasks", name) for name in ("windows.yml", "macos.yml")]
)
KEYWORDS = set(Task.fattributes) | set(Block.fattributes) | set(Handler.fattributes) | {"block", "rescue", "always"}


def _tasks(node, where):
    for task in node or []:
        if any(k in task for k in ("block", "rescue", "always")):
            for key in ("block", "rescue", "always"):
                yield from _tasks(task.get(key), where)
            continue
        yield where, task


def _uses():
    uses = []
    for path in FILES:
        with open(path, encoding="utf-8") as handle:
            for where, task in _tasks(yaml.safe_load(handle), os.path.relpath(path, ROOT)):
                modules = [k for k in task if k not in KEYWORDS and not k.startswith("with_")]
                assert len(modules) == 1, "%s: %s: cannot tell the module among %s" % (where, task.get("name"), modules)
                args = task[modules[0]]
                if isinstance(task.get("args"), dict):
                    args = dict(args or {}, **task["args"])
                uses.append((where, task.get("name"), modules[0], args))
    return uses


USES = _uses()


@pytest.fixture(scope="module")
def docs():
    names = sorted({use[2] for use in USES})
    proc = subprocess.run([tool("ansible-doc"), "-j"] + names, env=ansible_env(), capture_output=True, text=True,
                          check=True, timeout=300)
    return {name: entry["doc"] for name, entry in json.loads(proc.stdout).items()}


def test_the_files_are_found():
    assert len(FILES) >= 8 and len(USES) >= 60


@pytest.mark.parametrize("where,name,module,args", USES, ids=["%s:%s" % (use[0], use[1]) for use in USES])
def test_task_options_exist_in_the_module_spec(docs, where, name, module, args):
    assert module.count(".") == 2, "%s: %s: %s is not a FQCN" % (where, name, module)
    assert module in docs, "%s: %s: ansible-doc does not know %s" % (where, name, module)
    if not isinstance(args, dict):
        return  # free-form (meta, import_tasks, a command string)
    options = docs[module].get("options") or {}
    if "key_value" in options:
        return  # set_fact: any variable name is an option
    known = {}
    for option, spec in options.items():
        known[option] = spec
        for alias in spec.get("aliases") or []:
            known[alias] = spec
    for key, value in args.items():
        assert key in known, "%s: %s: %s has no option %r (it has: %s)" % (
            where, name, module, key, ", ".join(sorted(options)))
        choices = known[key].get("choices")
        literal = not (isinstance(value, str) and "{{" in value)
        if choices and literal and not isinstance(value, (list, dict)):
            if isinstance(choices, dict):
                choices = list(choices)
            assert value in choices, "%s: %s: %s %s=%r is not one of %s" % (where, name, module, key, value, choices)
        if known[key].get("type") == "bool" and literal:
            assert isinstance(value, bool), "%s: %s: %s %s=%r is not a boolean" % (where, name, module, key, value)
        if known[key].get("type") == "list" and literal and value is not None:
            assert isinstance(value, list), "%s: %s: %s %s=%r is not a list" % (where, name, module, key, value)

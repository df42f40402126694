"""Contract test: every role task that calls a Windows module passes what that module's
installed documentation accepts.

A task is a Windows task when its module is in ansible.windows, community.windows or
chocolatey.chocolatey, or when the installed docs say the module runs on Windows (its
`platform` attribute lists windows, as ansible.builtin.setup and slurp do). The spec is the
one `ansible-doc --json -t module` prints from the collections the PyPI `ansible` package
put into the venv (`ansible-galaxy collection list`: site-packages/ansible_collections); each
module is read once (one batched ansible-doc run, cached) and its doc's `filename` is checked
to be in that tree.

Per task, over roles/*/tasks/*.yml and roles/*/handlers/*.yml (block/rescue/always walked;
task keywords such as when, register, become_method: runas, loop, vars are not arguments):
- every argument (task value, `args:`, a `k=v` string, the free-form string as `_raw_params`,
  `free_form` or `cmd`) is an option or an alias of one, suboptions included;
- a literal value (not "{{ ... }}") has the documented type, its list elements the documented
  `elements` type, and is one of `choices` where there are choices;
- every `required` option is there.
A templated value is only exempt from the type and choices checks. No Windows host is
involved: this proves agreement with the module's spec, not behaviour on Windows.
"""
from __future__ import annotations

import functools
import glob
import json
import os
import subprocess

import pytest
import yaml
from ansible.parsing.mod_args import FREEFORM_ACTIONS
from ansible.parsing.splitter import parse_kv
from ansible.playbook.block import Block
from ansible.playbook.handler import Handler
from ansible.playbook.task import Task

from tests.helpers import ROOT, ansible_env, tool

WINDOWS_COLLECTIONS = ("ansible.windows.", "community.windows.", "chocolatey.chocolatey.")
KEYWORDS = set(Task.fattributes) | set(Block.fattributes) | set(Handler.fattributes) | {"block", "rescue", "always"}
NESTING = ("block", "rescue", "always")
FILES = sorted(glob.glob(os.path.join(ROOT, "roles", "*", "tasks", "*.yml"))
               + glob.glob(os.path.join(ROOT, "roles", "*", "handlers", "*.yml")))
# The Python types a YAML literal may have for each documented option type.
TYPES = {
    "str": (str,), "path": (str,), "sid": (str,), "int": (int,), "float": (int, float), "bool": (bool,),
    "list": (list,), "dict": (dict,), "json": (str, list, dict), "jsonarg": (str, list, dict),
    "bytes": (str, int), "bits": (str, int), "raw": (object,),
}
# The Windows task files the roles have (issue 26): each must contribute at least one task.
EXPECTED_FILES = ("docker/tasks/windows.yml", "docker/tasks/windows_config.yml", "docker/tasks/windows_install.yml",
                  "samba_client/tasks/windows.yml", "tailscale/tasks/windows.yml", "preflight/tasks/windows.yml",
                  "base/tasks/windows.yml", "gpu/tasks/main.yml")


def walk(tasks):
    """The plain tasks of a task list, through block/rescue/always."""
    for task in tasks or []:
        if any(key in task for key in NESTING):
            for key in NESTING:
                yield from walk(task.get(key))
            continue
        yield task


def module_and_args(task):
    """(module, args) of one task as ansible would read them, or (None, problem)."""
    if "action" in task or "local_action" in task:
        action = task.get("action", task.get("local_action"))
        if isinstance(action, dict):
            action = dict(action)
            module, raw = action.pop("module"), action
        else:
            module, _sep, raw = str(action).partition(" ")
    else:
        modules = [key for key in task if key not in KEYWORDS and not key.startswith("with_")]
        if len(modules) != 1:
            return None, "cannot tell the module among %s" % modules
        module, raw = modules[0], task[modules[0]]
    if isinstance(raw, str):
        args = parse_kv(raw, check_raw=module in FREEFORM_ACTIONS)
    elif raw is None:
        args = {}
    elif isinstance(raw, dict):
        args = dict(raw)
    else:
        return module, "the module's arguments are a %s, not a mapping or a string" % type(raw).__name__
    extra = task.get("args")
    if isinstance(extra, str):
        return module, "args: is a template (%r); its keys cannot be checked" % extra
    args.update(extra or {})
    return module, args


def templated(value):
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _value_problems(where, value, spec, elements=False):
    kind = spec.get("elements" if elements else "type", "str")
    if value is None or templated(value):
        return []
    if kind not in TYPES:
        return ["%s: documented type %r is not one this test knows" % (where, kind)]
    if not isinstance(value, TYPES[kind]) or (isinstance(value, bool) and kind in ("int", "float")):
        return ["%s=%r is a %s, the option is %s" % (where, value, type(value).__name__, kind)]
    problems = []
    if kind == "list":
        for index, item in enumerate(value):
            problems += _value_problems("%s[%d]" % (where, index), item, spec, elements=True)
        return problems
    choices = spec.get("choices")
    if choices and value not in list(choices):
        problems.append("%s=%r is not one of %s" % (where, value, list(choices)))
    if kind == "dict" and spec.get("suboptions"):
        problems += option_problems(value, spec["suboptions"], where + ".")
    return problems


def option_problems(args, options, prefix=""):
    """What in `args` the documented `options` do not accept: unknown names, literal values of
    the wrong type or outside the choices, missing required options."""
    known = {}
    for option, spec in options.items():
        known[option] = (option, spec)
        for alias in spec.get("aliases") or []:
            known[alias] = (option, spec)
    problems, given = [], set()
    for key, value in args.items():
        if key == "_raw_params" and key not in known:
            key = "free_form" if "free_form" in known else "cmd"
        if key not in known:
            problems.append("%s%s is not an option (the options: %s)" % (prefix, key, ", ".join(sorted(options))))
            continue
        option, spec = known[key]
        given.add(option)
        problems += _value_problems(prefix + key, value, spec)
    for option, spec in sorted(options.items()):
        if spec.get("required") and option not in given:
            problems.append("%s%s is required and not given" % (prefix, option))
    return problems


def task_problems(task, docs):
    """Every way `task` disagrees with its module's documentation (`docs`: name -> ansible-doc doc)."""
    module, args = module_and_args(task)
    if not isinstance(args, dict):
        return [args]
    if module not in docs:
        return ["ansible-doc does not know %s" % module]
    return option_problems(args, docs[module].get("options") or {})


@functools.lru_cache(maxsize=None)
def _ansible_doc(names):
    proc = subprocess.run([tool("ansible-doc"), "--json", "-t", "module"] + list(names), env=ansible_env(),
                          capture_output=True, text=True, check=True, timeout=300)
    return {name: entry["doc"] for name, entry in json.loads(proc.stdout).items()}


def module_docs(names):
    """ansible-doc's doc of each module (read once, cached); a module it does not know is absent."""
    return _ansible_doc(tuple(sorted(set(names))))


def is_windows(module, doc):
    if module.startswith(WINDOWS_COLLECTIONS):
        return True
    platforms = ((doc or {}).get("attributes") or {}).get("platform", {}).get("platforms") or []
    if isinstance(platforms, str):
        platforms = platforms.split(",")
    return "windows" in {str(platform).strip().lower() for platform in platforms}


def _collect():
    found = []
    for path in FILES:
        with open(path, encoding="utf-8") as handle:
            tasks = yaml.safe_load(handle)
        where = os.path.relpath(path, os.path.join(ROOT, "roles"))
        for index, task in enumerate(walk(tasks)):
            module = module_and_args(task)[0]
            found.append(("%s:%s" % (where, task.get("name", "#%d" % index)), module, task))
    docs = module_docs(module for _where, module, _args in found if module)
    return [use for use in found if use[1] and is_windows(use[1], docs.get(use[1]))]


WINDOWS_TASKS = _collect()


def test_windows_tasks_are_found():
    files = {use[0].split(":", 1)[0] for use in WINDOWS_TASKS}
    roles = {name.split("/", 1)[0] for name in files}
    assert {"docker", "samba_client", "tailscale", "preflight", "base", "gpu"} <= roles, sorted(roles)
    assert set(EXPECTED_FILES) <= files, sorted(set(EXPECTED_FILES) - files)
    assert len(WINDOWS_TASKS) >= 40, len(WINDOWS_TASKS)


@pytest.mark.parametrize("where,module,task", WINDOWS_TASKS, ids=[use[0] for use in WINDOWS_TASKS])
def test_windows_task_matches_the_module_spec(where, module, task):
    docs = module_docs(use[1] for use in WINDOWS_TASKS)
    assert module in docs, "%s: ansible-doc does not know %s" % (where, module)
    assert "site-packages" in docs[module]["filename"] or module.startswith("colab.cluster."), (
        "%s: %s is read from %s, not the installed collections" % (where, module, docs[module]["filename"]))
    problems = task_problems(task, docs)
    assert not problems, "%s: %s:\n  %s" % (where, module, "\n  ".join(problems))


def test_the_checker_reports_what_is_wrong():
    """The contract cannot pass vacuously: a synthetic task per fault, checked the same way."""
    docs = module_docs(["ansible.windows.win_file", "ansible.windows.win_command", "ansible.windows.win_shell",
                        "ansible.windows.win_get_url"])
    unknown = {"name": "x", "ansible.windows.win_file": {"path": "C:\\x", "state": "absent", "recursive": True},
               "when": "true", "become_method": "runas"}
    assert task_problems(unknown, docs) == [
        "recursive is not an option (the options: %s)" % ", ".join(sorted(docs["ansible.windows.win_file"]["options"]))]
    typed = {"ansible.windows.win_command": {"argv": "not a list", "chdir": 3}, "register": "r"}
    assert task_problems(typed, docs) == ["argv='not a list' is a str, the option is list", "chdir=3 is a int, the option is path"]
    choice = {"ansible.windows.win_file": {"path": "C:\\x", "state": "gone"}}
    assert task_problems(choice, docs) == ["state='gone' is not one of %s" % docs["ansible.windows.win_file"]["options"]["state"]["choices"]]
    required = {"ansible.windows.win_get_url": {"url": "https://example.invalid/x"}}
    assert task_problems(required, docs) == ["dest is required and not given"]
    elements = {"ansible.windows.win_command": {"argv": ["a", ["b"], "{{ c }}"]}}
    assert task_problems(elements, docs) == ["argv[1]=['b'] is a list, the option is str"]
    nested = {"block": [{"rescue": [typed]}], "always": [choice]}
    assert [task_problems(task, docs) for task in walk([nested])] == [task_problems(typed, docs), task_problems(choice, docs)]


def test_free_form_and_args_are_arguments():
    docs = module_docs(["ansible.windows.win_command", "ansible.windows.win_shell", "ansible.windows.win_file"])
    assert task_problems({"ansible.windows.win_shell": "Get-Date", "args": {"chdir": "C:\\"}}, docs) == []
    assert task_problems({"ansible.windows.win_command": "whoami.exe creates=C:\\x", "changed_when": False}, docs) == []
    assert task_problems({"ansible.windows.win_shell": None, "args": {"chdir": "C:\\"}}, docs) == ["free_form is required and not given"]
    assert task_problems({"ansible.windows.win_file": "path=C:\\x state=nope"}, docs) == [
        "state='nope' is not one of %s" % docs["ansible.windows.win_file"]["options"]["state"]["choices"]]
    assert task_problems({"ansible.windows.win_file": {"path": "{{ p }}", "state": "{{ s }}"}, "args": {"bogus": 1}}, docs) == [
        "bogus is not an option (the options: %s)" % ", ".join(sorted(docs["ansible.windows.win_file"]["options"]))]

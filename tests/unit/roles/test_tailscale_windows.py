"""roles/tailscale/tasks/windows.yml against the installed ansible.windows modules' own specs.

Behaviours relied on (ansible.windows as installed by ansible 12.3.0):
- Ansible.Basic.cs (ansible-core 2.19, ParsePath) expands %VAR% only for options of type
  `path`; win_package.ps1 declares `path = @{ type = "str" }` and uses `$module.Params.path`
  as it is, so a %TEMP% there is never found.
- win_package.ps1 compares `$CreatesVersion -eq $existingVersion`, the string against a
  four-part System.Version of the file (FileMajorPart..FilePrivatePart): PowerShell converts
  the version to "a.b.c.d", so only a four-part creates_version ever matches.
"""
from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
import yaml

from ansible_collections.colab.cluster.plugins.filter.windows_version import windows_file_version
from tests.helpers import ROOT, ansible_env, tool

TASKS = os.path.join(ROOT, "roles", "tailscale", "tasks", "windows.yml")
_ENV_VAR = re.compile(r"%[A-Za-z_][A-Za-z0-9_]*%")


def _flat(tasks):
    for task in tasks:
        if "block" in task:
            yield from _flat(task["block"])
            yield from _flat(task.get("always", []))
        else:
            yield task


@pytest.fixture(scope="module")
def specs():
    with open(TASKS, encoding="utf-8") as fh:
        tasks = list(_flat(yaml.safe_load(fh)))
    names = sorted({k for t in tasks for k in t if k.startswith("ansible.windows.")})
    proc = subprocess.run([tool("ansible-doc"), "-j"] + names, env=ansible_env(), capture_output=True,
                          text=True, check=True, timeout=120)
    return tasks, {n: e["doc"]["options"] for n, e in json.loads(proc.stdout).items()}


def test_environment_variables_only_in_path_typed_options(specs):
    tasks, options = specs
    for task in tasks:
        for module, args in task.items():
            if module not in options or not isinstance(args, dict):
                continue
            for name, value in args.items():
                if isinstance(value, str) and _ENV_VAR.search(value):
                    assert options[module][name].get("type") == "path", (
                        "%s: %s is %s-typed, %%VAR%% is not expanded: %r"
                        % (task["name"], name, options[module][name].get("type"), value))


def test_creates_version_is_the_four_part_file_version():
    with open(TASKS, encoding="utf-8") as fh:
        install = next(t for t in _flat(yaml.safe_load(fh)) if "ansible.windows.win_package" in t
                       and "creates_version" in t["ansible.windows.win_package"])
    assert "colab.cluster.windows_file_version" in install["ansible.windows.win_package"]["creates_version"]


@pytest.mark.parametrize("given, four", [("1.82.5", "1.82.5.0"), ("1.82", "1.82.0.0"),
                                         ("1.82.5.0", "1.82.5.0"), ("v1.82.5", "1.82.5.0"), (1, "1.0.0.0")])
def test_windows_file_version(given, four):
    assert windows_file_version(given) == four


@pytest.mark.parametrize("bad", ["", "1.x", "1.2.3.4.5", "latest"])
def test_windows_file_version_names_a_bad_value(bad):
    from ansible.errors import AnsibleFilterError  # pylint: disable=import-outside-toplevel

    with pytest.raises(AnsibleFilterError, match="windows_file_version"):
        windows_file_version(bad)

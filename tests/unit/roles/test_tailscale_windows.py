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


def _windows_tasks():
    with open(TASKS, encoding="utf-8") as fh:
        return list(_flat(yaml.safe_load(fh)))


def _login_block():
    with open(TASKS, encoding="utf-8") as fh:
        join = next(t for t in yaml.safe_load(fh) if t["name"] == "Join the tailnet and keep the preferences")
    return next(t for t in join["block"] if t["name"] == "Log in with the pre-auth key")


def test_windows_login_asks_the_coordinator_for_a_key():
    """Issue 26 (f). Before: the Windows login only took tailscale_auth_key; the coordinator's key
    hand-off (join.yml) served Debian and macOS only, so a new projector never got a key."""
    block = _login_block()
    first = block["block"][0]
    assert first["ansible.builtin.include_tasks"] == "preauth_key.yml"
    with open(os.path.join(ROOT, "roles", "tailscale", "tasks", "preauth_key.yml"), encoding="utf-8") as fh:
        (ask,) = yaml.safe_load(fh)
    assert ask["delegate_to"] == "{{ tailscale_coordinator }}" and ask["no_log"] is True
    assert ask["register"] == "_tailscale_key"
    assert "colab.cluster.headscale_preauth_key" in ask
    key = block["vars"]["_tailscale_win_key"]
    assert "_tailscale_key.key" in key and "tailscale_auth_key" in key
    copy = next(t for t in block["block"] if "ansible.windows.win_copy" in t)
    assert copy["ansible.windows.win_copy"]["content"] == "{{ _tailscale_win_key }}" and copy["no_log"] is True
    # the same include serves Linux and macOS: one place asks the coordinator
    with open(os.path.join(ROOT, "roles", "tailscale", "tasks", "join.yml"), encoding="utf-8") as fh:
        assert any(t.get("ansible.builtin.include_tasks") == "preauth_key.yml" for t in yaml.safe_load(fh))


@pytest.mark.parametrize("published, given, wanted", [
    ("ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789\n", "",
     "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"),
    (None, "", ""),
    (None, "f" * 64, "f" * 64),
])
def test_msi_checksum_is_the_pin_or_tailscales_published_sha256(tmp_path, published, given, wanted):
    """Issue 26 (f): no published checksum of the pinned MSI was found to pin, so an empty
    tailscale_windows_msi_checksum is read from <msi>.sha256 on the controller; nothing there
    leaves it empty, and the assert after it stops the run naming the variable."""
    from ansible.parsing.dataloader import DataLoader  # pylint: disable=import-outside-toplevel
    from ansible.template import Templar, trust_as_template  # pylint: disable=import-outside-toplevel

    msi = tmp_path / "tailscale-setup-1.102.5-amd64.msi"
    if published is not None:
        (tmp_path / (msi.name + ".sha256")).write_text(published)
    derive = next(t for t in _windows_tasks() if t["name"].startswith("Derive the MSI checksum"))
    require = next(t for t in _windows_tasks() if t["name"] == "Require the MSI checksum")
    variables = {"tailscale_windows_msi_checksum": given, "tailscale_windows_msi_url": "file://%s" % msi}
    templar = Templar(loader=DataLoader(), variables=variables)
    value = templar.template(trust_as_template(derive["ansible.builtin.set_fact"]["_tailscale_win_msi_sha256"]))
    assert value.strip() == wanted
    templar = Templar(loader=DataLoader(), variables=dict(variables, _tailscale_win_msi_sha256=value.strip()))
    assert templar.evaluate_conditional(trust_as_template(require["ansible.builtin.assert"]["that"])) is bool(wanted)
    assert "tailscale_windows_msi_checksum" in require["ansible.builtin.assert"]["fail_msg"]

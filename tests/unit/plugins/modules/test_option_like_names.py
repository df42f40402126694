"""Names that start with '-' never reach a command line (issue 17.3).

One case per CLI-wrapping module and field that places a user value on a command line:
the module fails naming the field and runs no command at all. The list of modules is
checked against plugins/modules (every module that calls run_command is covered).
"""
from __future__ import annotations

import os
import re

import pytest

from ansible_collections.colab.cluster.plugins.module_utils._argv import option_like_problems
from ansible_collections.colab.cluster.plugins.modules import (
    compose_stack, headscale_node, headscale_preauth_key, headscale_user, samba_mount, samba_user, tailscale_up)
from tests.unit.plugins.modules.samba_helpers import CommandTable, run_module

MODULES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "plugins", "modules")

BASE = {
    "headscale_user": (headscale_user, {"name": "alice"}),
    "headscale_node": (headscale_node, {"name": "laptop", "node_key": "nodekey:abc"}),
    "headscale_preauth_key": (headscale_preauth_key, {"node": "laptop", "user": "alice"}),
    "tailscale_up": (tailscale_up, {"login_server": "https://hs.example.test", "hostname": "laptop"}),
    "samba_user": (samba_user, {"name": "colab", "password": "pw"}),
    "samba_mount": (samba_mount, {"src": "//nas/share", "path": "/mnt/share", "username": "colab",
                                  "password": "pw"}),
    "compose_stack": (compose_stack, {"project_name": "app", "project_dir": "/srv/app",
                                      "definition": {"services": {"web": {"image": "x"}}}}),
}
CASES = [
    ("headscale_user", "name", "--help"),
    ("headscale_node", "name", "-x"),
    ("headscale_preauth_key", "user", "--help"),
    ("headscale_preauth_key", "expiration", "-1h"),
    ("headscale_preauth_key", "tags", ["tag:ok", "--reusable"]),
    ("tailscale_up", "hostname", "--accept-routes"),
    ("tailscale_up", "login_server", "--help"),
    ("tailscale_up", "exit_node", "-x"),
    ("tailscale_up", "tags", ["-tag:x"]),
    ("tailscale_up", "advertise_routes", ["--help"]),
    ("samba_user", "name", "-x"),
    ("samba_mount", "username", "-a"),
    ("samba_mount", "domain", "--help"),
    ("samba_mount", "src", "-o//nas/share"),
    ("samba_mount", "path", "-l"),
    ("compose_stack", "project_name", "-p"),
    ("compose_stack", "services", ["--build"]),
    ("compose_stack", "profiles", ["--all"]),
]


@pytest.mark.parametrize("module_name,field,value", CASES, ids=[f"{case[0]}-{case[1]}" for case in CASES])
def test_option_like_value_is_refused_naming_the_field(module_name, field, value, monkeypatch, capsys):
    module, args = BASE[module_name]
    commands = CommandTable()  # any command at all fails the test (unexpected command)
    result, table = run_module(module.main, dict(args, **{field: value}), monkeypatch, capsys, commands)
    assert result.get("failed"), result
    assert re.search(r"\b%s(\[\d+\])? must\b" % re.escape(field), result["msg"]), result
    assert table.calls == [], table.calls


def test_every_cli_wrapping_module_is_covered():
    wrapping = sorted(name[:-3] for name in os.listdir(MODULES) if name.endswith(".py")
                      and "run_command" in open(os.path.join(MODULES, name), encoding="utf-8").read())
    covered = sorted({case[0] for case in CASES})
    # headscale_node_info and preflight_check place no user value on a command line
    assert set(wrapping) - {"headscale_node_info", "preflight_check"} <= set(covered), wrapping


def test_the_rule_names_list_elements_and_passes_plain_values():
    assert option_like_problems({"a": "ok", "b": ["x", "-y"], "c": None}, ("a", "b", "c")) == [
        "b[1] must not start with '-' (the command line would read '-y' as an option)"]
    assert option_like_problems({"a": "a-b", "b": ["tag:x-y"]}, ("a", "b")) == []

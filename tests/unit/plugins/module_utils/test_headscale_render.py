"""The headscale role's rendered config.yaml, validated against each release's schema.

Runs the role's render tasks (roles/headscale/tasks/render.yml, the same templates the
install uses) with ansible-playbook on localhost for headscale 0.23, 0.26 and 0.28, then
checks every rendered file with _headscale.validate_config (keys from each release's
config-example.yaml, value rules from its docs/CHANGELOG). Also proves the renamed-key
guard of tasks/validate.yml refuses a legacy key.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from ansible_collections.colab.cluster.plugins.module_utils import _headscale as hs
from tests.helpers import ROOT, ansible_env, tool

VERSIONS = ["0.23.0", "0.26.1", "0.28.0"]

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
{tasks}
"""
TASK = """    - name: Render for {version}
      ansible.builtin.include_role:
        name: colab.cluster.headscale
        tasks_from: render.yml
      vars:
        headscale_version: "{version}"
        headscale_render_dir: "{out}/{version}"
        headscale_prefix_v6: fd7a:115c:a1e0::/48
        headscale_extra_records:
          - {{name: gitea.colab, type: A, value: 100.64.0.1}}
        headscale_policy_deny_by_default: true
        headscale_config_overrides: {overrides}
"""


def run_playbook(tmp_path, tasks, extra=()):
    book = tmp_path / "play.yml"
    book.write_text(PLAYBOOK.format(tasks="".join(tasks)))
    proc = subprocess.run([tool("ansible-playbook"), "-i", "localhost,", "-c", "local", str(book), *extra],
                          cwd=ROOT, env=ansible_env(ANSIBLE_PYTHON_INTERPRETER=sys.executable),
                          capture_output=True, text=True, timeout=240, check=False)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("render")
    tasks = [TASK.format(version=v, out=tmp_path, overrides="{log: {level: warn}}") for v in VERSIONS]
    rc, out = run_playbook(tmp_path, tasks)
    assert rc == 0, out[-3000:]
    return tmp_path


@pytest.mark.parametrize("version", VERSIONS)
def test_rendered_config_is_valid_for_its_release(rendered, version):
    with open(rendered / version / "config.yaml", encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    assert hs.validate_config(config, version) == []
    assert config["prefixes"] == {"v4": "100.64.0.0/16", "allocation": "sequential", "v6": "fd7a:115c:a1e0::/48"}
    assert config["dns"]["base_domain"] == "colab" and config["dns"]["magic_dns"] is True
    assert config["log"]["level"] == "warn"
    assert ("override_local_dns" in config["dns"]) == (version != "0.23.0")
    assert oct(os.stat(rendered / version / "config.yaml").st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("version", VERSIONS)
def test_rendered_config_is_invalid_for_the_wrong_release(rendered, version):
    """The schema is not a rubber stamp: 0.26's config is not a 0.23 config."""
    with open(rendered / "0.26.1" / "config.yaml", encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    errors = hs.validate_config(config, "0.23.0")
    assert errors == ["dns.override_local_dns: not a headscale setting"]


def test_deny_by_default_policy_is_hujson_with_no_rules(rendered):
    text = (rendered / "0.28.0" / "policy.hujson").read_text()
    assert text.startswith("//")
    assert json.loads(re.sub(r"(?m)^\s*//.*$", "", text)) == {"acls": []}


def test_guard_refuses_renamed_keys(tmp_path):
    task = TASK.format(version="0.26.1", out=tmp_path, overrides="{dns_config: {base_domain: colab}}")
    task = task.replace("tasks_from: render.yml", "tasks_from: validate.yml")
    rc, out = run_playbook(tmp_path, [task])
    assert rc != 0
    assert "headscale_config_overrides: dns_config: removed in headscale 0.23, use dns" in out


def test_guard_refuses_a_nameserver_list_like_the_python_rule(tmp_path):
    """The role's own table lacked dns.nameservers.0 (a pre-0.23 list): it accepted what
    validate_config refuses. The role now asks the same rule through the filter plugin."""
    task = TASK.format(version="0.26.1", out=tmp_path, overrides="{dns: {nameservers: [1.1.1.1]}}")
    task = task.replace("tasks_from: render.yml", "tasks_from: validate.yml")
    rc, out = run_playbook(tmp_path, [task])
    assert rc != 0
    assert "dns.nameservers (a list): removed in headscale 0.23, use dns.nameservers.global" in out

"""The headscale role's rendered config.yaml, checked by our model and by the real headscale.

Runs the role's render tasks (roles/headscale/tasks/render.yml, the same templates the
install uses) with ansible-playbook on localhost for headscale 0.23, 0.26, 0.28 and 0.29,
then checks every rendered file two ways:

- OUR MODEL: _headscale.validate_config, our own validator (keys from each release's
  config-example.yaml, value rules from its docs/CHANGELOG and hscontrol/types/config.go).
  It is a stand-in for headscale's parser, not the parser: it proves what we transcribed.
- THE REAL PROGRAM: `headscale configtest` of the versions the lab runs (lab/gobuild.py
  wanted_versions: the pin and the upgrade path's older minor), built from their Go modules
  by gobuild's build_binaries when its cache lacks them (cold ~157 s each, spent once: the
  lab packages the same cached binaries). 0.23 and 0.26 are checked by our model only.

Also proves the renamed-key guard of tasks/validate.yml refuses a legacy key.
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
from tests.helpers import ROOT, ansible_env, go_program, gobuild, tool

# The versions headscale configtest runs for (the lab's); every one is also rendered.
REAL_VERSIONS = gobuild().wanted_versions("headscale")
VERSIONS = sorted({"0.23.0", "0.26.1", *REAL_VERSIONS}, key=hs.parse_version)

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
    """Our model (validate_config) accepts the rendered file: not headscale's parser."""
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


# --- the real headscale -----------------------------------------------------------------
def configtest(version, config, policy, scratch):
    """The real `headscale configtest -c config` of `version` (cmd/headscale/cli/configtest.go
    @v0.28.0 and @v0.29.3: LoadServerConfig, then hscontrol.NewHeadscale, which opens and
    migrates the sqlite database, loads the policy and creates the noise key). The rendered
    file is used as it is; only its state paths are pointed at `scratch` through headscale's
    environment overrides (hscontrol/types/config.go LoadConfig: prefix HEADSCALE_, "." ->
    "_"). It runs in a network namespace of its own (`unshare --net`, loopback down), so it
    can reach nothing: the DERP map (derp.urls) is fetched by Serve and scheduledTasks, not
    by NewHeadscale, and an OIDC issuer, which it would contact, is not rendered."""
    binary = go_program("headscale", version)
    out = subprocess.run([binary, "version"], capture_output=True, text=True, timeout=30, check=False).stdout
    assert out.split()[:3] == ["headscale", "version", "v" + version], out
    env = {"PATH": "/usr/bin:/bin", "HOME": str(scratch),
           "HEADSCALE_NOISE_PRIVATE_KEY_PATH": str(scratch / "noise_private.key"),
           "HEADSCALE_DATABASE_SQLITE_PATH": str(scratch / "db.sqlite"),
           "HEADSCALE_DERP_SERVER_PRIVATE_KEY_PATH": str(scratch / "derp_server_private.key"),
           "HEADSCALE_POLICY_PATH": str(policy)}
    return subprocess.run(["unshare", "--net", binary, "configtest", "-c", str(config)], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("version", REAL_VERSIONS)
def test_real_headscale_configtest_accepts_the_rendered_config(rendered, version, tmp_path):
    proc = configtest(version, rendered / version / "config.yaml", rendered / version / "policy.hujson", tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "db.sqlite").exists(), "configtest did not open the database it was pointed at"


@pytest.mark.parametrize("version", REAL_VERSIONS)
def test_real_headscale_and_our_model_both_refuse_a_base_domain_in_server_url(rendered, version, tmp_path):
    """One refusal both must agree on (hscontrol/types/config.go isSafeServerURL)."""
    with open(rendered / version / "config.yaml", encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    config["server_url"] = "https://hs." + config["dns"]["base_domain"]
    assert hs.validate_config(config, version) == [
        "dns.base_domain: must not be the server_url's domain or a parent of it"]
    bad = tmp_path / "config.yaml"
    bad.write_text(yaml.safe_dump(config, sort_keys=False))
    proc = configtest(version, bad, rendered / version / "policy.hujson", tmp_path)
    assert proc.returncode != 0
    assert "server_url cannot be part of base_domain" in proc.stdout + proc.stderr, proc.stdout + proc.stderr

"""Open WebUI's authentication is explicitly on and its admin can come from /mcp (issue 30).

The mcp role's definition rendered by ansible-playbook from the role's own defaults and vars
(a debug play on localhost: no host is contacted, no secret is looked up) with the secrets
given as extra vars. Upstream (open-webui/open-webui): backend/open_webui/env.py@3773001f
parses WEBUI_AUTH as ``os.environ.get("WEBUI_AUTH", "True").lower() == "true"``;
backend/open_webui/main.py@cf17bb9e lifespan() creates the admin from WEBUI_ADMIN_EMAIL and
WEBUI_ADMIN_PASSWORD only when both are set. The secrets check of tasks/present.yml refuses
keys the role does not know and an admin given by halves; it runs in check mode on localhost
before anything is deployed.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.helpers import ROOT, ansible_env, render_debug_play, tool

RENDER = textwrap.dedent("""\
    - name: Render the AI stack's definition
      hosts: localhost
      connection: local
      gather_facts: false
      tasks:
        - name: Load the role's defaults and derived variables
          ansible.builtin.include_vars:
            file: "{root}/roles/mcp/{{{{ item }}}}/main.yml"
          loop: [defaults, vars]
        - name: Show them
          ansible.builtin.debug:
            msg:
              environment: "{{{{ _mcp_definition.services['open-webui'].environment }}}}"
              definition: "{{{{ _mcp_definition | to_json }}}}"
    """)

KEY = "webui-key-Qa7Zr2"
EMAIL = "admin-Lw3@example.org"
PASSWORD = "admin-pass-Hk9Vt4"
BASE = {"OLLAMA_BASE_URL": "http://ollama:11434", "WEBUI_AUTH": "True",
        "WEBUI_SECRET_KEY": "${WEBUI_SECRET_KEY}"}
ADMIN = {"WEBUI_ADMIN_EMAIL": "${WEBUI_ADMIN_EMAIL}",
         "WEBUI_ADMIN_PASSWORD": "${WEBUI_ADMIN_PASSWORD}", "ENABLE_SIGNUP": "False"}


def render(secrets, tmp_path):
    play = tmp_path / "render.yml"
    play.write_text(RENDER.format(root=ROOT), encoding="utf-8")
    extra = json.dumps({"mcp_secrets": secrets, "_mcp_gpu_enabled": False})
    (msg,) = render_debug_play(play, ["localhost,"], "-e", extra).values()
    return msg["environment"], msg["definition"]


@pytest.mark.parametrize(("secrets", "expected"), [
    ({"WEBUI_SECRET_KEY": KEY}, BASE),
    ({"WEBUI_SECRET_KEY": KEY, "WEBUI_ADMIN_EMAIL": EMAIL, "WEBUI_ADMIN_PASSWORD": PASSWORD},
     {**BASE, **ADMIN}),
], ids=["without-admin", "with-admin"])
def test_webui_environment_has_auth_on_and_the_admin_only_when_given(secrets, expected, tmp_path):
    environment, _definition = render(secrets, tmp_path)
    # WEBUI_AUTH "True" always; WEBUI_ADMIN_* and ENABLE_SIGNUP=False only with the admin
    assert environment == expected


def test_admin_secrets_reach_the_definition_only_as_references(tmp_path):
    _environment, definition = render(
        {"WEBUI_SECRET_KEY": KEY, "WEBUI_ADMIN_EMAIL": EMAIL, "WEBUI_ADMIN_PASSWORD": PASSWORD},
        tmp_path)
    text = json.dumps(definition)
    assert ("${WEBUI_ADMIN_EMAIL}" in text and "${WEBUI_ADMIN_PASSWORD}" in text
            and EMAIL not in text and PASSWORD not in text), text


CHECK = textwrap.dedent("""\
    - name: The AI stack with the given /mcp secrets
      hosts: localhost
      connection: local
      gather_facts: false
      vars:
        mcp_deploy: true
        mcp_gpu: false
        mcp_project_dir: {base}/project
        mcp_ollama_data_dir: {base}/ollama
        mcp_open_webui_data_dir: {base}/open-webui
        mcp_secrets: {secrets}
      roles:
        - role: colab.cluster.mcp
    """)


def run_role(secrets, tmp_path):
    play = tmp_path / "mcp.yml"
    play.write_text(CHECK.format(base=tmp_path, secrets=json.dumps(secrets)), encoding="utf-8")
    # the modules before the check (the project directory) run with this interpreter
    proc = subprocess.run([tool("ansible-playbook"), "-i", "localhost,", "--check",
                           "-e", f"ansible_python_interpreter={sys.executable}", str(play)],
                          cwd=ROOT, env=ansible_env(), capture_output=True, text=True, timeout=300,
                          check=False)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize(("secrets", "message"), [
    # a misspelt key would leave sign-up open without a word
    ({"WEBUI_SECRET_KEY": KEY, "WEBUI_ADMIN_EMAIL": EMAIL, "WEBUI_ADMIN_PASSWD": PASSWORD},
     "mcp_secrets has keys the role does not know: WEBUI_ADMIN_PASSWD"),
    ({"WEBUI_SECRET_KEY": KEY, "WEBUI_ADMIN_EMAIL": EMAIL},
     "must give WEBUI_ADMIN_EMAIL and WEBUI_ADMIN_PASSWORD together"),
    ({"WEBUI_SECRET_KEY": KEY, "WEBUI_ADMIN_EMAIL": EMAIL, "WEBUI_ADMIN_PASSWORD": ""},
     "must give WEBUI_ADMIN_EMAIL and WEBUI_ADMIN_PASSWORD together"),
], ids=["unknown-key", "email-only", "empty-password"])
def test_secrets_check_refuses_unknown_keys_and_a_half_given_admin(secrets, message, tmp_path):
    returncode, out = run_role(secrets, tmp_path)
    assert returncode != 0 and message in out, out[-3000:]
    assert PASSWORD not in out and not (tmp_path / "open-webui").exists()

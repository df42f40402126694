"""semaphore/configure.yml and awx/configure.yml: right fields, idempotent, tokens never printed.

Semaphore runs against the API double of tests/doubles/semaphore.py (its sources cited
there) on 127.0.0.1; AWX cannot run here, so awx/configure.yml is run at -vvv against a
closed loopback port, which shows what a failing first request prints. The job template
fields are checked against the awx.awx collection the `ansible` package ships.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess

import yaml

from tests.doubles.semaphore import SemaphoreDouble
from tests.helpers import ROOT, ansible_env, run_logged, tool

TOKEN = "colab-test-token-4f1d0c9a7e"
RECAP = re.compile(r"^localhost\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def _templates():
    with open(os.path.join(ROOT, "awx", "job_templates.yml"), encoding="utf-8") as fh:
        return yaml.safe_load(fh)["colab_job_templates"]


def _semaphore(double, log):
    env = ansible_env(SEMAPHORE_URL=double.url, SEMAPHORE_TOKEN=TOKEN)
    rc, text = run_logged([tool("ansible-playbook"), "-i", "localhost,", "semaphore/configure.yml", "-vvv"], log,
                          timeout=300, env=env)
    assert rc == 0, text[-4000:]
    recap = RECAP.search(text)
    assert recap, text[-2000:]
    return text, int(recap[2])


def test_semaphore_templates_prompt_for_limit_and_tags_idempotently_without_the_token():
    with SemaphoreDouble(TOKEN) as double:
        first, changed = _semaphore(double, "semaphore-configure-1.log")
        assert changed == 1 and len(double.writes()) == len(_templates())
        by_name = {t["name"]: t for t in double.templates.values()}
        assert set(by_name) == {t["name"] for t in _templates()}
        for template in by_name.values():
            params = template["task_params"]
            assert params["allow_override_limit"] and params["allow_override_tags"], template
            assert template["app"] == "ansible" and not template["allow_override_args_in_task"]
            assert (template["repository_id"], template["inventory_id"],
                    template["environment_id"]) == (11, 12, 13)
        writes = len(double.writes())
        second, changed = _semaphore(double, "semaphore-configure-2.log")
        assert changed == 0 and len(double.writes()) == writes, "a second run wrote again"
        # A template whose prompts were switched off in the UI is put back.
        tid = by_name["colab site"]["id"]
        double.templates[tid]["task_params"]["allow_override_tags"] = False
        _third, changed = _semaphore(double, "semaphore-configure-3.log")
        assert changed == 1 and double.templates[tid]["task_params"]["allow_override_tags"]
    for text in (first, second):
        assert TOKEN not in text, "the Semaphore token appears in the -vvv output"


def _closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_awx_configure_never_prints_the_token():
    env = ansible_env(CONTROLLER_HOST=f"http://127.0.0.1:{_closed_port()}",
                      CONTROLLER_OAUTH_TOKEN=TOKEN, CONTROLLER_VERIFY_SSL="false")
    rc, text = run_logged([tool("ansible-playbook"), "-i", "localhost,", "awx/configure.yml", "-vvv"],
                          "awx-configure.log", timeout=300, env=env)
    assert rc != 0 and "execution_environment" in text
    assert TOKEN not in text, "the AWX token appears in the -vvv output"


def test_awx_job_templates_use_fields_the_awx_collection_knows():
    """Every option configure.yml gives awx.awx modules exists in their argument specs."""
    with open(os.path.join(ROOT, "awx", "configure.yml"), encoding="utf-8") as fh:
        play = yaml.safe_load(fh)[0]
    for task in play["tasks"]:
        module = next(k for k in task if k.startswith("awx.awx."))
        doc = subprocess.run([tool("ansible-doc"), "--json", module], cwd=ROOT, env=ansible_env(),
                             capture_output=True, text=True, timeout=120, check=True).stdout
        options = yaml.safe_load(doc)[module]["doc"]["options"]
        unknown = sorted(set(task[module]) - set(options))
        assert not unknown, f"{module}: unknown options {unknown}"
    job = next(t for t in play["tasks"] if "awx.awx.job_template" in t)["awx.awx.job_template"]
    assert job["ask_limit_on_launch"] and job["ask_tags_on_launch"]

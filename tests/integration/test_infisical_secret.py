"""colab.cluster.infisical_secret in real ansible-playbook runs against the API double.

The double (tests/doubles/infisical) runs in this test process on 127.0.0.1 and counts
every request; the plays run with several forks over many local-connection hosts, so
the lookup is evaluated in Ansible's forked workers exactly as in a site run.
"""
from __future__ import annotations

import os
import socket
import sys
import time

import pytest

from tests.doubles.infisical.harness import (
    CLIENT_ID, CLIENT_SECRET, DESCRIBE_ID, DESCRIBE_SECRET, LIST, LOGIN, PROJECT, running_double,
    seed_values,
)
from tests.helpers import ROOT, ansible_env, run_logged, tail, tool

PATHS = ("/docker", "/gitea", "/samba")


@pytest.fixture(scope="module")
def double():
    with running_double() as dbl:
        yield dbl


def write_inventory(tmp_path, hosts, double, **extra):
    lines = ["[nodes]"] + [f"node{i:02d}" for i in range(1, hosts + 1)]
    lines += ["", "[nodes:vars]", "ansible_connection=local",
              f"ansible_python_interpreter={sys.executable}",
              f"infisical_secret_url={double.url}",
              f"infisical_secret_project_id={PROJECT}",
              f"infisical_secret_client_id={CLIENT_ID}"]
    lines += [f"{k}={v}" for k, v in extra.items()]
    path = tmp_path / "hosts.ini"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def play(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def run(tmp_path, inventory, playbook, log, forks=5, extra_args=(), **env):
    env.setdefault("COLAB_INFISICAL_CLIENT_SECRET", CLIENT_SECRET)
    env.setdefault("XDG_RUNTIME_DIR", str(tmp_path))
    return run_logged([tool("ansible-playbook"), "-i", inventory, playbook, "-f", str(forks),
                       *extra_args], log, timeout=180, env=ansible_env(**env))


READ_THREE_PATHS = """---
- name: Every host reads three paths, several ways
  hosts: nodes
  gather_facts: false
  tasks:
    - name: One secret of /gitea
      ansible.builtin.set_fact:
        db_password: "{{ lookup('colab.cluster.infisical_secret', 'GITEA_DB_PASSWORD', path='/gitea') }}"
      no_log: true
    - name: Two secrets of /docker
      ansible.builtin.set_fact:
        registry: "{{ query('colab.cluster.infisical_secret', 'REGISTRY_USERNAME', 'REGISTRY_PASSWORD', path='/docker') }}"
      no_log: true
    - name: The whole of /samba and /gitea as dicts
      ansible.builtin.set_fact:
        samba_env: "{{ lookup('colab.cluster.infisical_secret', path='/samba', as_dict=true) }}"
        gitea_env: "{{ lookup('colab.cluster.infisical_secret', path='/gitea', as_dict=true) }}"
      no_log: true
    - name: The values arrived
      ansible.builtin.assert:
        that:
          - db_password == gitea_env.GITEA_DB_PASSWORD
          - registry | length == 2
          - samba_env.COLAB_NAS_SAMBA_PASSWORD | length > 8
          - gitea_env.BOTH == 'two-wins'
        quiet: true
"""


def test_many_hosts_forks_one_login_one_list_per_path(tmp_path, double):
    double.reset()
    hosts = 20
    inventory = write_inventory(tmp_path, hosts, double)
    rc, text = run(tmp_path, inventory, play(tmp_path, "read.yml", READ_THREE_PATHS),
                   "infisical-forks.log", forks=5)
    assert rc == 0, tail(text)
    counts = double.counts()
    assert counts["requests"].get(LOGIN) == 1, counts
    assert counts["lists"] == {"prod:/docker": 1, "prod:/gitea": 1, "prod:/samba": 1}, counts
    assert counts["requests"].get(LIST) == len(PATHS)
    assert counts["requests"].get("GET /api/v4/secrets/{secretName}", 0) == 0
    # the broker ends with the run (it polls the controller every 0.25 s), leaving nothing
    broker_dir = tmp_path / f"colab-infisical-{os.getuid()}"
    deadline = time.monotonic() + 5
    while list(broker_dir.iterdir()):
        assert time.monotonic() < deadline, sorted(p.name for p in broker_dir.iterdir())
        time.sleep(0.1)

    # the same play with a per-process cache, on 5 hosts: what a worker-local cache costs
    double.reset()
    hosts = 5
    inventory = write_inventory(tmp_path, hosts, double)
    rc, text = run(tmp_path, inventory, play(tmp_path, "read.yml", READ_THREE_PATHS),
                   "infisical-forks-process.log", forks=5, COLAB_INFISICAL_CACHE_MODE="process")
    assert rc == 0, tail(text)
    counts = double.counts()
    assert counts["requests"].get(LOGIN) == 3 * hosts, counts  # one per task per host
    assert counts["requests"].get(LIST) == 4 * hosts, counts


def test_ini_and_environment_sources(tmp_path, double):
    double.reset()
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text(
        "[defaults]\n"
        f"collections_path = {os.path.join(ROOT, '.ansible', 'collections')}\n"
        "host_key_checking = False\n"
        "[colab_infisical]\n"
        f"url = {double.url}\n"
        f"project_id = {PROJECT}\n"
        "env = dev\n", encoding="utf-8")
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n",
                         encoding="utf-8")
    playbook = play(tmp_path, "ini.yml", """---
- name: Options from ansible.cfg and the environment
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Read the dev value
      ansible.builtin.assert:
        that:
          - lookup('colab.cluster.infisical_secret', 'GITEA_DB_PASSWORD', path='/gitea') == 'dev-db-pass'
          - lookup('colab.cluster.infisical_secret', 'GITEA_DB_PASSWORD', path='/gitea', env='prod') is match('gd-')
        quiet: true
""")
    rc, text = run(tmp_path, str(inventory), playbook, "infisical-ini.log",
                   ANSIBLE_CONFIG=str(cfg), INFISICAL_UNIVERSAL_AUTH_CLIENT_ID=CLIENT_ID)
    assert rc == 0, tail(text)
    assert double.counts()["lists"] == {"dev:/gitea": 1, "prod:/gitea": 1}


def test_values_are_never_templated(tmp_path, double):
    inventory = write_inventory(tmp_path, 1, double)
    playbook = play(tmp_path, "unsafe.yml", """---
- name: A value that looks like Jinja stays literal
  hosts: nodes
  gather_facts: false
  tasks:
    - name: Show it
      ansible.builtin.debug:
        msg: "{{ lookup('colab.cluster.infisical_secret', 'JINJA', path='/templ') }}"
""")
    rc, text = run(tmp_path, inventory, playbook, "infisical-unsafe.log")
    assert rc == 0, tail(text)
    assert "{{ 7 * 6 }}-tpl-Wq3Er5Ty" in text and "42-tpl" not in text


def test_failing_play_at_vvv_leaks_no_secret(tmp_path, double):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    wrong = "cs-wrong-5e4d3c2b1a0f9e8d7c6b"
    (tmp_path / "vars.yml").write_text(f"---\nwrong_secret: {wrong}\ndescribe_secret: {DESCRIBE_SECRET}\n",
                                       encoding="utf-8")
    inventory = write_inventory(tmp_path, 3, double)
    playbook = play(tmp_path, "fail.yml", f"""---
- name: Every kind of failure, at -vvv
  hosts: nodes
  gather_facts: false
  vars_files:
    - vars.yml
  tasks:
    - name: Read real secrets first (they are in memory now)
      ansible.builtin.set_fact:
        everything: "{{{{ [lookup('colab.cluster.infisical_secret', path='/gitea', as_dict=true),
                          lookup('colab.cluster.infisical_secret', path='/docker', as_dict=true)] }}}}"
      no_log: true
    - name: A key that does not exist
      ansible.builtin.debug:
        msg: "{{{{ lookup('colab.cluster.infisical_secret', 'NOT_THERE', path='/gitea') }}}}"
      ignore_errors: true
    - name: Bad credentials
      ansible.builtin.debug:
        msg: "{{{{ lookup('colab.cluster.infisical_secret', 'GITEA_DB_PASSWORD', path='/gitea', client_secret=wrong_secret) }}}}"
      ignore_errors: true
    - name: A reference that does not resolve
      ansible.builtin.debug:
        msg: "{{{{ lookup('colab.cluster.infisical_secret', path='/broken', as_dict=true) }}}}"
      ignore_errors: true
    - name: A value the server hides from this identity
      ansible.builtin.debug:
        msg: "{{{{ lookup('colab.cluster.infisical_secret', 'GITEA_DB_PASSWORD', path='/gitea',
                  client_id='{DESCRIBE_ID}', client_secret=describe_secret) }}}}"
      ignore_errors: true
    - name: A mistyped path
      ansible.builtin.debug:
        msg: "{{{{ lookup('colab.cluster.infisical_secret', path='/gitae', as_dict=true) }}}}"
      ignore_errors: true
    - name: Password text that only looks like a reference (read, not shown)
      ansible.builtin.assert:
        that: lookup('colab.cluster.infisical_secret', 'PASSWORDISH', path='/literal') | length == 16
        quiet: true
      ignore_errors: true
    - name: A cross-project reference, next to text that only looks like one
      ansible.builtin.debug:
        msg: "{{{{ lookup('colab.cluster.infisical_secret', path='/xproj', as_dict=true) }}}}"
      ignore_errors: true
    - name: An unreachable server
      ansible.builtin.debug:
        msg: "{{{{ lookup('colab.cluster.infisical_secret', 'X', url='http://127.0.0.1:{closed_port}', timeout=2) }}}}"
""")
    rc, text = run(tmp_path, inventory, playbook, "infisical-fail-vvv.log", extra_args=["-vvv"])
    assert rc != 0, tail(text)
    assert "secret NOT_THERE not found at path /gitea in env prod" in text
    assert f"login to {double.url} failed for client_id {CLIENT_ID}" in text
    assert "references secret MISSING_KEY at path /nowhere in env prod, which does not exist" in text
    assert "secret GITEA_DB_PASSWORD at path /gitea in env prod" in text and "'Read Value' permission" in text
    assert f"no secret at path /gitae in env prod of project {PROJECT}" in text
    assert "secret XREF at path /xproj in env prod" in text and "cross-project reference" in text
    assert f"cannot reach Infisical at http://127.0.0.1:{closed_port} (timeout 2s, 4 attempts)" in text
    # no part of a value either (main printed "references ${HOME:-/root}" here, from a key not asked for)
    assert "Qz!x" not in text and "HOME:-/root" not in text
    leaked = [v for v in seed_values() + [CLIENT_SECRET, wrong] if len(v) >= 6 and v in text]
    assert not leaked, f"secret values in the -vvv output: {len(leaked)}"


REJECTED_MID_RUN = """---
- name: Every host reads, the run's token expires on the server, every host reads again
  hosts: nodes
  gather_facts: false
  tasks:
    - name: Read /gitea
      ansible.builtin.set_fact:
        first: "{{ lookup('colab.cluster.infisical_secret', 'GITEA_DB_PASSWORD', path='/gitea') }}"
      no_log: true
    - name: The server now answers 403 TokenError for the run's token (the double's control endpoint)
      ansible.builtin.uri:
        url: "{{ infisical_secret_url }}/__double__/expire"
        method: POST
      run_once: true
      delegate_to: localhost
    - name: Read /docker and /samba
      ansible.builtin.set_fact:
        second: "{{ lookup('colab.cluster.infisical_secret', 'REGISTRY_PASSWORD', path='/docker') }}"
        third: "{{ lookup('colab.cluster.infisical_secret', path='/samba', as_dict=true) }}"
      no_log: true
"""


def test_rejected_token_costs_exactly_one_extra_login_for_the_run(tmp_path, double):
    """20 hosts, 5 forks: the run logs in once, the server then refuses the token the way it
    refuses an expired JWT (403 TokenError), and the next lookups (many hosts at once) share
    one fresh login instead of failing or logging in per host."""
    double.reset()
    inventory = write_inventory(tmp_path, 20, double)
    rc, text = run(tmp_path, inventory, play(tmp_path, "expire.yml", REJECTED_MID_RUN),
                   "infisical-token-refused.log", forks=5)
    assert rc == 0, tail(text)
    counts = double.counts()
    assert counts["requests"].get(LOGIN) == 2, counts
    # one list per path; the one refused request (the first after the revocation) is the 4th
    assert counts["lists"] == {"prod:/gitea": 1, "prod:/docker": 1, "prod:/samba": 1}, counts
    assert counts["requests"].get(LIST) == 4, counts

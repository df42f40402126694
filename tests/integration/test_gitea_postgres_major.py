"""colab.cluster.gitea: a PostgreSQL major change, against real PostgreSQL 15 and 17.

What is real: the host's Docker engine and Compose V2, PostgreSQL 15 (Debian 12's
postgresql-15, colab/postgres:15-bookworm) and 17 (Debian 13's postgresql-17,
colab/postgres:17), both built from lab/images/postgres, their PG_VERSION
files, pg_dump and pg_restore. Gitea is colab/gitea-standin:3 (NOT Gitea), which logs into
the database with the injected password: its health says the gitea role survived.

The playbook runs the role's own postgres_major.yml (and postgres_upgrade.yml when it asks
for it) and then deploys the role's own
definition (_gitea_definition) with compose_stack, as present.yml does; the rest of
present.yml (admin, schedule, SSOT, adoption of other projects) is left out: on the shared
host engine it would meet other projects.

1. PostgreSQL 15 stack, a probe row written.
2. Tag 17, default: refused with both majors, the variable and the procedure; the same
   containers still run, the row and PG_VERSION 15 are intact.
3. Tag 17 with gitea_postgres_major_upgrade in check mode: predicted, nothing changes.
   Then for real: the row and the gitea role are in PostgreSQL
   17, the old directory is kept, the dump is 0600.
4. Again: changed=0.
5. Back to 15 with the opt-in: a downgrade is refused.
"""
from __future__ import annotations

import importlib.util
import os
import re
import secrets
import socket
import stat
import subprocess

import json

import pytest
import yaml

from tests.helpers import ROOT, require_engine, run_logged, tail, tool

_spec = importlib.util.spec_from_file_location("colab_lab_tool_pgmajor", os.path.join(ROOT, "lab", "lab.py"))
lab = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lab)

OLD = "colab/postgres:15-bookworm"
NEW = "colab/postgres:17"
GITEA = "colab/gitea-standin:3"
BOOKWORM = "colab/debian-fresh:bookworm"  # as tests/integration/test_fresh_machine.py makes it
PROJECT = "colab-it-pgmajor"

PLAYBOOK = """---
- name: The gitea role's PostgreSQL major check, then its stack
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    gitea_project_name: {project}
    gitea_project_dir: {base}/project
    gitea_fortress_root: {base}/fortress
    gitea_config_dir: {base}/config
    gitea_image_repository: colab/gitea-standin
    gitea_image_tag: "3"
    gitea_postgres_image_repository: colab/postgres
    gitea_pull: never
    gitea_http_port: {http}
    gitea_ssh_port: {ssh}
    gitea_external_networks: []
    gitea_mount_localtime: false
    gitea_wait_timeout: 180
    gitea_backup_timeout: 300
  tasks:
    - name: Directories as present.yml makes them
      ansible.builtin.file:
        path: "{{{{ item.path }}}}"
        state: directory
        owner: "{{{{ item.owner | default(omit) }}}}"
        mode: "{{{{ item.mode }}}}"
      loop:
        - {{path: "{base}/fortress/data/gitea", owner: "1000", mode: "0750"}}
        - {{path: "{base}/config", owner: "1000", mode: "0700"}}
        - {{path: "{base}/fortress/data/postgres-gitea", mode: "0700"}}
        - {{path: "{base}/fortress/backup/gitea", mode: "0700"}}
        - {{path: "{base}/project", mode: "0755"}}
    - name: The deploy-time environment, as present.yml resolves it
      ansible.builtin.set_fact:
        _gitea_env: "{{{{ gitea_secrets }}}}"
      no_log: true
    - name: The role's PostgreSQL major check
      ansible.builtin.include_role:
        name: colab.cluster.gitea
        tasks_from: postgres_major.yml
        public: true
    - name: The role's PostgreSQL upgrade, when the check asked for it (as present.yml)
      ansible.builtin.include_role:
        name: colab.cluster.gitea
        tasks_from: postgres_upgrade.yml
      when: _gitea_pg_upgrade | default(false)
    - name: The role's stack
      colab.cluster.compose_stack:
        project_name: "{{{{ gitea_project_name }}}}"
        project_dir: "{{{{ gitea_project_dir }}}}"
        definition: "{{{{ _gitea_definition }}}}"
        env: "{{{{ _gitea_env }}}}"
        pull: never
        wait: true
        wait_timeout: 180
      no_log: true
"""


def _docker(*args, timeout=60, **kw):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False,
                          timeout=timeout, **kw)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _build_old_image():
    if _docker("image", "inspect", OLD).returncode == 0:
        return
    if _docker("image", "inspect", BOOKWORM).returncode != 0:
        lab.debootstrap_image(BOOKWORM, "bookworm", "python3,make", command="/bin/bash")
    # the lab's PostgreSQL image from Debian 12 instead of 13 (lab/images/postgres/Dockerfile's
    # build arguments); ~2 min once per machine (124 s measured at load 12)
    proc = _docker("build", "-q", "-t", OLD, "--build-arg", f"BASE={BOOKWORM}",
                   "--build-arg", "PG_MAJOR=15", "--build-arg", "JIT_PACKAGES=libllvm14 libz3-4",
                   os.path.join(ROOT, "lab", "images", "postgres"), timeout=1200)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.fixture(scope="module")
def images():
    require_engine()
    for image in (NEW, GITEA):
        if _docker("image", "inspect", image).returncode != 0:
            lab.ensure_image()
            spec = importlib.util.spec_from_file_location("colab_lab_images_pg", os.path.join(ROOT, "lab", "images.py"))
            images_mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(images_mod)
            images_mod.ensure_images({k: v for k, v in images_mod.IMAGES.items() if v in (NEW, GITEA)})
            break
    _build_old_image()


def _definition_for_this_engine():
    """The role's own _gitea_definition (roles/gitea/vars/main.yml) less healthcheck
    start_interval, which Compose refuses on engines older than 25 (this host's is 20.10;
    the lab's and production's are newer). Passed as an extra var, its templated leaves
    still resolve against the role's variables."""
    with open(os.path.join(ROOT, "roles", "gitea", "vars", "main.yml"), encoding="utf-8") as fh:
        definition = yaml.safe_load(fh)["_gitea_definition"]
    for service in definition["services"].values():
        service.get("healthcheck", {}).pop("start_interval", None)
    return definition


def _recap_changed(text):
    found = re.findall(r"localhost\s*:\s*ok=\d+\s+changed=(\d+)", text)
    assert found, tail(text)
    return int(found[-1])


def _containers():
    res = _docker("ps", "--all", "--filter", f"label=com.docker.compose.project={PROJECT}",
                  "--format", '{{.Label "com.docker.compose.service"}} {{.ID}} {{.State}}')
    return {line.split()[0]: line.split()[1:] for line in res.stdout.splitlines() if line.strip()}


def _psql(sql):
    db = _containers()["gitea-db"][0]
    res = _docker("exec", db, "psql", "-U", "gitea", "-d", "gitea", "-At", "-c", sql)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def _pg_version(base):
    with open(os.path.join(base, "fortress", "data", "postgres-gitea", "PG_VERSION"), encoding="utf-8") as fh:
        return fh.read().strip()


def test_postgres_major_change_refused_then_performed(images, tmp_path):
    base = str(tmp_path)
    playbook = tmp_path / "pgmajor.yml"
    playbook.write_text(PLAYBOOK.format(project=PROJECT, base=base, http=_free_port(), ssh=_free_port()))
    password = "it-db-" + secrets.token_hex(12)
    secrets_file = tmp_path / "secrets.yml"
    secrets_file.write_text("gitea_secrets:\n"
                            f"  GITEA_DB_PASSWORD: {password}\n"
                            f"  GITEA_SECRET_KEY: it-key-{secrets.token_hex(12)}\n"
                            f"  GITEA_ADMIN_PASSWORD: it-admin-{secrets.token_hex(12)}\n")
    os.chmod(secrets_file, 0o600)
    definition_file = tmp_path / "definition.json"
    definition_file.write_text(json.dumps({"_gitea_definition": _definition_for_this_engine()}))

    def play(name, tag, *extra):
        return run_logged([tool("ansible-playbook"), str(playbook), "-e", f"@{secrets_file}",
                           "-e", f"@{definition_file}",
                           "-e", f"gitea_postgres_image_tag={tag}", *extra],
                          f"pgmajor-{name}.log", timeout=600)

    outputs = []
    try:
        rc, out = play("old", "15-bookworm")
        outputs.append(out)
        assert rc == 0, tail(out)
        assert _pg_version(base) == "15"
        _psql("CREATE TABLE colab_probe (v text); INSERT INTO colab_probe VALUES ('survives-the-major')")
        before = _containers()
        assert before["gitea-db"][1] == "running" and before["gitea"][1] == "running", before

        rc, out = play("refused", "17")
        outputs.append(out)
        assert rc != 0, tail(out)
        for needle in ("gitea_postgres_image_tag 17", "is PostgreSQL 17", "holds a\nPostgreSQL 15",
                       "gitea_postgres_major_upgrade: true", "pg_dump", "pg_restore", "untouched"):
            assert needle.replace("\n", " ") in re.sub(r"\s+", " ", out), (needle, tail(out))
        assert _containers() == before, "a refused major change must leave the containers as they were"
        assert _psql("SELECT v FROM colab_probe") == "survives-the-major"
        assert _psql("SHOW server_version_num").startswith("15")
        assert _pg_version(base) == "15"

        rc, out = play("check", "17", "-e", "gitea_postgres_major_upgrade=true", "--check")
        outputs.append(out)
        assert rc == 0 and "would upgrade PostgreSQL 15 -> 17" in re.sub(r"\s+", " ", out), tail(out)
        assert _containers() == before, "check mode must change nothing"
        assert _pg_version(base) == "15"

        rc, out = play("upgrade", "17", "-e", "gitea_postgres_major_upgrade=true")
        outputs.append(out)
        assert rc == 0, tail(out)
        assert _pg_version(base) == "17"
        assert _psql("SHOW server_version_num").startswith("17")
        assert _psql("SELECT v FROM colab_probe") == "survives-the-major"
        assert _psql("SELECT rolname FROM pg_roles WHERE rolname = 'gitea'") == "gitea"
        assert _psql("SELECT tableowner FROM pg_tables WHERE tablename = 'colab_probe'") == "gitea"
        after = _containers()
        assert after["gitea"][1] == "running", after
        # Gitea (the stand-in) logged into the new server with the injected password
        health = _docker("inspect", "--format", "{{.State.Health.Status}}", after["gitea"][0])
        assert health.stdout.strip() == "healthy", health.stdout
        kept = [n for n in os.listdir(os.path.join(base, "fortress", "data")) if n.startswith("postgres-gitea.pg15-")]
        assert len(kept) == 1, os.listdir(os.path.join(base, "fortress", "data"))
        with open(os.path.join(base, "fortress", "data", kept[0], "PG_VERSION"), encoding="utf-8") as fh:
            assert fh.read().strip() == "15"
        dumps = [n for n in os.listdir(os.path.join(base, "fortress", "backup", "gitea")) if n.startswith("pg15-to-pg17-")]
        assert len(dumps) == 1 and dumps[0].endswith(".dump"), dumps
        mode = os.stat(os.path.join(base, "fortress", "backup", "gitea", dumps[0])).st_mode
        assert stat.S_IMODE(mode) == 0o600

        rc, out = play("again", "17", "-e", "gitea_postgres_major_upgrade=true")
        outputs.append(out)
        assert rc == 0, tail(out)
        assert _recap_changed(out) == 0, tail(out)

        rc, out = play("downgrade", "15-bookworm", "-e", "gitea_postgres_major_upgrade=true")
        outputs.append(out)
        assert rc != 0 and "OLDER than the data" in re.sub(r"\s+", " ", out), tail(out)
        assert _pg_version(base) == "17"
        assert _psql("SELECT v FROM colab_probe") == "survives-the-major"
    finally:
        _docker("compose", "-p", PROJECT, "down", "--timeout", "5", timeout=120)
    for out in outputs:
        assert password not in out

"""colab.cluster.gitea: Gitea's data survives failures midway, against real PostgreSQL.

What is real: the host's Docker engine and Compose V2, PostgreSQL 15 (colab/postgres:15-bookworm)
and 17 (colab/postgres:17), both Debian's packages built from lab/images/postgres, their
pg_dump and pg_restore, and the processes this test kills inside them. Gitea is
colab/gitea-standin:3 (NOT Gitea): it logs into the database with the injected password and
creates its own tables on start ("migrates"), as Gitea does, so a Gitea started on an empty
database shows up as an empty one.

Failures are made to happen midway, then the same thing is run again:

test_interrupted_major_upgrade_resumes_from_the_dump (postgres_major.yml, postgres_upgrade.yml)
  1. PostgreSQL 15 stack; a probe row and 2,000,000 bulk rows.
  2. Upgrade to 17 whose new server never becomes healthy in time (gitea_wait_timeout 1):
     fails after the old directory was moved aside. The marker is there.
  3. Converge with tag 17 without the opt-in: refused (the old role: majors "equal", Gitea
     started on the empty database); Gitea is not running.
  4. Resume with the opt-in, pg_restore killed during its COPY: fails, marker still there.
  5. Resume again: the probe row and all bulk rows are in PostgreSQL 17, Gitea healthy,
     the old 15 directory kept, the partial ones moved aside (never deleted), no marker.
  6. Again: changed=0.

test_restore_killed_then_rerun_keeps_the_original (restore.yml)
  1. PostgreSQL 17 stack; backup B made by the role's own colab-gitea-backup script
     (state "backup" in the database and in a data file).
  2. The state changes to "current" (the original data a restore replaces).
  3. Restore B with pg_restore killed during its COPY: fails; the database and the data
     directory are still "current" (one transaction), Gitea left stopped.
  4. The same restore again: "backup" everywhere, Gitea healthy; a fresh backup of "current"
     was made first and the replaced data directory kept.
  5. The same restore a third time: the copy of "current" kept in step 4 is still there
     (the old role removed it: it named the kept copy by the backup's stamp, rm -rf).
"""
from __future__ import annotations

import os
import re
import secrets
import subprocess
import threading
import time

import json

from tests.helpers import ROOT, run_logged, tail, tool
# `images` is a pytest fixture, used by name.
from tests.integration.test_gitea_postgres_major import (  # noqa: F401 pylint: disable=unused-import
    OLD, PLAYBOOK as MAJOR_PLAYBOOK, _definition_for_this_engine, _docker, _free_port,
    _recap_changed, images,
)

BULK = 2_000_000

RESTORE_PLAYBOOK = """---
- name: The gitea role's stack, backup script and restore
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    gitea_project_name: {project}
    gitea_project_dir: {base}/project
    gitea_fortress_root: {base}/fortress
    gitea_config_dir: {base}/config
    gitea_backup_script: {base}/colab-gitea-backup
    gitea_image_repository: colab/gitea-standin
    gitea_image_tag: "3"
    gitea_postgres_image_repository: colab/postgres
    gitea_postgres_image_tag: "17"
    gitea_pull: never
    gitea_http_port: {http}
    gitea_ssh_port: {ssh}
    gitea_external_networks: []
    gitea_mount_localtime: false
    gitea_wait_timeout: 120
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
      when: colab_it_step == 'deploy'
    - name: The deploy-time environment, as present.yml resolves it
      ansible.builtin.set_fact:
        _gitea_env: "{{{{ gitea_secrets }}}}"
      no_log: true
    - name: The role's backup script (as schedule.yml installs it, without the timer)
      ansible.builtin.include_role:
        name: colab.cluster.gitea
        tasks_from: backup_script.yml
        public: true
      when: colab_it_step == 'deploy'
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
      when: colab_it_step == 'deploy'
    - name: The role's restore
      ansible.builtin.include_role:
        name: colab.cluster.gitea
        tasks_from: restore.yml
      when: colab_it_step == 'restore'
"""


def _containers(project):
    res = _docker("ps", "--all", "--filter", f"label=com.docker.compose.project={project}",
                  "--format", '{{.Label "com.docker.compose.service"}} {{.ID}} {{.State}}')
    return {line.split()[0]: line.split()[1:] for line in res.stdout.splitlines() if line.strip()}


def _psql(project, sql, check=True):
    db = _containers(project)["gitea-db"][0]
    res = _docker("exec", db, "psql", "-U", "gitea", "-d", "gitea", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql,
                  timeout=300)
    if check:
        assert res.returncode == 0, res.stderr
    return res.stdout.strip() if res.returncode == 0 else None


def _seed(project, value):
    _psql(project, "CREATE TABLE colab_probe (v text); "
                   f"INSERT INTO colab_probe VALUES ('{value}'); "
                   "CREATE TABLE colab_bulk (i integer PRIMARY KEY, h text); "
                   f"INSERT INTO colab_bulk SELECT i, md5(i::text) FROM generate_series(1, {BULK}) i")


def _health(project):
    gitea = _containers(project).get("gitea")
    if not gitea or gitea[1] != "running":
        return None
    return _docker("inspect", "--format", "{{.State.Health.Status}}", gitea[0]).stdout.strip()


def _wait_healthy(project, seconds=90):
    """The engine's health status (the role itself waited for /api/healthz to answer 200;
    the engine's check runs every 15 s, so it may still say "starting")."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = _health(project)
        if status == "healthy":
            return status
        time.sleep(2)
    return _health(project)


class KillRestoreMidway(threading.Thread):
    """Kills the pg_restore of the project's gitea-db container once it is COPYing data:
    after --clean's DROPs and the first tables, before the end. Its process id comes from
    inside that container (pgrep there sees only this test's processes)."""

    def __init__(self, project):
        super().__init__(daemon=True)
        self.project = project
        self.done = threading.Event()
        self.killed = None

    def run(self):
        deadline = time.monotonic() + 400
        while not self.done.is_set() and time.monotonic() < deadline:
            db = _containers(self.project).get("gitea-db")
            if db and db[1] == "running":
                copying = _docker("exec", db[0], "psql", "-U", "gitea", "-d", "postgres", "-At", "-c",
                                  "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                                  "'pg_restore' AND query ILIKE 'COPY %'", timeout=30)
                if copying.stdout.strip() not in ("", "0"):
                    pids = _docker("exec", db[0], "pgrep", "-x", "pg_restore", timeout=30).stdout.split()
                    if pids:
                        _docker("exec", db[0], "kill", "-KILL", *pids, timeout=30)
                        self.killed = pids
                        return
            time.sleep(0.2)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.join(timeout=60)


def _secrets(tmp_path):
    password = "it-db-" + secrets.token_hex(12)
    secrets_file = tmp_path / "secrets.yml"
    secrets_file.write_text("gitea_secrets:\n"
                            f"  GITEA_DB_PASSWORD: {password}\n"
                            f"  GITEA_SECRET_KEY: it-key-{secrets.token_hex(12)}\n"
                            f"  GITEA_ADMIN_PASSWORD: it-admin-{secrets.token_hex(12)}\n")
    os.chmod(secrets_file, 0o600)
    definition_file = tmp_path / "definition.json"
    definition_file.write_text(json.dumps({"_gitea_definition": _definition_for_this_engine()}))
    return password, ["-e", f"@{secrets_file}", "-e", f"@{definition_file}"]


def _flat(text):
    return re.sub(r"\s+", " ", text)


def test_interrupted_major_upgrade_resumes_from_the_dump(images, tmp_path):
    project = "colab-it-pgresume"
    base = str(tmp_path)
    playbook = tmp_path / "pgmajor.yml"
    playbook.write_text(MAJOR_PLAYBOOK.format(project=project, base=base, http=_free_port(), ssh=_free_port()))
    password, extra_vars = _secrets(tmp_path)
    data = os.path.join(base, "fortress", "data")
    marker = os.path.join(data, "postgres-gitea.upgrading")

    def play(name, tag, *extra):
        return run_logged([tool("ansible-playbook"), str(playbook), *extra_vars,
                           "-e", f"gitea_postgres_image_tag={tag}", *extra],
                          f"pgresume-{name}.log", timeout=900)

    outputs = []
    try:
        rc, out = play("old", OLD.split(":")[1])
        outputs.append(out)
        assert rc == 0, tail(out)
        _seed(project, "survives-every-failure")

        # 2. the new server does not answer healthy in time: the old directory is moved already
        rc, out = play("start-fails", "17", "-e", "gitea_postgres_major_upgrade=true",
                       "-e", "gitea_wait_timeout=1")
        outputs.append(out)
        assert rc != 0, tail(out)
        assert [n for n in os.listdir(data) if n.startswith("postgres-gitea.pg15-")], os.listdir(data)

        # 3. a plain converge must not start Gitea on the new, empty database
        rc, out = play("refused", "17")
        outputs.append(out)
        assert rc != 0, ("a converge during an unfinished upgrade must be refused; probe row now: "
                         f"{_psql(project, 'SELECT v FROM colab_probe', check=False)!r}\n" + tail(out))
        assert os.path.exists(marker), os.listdir(data)
        for needle in ("did not finish", "postgres-gitea.upgrading", "gitea_postgres_major_upgrade: true"):
            assert needle in _flat(out), (needle, tail(out))
        assert _health(project) is None, "Gitea must not run during an unfinished upgrade"

        # 4. resuming, with pg_restore killed while it copies the data
        with KillRestoreMidway(project) as killer:
            rc, out = play("resume-killed", "17", "-e", "gitea_postgres_major_upgrade=true")
        outputs.append(out)
        assert killer.killed, "pg_restore was never seen copying:\n" + tail(out)
        assert rc != 0, tail(out)
        assert os.path.exists(marker), tail(out)
        assert _health(project) is None, "Gitea must not run on a half-restored database"

        # 5. resuming again: everything is back, in PostgreSQL 17
        rc, out = play("resume", "17", "-e", "gitea_postgres_major_upgrade=true")
        outputs.append(out)
        assert rc == 0, tail(out)
        assert not os.path.exists(marker)
        assert _psql(project, "SHOW server_version_num").startswith("17")
        assert _psql(project, "SELECT v FROM colab_probe") == "survives-every-failure"
        assert _psql(project, "SELECT count(*) FROM colab_bulk") == str(BULK)
        assert _wait_healthy(project) == "healthy"
        names = os.listdir(data)
        kept = [n for n in names if n.startswith("postgres-gitea.pg15-")]
        assert len(kept) == 1, names
        with open(os.path.join(data, kept[0], "PG_VERSION"), encoding="utf-8") as fh:
            assert fh.read().strip() == "15"
        assert len([n for n in names if n.startswith("postgres-gitea.pg17-partial-")]) == 2, names

        # 6. nothing left to do
        rc, out = play("again", "17", "-e", "gitea_postgres_major_upgrade=true")
        outputs.append(out)
        assert rc == 0 and _recap_changed(out) == 0, tail(out)
    finally:
        _docker("compose", "-p", project, "down", "--timeout", "5", timeout=120)
    for out in outputs:
        assert password not in out


def _state_file(base):
    return os.path.join(base, "fortress", "data", "gitea", "colab-state.txt")


def _write_state(base, value):
    with open(_state_file(base), "w", encoding="utf-8") as fh:
        fh.write(value)


def test_restore_killed_then_rerun_keeps_the_original(images, tmp_path):
    project = "colab-it-restore"
    base = str(tmp_path)
    playbook = tmp_path / "restore.yml"
    playbook.write_text(RESTORE_PLAYBOOK.format(project=project, base=base, http=_free_port(), ssh=_free_port()))
    password, extra_vars = _secrets(tmp_path)
    data_parent = os.path.join(base, "fortress", "data")
    backups = os.path.join(base, "fortress", "backup", "gitea")

    def play(name, *extra):
        return run_logged([tool("ansible-playbook"), str(playbook), *extra_vars, *extra],
                          f"gitea-restore-{name}.log", timeout=900)

    outputs = []
    try:
        rc, out = play("deploy", "-e", "colab_it_step=deploy")
        outputs.append(out)
        assert rc == 0, tail(out)
        _seed(project, "backup")
        _write_state(base, "backup")
        made = subprocess.run(["/bin/bash", os.path.join(base, "colab-gitea-backup")], capture_output=True,
                              text=True, check=False, timeout=600)
        assert made.returncode == 0, made.stderr
        stamp = made.stdout.strip().splitlines()[-1]
        assert re.fullmatch(r"[0-9]{8}T[0-9]{6}Z", stamp), made.stdout
        assert _containers(project)["gitea"][1] == "running", "the backup script starts Gitea again"

        # the original data the restore replaces
        _psql(project, "UPDATE colab_probe SET v = 'current'; DELETE FROM colab_bulk WHERE i > 1000000")
        _write_state(base, "current")
        time.sleep(1)  # the backup the fixed restore makes first gets its own stamp

        restore = ["-e", "colab_it_step=restore", "-e", f"gitea_restore_stamp={stamp}"]
        with KillRestoreMidway(project) as killer:
            rc, out = play("killed", *restore)
        outputs.append(out)
        assert killer.killed, "pg_restore was never seen copying:\n" + tail(out)
        assert rc != 0, tail(out)
        # one transaction: the database is as it was; the data directory was not replaced
        assert _psql(project, "SELECT v FROM colab_probe", check=False) == "current", tail(out)
        assert _psql(project, "SELECT count(*) FROM colab_bulk", check=False) == "1000000"
        with open(_state_file(base), encoding="utf-8") as fh:
            assert fh.read() == "current"
        assert _containers(project)["gitea"][1] != "running", "Gitea must stay stopped after a failed restore"

        rc, out = play("rerun", *restore)
        outputs.append(out)
        assert rc == 0, tail(out)
        assert _psql(project, "SELECT v FROM colab_probe") == "backup"
        assert _psql(project, "SELECT count(*) FROM colab_bulk") == str(BULK)
        with open(_state_file(base), encoding="utf-8") as fh:
            assert fh.read() == "backup"
        assert _wait_healthy(project) == "healthy"
        fresh = sorted(n for n in os.listdir(backups) if n.endswith("-db.dump") and not n.startswith(stamp))
        assert fresh, os.listdir(backups)

        time.sleep(1)
        rc, out = play("third", *restore)
        outputs.append(out)
        assert rc == 0, tail(out)
        kept_current = []
        for name in os.listdir(data_parent):
            path = os.path.join(data_parent, name, "colab-state.txt")
            if name.startswith("gitea.") and os.path.exists(path):
                with open(path, encoding="utf-8") as fh:
                    if fh.read() == "current":
                        kept_current.append(name)
        assert kept_current, ("the original data directory must survive a rerun of the same restore",
                              os.listdir(data_parent))
        assert _psql(project, "SELECT v FROM colab_probe") == "backup"
        assert _wait_healthy(project) == "healthy"
    finally:
        _docker("compose", "-p", project, "down", "--timeout", "5", timeout=120)
    for out in outputs:
        assert password not in out


LOCAL_PLAYBOOK = """---
- name: The gitea role's file-only tasks (no containers)
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    gitea_fortress_root: {base}/fortress
    gitea_config_dir: {base}/config
    gitea_backup_script: {base}/colab-gitea-backup
    gitea_backup_copy_dir: {base}/node-disk/backup
    gitea_uid: {uid}
    gitea_gid: {gid}
  tasks:
    - name: The role's backup script
      ansible.builtin.include_role:
        name: colab.cluster.gitea
        tasks_from: backup_script.yml
        public: true
    - name: The backup service unit as schedule.yml renders it
      ansible.builtin.template:
        src: {root}/roles/gitea/templates/colab-gitea-backup.service.j2
        dest: {base}/colab-gitea-backup.service
        mode: "0644"
    - name: The role's move of a legacy app.ini off the share
      ansible.builtin.include_role:
        name: colab.cluster.gitea
        tasks_from: legacy_config.yml
"""


def test_backup_unit_script_and_legacy_config_keep_data(tmp_path):
    """No containers: the backup unit waits for its mounts, the script refuses to back up
    during an unfinished upgrade, and a share app.ini that differs from the node's is kept."""
    base = str(tmp_path)
    legacy = tmp_path / "fortress" / "data" / "gitea-config"
    legacy.mkdir(parents=True)
    (legacy / "app.ini").write_text("[security]\nINTERNAL_TOKEN = only-on-the-share\n")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "app.ini").write_text("[security]\nINTERNAL_TOKEN = the-node-one\n")
    playbook = tmp_path / "local.yml"
    playbook.write_text(LOCAL_PLAYBOOK.format(base=base, root=ROOT, uid=os.getuid(), gid=os.getgid()))
    rc, out = run_logged([tool("ansible-playbook"), str(playbook)], "gitea-local.log", timeout=300)
    assert rc != 0 and "both exist and differ" in _flat(out), tail(out)
    assert (legacy / "app.ini").read_text().endswith("only-on-the-share\n"), "the share's app.ini must be kept"

    unit = (tmp_path / "colab-gitea-backup.service").read_text()
    mounts = [line for line in unit.splitlines() if line.startswith("RequiresMountsFor=")]
    assert mounts, unit
    assert mounts[0].split("=", 1)[1].split() == [f"{base}/fortress/data/gitea", f"{base}/fortress/backup/gitea",
                                                  f"{base}/node-disk/backup"], mounts

    (tmp_path / "fortress" / "data" / "postgres-gitea.upgrading").write_text("from: '15'\n")
    # a docker that only says it was called: the script must stop before it touches the stack
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "docker").write_text("#!/bin/sh\necho docker-was-called >&2\nexit 99\n")
    os.chmod(fake / "docker", 0o755)
    res = subprocess.run(["/bin/bash", str(tmp_path / "colab-gitea-backup")], capture_output=True, text=True,
                         check=False, timeout=60, env={"PATH": f"{fake}:/usr/bin:/bin"})
    assert res.returncode == 1 and "did not finish" in res.stderr, (res.returncode, res.stderr)
    assert "docker-was-called" not in res.stderr

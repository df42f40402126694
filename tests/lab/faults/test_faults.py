"""Faults during a converge, on the lab (issue 17.1): `make test-faults`.

Each fault: the run fails with a message naming the cause and the host; what ran before
keeps running (or the test says it was stopped); a rerun after the fault is removed
converges; a third run reports changed=0. Runs after the lab is converged (the
converged_lab fixture of tests/lab/conftest.py).
"""
from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from tests.helpers import OUTPUT, ROOT, ansible_env, fatal_results, parse_recap, run_logged, tail, tool
from tests.lab.exposure import lab_secret_values

pytestmark = pytest.mark.lab
COOP, DIRECTOR = "cooperator", "director"


def play(name, *args):
    rc, text = run_logged([tool("ansible-playbook"), "-i", "inventory/lab", "site.yml", *args],
                          f"faults-{name}.log", timeout=2400, env=ansible_env())
    return rc, text


def flat(text):
    return " ".join(text.split())


def gitea_ids(lab):
    res = lab.exec(COOP, "docker", "ps", "-q", "--filter", "label=com.docker.compose.project=gitea")
    return sorted(res.stdout.split())


def converges_then_idle(name, *args, hosts=(COOP,)):
    rc, text = play(f"{name}-rerun", *args)
    assert rc == 0, tail(text, 80)
    rc, text = play(f"{name}-third", *args)
    assert rc == 0, tail(text, 80)
    recap = parse_recap(text)
    for host in hosts:
        assert recap[host]["ok"] > 0 and recap[host]["changed"] == 0, (host, recap)


def test_secret_store_down(converged_lab):
    before = gitea_ids(converged_lab)
    store = os.path.join(ROOT, "lab", "secret_store.py")
    port_file = os.path.join(ROOT, ".lab", "infisical", "port")
    with open(port_file, encoding="utf-8") as fh:
        port = fh.read()
    subprocess.run(["python3", store, "stop"], check=True, capture_output=True, timeout=60)
    # the store is down, its address unchanged (stop forgets the port; the inventory reads it)
    with open(port_file, "w", encoding="utf-8") as fh:
        fh.write(port)
    try:
        rc, text = play("secret-store-down", "--limit", COOP, "--tags", "gitea")
    finally:
        subprocess.run(["python3", store, "ensure"], check=True, capture_output=True, timeout=120)
    assert rc != 0
    msg = flat(text)
    assert "cooperator secrets gitea_secrets:" in msg, tail(text, 60)
    assert f"cannot reach Infisical at http://127.0.0.1:{port.strip()}" in msg, tail(text, 60)
    assert "Nothing was changed." in msg
    assert gitea_ids(converged_lab) == before, "the running stack was touched"
    converges_then_idle("secret-store-down", "--limit", COOP, "--tags", "gitea")


def test_nested_engine_stopped(converged_lab):
    converged_lab.exec(COOP, "systemctl", "stop", "docker.socket", "docker.service", timeout=120)
    rc, text = play("engine-stopped", "--limit", COOP, "--tags", "gitea")
    assert rc != 0
    msg = flat(text)
    assert "cooperator" in msg and ("docker" in msg.lower()), tail(text, 60)
    # reported as stopped: the engine (and so the stack) is down until the docker layer runs
    assert converged_lab.exec(COOP, "systemctl", "is-active", "docker.service").stdout.strip() != "active"
    converges_then_idle("engine-stopped", "--limit", COOP, "--tags", "docker,gitea")
    assert len(gitea_ids(converged_lab)) == 2


def test_director_stopped_mid_converge(converged_lab):
    log = os.path.join(OUTPUT, "faults-director-stopped.log")
    with open(log, "w", encoding="utf-8") as fh:
        proc = subprocess.Popen([tool("ansible-playbook"), "-i", "inventory/lab", "site.yml"], cwd=ROOT,
                                env=ansible_env(), stdout=fh, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 1200
        while time.monotonic() < deadline and proc.poll() is None:
            with open(log, encoding="utf-8", errors="replace") as fh:
                if "colab.cluster.samba_server" in fh.read():
                    break
            time.sleep(1)
        subprocess.run(["docker", "stop", converged_lab.container(DIRECTOR)], check=True,
                       capture_output=True, timeout=120)
        proc.wait(timeout=2400)
    finally:
        subprocess.run(["docker", "start", converged_lab.container(DIRECTOR)], check=False,
                       capture_output=True, timeout=120)
    with open(log, encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    assert proc.returncode != 0
    recap = parse_recap(text)
    assert recap[DIRECTOR]["unreachable"] > 0 or recap[DIRECTOR]["failed"] > 0, recap
    assert recap[COOP]["failed"] == 0 and recap[COOP]["unreachable"] == 0 and recap[COOP]["ok"] > 0, recap
    # the failure is reported against director itself, by its own result line (not the word
    # "unreachable", which every recap line prints)
    fatal = fatal_results(text)
    assert fatal and {host for _task, host, _outcome in fatal} == {DIRECTOR}, (fatal, tail(text, 60))
    # director's systemd boots again; the lab tool waits for it and its ssh
    up = subprocess.run(["python3", os.path.join(ROOT, "lab", "lab.py"), "up"], capture_output=True,
                        text=True, timeout=1800, check=False)
    assert up.returncode == 0, up.stdout + up.stderr
    converges_then_idle("director-stopped", hosts=(COOP, DIRECTOR))


def test_killed_while_compose_applies(converged_lab):
    extra = '{"gitea_extra_env": {"GITEA__log__LEVEL": "Debug"}}'
    log = os.path.join(OUTPUT, "faults-sigkill.log")
    with open(log, "w", encoding="utf-8") as fh:
        proc = subprocess.Popen([tool("ansible-playbook"), "-i", "inventory/lab", "site.yml", "--limit", COOP,
                                 "--tags", "gitea", "-e", extra], cwd=ROOT, env=ansible_env(), stdout=fh,
                                stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 1200
    while time.monotonic() < deadline and proc.poll() is None:
        with open(log, encoding="utf-8", errors="replace") as fh:
            if "Deploy the stack (secrets through the process environment only)" in fh.read():
                break
        time.sleep(0.5)
    time.sleep(2)  # compose_stack is running `up` now
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    try:
        converges_then_idle("sigkill", "--limit", COOP, "--tags", "gitea", "-e", extra)
        # fully applied: both services run, one container each, and the gitea one carries
        # the new setting (two containers alone would accept a half-applied stack)
        found = gitea_containers(converged_lab)
        assert set(found) == {"gitea", "gitea-db"}, found
        assert all(state == "running" for _name, _image, state in found.values()), found
        env = converged_lab.exec(COOP, "docker", "inspect", "-f", "{{range .Config.Env}}{{println .}}{{end}}",
                                 found["gitea"][0], check=True).stdout
        assert "GITEA__log__LEVEL=Debug" in env.splitlines(), env
    finally:
        rc, text = play("sigkill-revert", "--limit", COOP, "--tags", "gitea")
    assert rc == 0, tail(text, 60)


def test_secret_store_slow(converged_lab):
    """Slower than the lookup's timeout: the run fails naming the timeout, in bounded time."""
    before = gitea_ids(converged_lab)
    store = os.path.join(ROOT, "lab", "secret_store.py")
    subprocess.run(["python3", store, "slow", "5"], check=True, capture_output=True, timeout=60)
    start = time.monotonic()
    try:
        rc, text = play("secret-store-slow", "--limit", COOP, "--tags", "gitea",
                        "-e", "infisical_secret_timeout=2")
    finally:
        subprocess.run(["python3", store, "clear"], check=True, capture_output=True, timeout=60)
    took = time.monotonic() - start
    assert rc != 0
    msg = flat(text)
    assert "cooperator secrets gitea_secrets:" in msg, tail(text, 60)
    assert "timeout 2s" in msg and "4 attempts" in msg, tail(text, 60)
    assert "Nothing was changed." in msg
    # 4 attempts of 2 s plus backoff, plus the playbook's own start: no hang
    assert took < 240, took
    assert gitea_ids(converged_lab) == before, "the running stack was touched"
    converges_then_idle("secret-store-slow", "--limit", COOP, "--tags", "gitea")


def test_project_dir_full(converged_lab):
    """The project directory's filesystem is full when compose_stack writes a changed
    definition: a small tmpfs over the project dir (holding copies of its files), filled."""
    extra = '{"gitea_extra_env": {"GITEA__log__LEVEL": "Debug"}}'
    before = gitea_ids(converged_lab)
    # the project directory Compose itself recorded for the running stack
    project = converged_lab.exec(COOP, "docker", "inspect", "-f",
                                 '{{index .Config.Labels "com.docker.compose.project.working_dir"}}',
                                 before[0], check=True).stdout.strip()
    assert project.startswith("/"), project
    old = converged_lab.exec(COOP, "cat", f"{project}/compose.yaml", check=True).stdout
    fill = (f"set -e; mkdir -p /run/r3-faults; cp -a {project}/. /run/r3-faults/; "
            f"mount -t tmpfs -o size=256k,mode=0755 r3-faults-full {project}; cp -a /run/r3-faults/. {project}/; "
            f"dd if=/dev/zero of={project}/.fill bs=4k 2>/dev/null || true; "
            f"test \"$(df --output=avail {project} | tail -1 | tr -d ' ')\" = 0")
    converged_lab.exec(COOP, "sh", "-c", fill, check=True)
    try:
        rc, text = play("project-dir-full", "--limit", COOP, "--tags", "gitea", "-e", extra)
        listing = converged_lab.exec(COOP, "ls", "-A", project, check=True).stdout.split()
        kept = converged_lab.exec(COOP, "cat", f"{project}/compose.yaml", check=True).stdout
    finally:
        converged_lab.exec(COOP, "sh", "-c", f"umount {project}; rm -rf /run/r3-faults")
    assert rc != 0
    msg = flat(text)
    assert "fatal: [cooperator]" in text, tail(text, 60)
    assert f"cannot write {project}/compose.yaml: No space left on device (ENOSPC)" in msg, tail(text, 60)
    assert "nothing was applied" in msg
    assert kept == old, "the compose file was truncated or replaced"
    assert not [n for n in listing if n.endswith(".tmp")], listing
    assert gitea_ids(converged_lab) == before, "the running stack was touched"
    try:
        converges_then_idle("project-dir-full", "--limit", COOP, "--tags", "gitea", "-e", extra)
    finally:
        rc, text = play("project-dir-full-revert", "--limit", COOP, "--tags", "gitea")
    assert rc == 0, tail(text, 60)


def client_files(lab):
    """director's side of the share as the client role leaves it: the fstab and every
    credentials file, by content and inode/mtime (an atomic rewrite changes both)."""
    return lab.exec(DIRECTOR, "sh", "-c", "cat /etc/fstab; cd /etc/samba/credentials && "
                    "stat -c '%n %i %Y %a' * && sha256sum *", check=True).stdout


def test_smbd_stopped(converged_lab):
    """smbd stopped on cooperator while director's storage client converges (`--limit director`:
    the server play, which would start smbd again, has no host). samba_mount probes TCP 445
    first, so the run stops before the client's files are written."""
    before = client_files(converged_lab)
    stack = gitea_ids(converged_lab)
    converged_lab.exec(COOP, "systemctl", "stop", "smbd", check=True)
    try:
        assert converged_lab.exec(COOP, "systemctl", "is-active", "smbd").stdout.strip() != "active"
        rc, text = play("smbd-stopped", "--limit", DIRECTOR, "--tags", "samba_client")
        after = client_files(converged_lab)
    finally:
        converged_lab.exec(COOP, "systemctl", "start", "smbd", check=True)
    assert rc != 0
    msg = flat(text)
    assert "fatal: [director]" in text, tail(text, 60)
    server = converged_lab.ip(COOP)
    assert f"the SMB server {server} (smbd) does not answer on TCP 445: Connection refused" in msg, tail(text, 60)
    assert "Nothing was written, mounted or unmounted" in msg
    assert parse_recap(text)[DIRECTOR]["failed"] == 1
    assert after == before, "the client's fstab line or credentials file was rewritten"
    assert gitea_ids(converged_lab) == stack, "cooperator's running stack was touched"
    converges_then_idle("smbd-stopped", "--tags", "samba_server,samba_client", hosts=(COOP, DIRECTOR))
    assert client_files(converged_lab) == before


def gitea_containers(lab):
    """{service: (id, name, state)} of every container of the gitea project, stopped ones too."""
    out = lab.exec(COOP, "docker", "ps", "-a", "--no-trunc", "--filter", "label=com.docker.compose.project=gitea",
                   "--format", '{{.Label "com.docker.compose.service"}} {{.ID}} {{.Names}} {{.State}}',
                   check=True).stdout
    found = {}
    for line in out.splitlines():
        service, cid, name, state = line.split()
        assert service not in found, f"two containers for {service}: {out}"
        found[service] = (cid, name, state)
    return found


def test_service_never_healthy(converged_lab):
    """Gitea's own health check (curl http://localhost:3000/api/healthz, roles/gitea/vars) never
    passes: an http_proxy that refuses connections sits in the container's environment, which
    the health check inherits; the service itself serves as before (no new image, nothing
    persisted in app.ini, unlike a GITEA__ setting). The wait fails naming the service and its
    redacted log tail.

    What compose_stack guarantees when the wait fails: `up` has returned, so Compose's
    recreate (create under a temporary name, stop and remove the old container, rename the
    new one) is complete: the service has exactly one container, under its own name,
    running the new definition; the old container is gone, not stopped beside it; the
    services whose definition did not change (gitea-db) keep their containers; the failed
    task reports changed with the actions and commands it ran."""
    extra = '{"gitea_extra_env": {"http_proxy": "http://127.0.0.1:9"}, "gitea_wait_timeout": 45}'
    before = gitea_containers(converged_lab)
    assert sorted(before) == ["gitea", "gitea-db"] and all(c[2] == "running" for c in before.values()), before
    try:
        rc, text = play("never-healthy", "--limit", COOP, "--tags", "gitea", "-e", extra)
        during = gitea_containers(converged_lab)
        env = converged_lab.exec(COOP, "docker", "inspect", "-f", "{{range .Config.Env}}{{println .}}{{end}}",
                                 during["gitea"][0], check=True).stdout.split()
    finally:
        revert_rc, revert = play("never-healthy-revert", "--limit", COOP, "--tags", "gitea")
    assert rc != 0
    msg = flat(text)
    assert "fatal: [cooperator]" in text, tail(text, 60)
    assert "service gitea did not become healthy within wait_timeout=45s: it is running" in msg, tail(text, 60)
    assert "Last log lines:" in msg and "gitea-standin: serving /api/healthz on :3000" in msg, tail(text, 60)
    # the failure says what was applied before the wait (before the fix: changed: false)
    fatal = text[text.index("fatal: [cooperator]"):]
    assert "changed: true" in fatal.split("PLAY RECAP")[0], tail(text, 60)
    leaked = [key for key, value in lab_secret_values().items() if value in text]
    assert not leaked, f"secret values in the failed run's output: {leaked}"
    # not half-replaced: one container per service, under its own name, running
    assert sorted(during) == ["gitea", "gitea-db"], during
    assert during["gitea-db"] == before["gitea-db"], "gitea-db was recreated or stopped"
    cid, name, state = during["gitea"]
    assert cid != before["gitea"][0] and name == before["gitea"][1] and state == "running", (before, during)
    assert "http_proxy=http://127.0.0.1:9" in env, env
    assert revert_rc == 0, tail(revert, 80)
    converges_then_idle("never-healthy", "--limit", COOP, "--tags", "gitea")
    after = gitea_containers(converged_lab)
    assert after["gitea-db"] == before["gitea-db"] and after["gitea"][2] == "running", after

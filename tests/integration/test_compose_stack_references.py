"""compose_stack and Compose agree on service references, `$` and orphans (issue 27), on the
real engine with Compose 2.40.3 (the host's, Debian sid), 2.26.1 (Debian trixie's) and v5 (5.6.0,
built from its Go module by lab/gobuild.py), the last two selected through DOCKER_CONFIG as in
test_compose_stack_versions.py. Image colab/compose-test:1.

The project (tests/unit/plugins/modules/fixtures/compose/project-refs/compose.yaml): app, a
sidecar with network_mode/ipc/pid `service:app`, a `volumes_from: [app:ro]` service, `$` in a
command, a CMD-SHELL healthcheck, a network label and a volume label.
- adopted: after `docker compose up -d`, the module (check mode, then for real) changes nothing;
- left alone: after the module deployed it, a second run and check mode change nothing, and
  `docker compose up -d` then recreates nothing (the same container ids).
Before the fix, every run recreated side and data (Compose hashes them with `container:<id>`,
convergence.go resolveServiceReferences), and on 2.40.3 the `$` label recreated the network.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.helpers import ROOT, ansible_env, run_logged, tool
from tests.integration.test_compose_stack_secrets import _ensure_image
from tests.integration.test_compose_stack_versions import COMPOSE_V5, HOST_VERSION, _docker_config

PROJECT = "colab-it-compose-refs"
SOURCE = os.path.join(ROOT, "tests", "unit", "plugins", "modules", "fixtures", "compose", "project-refs",
                      "compose.yaml")

PLAYBOOK = """---
- name: compose_stack on a project Compose may have deployed
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    stack: {{project_name: {project}, project_dir: {project_dir}, assume_yes: true, timeout: {timeout},
             remove_orphans: {remove_orphans}}}
  tasks:
    - name: Predict
      colab.cluster.compose_stack: "{{{{ stack }}}}"
      check_mode: true
      register: r_check
    - name: Apply
      colab.cluster.compose_stack: "{{{{ stack }}}}"
      register: r_apply
    - name: Apply again
      colab.cluster.compose_stack: "{{{{ stack }}}}"
      register: r_again
    - name: Keep what the module said
      ansible.builtin.copy:
        content: "{{{{ {{'check': r_check, 'apply': r_apply, 'again': r_again}} | to_json }}}}"
        dest: {results}
        mode: "0600"
"""


def _env(version, cache):
    env = ansible_env(XDG_CACHE_HOME=str(cache))  # the Compose version cache of this run only
    if version != HOST_VERSION:
        env["DOCKER_CONFIG"] = _docker_config(version)
    else:
        env.pop("DOCKER_CONFIG", None)
    return env


def _compose(env, project_dir, *args):
    return subprocess.run(["docker", "compose", "-p", PROJECT, "--project-directory", str(project_dir)] + list(args),
                          capture_output=True, text=True, timeout=300, check=True, env=env).stdout


def _ids():
    out = subprocess.run(["docker", "ps", "-a", "--no-trunc", "--filter", f"label=com.docker.compose.project={PROJECT}",
                          "--format", '{{.Label "com.docker.compose.service"}} {{.ID}}'],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return dict(line.split() for line in out.splitlines() if line)


def _module(tmp_path, env, version, log, timeout=5, remove_orphans=False):
    results = tmp_path / "results.json"
    playbook = tmp_path / "refs.yml"
    playbook.write_text(PLAYBOOK.format(project=PROJECT, project_dir=tmp_path / "project", results=results,
                                        timeout=timeout, remove_orphans=str(remove_orphans).lower()),
                        encoding="utf-8")
    rc, text = run_logged([tool("ansible-playbook"), "-i", "localhost,", str(playbook),
                           "-e", f"ansible_python_interpreter={sys.executable}"],
                          f"compose_stack-refs-{version}-{log}.log", timeout=300, env=env)
    assert rc == 0, text[-3000:]
    got = json.loads(results.read_text(encoding="utf-8"))
    assert got["apply"]["compose_version"] == version
    return got


def _unchanged(res):
    return {k: (r["changed"], r["actions"], [" ".join(x[:3]) for x in r["commands"]]) for k, r in res.items()}


@pytest.mark.parametrize("version", [HOST_VERSION, "2.26.1", COMPOSE_V5])
def test_references_and_dollars_settle_both_ways(version, tmp_path):
    _ensure_image()
    env = _env(version, tmp_path / "cache")
    project_dir = tmp_path / "project"
    project_dir.mkdir()
    shutil.copy(SOURCE, project_dir / "compose.yaml")
    settled = {k: (False, [], []) for k in ("check", "apply", "again")}
    try:
        # adopted: Compose deployed it, the module finds nothing to do
        _compose(env, project_dir, "up", "-d")
        before = _ids()
        assert sorted(before) == ["app", "data", "side"]
        assert _unchanged(_module(tmp_path, env, version, "adopt")) == settled
        assert _ids() == before
        # left alone: the module deployed it, it settles, and Compose finds nothing to do
        _compose(env, project_dir, "down")
        first = _module(tmp_path, env, version, "deploy")
        assert first["apply"]["changed"] and not first["again"]["changed"], _unchanged(first)
        again = _module(tmp_path, env, version, "settled")
        assert _unchanged(again) == settled
        # the no-change floor: one Compose process (config); the version is cached per binary
        assert [again[k]["cost"]["spawns"] for k in ("check", "apply", "again")] == [1, 1, 1], again
        deployed = _ids()
        out = _compose(env, project_dir, "up", "-d")
        assert _ids() == deployed, out
    finally:
        subprocess.run(["docker", "compose", "-p", PROJECT, "down", "-v", "--remove-orphans"], capture_output=True,
                       timeout=120, check=False, env=env)


ORPHAN = """services:
  app:
    image: colab/compose-test:1
    command: [sleep, infinity]
  old:
    image: colab/compose-test:1
    stop_signal: SIGTERM
    command: ["sh", "-c", "trap 'echo graceful > /mark/stopped; exit 0' TERM; while :; do sleep 0.2; done"]
    volumes: ["./mark:/mark"]
"""


def test_orphans_are_stopped_before_removal(tmp_path):
    """Point 4: with no `up` planned, the module removed orphans with `docker rm -f` (SIGKILL: the
    orphan never saw its stop signal). Compose stops them first (down.go stopAndRemoveContainer):
    the orphan's TERM trap runs and leaves its mark."""
    _ensure_image()
    env = _env("2.40.3", tmp_path / "cache")
    project_dir = tmp_path / "project"
    (project_dir / "mark").mkdir(parents=True)
    (project_dir / "compose.yaml").write_text(ORPHAN, encoding="utf-8")
    try:
        _compose(env, project_dir, "up", "-d")
        (project_dir / "compose.yaml").write_text(ORPHAN.split("  old:", maxsplit=1)[0], encoding="utf-8")
        got = _module(tmp_path, env, "2.40.3", "orphans", timeout=7, remove_orphans=True)
        assert got["check"]["changed"] and got["apply"]["changed"] and not got["again"]["changed"]
        mark = project_dir / "mark" / "stopped"
        assert mark.exists() and mark.read_text(encoding="utf-8").strip() == "graceful", got["apply"]["commands"]
        commands = [" ".join(x) for x in got["apply"]["commands"]]
        assert any(x.startswith("docker stop --time 7 ") for x in commands), commands
        assert sorted(_ids()) == ["app"]
    finally:
        subprocess.run(["docker", "compose", "-p", PROJECT, "down", "-v", "--remove-orphans"], capture_output=True,
                       timeout=120, check=False, env=env)


HOOKED = """services:
  app:
    image: colab/compose-test:1
    command: [sleep, infinity]
    volumes: ["./mark:/mark"]
    pre_start:
      - command: ["sh", "-c", "test -e /mark/ok"]
"""


def _hook_runners():
    out = subprocess.run(["docker", "ps", "-a", "--no-trunc", "--filter", f"label=com.docker.compose.project={PROJECT}",
                          "--filter", "label=com.docker.compose.hook", "--format", "{{.ID}} {{.State}}"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return out.split("\n") if out.strip() else []


def test_a_failed_pre_start_runner_is_no_replica(tmp_path):
    """Compose 5.6.0 runs a pre_start hook in a runner container with the project and service labels
    and no config-hash (pre_start.go createPreStartContainer, create.go NoConfigHash@v5.6.0) and keeps
    a failed one for its logs. Listed like Compose lists containers (with a config-hash label), the
    runner is no replica: the module starts app once the hook can pass, and settles. Before, the
    runner read as a second, stale app container (recreate + scale)."""
    _ensure_image()
    env = _env(COMPOSE_V5, tmp_path / "cache")
    project_dir = tmp_path / "project"
    (project_dir / "mark").mkdir(parents=True)
    (project_dir / "compose.yaml").write_text(HOOKED, encoding="utf-8")
    try:
        failed = subprocess.run(["docker", "compose", "-p", PROJECT, "--project-directory", str(project_dir), "up", "-d"],
                                capture_output=True, text=True, timeout=300, check=False, env=env)
        assert failed.returncode != 0, failed.stdout + failed.stderr
        assert _hook_runners(), "Compose left no failed pre_start runner: " + failed.stderr
        (project_dir / "mark" / "ok").write_text("ok\n", encoding="utf-8")
        got = _module(tmp_path, env, COMPOSE_V5, "hook")
        assert got["check"]["actions"] == got["apply"]["actions"], got["check"]["actions"]
        assert not any(a.endswith((" recreate", " scale")) for a in got["check"]["actions"]), got["check"]["actions"]
        assert got["apply"]["changed"] and not got["again"]["changed"], _unchanged(got)
        state = subprocess.run(["docker", "ps", "--filter", f"label=com.docker.compose.project={PROJECT}", "--filter",
                                "label=com.docker.compose.config-hash", "--format", "{{.State}}"],
                               capture_output=True, text=True, timeout=60, check=True, env=env).stdout.split()
        assert state == ["running"], state
    finally:
        subprocess.run(["docker", "compose", "-p", PROJECT, "down", "-v", "--remove-orphans"], capture_output=True,
                       timeout=120, check=False, env=env)
        for line in _hook_runners():
            subprocess.run(["docker", "rm", "-f", line.split()[0]], capture_output=True, timeout=60, check=False)

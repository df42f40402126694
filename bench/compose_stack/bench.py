"""Benchmark colab.cluster.compose_stack against community.docker.docker_compose_v2.

The same 5-service project (image colab/compose-test:1, built by the compose_stack integration
target or by this script when missing) is deployed by both modules under two project names.
For each round, alternating the module that goes first, it times three scenarios:

  no-change     the project is already up to date
  check         the same, in check mode
  one-service   one service's environment changes (that service is recreated)

Each scenario is one ansible-playbook run with one timed task; the task's own duration comes from
the ansible.posix.json callback (so ansible-playbook's start-up, the same for both, is not counted)
and the whole process wall time is printed too.

Usage (from the repository root):  .venv/bin/python bench/compose_stack/bench.py [--rounds 5]
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, ".venv", "bin")
DOCKERFILE_DIR = os.path.join(ROOT, "tests", "integration", "targets", "compose_stack", "files")
IMAGE = "colab/compose-test:1"
PROJECTS = {"compose_stack": "colab-bench-cs", "docker_compose_v2": "colab-bench-v2"}
SERVICES = ["alpha", "bravo", "charlie", "delta", "echo"]


def definition(revision):
    services = {}
    for name in SERVICES:
        svc = {"image": IMAGE, "environment": {"BENCH_SERVICE": name}}
        if name == "alpha":
            svc["environment"]["BENCH_REVISION"] = str(revision)
        services[name] = svc
    return {"services": services}


def task(module, revision, workdir):
    if module == "ping":
        return {"ansible.builtin.ping": {}}
    project = PROJECTS[module]
    if module == "compose_stack":
        return {"colab.cluster.compose_stack": {
            "project_name": project, "project_dir": os.path.join(workdir, project),
            "definition": definition(revision)}}
    return {"community.docker.docker_compose_v2": {
        "project_name": project, "definition": definition(revision), "state": "present"}}


def run(module, revision, check, workdir):
    play = [{"name": "bench", "hosts": "localhost", "connection": "local", "gather_facts": False,
             "tasks": [dict(name="timed", check_mode=check, **task(module, revision, workdir))]}]
    path = os.path.join(workdir, "play.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(play, handle)  # JSON is YAML
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_CALLBACK_RESULT_FORMAT="json", PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    start = time.monotonic()
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", path,
                           "-e", "ansible_python_interpreter=%s" % os.path.join(BIN, "python")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit("%s failed:\n%s\n%s" % (module, proc.stdout[-3000:], proc.stderr[-3000:]))
    data = json.loads(proc.stdout)
    timed = data["plays"][0]["tasks"][0]
    dur = timed["task"]["duration"]
    seconds = (_parse_time(dur["end"]) - _parse_time(dur["start"])).total_seconds()
    return seconds, wall, timed["hosts"]["localhost"].get("changed")


def _parse_time(stamp):
    return datetime.datetime.fromisoformat(stamp.rstrip("Z"))


def ensure_image():
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, check=False).returncode != 0:
        subprocess.run(["docker", "build", "-q", "-t", IMAGE, "--build-arg", "VERSION=1", DOCKERFILE_DIR], check=True)


def down():
    for project in PROJECTS.values():
        subprocess.run(["docker", "compose", "-p", project, "down", "--volumes"], capture_output=True, timeout=300,
                       check=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    ensure_image()
    down()
    times = {(m, s): [] for m in PROJECTS for s in ("no-change", "check", "one-service")}
    walls = {(m, s): [] for m in PROJECTS for s in ("no-change", "check", "one-service")}
    floor = []  # ansible.builtin.ping: Ansible's own per-task cost, paid by both modules
    with tempfile.TemporaryDirectory(prefix="colab-bench-compose-") as workdir:
        try:
            revision = 0
            for module in PROJECTS:
                run(module, revision, False, workdir)  # initial deploy, not timed
            for rnd in range(args.rounds):
                order = list(PROJECTS) if rnd % 2 == 0 else list(reversed(PROJECTS))
                for scenario in ("no-change", "check", "one-service"):
                    if scenario == "one-service":
                        revision += 1
                    for module in order:
                        seconds, wall, changed = run(module, revision, scenario == "check", workdir)
                        expected = scenario == "one-service"
                        if bool(changed) != expected:
                            sys.exit("%s %s: changed=%s, expected %s" % (module, scenario, changed, expected))
                        times[(module, scenario)].append(seconds)
                        walls[(module, scenario)].append(wall)
                floor.append(run("ping", 0, False, workdir)[0])
        finally:
            down()
    print("%-12s %14s %14s %8s   %s" % ("scenario", "compose_stack", "compose_v2", "ratio", "(median task seconds; wall)"))
    for scenario in ("no-change", "check", "one-service"):
        ours = statistics.median(times[("compose_stack", scenario)])
        theirs = statistics.median(times[("docker_compose_v2", scenario)])
        wall_ours = statistics.median(walls[("compose_stack", scenario)])
        wall_theirs = statistics.median(walls[("docker_compose_v2", scenario)])
        print("%-12s %13.3fs %13.3fs %8.2f   wall %.2fs vs %.2fs (ratio %.2f)"
              % (scenario, ours, theirs, ours / theirs, wall_ours, wall_theirs, wall_ours / wall_theirs))
    base = statistics.median(floor)
    print("Ansible per-task floor (ansible.builtin.ping): %.3fs; above that floor:" % base)
    for scenario in ("no-change", "check", "one-service"):
        ours = statistics.median(times[("compose_stack", scenario)]) - base
        theirs = statistics.median(times[("docker_compose_v2", scenario)]) - base
        print("%-12s %13.3fs %13.3fs %8.2f" % (scenario, ours, theirs, ours / theirs))
    print("rounds: %d, alternating order; goal: no-change ratio <= 0.33; load average now %.1f"
          % (args.rounds, os.getloadavg()[0]))


if __name__ == "__main__":
    main()

"""Benchmark colab.cluster.compose_stack against community.docker.docker_compose_v2.

The same 5-service project (image colab/compose-test:1, built by the compose_stack integration
target or by this script when missing) is deployed by both modules under two project names.
For each round, alternating the module that goes first, it times three scenarios:

  no-change     the project is already up to date
  check         the same, in check mode
  one-service   one service's environment changes (that service is recreated)

Two variants of the project: ``plain`` (the definition passed inline) and ``envfile`` (the same
services read a service ``env_file:``, interpolate a value from the project's ``.env`` and sit on
a project network; both modules read it from project_src, the compose.yaml written there).

Each scenario is one ansible-playbook run with one timed task; the task's own duration comes from
the ansible.posix.json callback (so ansible-playbook's start-up, the same for both, is not counted)
and the whole process wall time is printed too.

Usage (from the repository root):
  .venv/bin/python bench/compose_stack/bench.py [--rounds 5] [--variant plain|envfile|both]
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


def definition(revision, variant="plain", subnet="172.29.210.0/24"):
    services = {}
    for name in SERVICES:
        svc = {"image": IMAGE, "environment": {"BENCH_SERVICE": name}}
        if name == "alpha":
            svc["environment"]["BENCH_REVISION"] = str(revision)
        if variant == "envfile":
            svc["env_file"] = ["bench.env"]
            svc["environment"]["BENCH_FROM_DOTENV"] = "${BENCH_DOTENV}"
            svc["networks"] = ["benchnet"]
        services[name] = svc
    result = {"services": services}
    if variant == "envfile":
        result["networks"] = {"benchnet": {"ipam": {"config": [{"subnet": subnet}]}}}
    return result


def write_project(project_dir, revision, variant, subnet):
    """The envfile variant's project on disk: compose.yaml, bench.env (env_file) and .env."""
    os.makedirs(project_dir, exist_ok=True)
    files = {"compose.yaml": json.dumps(definition(revision, variant, subnet), indent=2),
             "bench.env": "BENCH_FILE_SECRET=bench-envfile-value\n",
             ".env": "BENCH_DOTENV=bench-dotenv-value\n"}
    for name, content in files.items():
        with open(os.path.join(project_dir, name), "w", encoding="utf-8") as handle:
            handle.write(content)


def task(module, revision, workdir, variant="plain"):
    if module == "ping":
        return {"ansible.builtin.ping": {}}
    project = PROJECTS[module]
    project_dir = os.path.join(workdir, variant, project)
    if variant == "envfile":
        subnet = "172.29.%d.0/24" % (210 + sorted(PROJECTS).index(module))  # one per project
        write_project(project_dir, revision, variant, subnet)
        if module == "compose_stack":
            return {"colab.cluster.compose_stack": {"project_name": project, "project_src": project_dir}}
        return {"community.docker.docker_compose_v2": {
            "project_name": project, "project_src": project_dir, "state": "present"}}
    if module == "compose_stack":
        return {"colab.cluster.compose_stack": {
            "project_name": project, "project_dir": project_dir,
            "definition": definition(revision)}}
    return {"community.docker.docker_compose_v2": {
        "project_name": project, "definition": definition(revision), "state": "present"}}


def run(module, revision, check, workdir, variant="plain"):
    play = [{"name": "bench", "hosts": "localhost", "connection": "local", "gather_facts": False,
             "tasks": [dict(name="timed", check_mode=check, **task(module, revision, workdir, variant))]}]
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
    host = timed["hosts"]["localhost"]
    return seconds, wall, host.get("changed"), host.get("cost")


def _parse_time(stamp):
    return datetime.datetime.fromisoformat(stamp.rstrip("Z"))


def ensure_image():
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, check=False).returncode != 0:
        subprocess.run(["docker", "build", "-q", "-t", IMAGE, "--build-arg", "VERSION=1", DOCKERFILE_DIR], check=True)


def down():
    for project in PROJECTS.values():
        subprocess.run(["docker", "compose", "-p", project, "down", "--volumes"], capture_output=True, timeout=300,
                       check=False)


SCENARIOS = ("no-change", "check", "one-service")


def bench_variant(variant, rounds, workdir):
    times = {(m, s): [] for m in PROJECTS for s in SCENARIOS}
    walls = {(m, s): [] for m in PROJECTS for s in SCENARIOS}
    costs = {s: [] for s in SCENARIOS}  # compose_stack's own RV(cost): processes, API requests
    loads = []
    floor = []  # ansible.builtin.ping: Ansible's own per-task cost, paid by both modules
    down()
    try:
        revision = 0
        for module in PROJECTS:
            run(module, revision, False, workdir, variant)  # initial deploy, not timed
        for rnd in range(rounds):
            order = list(PROJECTS) if rnd % 2 == 0 else list(reversed(PROJECTS))
            for scenario in SCENARIOS:
                if scenario == "one-service":
                    revision += 1
                for module in order:
                    seconds, wall, changed, cost = run(module, revision, scenario == "check", workdir, variant)
                    if module == "compose_stack":
                        costs[scenario].append(cost or {})
                        loads.append(os.getloadavg()[0])
                    expected = scenario == "one-service"
                    if bool(changed) != expected:
                        sys.exit("%s %s %s: changed=%s, expected %s" % (variant, module, scenario, changed, expected))
                    times[(module, scenario)].append(seconds)
                    walls[(module, scenario)].append(wall)
            floor.append(run("ping", 0, False, workdir)[0])
    finally:
        down()
    base = statistics.median(floor)
    print("\nvariant %s (%d rounds, alternating order)" % (variant, rounds))
    print("%-12s %14s %14s %8s %9s %12s %7s %6s   %s"
          % ("scenario", "compose_stack", "compose_v2", "ratio", "above fl.", "above ratio", "spawns", "api",
             "(median task seconds; wall)"))
    for scenario in SCENARIOS:
        ours = statistics.median(times[("compose_stack", scenario)])
        theirs = statistics.median(times[("docker_compose_v2", scenario)])
        wall_ours = statistics.median(walls[("compose_stack", scenario)])
        wall_theirs = statistics.median(walls[("docker_compose_v2", scenario)])
        spawns = max((c.get("spawns", -1) for c in costs[scenario]), default=-1)
        api = max((c.get("api_calls", -1) for c in costs[scenario]), default=-1)
        print("%-12s %13.3fs %13.3fs %8.2f %8.3fs %12.2f %7d %6d   wall %.2fs vs %.2fs"
              % (scenario, ours, theirs, ours / theirs, ours - base, (ours - base) / (theirs - base),
                 spawns, api, wall_ours, wall_theirs))
    print("Ansible per-task floor (ansible.builtin.ping): %.3fs; 1-min load during the timed runs: median %.2f, "
          "max %.2f; load average now %.2f %.2f %.2f"
          % ((base, statistics.median(loads), max(loads)) + os.getloadavg()))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--variant", choices=["plain", "envfile", "both"], default="both")
    args = parser.parse_args()
    ensure_image()
    print("load average at start: %.2f %.2f %.2f; Compose %s" % (os.getloadavg() + (subprocess.run(
        ["docker", "compose", "version", "--short"], capture_output=True, text=True, check=False).stdout.strip(),)))
    with tempfile.TemporaryDirectory(prefix="colab-bench-compose-") as workdir:
        for variant in (["plain", "envfile"] if args.variant == "both" else [args.variant]):
            bench_variant(variant, args.rounds, workdir)
    print("goal (issue 12): no-change above-floor ratio <= 0.35 on both variants, whole task <= 0.6")


if __name__ == "__main__":
    main()

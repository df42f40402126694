"""Site no-op benchmark: the lab's second converge over ssh against its floor.

1. (unless --no-warmup) converge the lab once, so the measured run is the second one;
2. converge again (the measured no-op run) with ansible.posix.profile_tasks and
   ansible.posix.profile_roles (time per task and per role) and a recorder
   (callback_plugins/colab_bench_site.py) that counts, per play and host, the task
   results PLAY RECAP counts (ok + failed: tasks that were not skipped);
3. run the floor: a generated playbook with, per play of the converge, the same hosts and
   the same number of task results per host, each an `ansible.builtin.ping`, over the
   same inventory and connection (ssh as colab, become), with the same callbacks;
4. print both wall times, their ratio, the load average before and after, the converge's
   time per role and its slowest tasks.

Usage (from the repository root, the lab up and converged; the lab is shared, so):
    flock /tmp/colab-lab.lock .venv/bin/python bench/site/run.py [--no-warmup] [--top 25]
Logs and the floor playbook are kept in .cache/bench-site/.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BIN = os.path.join(ROOT, ".venv", "bin")
OUT = os.path.join(ROOT, ".cache", "bench-site")
CALLBACKS = "ansible.posix.profile_tasks,ansible.posix.profile_roles,colab_bench_site"


def load():
    return "%.2f %.2f %.2f" % os.getloadavg()


def playbook(path, name, timeout=1800):
    """Run one ansible-playbook over the lab inventory; (wall seconds, output, record)."""
    os.makedirs(OUT, exist_ok=True)
    record = os.path.join(OUT, f"{name}.json")
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_FORCE_COLOR="0", NO_COLOR="1",
               PATH=BIN + os.pathsep + os.environ.get("PATH", ""),
               ANSIBLE_CALLBACKS_ENABLED=CALLBACKS,
               ANSIBLE_CALLBACK_PLUGINS=os.path.join(HERE, "callback_plugins"),
               PROFILE_TASKS_TASK_OUTPUT_LIMIT="all", PROFILE_TASKS_SORT_ORDER="descending",
               COLAB_BENCH_SITE_OUT=record)
    start = time.monotonic()
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", "inventory/lab", path],
                          cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout, check=False)
    wall = time.monotonic() - start
    with open(os.path.join(OUT, f"{name}.log"), "w", encoding="utf-8") as fh:
        fh.write(proc.stdout)
    if proc.returncode != 0:
        sys.exit(f"bench: {name} failed (rc={proc.returncode}); see {OUT}/{name}.log")
    with open(record, encoding="utf-8") as fh:
        return wall, proc.stdout, json.load(fh)


def floor_playbook(record):
    """Per play of the converge: the same hosts, the same number of results per host,
    each a ping. A host with fewer results than the play's most skips the rest."""
    plays = []
    for index, play in enumerate(record["plays"]):
        counts = play["hosts"]
        most = max(counts.values())
        tasks = []
        for i in range(most):
            task = {"name": f"ping {i + 1}", "ansible.builtin.ping": {}}
            short = [h for h, n in counts.items() if n <= i]
            if short:
                task["when"] = f"inventory_hostname not in {short!r}"
            tasks.append(task)
        plays.append({"name": f"floor of play {index + 1}: {play['name']}",
                      "hosts": ",".join(sorted(counts)) + ",", "gather_facts": False,
                      "tasks": tasks})
    path = os.path.join(OUT, "floor.yml")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(plays, fh, indent=1)  # JSON is YAML
    return path


def profile_sections(text):
    """(roles, tasks): the ROLES RECAP of profile_roles and the TASKS RECAP of
    profile_tasks, as [(name, seconds)] in the order printed."""
    sections = {}
    current = None
    for line in text.split("PLAY RECAP", 1)[-1].splitlines():
        header = re.match(r"^(TASKS|ROLES) RECAP \*+", line)
        if header:
            current = sections.setdefault(header.group(1), [])
            continue
        match = re.match(r"^(.*?) -+ (\d+\.\d+)s\s*$", line)
        if current is not None and match and match.group(1).strip() != "total":
            current.append((match.group(1).strip(), float(match.group(2))))
    return sections.get("ROLES", []), sections.get("TASKS", [])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-warmup", action="store_true",
                        help="the lab was just converged: measure the next run directly")
    parser.add_argument("--top", type=int, default=25, help="slowest tasks to print")
    args = parser.parse_args(argv)
    if not args.no_warmup:
        print("bench: warm-up converge (the measured run is the second one)", flush=True)
        playbook("site.yml", "warmup")
    before = load()
    wall, text, record = playbook("site.yml", "converge")
    changed = {h: r["changed"] for h, r in record["recap"].items()}
    if any(changed.values()):
        sys.exit(f"bench: the measured converge is not a no-op: changed {changed}")
    middle = load()
    floor_wall, _floor_text, floor_record = playbook(floor_playbook(record), "floor")
    after = load()
    results = {h: sum(p["hosts"].get(h, 0) for p in record["plays"]) for h in record["recap"]}
    floor_results = {h: sum(p["hosts"].get(h, 0) for p in floor_record["plays"])
                     for h in floor_record["recap"]}
    assert floor_results == results, (floor_results, results)
    roles, tasks = profile_sections(text)
    print(f"\nsite no-op converge over ssh ({datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
          f"{os.cpu_count()} cores)")
    print(f"  task results per host: {results} in {len(record['plays'])} plays, changed=0")
    print(f"  converge: {wall:6.1f} s wall   load before {before}")
    print(f"  floor:    {floor_wall:6.1f} s wall   load before {middle}, after {after}")
    print(f"  ratio converge/floor: {wall / floor_wall:.2f}x   (goal <= 1.5x and <= 25 s idle)")
    print("\n  per role (profile_roles):")
    for name, secs in sorted(roles, key=lambda r: -r[1]):
        print(f"    {secs:6.2f} s  {name}")
    print(f"\n  slowest tasks (profile_tasks, top {args.top}):")
    for name, secs in tasks[:args.top]:
        print(f"    {secs:6.2f} s  {name}")
    print("\n  results by action:", ", ".join(f"{a}={n}" for a, n in record["actions"].items()))
    print(f"  logs: {os.path.relpath(OUT, ROOT)}/{{warmup,converge,floor}}.log")
    return 0


if __name__ == "__main__":
    sys.exit(main())

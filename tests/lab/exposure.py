"""Where lab secrets could leak during a converge: every process's argv, sampled.

ArgvSampler samples /proc/*/cmdline every 100 ms on the controller (a thread of the test
process) and inside each lab node (a small python3 loop started with `docker exec -d`,
writing each new command line once to a file under /run). Nested containers' processes
are children of the node's PID namespace, so the node's /proc shows them too.
"""
from __future__ import annotations

import json
import os
import subprocess
import threading
import time

from tests.helpers import lab_seed

NODE_LOG = "/run/colab-argv-samples.log"
NODE_STOP = "/run/colab-argv-samples.stop"
NODE_SCRIPT = r"""
import os, sys, time
out, stop = sys.argv[1], sys.argv[2]
seen = set()
with open(out, "a", encoding="utf-8") as fh:
    while not os.path.exists(stop):
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as cf:
                    raw = cf.read()
            except OSError:
                continue
            if raw and raw not in seen:
                seen.add(raw)
                fh.write(raw.replace(b"\0", b" ").decode("utf-8", "replace") + "\n")
                fh.flush()
        time.sleep(0.1)
"""


def read_cmdlines():
    found = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                raw = fh.read()
        except OSError:
            continue
        if raw:
            found.add(raw.replace(b"\0", b" ").decode("utf-8", "replace"))
    return found


class ArgvSampler:
    def __init__(self, containers, interval=0.1):
        self.containers = list(containers)
        self.interval = interval
        self.controller = set()
        self.nodes = {}
        self._stop = threading.Event()
        self._thread = None

    def _loop(self):
        while not self._stop.is_set():
            self.controller |= read_cmdlines()
            time.sleep(self.interval)

    def start(self):
        for name in self.containers:
            subprocess.run(["docker", "exec", name, "rm", "-f", NODE_LOG, NODE_STOP],
                           capture_output=True, check=False, timeout=60)
            subprocess.run(["docker", "exec", "-d", name, "python3", "-c", NODE_SCRIPT, NODE_LOG,
                            NODE_STOP], capture_output=True, check=True, timeout=60)
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        for name in self.containers:
            subprocess.run(["docker", "exec", name, "touch", NODE_STOP], capture_output=True,
                           check=False, timeout=60)
            time.sleep(0.3)
            res = subprocess.run(["docker", "exec", name, "cat", NODE_LOG], capture_output=True,
                                 text=True, check=False, timeout=60)
            self.nodes[name] = set(res.stdout.splitlines())
            subprocess.run(["docker", "exec", name, "rm", "-f", NODE_LOG, NODE_STOP],
                           capture_output=True, check=False, timeout=60)
        return self

    def save(self, path):
        with open(path, "w", encoding="utf-8") as fh:
            json.dump({"controller": sorted(self.controller),
                       "nodes": {k: sorted(v) for k, v in self.nodes.items()}}, fh, indent=1)


def lab_secret_values():
    """{(path, name): value} of every secret the lab store holds, plus the identity's secret."""
    seed = lab_seed()
    values = {}
    for project in seed["projects"].values():
        for env in project["environments"].values():
            for path, folder in env["folders"].items():
                for name, value in folder["secrets"].items():
                    value = value["value"] if isinstance(value, dict) else value
                    if not name.endswith("_USERNAME") and isinstance(value, str) and len(value) >= 8:
                        values[(path, name)] = value
    for identity in seed.get("identities", []):
        if identity.get("clientSecret"):
            values[("identity", identity.get("clientId", "?"))] = identity["clientSecret"]
    return values

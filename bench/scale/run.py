"""Scale benchmark (issue 17.4): preflight + base layer on 2 and on 20 simulated hosts.

The hosts are lightweight containers made here (the lab's node image with the base
packages added, sshd run directly, no systemd) on their own internal docker network
(colab-bench-scale, --internal: they reach nothing but each other and this machine). The
playbooks are the project's own (playbooks/preflight.yml, playbooks/base.yml), over ssh
as the admin user colab with become, host keys pinned, forks=10, with the lab's group
variables. Every host is in gitea_servers, so the preflight reads /gitea for each host
(the secret rows): through the lookup's broker that is 1 login + 1 list for the whole
run, which this script reads from the secret store's own counters.

The secret store is a private instance of the lab's (lab/secret_store.py, its own
state under .cache/bench-scale/lab/infisical, its own port), so a lab test running at
the same time cannot disturb the counts. Nothing here touches the lab (colab-lab-*).

Usage (from the repository root; the machine's load is printed, the machine is shared):
    .venv/bin/python bench/scale/run.py [--hosts 20] [--small 2] [--forks 10] [--keep]
Prints, per run: wall seconds, requests at the store by route, lists per path; then the
ratio of the wall times and the load average before and after. Exits 1 when the request
counts are not 1 login + 1 list per path. Logs in .cache/bench-scale/.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BIN = os.path.join(ROOT, ".venv", "bin")
OUT = os.path.join(ROOT, ".cache", "bench-scale")
STATE = os.path.join(OUT, "lab")  # lab_state_dir of the simulated hosts
NETWORK, SUBNET, PREFIX = "colab-bench-scale", "172.31.253.0/24", "172.31.253."
BASE_IMAGE = "colab/debian-systemd:trixie-ssh"  # lab/lab.py makes it (`make lab-up`)
IMAGE = "colab/bench-scale-node:1"
NAME = "colab-bench-scale-%02d"
PATHS = ["/gitea"]  # the paths the preflight reads for these hosts (gitea_servers)

_spec = importlib.util.spec_from_file_location("colab_bench_secret_store",
                                               os.path.join(ROOT, "lab", "secret_store.py"))
store = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(store)


def load():
    return "%.2f %.2f %.2f" % os.getloadavg()


def sh(*cmd, check=True, timeout=600, **kw):
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, check=check, **kw)


def ensure_image():
    if sh("docker", "image", "inspect", IMAGE, check=False).returncode == 0:
        return
    if sh("docker", "image", "inspect", BASE_IMAGE, check=False).returncode != 0:
        sys.exit(f"bench: {BASE_IMAGE} is missing: `python3 lab/lab.py up` builds it")
    # the base role's packages preinstalled and the apt lists kept, so the base layer's
    # apt task runs (and is measured) without the archive: the network is internal
    dockerfile = (f"FROM {BASE_IMAGE}\n"
                  "RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "
                  "--no-install-recommends python3-apt ca-certificates curl gnupg iproute2 sudo "
                  "&& touch /var/lib/apt/periodic/update-success-stamp\n")
    print(f"bench: building {IMAGE} from {BASE_IMAGE} (once)", flush=True)
    subprocess.run(["nice", "-n", "19", "docker", "build", "-t", IMAGE, "-"], input=dockerfile, text=True,
                   check=True, timeout=1200, stdout=subprocess.DEVNULL)


def ensure_keys():
    ssh = os.path.join(OUT, "ssh")
    os.makedirs(ssh, mode=0o700, exist_ok=True)
    for name in ("id_ed25519", "host_ed25519"):
        if not os.path.exists(os.path.join(ssh, name)):
            sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"colab-bench-scale-{name}",
               "-f", os.path.join(ssh, name))
    with open(os.path.join(ssh, "host_ed25519.pub"), encoding="utf-8") as fh:
        host_pub = " ".join(fh.read().split()[:2])
    with open(os.path.join(ssh, "known_hosts"), "w", encoding="utf-8") as fh:
        fh.write(f"{PREFIX}* {host_pub}\n")  # one host key for the simulated hosts, pinned
    return ssh


def up(count, ssh):
    if sh("docker", "network", "inspect", NETWORK, check=False).returncode != 0:
        sh("docker", "network", "create", "--internal", "--subnet", SUBNET, NETWORK)
    start = ("set -e; install -m 0600 /bench/host_ed25519 /etc/ssh/ssh_host_ed25519_key; "
             "install -o colab -g colab -m 0600 /bench/id_ed25519.pub /home/colab/.ssh/authorized_keys; "
             "mkdir -p /run/sshd; exec /usr/sbin/sshd -D -e")
    for i in range(1, count + 1):
        name = NAME % i
        if sh("docker", "container", "inspect", name, check=False).returncode == 0:
            continue
        sh("docker", "run", "-d", "--name", name, "--hostname", f"sim{i:02d}", "--network", NETWORK,
           "--ip", f"{PREFIX}{10 + i}", "--tmpfs", "/run", "--tmpfs", "/tmp",
           "-v", f"{ssh}:/bench:ro", "--label", "colab.bench=scale", "--entrypoint", "/bin/sh",
           IMAGE, "-c", start)
    deadline = time.monotonic() + 60
    for i in range(1, count + 1):
        while sh("docker", "exec", NAME % i, "sh", "-c", "test -e /run/sshd.pid", check=False).returncode:
            if time.monotonic() > deadline:
                sys.exit(f"bench: sshd did not start in {NAME % i}: {sh('docker', 'logs', NAME % i).stderr}")
            time.sleep(0.2)


def down(count):
    for i in range(1, count + 1):
        sh("docker", "rm", "-f", NAME % i, check=False)
    sh("docker", "network", "rm", NETWORK, check=False)


def inventory(count, ssh):
    """An inventory directory with the lab's group variables, the hosts in linux and
    gitea_servers, and the connection the lab uses (ssh as colab, become, pinned keys)."""
    path = os.path.join(OUT, f"inventory-{count}")
    os.makedirs(os.path.join(path, "group_vars"), exist_ok=True)
    for name in ("all", "linux.yml", "gitea_servers.yml"):
        link = os.path.join(path, "group_vars", name)
        if not os.path.islink(link):
            os.symlink(os.path.join(ROOT, "inventory", "lab", "group_vars", name), link)
    wiring = os.path.join(path, "wiring.yml")  # the cluster facts -> role variables, as the lab's
    if not os.path.islink(wiring):
        os.symlink(os.path.join(ROOT, "inventory", "common", "wiring.yml"), wiring)
    hosts = {f"sim{i:02d}": {"ansible_host": f"{PREFIX}{10 + i}", "colab_lan_ip": f"{PREFIX}{10 + i}"}
             for i in range(1, count + 1)}
    doc = {"all": {"children": {"linux": {"hosts": hosts},
                                "gitea_servers": {"hosts": {h: None for h in hosts}}}}}
    with open(os.path.join(path, "hosts.yml"), "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1)  # JSON is YAML
    extra = {"lab_state_dir": STATE,
             "ansible_ssh_private_key_file": os.path.join(ssh, "id_ed25519"),
             "ansible_ssh_common_args": f"-o UserKnownHostsFile={ssh}/known_hosts "
                                        "-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes"}
    with open(os.path.join(path, "extra.json"), "w", encoding="utf-8") as fh:
        json.dump(extra, fh)
    return path


def run(count, ssh, forks):
    inv = inventory(count, ssh)
    store.clear(base=STATE)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               NO_COLOR="1", PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    env.pop("COLAB_INFISICAL_CLIENT_ID", None)
    env.pop("COLAB_INFISICAL_CLIENT_SECRET", None)
    argv = [os.path.join(BIN, "ansible-playbook"), "-i", inv, "-e", "@" + os.path.join(inv, "extra.json"),
            "-f", str(forks), "playbooks/preflight.yml", "playbooks/base.yml"]
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=3600, check=False)
    wall = time.monotonic() - start
    log = os.path.join(OUT, f"run-{count}.log")
    with open(log, "w", encoding="utf-8") as fh:
        fh.write(proc.stdout)
    if proc.returncode != 0:
        sys.exit(f"bench: the {count}-host run failed (rc={proc.returncode}); see {log}")
    return wall, store.counts(base=STATE)


def check_counts(counts):
    """[] when the store saw 1 login and 1 list per path; else the problems."""
    req, lists = counts["requests"], counts["lists"]
    problems = []
    if req.get("POST /api/v1/auth/universal-auth/login", 0) != 1:
        problems.append(f"logins: {req.get('POST /api/v1/auth/universal-auth/login', 0)} (want 1)")
    for path in PATHS:
        seen = sum(n for key, n in lists.items() if key.endswith(":" + path))
        if seen != 1:
            problems.append(f"lists of {path}: {seen} (want 1)")
    known = ("POST /api/v1/auth/universal-auth/login", "GET /api/v4/secrets", "GET /api/v3/secrets/raw")
    other = {k: n for k, n in req.items() if k not in known}
    if other:
        problems.append(f"other requests: {other}")
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--small", type=int, default=2)
    parser.add_argument("--forks", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the containers and network")
    args = parser.parse_args(argv)
    os.makedirs(OUT, exist_ok=True)
    ensure_image()
    ssh = ensure_keys()
    store.ensure(base=STATE, port=0)
    for src in ("ssot",):  # what the lab's group variables read besides the store
        if os.path.isdir(os.path.join(ROOT, ".lab", src)) and not os.path.exists(os.path.join(STATE, src)):
            subprocess.run(["cp", "-a", os.path.join(ROOT, ".lab", src), STATE], check=True)
    load_before = load()
    try:
        up(args.hosts, ssh)
        results = {}
        for count in (args.small, args.hosts):
            results[count] = run(count, ssh, args.forks)
    finally:
        if not args.keep:
            down(args.hosts)
        store.stop(base=STATE, quiet=True)
    load_after = load()
    failed = False
    for count, (wall, counts) in results.items():
        problems = check_counts(counts)
        failed = failed or bool(problems)
        print(f"{count:>3} hosts, forks {args.forks}: {wall:6.1f} s wall; store requests "
              f"{json.dumps(counts['requests'], sort_keys=True)}; lists {json.dumps(counts['lists'], sort_keys=True)}"
              f"{'; PROBLEMS: ' + '; '.join(problems) if problems else ''}")
    small, big = results[args.small][0], results[args.hosts][0]
    print(f"ratio {args.hosts}/{args.small} hosts: {big / small:.2f}x (goal <= 2x)")
    print(f"load average (1/5/15 min) before {load_before}, after {load_after}; {os.cpu_count()} cores")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

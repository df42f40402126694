"""The colab.cluster lab: the cluster's Linux nodes as local systemd containers.

Run with the machine's python3 (standard library only, so it works before the
project's virtualenv exists):

    python3 lab/lab.py host       # the Debian packages the setup needs (python3-venv, ...)
    python3 lab/lab.py engine     # a Docker engine answers, Compose V2 is installed
    python3 lab/lab.py image      # the Debian 13 systemd base image exists (built once)
    python3 lab/lab.py up         # all of the above + the node image, network and nodes
    python3 lab/lab.py summary    # what runs where after a converge, how to ssh in
    python3 lab/lab.py down       # remove every lab container, volume and network
    python3 lab/lab.py guard-units        # a mesh node's no-leak guard units (JSON)
    python3 lab/lab.py dns-query NAME IP  # NAME's A records from the DNS server at IP (JSON)

The nodes are reached the way the real ones are: over ssh, as the unprivileged admin
user `colab`, with `become` (sudo). Each lab has its own client key and host keys under
.lab/ssh/ (id_ed25519, known_hosts: the host keys are made here and installed into the
nodes, so they are pinned before the first connection and host key checking stays on).
`docker exec` is used only to make a node and install those keys (bootstrap).

Every step checks before it acts, so a second call changes nothing. A setup problem
(no engine and none can be started, no disk space, a package apt cannot install)
ends the run with a one-line reason and a non-zero exit.
"""
# The lab is run on the controller with python3; it is not shipped as a plugin.
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import inspect
import io
import json
import os
import re
import shutil
import subprocess
import shlex
import socket
import ssl
import struct
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
STATE_DIR = os.path.join(ROOT, ".lab")

BASE_IMAGE = os.environ.get("LAB_BASE_IMAGE", "colab/debian-systemd:trixie")
SUITE = "trixie"
MIRROR = os.environ.get("LAB_DEBIAN_MIRROR", "http://deb.debian.org/debian")
BASE_PACKAGES = "python3,systemd,systemd-sysv,dbus,iproute2,procps,sudo,ca-certificates"
# The lab nodes' image: the base image + OpenSSH server + the admin user (lab/images/node).
# Molecule scenarios keep using BASE_IMAGE.
NODE_IMAGE = os.environ.get("LAB_NODE_IMAGE", "colab/debian-systemd:trixie-ssh")
NODE_IMAGE_CONTEXT = os.path.join(HERE, "images", "node")
# The cooperator node's image: the node image unless told otherwise (lab/arm64.py sets an
# emulated arm64 build here for `make lab LAB_COOPERATOR_ARCH=arm64`).
COOPERATOR_IMAGE = os.environ.get("LAB_COOPERATOR_IMAGE", "") or NODE_IMAGE
# LAB_COOPERATOR_ARCH=arm64 (the Makefile exports it): cooperator runs emulated, so its
# container gets the CPU weight of a nice -n 19 process (cpu.shares 15: the kernel's CFS
# weight for nice 19 against 1024 for nice 0, sched_prio_to_weight). Every process in it,
# the ones `docker exec` starts for Ansible included, shares the container's cgroup, which
# a `nice` on the controller never reaches: other work on the machine keeps the CPU.
COOPERATOR_ARCH = os.environ.get("LAB_COOPERATOR_ARCH", "")
EMULATED_RUN_ARGS = ["--cpu-shares", "15"]
ADMIN_USER = "colab"
ADMIN_UID = 900  # lab/images/node/Dockerfile
SSH_TIMEOUT = 10
# What `make lab` / `make test` need on the machine itself, by the command that must be
# found: installed from Debian when missing (python3-venv: see ensure_host).
HOST_TOOLS = {
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "git": "git",
    "openssl": "openssl",
}
# Compose V2 comes from Debian's sid suite (2.40.x, the version the seed pins).
COMPOSE_SUITE = os.environ.get("LAB_COMPOSE_SUITE", "sid")
COMPOSE_PLUGIN_DIR = "/usr/local/lib/docker/cli-plugins"
MIN_FREE_GIB = 8

NETWORK = "colab-lab"
SUBNET = "172.31.254.0/24"
GATEWAY = "172.31.254.1"
# The Linux nodes of the seed; the last octet mirrors the seed's LAN addresses.
NODES = {
    "cooperator": {"ip": "172.31.254.10", "image": COOPERATOR_IMAGE,
                   **({"run_args": EMULATED_RUN_ARGS} if COOPERATOR_ARCH else {})},
    "director": {"ip": "172.31.254.30", "image": NODE_IMAGE},
}
NOT_IN_LAB = {
    "projector": "Windows + WSL2 over WinRM: no Windows host can run here",
    "terminator": "macOS: no macOS host can run here",
}
# Flags measured to run systemd in a container on these machines (no --privileged),
# plus what a nested Docker engine needs.
SYSTEMD_FLAGS = [
    "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN", "--cap-add", "NET_RAW",
    "--cap-add", "MKNOD",
    # The nested engine execs into containers whose PID 1 is not root (health checks).
    "--cap-add", "SYS_PTRACE",
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    # The nested engine (Docker 26) disables IPv6 on its containers' interfaces through
    # /proc/sys, which Docker mounts read-only unless told otherwise.
    "--security-opt", "systempaths=unconfined",
    "--cgroupns=host", "--stop-signal", "SIGRTMIN+3",
    "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
    "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
]
# tailscaled's kernel TUN (NET_ADMIN is above): the device where this machine has it
# (measured here 2026-12-05; ENVIRONMENT.md). Without it tailscaled runs in userspace
# networking instead, a reason written to .lab/mesh/tun (read by inventory/lab), never silently.
TUN_DEVICE = "/dev/net/tun"
# The tailnet's ranges (tailscale's CGNAT range and its ULA, net/tsaddr@v1.104.7) are made
# unreachable in every node's main routing table before tailscaled first starts: tailscale's
# own table 52 (consulted first, ip rule 5270) outranks it, so tailnet traffic flows while
# tailscaled is up, and nothing for those ranges ever leaves through the docker bridge.
TAILNET_RANGES = ("100.64.0.0/10", "fd7a:115c:a1e0::/48")
TAILNET_GUARD_UNIT = "colab-lab-tailnet-guard.service"
TAILNET_GUARD = f"""[Unit]
Description=colab lab: the tailnet ranges are unreachable through the docker bridge
DefaultDependencies=no
Before=network-pre.target tailscaled.service
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/sbin/ip -4 route replace unreachable {TAILNET_RANGES[0]}
ExecStart=-/sbin/ip -6 route replace unreachable {TAILNET_RANGES[1]}

[Install]
WantedBy=multi-user.target
"""


# tailscaled's bootstrap-DNS servers (lab/gobuild.py fallback_servers: the fixed addresses in
# its own module at the pinned version) are unreachable in every node, before tailscaled
# starts: whenever a dial to the control URL fails (the edge restarting, cooperator made
# anew), tailscaled asks them, and nothing in tailscaled turns that off. The connect then
# fails inside the node (EHOSTUNREACH): no packet leaves for the internet.
DERP_GUARD_UNIT = "colab-lab-derp-guard.service"


def derp_guard(addresses):
    """The unit text making `addresses` (IPv4 first, then IPv6) unreachable."""
    v4 = " ".join(a for a in addresses if ":" not in a)
    v6 = " ".join(a for a in addresses if ":" in a)
    lines = ["[Unit]",
             "Description=colab lab: tailscaled's bootstrap-DNS servers are unreachable",
             "DefaultDependencies=no", "Before=network-pre.target tailscaled.service",
             "Wants=network-pre.target", "", "[Service]", "Type=oneshot", "RemainAfterExit=yes",
             f"ExecStart=/bin/sh -ec 'for a in {v4}; do /sbin/ip -4 route replace unreachable $a/32; done'"]
    if v6:
        lines.append(f"ExecStart=-/bin/sh -c 'for a in {v6}; do /sbin/ip -6 route replace unreachable $a/128; done'")
    lines += ["", "[Install]", "WantedBy=multi-user.target", ""]
    return "\n".join(lines)


def ensure_derp_guard(host, addresses):
    """The DERP guard unit in the node, (re)applied when its text changed; checked."""
    name = f"colab-lab-{host}"
    text = derp_guard(addresses)
    path = f"/etc/systemd/system/{DERP_GUARD_UNIT}"
    have = subprocess.run(["docker", "exec", name, "cat", path], capture_output=True, text=True,
                          check=False, timeout=60).stdout
    if have != text:
        run(["docker", "exec", "-i", name, "sh", "-c", f"cat > {path}"], input_data=text.encode(),
            timeout=60)
        run(["docker", "exec", name, "systemctl", "daemon-reload"], timeout=60)
        run(["docker", "exec", name, "systemctl", "enable", "--quiet", DERP_GUARD_UNIT], timeout=60)
        run(["docker", "exec", name, "systemctl", "restart", DERP_GUARD_UNIT], timeout=120)
    else:
        run(["docker", "exec", name, "systemctl", "enable", "--now", "--quiet", DERP_GUARD_UNIT],
            timeout=120)
    first = next(a for a in addresses if ":" not in a)
    # `ip route get` of an unreachable destination fails: "RTNETLINK answers: No route to host"
    route = run(["docker", "exec", name, "ip", "-4", "route", "get", first], timeout=60, check=False)
    if route.returncode == 0:
        raise LabError(f"node {host}: {first} is still routed after {DERP_GUARD_UNIT}: "
                       f"{route.stdout.strip()}")


def tun_mode():
    """('tun', '') where kernel TUN can be given to the nodes, else ('userspace', reason)."""
    if not os.path.exists(TUN_DEVICE):
        return "userspace", f"{TUN_DEVICE} does not exist on this machine"
    return "tun", ""


def node_flags():
    mode, _why = tun_mode()
    return SYSTEMD_FLAGS + (["--device", TUN_DEVICE] if mode == "tun" else [])


class LabError(Exception):
    """A setup problem, reported as one line."""


def log(msg):
    print(f"lab: {msg}", flush=True)


def run(cmd, check=True, capture=True, timeout=600, input_data=None, env=None):
    try:
        proc = subprocess.run(
            cmd, check=False, timeout=timeout, input=input_data, env=env,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE if capture else None,
            text=input_data is None or isinstance(input_data, str),
        )
    except FileNotFoundError as exc:
        raise LabError(f"command not found: {cmd[0]}") from exc
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"timed out after {timeout}s: {' '.join(cmd)}") from exc
    if check and proc.returncode != 0:
        err = (proc.stderr or proc.stdout or "").strip().splitlines() if capture else []
        tail = err[-1] if err else f"exit code {proc.returncode}"
        raise LabError(f"{' '.join(cmd[:3])} failed: {tail}")
    return proc


def docker_answers(timeout=10):
    if not shutil.which("docker"):
        return False
    try:
        proc = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              timeout=timeout, check=False, text=True)
    except subprocess.TimeoutExpired:
        return False
    return proc.returncode == 0 and proc.stdout.strip() != ""


def apt_install(packages):
    """Install Debian packages that are missing; one-line error when apt cannot."""
    missing = []
    for pkg in packages:
        proc = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], check=False,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if "install ok installed" not in proc.stdout:
            missing.append(pkg)
    if not missing:
        return
    if os.geteuid() != 0:
        raise LabError(f"packages missing ({', '.join(missing)}) and not root to install them")
    log(f"installing {', '.join(missing)} from Debian")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update", "-qq"], env=env, timeout=600)
    proc = run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
               check=False, env=env, timeout=1200)
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.startswith("E:")]
        raise LabError(f"apt-get could not install {', '.join(missing)}: "
                       f"{lines[-1] if lines else 'exit code %d' % proc.returncode}")


def check_disk(path=None, need_gib=MIN_FREE_GIB):
    path = path or ("/var/lib/docker" if os.path.isdir("/var/lib/docker") else "/")
    free = shutil.disk_usage(path).free / 2**30
    if free < need_gib:
        raise LabError(f"only {free:.1f} GiB free on {path}; the lab needs {need_gib} GiB")


# --- the machine itself -------------------------------------------------------------

def venv_works(python=None):
    """Whether `python -m venv` can make a virtualenv with pip. Debian's python3 cannot
    until python3-venv is installed (it holds ensurepip's wheels); a pyenv build can."""
    python = python or sys.executable
    work = tempfile.mkdtemp(prefix="colab-venv-probe-")
    try:
        proc = subprocess.run([python, "-m", "venv", "--without-pip", os.path.join(work, "v")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              check=False, timeout=120)
        if proc.returncode != 0:
            return False
        # ensurepip.version() finds pip's wheel (or raises) on 3.11 to 3.13; its helper
        # _get_packages, probed here before, is gone from 3.12 on.
        probe = subprocess.run([os.path.join(work, "v", "bin", "python"), "-c",
                                "import ensurepip; ensurepip.version()"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               check=False, timeout=60)
        return probe.returncode == 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def missing_host_packages():
    return sorted({pkg for cmd, pkg in HOST_TOOLS.items() if not shutil.which(cmd)})


def ensure_host(python=None):
    """The Debian packages `make lab` and `make test` need, installed when missing."""
    missing = missing_host_packages()
    if not venv_works(python):
        missing.append("python3-venv")
    if missing:
        apt_install(missing)
    if not venv_works(python):
        raise LabError(f"{python or sys.executable} -m venv still cannot make a virtualenv "
                       "with pip after installing python3-venv")
    log("host packages present")


# --- engine -----------------------------------------------------------------------

def ensure_engine():
    check_disk("/")
    if docker_answers():
        log("docker engine answers")
    else:
        if not shutil.which("dockerd"):
            apt_install(["docker.io"])
        if not shutil.which("dockerd"):
            raise LabError("dockerd is not installed and apt did not provide it")
        log("starting dockerd (log: /var/log/dockerd.log)")
        with open("/var/log/dockerd.log", "ab") as out:
            subprocess.Popen(["dockerd"], stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        deadline = time.monotonic() + 90
        while not docker_answers(timeout=5):
            if time.monotonic() > deadline:
                raise LabError("dockerd did not answer within 90s: see /var/log/dockerd.log")
            time.sleep(1)
        log("docker engine started")
    ensure_compose()


def compose_version():
    proc = subprocess.run(["docker", "compose", "version", "--short"], check=False,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def ensure_compose():
    version = compose_version()
    if version.lstrip("v").startswith("2."):
        log(f"compose {version} present")
        return
    install_compose_plugin(COMPOSE_SUITE, COMPOSE_PLUGIN_DIR)
    version = compose_version()
    if not version.lstrip("v").startswith("2."):
        raise LabError("docker compose version does not answer after installing the plugin")
    log(f"compose {version} installed")


def download_deb(suite, package, work):
    """Download Debian <suite>'s <package> .deb into <work> with a private apt state (the
    host's apt sources stay untouched); return its path. Nothing is installed."""
    base = os.path.join("/var/cache/colab-lab/apt", suite)
    for sub in ("lists/partial", "archives/partial", "etc/sources.list.d", "etc/preferences.d"):
        os.makedirs(os.path.join(base, sub), exist_ok=True)
    with open(os.path.join(base, "etc/sources.list"), "w", encoding="utf-8") as fh:
        fh.write(f"deb {MIRROR} {suite} main\n")
    opts = [
        "-o", f"Dir::Etc::SourceList={base}/etc/sources.list",
        "-o", f"Dir::Etc::SourceParts={base}/etc/sources.list.d",
        "-o", f"Dir::Etc::Preferences={base}/etc/preferences",
        "-o", f"Dir::Etc::PreferencesParts={base}/etc/preferences.d",
        "-o", f"Dir::State::Lists={base}/lists",
        "-o", f"Dir::Cache::Archives={base}/archives",
        "-o", f"Dir::Cache={base}",
        "-o", "Acquire::Retries=3",
    ]
    run(["apt-get", *opts, "update", "-qq"], timeout=600)
    proc = subprocess.run(["apt-get", *opts, "download", package], cwd=work,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=600, check=False)
    if proc.returncode != 0:
        raise LabError(f"apt could not download {package} from Debian "
                       f"{suite}: {proc.stderr.strip().splitlines()[-1:]}")
    debs = [f for f in os.listdir(work) if f.startswith(f"{package}_") and f.endswith(".deb")]
    if not debs:
        raise LabError(f"apt downloaded no {package} package")
    return os.path.join(work, debs[0])


def install_deb_file(suite, package, member, target):
    """Put one file of Debian <suite>'s <package> (``member``, a path inside the .deb) at
    ``target``, executable, replaced atomically. The .deb is fetched with a private apt
    state (download_deb) and unpacked with dpkg-deb; nothing else of it is installed."""
    work = tempfile.mkdtemp(prefix=f"colab-{package}-")
    try:
        deb = download_deb(suite, package, work)
        run(["dpkg-deb", "-x", deb, os.path.join(work, "x")])
        path = os.path.join(work, "x", member)
        if not os.path.exists(path):
            raise LabError(f"{os.path.basename(deb)} holds no {member}")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(path, target + ".new")
        os.chmod(target + ".new", 0o755)
        os.replace(target + ".new", target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def install_compose_plugin(suite, dest_dir):
    """Put Debian <suite>'s docker-compose plugin binary at <dest_dir>/docker-compose;
    returns its path."""
    log(f"fetching Compose V2 from Debian {suite} (a private apt state; "
        "the host's apt sources stay untouched)")
    return install_deb_file(suite, "docker-compose", "usr/libexec/docker/cli-plugins/docker-compose",
                            os.path.join(dest_dir, "docker-compose"))


# --- image --------------------------------------------------------------------------

def image_exists(tag):
    return subprocess.run(["docker", "image", "inspect", tag], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, check=False).returncode == 0


def debootstrap_image(tag, suite, include, prepare=None, arch=None,
                      command="/lib/systemd/systemd"):
    """Build a Debian rootfs with debootstrap (minbase + `include`) and import it as `tag`
    (its CMD: `command`). `prepare(rootfs)` may adjust the tree before the import. Nothing
    is done when the image exists: the image is the cache."""
    if image_exists(tag):
        log(f"image {tag} present")
        return False
    check_disk("/", need_gib=MIN_FREE_GIB)
    if not shutil.which("debootstrap"):
        apt_install(["debootstrap"])
    rootfs = tempfile.mkdtemp(prefix="colab-rootfs-")
    log(f"building {tag} with debootstrap {suite}{' ' + arch if arch else ''} "
        f"({'several minutes, emulated' if arch else 'about a minute'}; done once)")
    try:
        cmd = ["debootstrap", "--variant=minbase", f"--include={include}"]
        if arch:
            cmd.append(f"--arch={arch}")
        proc = subprocess.run([*cmd, suite, rootfs, MIRROR], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              timeout=3600 if arch else 1800, check=False)
        if proc.returncode != 0:
            tail = [ln for ln in proc.stdout.splitlines() if ln.strip()][-1:]
            raise LabError(f"debootstrap failed: {tail[0] if tail else proc.returncode}")
        if prepare:
            prepare(rootfs)
        shutil.rmtree(os.path.join(rootfs, "var/cache/apt/archives"), ignore_errors=True)
        os.makedirs(os.path.join(rootfs, "var/cache/apt/archives/partial"), exist_ok=True)
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        imp = subprocess.run(
            ["docker", "import", *(["--platform", f"linux/{arch}"] if arch else []),
             "--change", f"CMD {json.dumps([command])}", "-", tag],
            stdin=tar.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            check=False, timeout=600)
        tar.stdout.close()
        tar.wait()
        if imp.returncode != 0 or tar.returncode != 0:
            raise LabError(f"docker import failed: {imp.stderr.strip()}")
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
    log(f"image {tag} built")
    return True


def _prepare_systemd_rootfs(rootfs):
    # A container does not need these units; they only slow the boot down or fail.
    for unit in ("systemd-resolved.service", "getty.target", "console-getty.service",
                 "systemd-firstboot.service", "systemd-udevd.service"):
        link = os.path.join(rootfs, "etc/systemd/system", unit)
        if not os.path.lexists(link):
            os.symlink("/dev/null", link)
    # Ansible's remote temp dir, made here with the mode Ansible wants.
    os.makedirs(os.path.join(rootfs, "root/.ansible/tmp"), mode=0o700, exist_ok=True)


def ensure_image(tag=BASE_IMAGE, arch=None):
    """The Debian 13 systemd base image (the lab's node image and molecule build on it);
    arch (a Debian architecture such as arm64) makes a foreign-architecture image, which
    needs binfmt emulation on the host (lab/arm64.py)."""
    return debootstrap_image(tag, SUITE, BASE_PACKAGES, prepare=_prepare_systemd_rootfs, arch=arch)


def node_image_digest(base=BASE_IMAGE):
    """What a node image is made of: its base and every file of its build context."""
    digest = hashlib.sha256(base.encode())
    for name in sorted(os.listdir(NODE_IMAGE_CONTEXT)):
        digest.update(name.encode())
        with open(os.path.join(NODE_IMAGE_CONTEXT, name), "rb") as fh:
            digest.update(fh.read())
    return digest.hexdigest()[:16]


def ensure_node_image(tag=NODE_IMAGE, base=BASE_IMAGE, build_args=()):
    """A node image (lab/images/node FROM ``base``: sshd and the admin user), built when
    missing or when lab/images/node or the base changed (the image carries the digest of
    what it was built from). The native one is colab/debian-systemd:trixie-ssh on the base
    image; lab/arm64.py makes the emulated cooperator's the same way on the arm64 base.
    build_args go to `docker build` (lab/arm64.py lowers an emulated build's CPU weight)."""
    if base == BASE_IMAGE:
        ensure_image()
    elif not image_exists(base):
        raise LabError(f"base image {base} of node image {tag} is missing")
    want = node_image_digest(base)
    proc = subprocess.run(["docker", "image", "inspect", "-f",
                           '{{index .Config.Labels "colab.lab.context"}}', tag],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                          check=False, timeout=30)
    if proc.returncode == 0 and proc.stdout.strip() == want:
        log(f"node image {tag} present")
        return
    log(f"building {tag} from lab/images/node on {base} (openssh-server, user {ADMIN_USER})")
    run(["docker", "build", "-q", *build_args, "--build-arg", f"BASE_IMAGE={base}",
         "--label", f"colab.lab.context={want}", "-t", tag, NODE_IMAGE_CONTEXT], timeout=3600)
    log(f"node image {tag} built")


# --- nodes ---------------------------------------------------------------------------

def container_state(name):
    proc = subprocess.run(["docker", "inspect", "-f", "{{.State.Status}}", name],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                          check=False)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def ensure_network():
    if subprocess.run(["docker", "network", "inspect", NETWORK], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL, check=False).returncode == 0:
        return
    run(["docker", "network", "create", "--driver", "bridge", "--subnet", SUBNET,
         "--gateway", GATEWAY, "--label", "colab.lab=1", NETWORK])
    log(f"network {NETWORK} ({SUBNET}) created")


def wait_systemd(name, timeout=120):
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        proc = subprocess.run(["docker", "exec", name, "systemctl", "is-system-running"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              check=False)
        state = proc.stdout.strip()
        if state in ("running", "degraded"):
            return state
        time.sleep(1)
    raise LabError(f"{name}: systemd did not finish booting within {timeout}s (state {state!r})")


def lab_id():
    """This lab's identity, kept in .lab/ beside the state the nodes were converged with
    (the lab secret store's values, the image archives). Nodes carry it as a label: when
    .lab/ was made anew (another checkout, a cleaned tree), nodes holding data made from
    other secrets would no longer match it, so they are made again instead."""
    path = os.path.join(STATE_DIR, "id")
    if not os.path.exists(path):
        os.makedirs(STATE_DIR, exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(os.urandom(8).hex() + "\n")
    with open(path, encoding="utf-8") as fh:
        return fh.read().strip()


def node_spec(host, spec):
    """A digest of how a node is made: a node made differently is made again."""
    place = {key: value for key, value in spec.items() if key != "image"}
    image = spec.get("image", NODE_IMAGE)
    text = json.dumps([image, node_image_digest() if image == NODE_IMAGE else "", NETWORK, place,
                       node_flags(), TAILNET_GUARD, host, lab_id()], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- ssh -------------------------------------------------------------------------------
# .lab/ssh/ holds this lab's client key (id_ed25519), one host key per node
# (host_<node>_ed25519_key) and known_hosts, which pins those host keys under the node's
# name and address. The inventory reads the same paths (inventory/lab/group_vars/all/
# connection.yml); `lab.py down` removes them with the rest of .lab/.

def ssh_paths():
    base = os.path.join(STATE_DIR, "ssh")
    return {
        "dir": base,
        "key": os.path.join(base, "id_ed25519"),
        "known_hosts": os.path.join(base, "known_hosts"),
    }


def host_key_path(host):
    return os.path.join(ssh_paths()["dir"], f"host_{host}_ed25519_key")


def _keygen(path, comment):
    if os.path.exists(path) and os.path.exists(path + ".pub"):
        return
    for stale in (path, path + ".pub"):
        if os.path.exists(stale):
            os.remove(stale)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path], timeout=60)


def ensure_ssh_keys():
    """The client key and every node's host key (made once per lab), and known_hosts
    written from the host keys: each node is pinned before anything connects to it."""
    paths = ssh_paths()
    os.makedirs(paths["dir"], mode=0o700, exist_ok=True)
    os.chmod(paths["dir"], 0o700)
    ident = lab_id()
    _keygen(paths["key"], f"{ADMIN_USER}@colab-lab-{ident}")
    lines = []
    for host, spec in NODES.items():
        _keygen(host_key_path(host), f"root@{host}.colab-lab-{ident}")
        with open(host_key_path(host) + ".pub", encoding="utf-8") as fh:
            keytype, key = fh.read().split()[:2]
        lines.append(f"{host},{spec['ip']} {keytype} {key}\n")
    tmp = paths["known_hosts"] + ".new"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.writelines(lines)
    os.replace(tmp, paths["known_hosts"])
    return paths


def ssh_argv(host, *options):
    """The ssh command that reaches `host` as the admin user, with this lab's key and
    pinned host keys (printed by the summary; the tests run it as printed)."""
    paths = ssh_paths()
    return ["ssh", "-i", paths["key"], "-o", f"UserKnownHostsFile={paths['known_hosts']}",
            "-o", "IdentitiesOnly=yes", *options, f"{ADMIN_USER}@{NODES[host]['ip']}"]


def _read(path):
    with open(path, "rb") as fh:
        return fh.read()


def _key_archive(host):
    """A tar of the files a node needs for ssh, with their owners and modes."""
    files = [
        ("etc/ssh/ssh_host_ed25519_key", _read(host_key_path(host)), 0o600, 0),
        ("etc/ssh/ssh_host_ed25519_key.pub", _read(host_key_path(host) + ".pub"), 0o644, 0),
        (f"home/{ADMIN_USER}/.ssh/authorized_keys", _read(ssh_paths()["key"] + ".pub"), 0o600,
         ADMIN_UID),
    ]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, data, mode, owner in files:
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.uid, info.gid = len(data), mode, owner, owner
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def ensure_node_ssh(host, timeout=60):
    """Install this lab's host key and the admin's authorized key into the node (docker
    exec, the bootstrap path) when they differ, then wait until ssh logs in as printed."""
    name = f"colab-lab-{host}"
    want = (_read(host_key_path(host) + ".pub") +
            _read(ssh_paths()["key"] + ".pub")).decode()
    have = subprocess.run(
        ["docker", "exec", name, "sh", "-c",
         f"cat /etc/ssh/ssh_host_ed25519_key.pub /home/{ADMIN_USER}/.ssh/authorized_keys"
         " && systemctl is-active --quiet ssh"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=False, timeout=60)
    if have.returncode != 0 or have.stdout != want:
        run(["docker", "exec", "-i", name, "tar", "-x", "--numeric-owner", "-C", "/", "-f", "-"],
            input_data=_key_archive(host), timeout=60)
        run(["docker", "exec", name, "systemctl", "restart", "ssh"], timeout=60)
        log(f"node {host}: ssh host key and {ADMIN_USER}'s key installed")
    deadline = time.monotonic() + timeout
    argv = ssh_argv(host, "-o", "BatchMode=yes", "-o", f"ConnectTimeout={SSH_TIMEOUT}")
    while True:
        proc = subprocess.run([*argv, "sudo", "-n", "true"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              check=False, timeout=SSH_TIMEOUT + 20)
        if proc.returncode == 0:
            return
        if time.monotonic() > deadline:
            tail = proc.stderr.strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
            raise LabError(f"node {host}: ssh {ADMIN_USER}@{NODES[host]['ip']} with sudo does "
                           f"not work within {timeout}s: {tail[0]}")
        time.sleep(1)


def ensure_node(host, spec):
    name = f"colab-lab-{host}"
    state = container_state(name)
    want = node_spec(host, spec)
    if state:
        have = subprocess.run(["docker", "inspect", "-f", '{{index .Config.Labels "colab.lab.spec"}}',
                               name], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True, check=False).stdout.strip()
        if have != want:
            log(f"node {host} was made with other settings or for another lab state: "
                "making it again")
            run(["docker", "rm", "-f", "-v", name])
            subprocess.run(["docker", "volume", "rm", "-f", f"colab-lab-{host}-docker"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            state = ""
    if state == "running":
        log(f"node {host} running ({name})")
    elif state:
        run(["docker", "start", name])
        log(f"node {host} started ({name})")
    else:
        # A new node gets a new engine: a volume left by an earlier node (removed without -v)
        # would bring that node's stacks back under their restart policies, before the roles
        # wrote their files (Docker then makes a missing bind-mount source a directory).
        gone = subprocess.run(["docker", "volume", "rm", "-f", f"colab-lab-{host}-docker"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              check=False).stdout.strip()
        if gone:
            log(f"node {host}: removed the engine volume an earlier node left ({gone})")
        run(["docker", "run", "-d", "--name", name, "--hostname", host,
             "--network", NETWORK, "--ip", spec["ip"], "--label", "colab.lab=1",
             "--label", f"colab.lab.spec={want}",
             *node_flags(), *spec.get("run_args", []),
             "-v", f"colab-lab-{host}-docker:/var/lib/docker",
             spec.get("image", NODE_IMAGE)])
        log(f"node {host} created ({name}, {spec['ip']})")
    wait_systemd(name)
    ensure_tailnet_guard(host)
    ensure_node_ssh(host)


def ensure_tailnet_guard(host):
    """The unreachable routes for the tailnet ranges, as a unit that runs on every boot
    before tailscaled (bootstrap path, like the ssh keys): checked, written when it differs."""
    name = f"colab-lab-{host}"
    path = f"/etc/systemd/system/{TAILNET_GUARD_UNIT}"
    have = subprocess.run(["docker", "exec", name, "cat", path], capture_output=True, text=True,
                          check=False, timeout=60).stdout
    if have != TAILNET_GUARD:
        run(["docker", "exec", "-i", name, "sh", "-c", f"cat > {path}"], input_data=TAILNET_GUARD.encode(),
            timeout=60)
        run(["docker", "exec", name, "systemctl", "daemon-reload"], timeout=60)
    run(["docker", "exec", name, "systemctl", "enable", "--now", "--quiet", TAILNET_GUARD_UNIT],
        timeout=60)
    routes = run(["docker", "exec", name, "ip", "-4", "route", "show", "type", "unreachable"],
                 timeout=60).stdout
    if TAILNET_RANGES[0] not in routes:
        raise LabError(f"node {host}: no unreachable route for {TAILNET_RANGES[0]} after "
                       f"{TAILNET_GUARD_UNIT} ({routes.strip() or 'none'})")


def _gobuild():
    """lab/gobuild.py as a module (standard library only, like this file)."""
    spec = importlib.util.spec_from_file_location("colab_gobuild", os.path.join(HERE, "gobuild.py"))
    gobuild = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gobuild)
    return gobuild


def guard_units():
    """The no-leak guards every mesh node gets before tailscaled first starts, as
    {"units": {unit name: unit text}, "tailnet_ranges": [...], "fallback_servers": [...]}:
    the lab installs them itself (ensure_tailnet_guard, ensure_derp_guard); molecule/mesh's
    prepare installs this output (`python3 lab/lab.py guard-units`)."""
    gobuild = _gobuild()
    servers = gobuild.fallback_servers(gobuild.pinned("tailscale"))
    return {"units": {TAILNET_GUARD_UNIT: TAILNET_GUARD, DERP_GUARD_UNIT: derp_guard(servers)},
            "tailnet_ranges": list(TAILNET_RANGES), "fallback_servers": servers}


def ensure_mesh_packages(arch=None):
    """headscale and tailscale, built from their Go modules and packaged (lab/gobuild.py),
    where inventory/lab/group_vars reads them; and how tailscaled gets its network here."""
    gobuild = _gobuild()
    # The lab's mesh nodes run natively (the arm64 lab's mesh groups are empty); molecule/mesh
    # and `python3 lab/gobuild.py all --arch arm64` build the other sets.
    arch = arch or gobuild.host_arch()
    started = time.monotonic()
    paths = {}
    for name in ("headscale", "tailscale"):
        paths[name] = gobuild.package(name, gobuild.pinned(name), arch)
    # Into the lab's state directory, where the inventory finds them under lab_state_dir
    # (also inside the EE container of tests/lab/test_awx_runner.py, which mounts .lab/).
    mesh_dir = os.path.join(STATE_DIR, "mesh")
    os.makedirs(mesh_dir, exist_ok=True)
    for path in paths.values():
        target = os.path.join(mesh_dir, os.path.basename(path))
        if not os.path.exists(target) or os.path.getsize(target) != os.path.getsize(path):
            shutil.copyfile(path, target + ".tmp")
            os.replace(target + ".tmp", target)
    mode, why = tun_mode()
    state = {"headscale_deb": os.path.basename(paths["headscale"]),
             "tailscale_deb": os.path.basename(paths["tailscale"]), "tun": mode, "tun_reason": why,
             "derp_fallback": gobuild.fallback_servers(gobuild.pinned("tailscale"))}
    with open(os.path.join(mesh_dir, "tun"), "w", encoding="utf-8") as fh:
        fh.write(mode + "\n")
    with open(os.path.join(mesh_dir, "packages.json"), "w", encoding="utf-8") as fh:
        json.dump(state, fh, indent=1, sort_keys=True)
    if mode != "tun":
        log(f"mesh: tailscaled runs in userspace networking here: {why}")
    log(f"mesh packages ready in {time.monotonic() - started:.0f} s: "
        f"{os.path.basename(paths['headscale'])}, {os.path.basename(paths['tailscale'])}")
    return state


def _secret_store():
    """lab/secret_store.py: the Infisical API double the lab's lookups read (issue 4)."""
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    import secret_store  # pylint: disable=import-outside-toplevel
    return secret_store


def up(_args):
    missing = missing_host_packages()
    if missing:
        apt_install(missing)
    ensure_engine()
    ensure_node_image()
    if COOPERATOR_IMAGE != NODE_IMAGE and not image_exists(COOPERATOR_IMAGE):
        raise LabError(f"cooperator image {COOPERATOR_IMAGE} is missing (LAB_COOPERATOR_IMAGE; "
                       "`python3 lab/arm64.py image` builds the arm64 one)")
    ensure_network()
    ensure_ssh_keys()
    derp = ensure_mesh_packages()["derp_fallback"]
    for host, spec in NODES.items():
        ensure_node(host, spec)
        ensure_derp_guard(host, derp)
    for host, why in NOT_IN_LAB.items():
        log(f"{host} is not in the lab ({why})")
    try:
        _secret_store().ensure()
    except (OSError, RuntimeError) as exc:
        raise LabError(f"secret store: {exc}") from exc
    run([sys.executable, os.path.join(HERE, "images.py")], capture=False, timeout=1800)


def down(_args):
    _secret_store().stop()
    if not docker_answers():
        log("no docker engine answers: nothing to remove")
        return
    for host in NODES:
        name = f"colab-lab-{host}"
        if container_state(name):
            run(["docker", "rm", "-f", "-v", name])
            log(f"node {host} removed")
        volume = f"colab-lab-{host}-docker"
        subprocess.run(["docker", "volume", "rm", "-f", volume], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
    if subprocess.run(["docker", "network", "inspect", NETWORK], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL, check=False).returncode == 0:
        run(["docker", "network", "rm", NETWORK])
        log(f"network {NETWORK} removed")
    shutil.rmtree(STATE_DIR, ignore_errors=True)


def _minio_line(host="cooperator", port=9000):
    """MinIO's buckets as the S3 API lists them (ListBuckets, SigV4-signed with the lab's
    /minio root pair). The lab runs colab/s3-standin, NOT MinIO (lab/images/README.md)."""
    spec = importlib.util.spec_from_file_location(
        "colab_s3", os.path.join(ROOT, "plugins", "module_utils", "_s3.py"))
    s3 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(s3)
    label = "MinIO (stand-in colab/s3-standin, NOT MinIO)"
    url = f"http://{NODES[host]['ip']}:{port}"
    try:
        with open(os.path.join(_secret_store().state_dir(), "seed.json"), encoding="utf-8") as fh:
            seed = json.load(fh)
        (project,) = seed["projects"].values()
        (env,) = project["environments"].values()
        creds = env["folders"]["/minio"]["secrets"]
        client = s3.S3Client(url, creds["MINIO_ROOT_USER"], creds["MINIO_ROOT_PASSWORD"],
                             timeout=5)
        status, body = client.request("GET", "")
        if status != 200:
            return f"{label} at {url}: ListBuckets answered HTTP {status}"
        names = sorted(el.text for el in ET.fromstring(body).iter()
                       if el.tag.rpartition("}")[2] == "Name" and el.text)
    except (OSError, KeyError, ValueError, ET.ParseError, s3.S3Error) as exc:
        return f"{label} at {url}: not answering ({exc})"
    return f"{label} at {url}: buckets listed over S3: {', '.join(names) or 'none'}"


# cooperator's push registry (roles/registry), asked from inside cooperator on loopback
# over TLS, verified against the cluster CA the role keeps there, with the registry
# account of the lab store (/docker), handed over on stdin, never in an argument.
REGISTRY_CA = "/etc/colab/pki/ca.crt"
REGISTRY_CATALOG = ("import base64, json, ssl, sys, urllib.request; "
                    "cred = base64.b64encode(sys.stdin.read().strip().encode()).decode(); "
                    "req = urllib.request.Request('https://127.0.0.1:5000/v2/_catalog', "
                    "headers={'Authorization': 'Basic ' + cred}); "
                    f"ctx = ssl.create_default_context(cafile={REGISTRY_CA!r}); "
                    "print(json.dumps(json.load(urllib.request.urlopen(req, timeout=5, context=ctx))"
                    "['repositories']))")


def _registry_account():
    """'user:password' of the push registry from the lab store's seed (/docker)."""
    with open(os.path.join(_secret_store().state_dir(), "seed.json"), encoding="utf-8") as fh:
        seed = json.load(fh)
    (project,) = seed["projects"].values()
    (env,) = project["environments"].values()
    creds = env["folders"]["/docker"]["secrets"]
    return f"{creds['REGISTRY_USERNAME']}:{creds['REGISTRY_PASSWORD']}"


def registry_catalog():
    """One line: what cooperator's registry holds (GET /v2/_catalog over TLS, with the
    account), or why not known."""
    try:
        account = _registry_account()
    except (OSError, KeyError, ValueError) as exc:
        return f"cooperator:5000: no registry account in the lab store ({exc.__class__.__name__})"
    try:
        proc = run(["docker", "exec", "-i", "colab-lab-cooperator", "python3", "-c", REGISTRY_CATALOG],
                   check=False, timeout=20, input_data=account)
    except LabError as exc:
        return f"cooperator:5000: {exc}"
    if proc.returncode != 0:
        return "cooperator:5000 not answering (no registry_servers in this inventory?)"
    repos = json.loads(proc.stdout or "[]")
    return f"cooperator:5000 /v2/_catalog (TLS, authenticated): {', '.join(repos) or '(empty)'}"


def dns_query_a(name, server, port=53, timeout=3.0):
    """The A records of `name` from the DNS server at `server` (one UDP query, the message
    format of RFC 1035 section 4): (rcode, [address, ...]). rcode 0 is NOERROR, 3 NXDOMAIN."""
    qid = int.from_bytes(os.urandom(2), "big")
    question = b"".join(bytes([len(label)]) + label.encode("ascii") for label in name.rstrip(".").split("."))
    packet = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question + b"\0" + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(packet, (server, port))
        reply = sock.recv(4096)
    rid, flags, qdcount, ancount = struct.unpack(">HHHH", reply[:8])
    if rid != qid:
        raise OSError(f"DNS answer for another query ({rid} != {qid})")

    def skip_name(pos):
        while True:
            length = reply[pos]
            if length >= 0xC0:      # a compression pointer ends the name
                return pos + 2
            if length == 0:
                return pos + 1
            pos += 1 + length

    pos = 12
    for _question in range(qdcount):
        pos = skip_name(pos) + 4
    addresses = []
    for _answer in range(ancount):
        pos = skip_name(pos)
        rtype, _rclass, _ttl, length = struct.unpack(">HHIH", reply[pos:pos + 10])
        pos += 10
        if rtype == 1 and length == 4:
            addresses.append(socket.inet_ntoa(reply[pos:pos + 4]))
        pos += length
    return flags & 0x000F, addresses


def ssot_names(path=None):
    """[(fqdn, local_ip)] of the lab's domain SSOT (the gitea and edge roles write it as
    `- fqdn: ...` items with `local_ip:`), in file order."""
    path = path or os.path.join(STATE_DIR, "ssot", "domains.yml")
    if not os.path.exists(path):
        return []
    found, current = [], {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            match = re.match(r"^(-\s+|\s+)(fqdn|local_ip):\s*(\S+)\s*$", line)
            if not match:
                continue
            if match.group(1).startswith("-"):
                current = {}
                found.append(current)
            current[match.group(2)] = match.group(3).strip("'\"")
    return [(e["fqdn"], e.get("local_ip", "")) for e in found if "fqdn" in e]


def dns_lines(server_host="cooperator"):
    """What the edge's DNS (dnsmasq on cooperator in the lab) answers for each SSOT name:
    (lines, [(fqdn, address), ...] of the names that resolved)."""
    server = NODES[server_host]["ip"]
    lines, resolved = [], []
    for fqdn, want in ssot_names():
        try:
            rcode, got = dns_query_a(fqdn, server)
        except OSError as exc:
            lines.append(f"{fqdn}: no answer from {server} ({exc})")
            continue
        note = "" if got == [want] else f" (the SSOT says {want or 'no local_ip'})"
        lines.append(f"{fqdn} -> {', '.join(got) or ('NXDOMAIN' if rcode == 3 else f'rcode {rcode}')}{note}")
        resolved.extend((fqdn, address) for address in got[:1])
    return lines, resolved


def edge_root_ca_source():
    """Where Caddy keeps its local CA's root on the edge node: the edge role's
    edge_caddy_root_ca_path default (the lab does not override it), read from that file so
    the two never disagree."""
    with open(os.path.join(ROOT, "roles", "edge", "defaults", "main.yml"), encoding="utf-8") as fh:
        match = re.search(r"^edge_caddy_root_ca_path:\s*(\S+)\s*$", fh.read(), re.M)
    return match.group(1).strip("'\"")


def fetch_edge_ca(edge_host="cooperator"):
    """Copy the edge's local CA root (Caddy's `tls internal` issuer) out of its container
    to .lab/edge-root-ca.crt on the controller: (path, None), or (None, why not)."""
    source = edge_root_ca_source()
    try:
        proc = run(["docker", "exec", f"colab-lab-{edge_host}", "cat", source], check=False, timeout=20)
    except LabError as exc:
        return None, str(exc)
    if proc.returncode != 0 or "-----BEGIN CERTIFICATE-----" not in proc.stdout:
        return None, f"no certificate at {edge_host}:{source} (has the edge converged?)"
    path = os.path.join(STATE_DIR, "edge-root-ca.crt")
    os.makedirs(STATE_DIR, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(proc.stdout)
    return path, None


def https_check(fqdn, address, cafile, port=443, timeout=5.0):
    """What `curl --cacert CAFILE --resolve FQDN:PORT:ADDRESS https://FQDN/` would see: the
    certificate verified against the edge's CA for FQDN, then the HTTP status of GET /."""
    context = ssl.create_default_context(cafile=cafile)
    try:
        with socket.create_connection((address, port), timeout=timeout) as raw, \
                context.wrap_socket(raw, server_hostname=fqdn) as tls:
            tls.sendall(f"GET / HTTP/1.1\r\nHost: {fqdn}\r\nConnection: close\r\n\r\n".encode("ascii"))
            status = tls.recv(64).split(b"\r\n", 1)[0].decode("ascii", "replace")
    except (OSError, ssl.SSLError) as exc:
        return f"failed: {exc}"
    return f"certificate verified, {status or 'no HTTP answer'}"


def https_lines(names, cafile):
    """For each (fqdn, address) the edge serves: a curl command that verifies the edge's
    certificate with `cafile` (no -k), and what that request gets when the summary runs it."""
    lines = []
    for fqdn, address in names:
        argv = ["curl", "--cacert", cafile, "--resolve", f"{fqdn}:443:{address}", f"https://{fqdn}/"]
        lines.append(f"{shlex.join(argv)}   ({https_check(fqdn, address, cafile)})")
    return lines


def tailnet_status(host):
    """`tailscale status --json` of a node (its tailscaled's own view), or None when the node
    has no tailscale or tailscaled does not answer."""
    try:
        proc = subprocess.run(["docker", "exec", f"colab-lab-{host}", "tailscale", "status", "--json"],
                              capture_output=True, text=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired):  # no docker CLI here, or no answer
        return None
    if proc.returncode != 0:
        return None
    try:
        return json.loads(proc.stdout)
    except ValueError:
        return None


def node_dns_query(host, name, server, timeout=3.0):
    """dns_query_a run inside a node (one UDP query from there): (rcode, [address, ...])."""
    script = ("import os, socket, struct, json, sys\n" + inspect.getsource(dns_query_a) +
              "\nprint(json.dumps(dns_query_a(sys.argv[1], sys.argv[2], timeout=float(sys.argv[3]))))\n")
    proc = subprocess.run(["docker", "exec", "-i", f"colab-lab-{host}", "python3", "-", name, server,
                           str(timeout)], input=script, capture_output=True, text=True, check=False,
                          timeout=60)
    if proc.returncode != 0:
        raise OSError((proc.stderr.strip().splitlines() or ["no answer"])[-1])
    rcode, addresses = json.loads(proc.stdout)
    return rcode, addresses


MAGICDNS = "100.100.100.100"  # tailscaled's own resolver (net/tsaddr@v1.102.5, TailscaleServiceIP)


def mesh_lines(asker="director"):
    """Each node's tailnet address and MagicDNS name as its tailscaled reports them, and
    what MagicDNS answers for that name when `asker` asks it."""
    lines = []
    for host in NODES:
        status = tailnet_status(host)
        if not status or not status.get("Self"):
            lines.append(f"{host}: no tailscaled answers")
            continue
        me = status["Self"]
        v4 = [ip for ip in me.get("TailscaleIPs", []) if ":" not in ip]
        name = me.get("DNSName", "").rstrip(".")
        try:
            rcode, got = node_dns_query(asker, name, MAGICDNS)
            answer = ", ".join(got) or ("NXDOMAIN" if rcode == 3 else f"rcode {rcode}")
        except OSError as exc:
            answer = f"no answer ({exc})"
        lines.append(f"{host}: {status.get('BackendState')} {', '.join(v4) or 'no address'} "
                     f"{name or '(no name)'} -> MagicDNS from {asker}: {answer}")
    return lines


def _dns_query_cli(args):
    """`lab.py dns-query NAME SERVER`: run inside a node too (molecule/mesh's verify copies
    this file there), where no lab state exists."""
    try:
        print(json.dumps(dns_query_a(args.name, args.server)))
    except OSError as exc:
        raise LabError(f"no DNS answer for {args.name} from {args.server}: {exc}") from exc


def summary(_args):
    path = os.path.join(STATE_DIR, "last-run.json")
    if not os.path.exists(path):
        raise LabError("no converge recorded yet: run `make lab`")
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    print()
    print("colab.cluster lab: what runs where")
    print("-" * 72)
    for host, info in sorted(data.get("hosts", {}).items()):
        roles = ", ".join(info.get("roles", [])) or "(no roles)"
        print(f"{host:<12} ok={info.get('ok', 0):<4} changed={info.get('changed', 0):<3} "
              f"failed={info.get('failed', 0):<2} roles: {roles}")
        for line in info.get("endpoints", []):
            print(f"{'':<12} -> {line}")
    for host, why in NOT_IN_LAB.items():
        print(f"{host:<12} not in the lab: {why}")
    if any(name.rpartition(".")[2] == "minio"
           for name in data.get("hosts", {}).get("cooperator", {}).get("roles", [])):
        print(_minio_line())
    print(f"{'registry':<12} {registry_catalog()}")
    for line in mesh_lines():
        print(f"{'tailnet':<12} {line}")
    lines, resolved = dns_lines()
    for line in lines:
        print(f"{'dns':<12} {line}   (dnsmasq on cooperator, asked from here)")
    if resolved:
        cafile, why = fetch_edge_ca()
        if cafile:
            print(f"{'edge CA':<12} {cafile}   (Caddy's local CA root, copied from "
                  f"cooperator:{edge_root_ca_source()})")
            for line in https_lines(resolved, cafile):
                print(f"{'https':<12} {line}")
        else:
            print(f"{'edge CA':<12} not copied: {why}")
    print("-" * 72)
    total = sum(h.get("changed", 0) for h in data.get("hosts", {}).values())
    failed = sum(h.get("failed", 0) + h.get("unreachable", 0)
                 for h in data.get("hosts", {}).values())
    print(f"changed={total} failed={failed}  (a second `make lab` should report changed=0)")
    print(f"reach a node as Ansible does (ssh as {ADMIN_USER}, then sudo):")
    for host in NODES:
        print(f"  {host:<11} {shlex.join(ssh_argv(host))}")
    if failed:
        sys.exit(1)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="lab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    host = sub.add_parser("host", help="install the Debian packages the setup needs")
    host.add_argument("--python", help="the python that makes the virtualenv (default: this one)")
    host.set_defaults(func=lambda a: ensure_host(a.python))
    sub.add_parser("engine").set_defaults(func=lambda _a: ensure_engine())
    sub.add_parser("image").set_defaults(func=lambda _a: (ensure_engine(), ensure_image()))
    pkgs = sub.add_parser("packages", help="install missing Debian packages on the host")
    pkgs.add_argument("names", nargs="+")
    pkgs.set_defaults(func=lambda a: apt_install(a.names))
    plug = sub.add_parser("compose-plugin",
                          help="put a Debian suite's Compose plugin binary in a directory")
    plug.add_argument("suite")
    plug.add_argument("dest_dir")
    plug.set_defaults(func=lambda a: print(install_compose_plugin(a.suite, a.dest_dir)))
    sub.add_parser("up").set_defaults(func=up)
    sub.add_parser("down").set_defaults(func=down)
    sub.add_parser("summary").set_defaults(func=summary)
    sub.add_parser("secrets").set_defaults(func=lambda _a: _secret_store().status())
    sub.add_parser("guard-units", help="the no-leak guard units of a mesh node, as JSON").set_defaults(
        func=lambda _a: print(json.dumps(guard_units(), indent=1, sort_keys=True)))
    query = sub.add_parser("dns-query", help="A records of NAME from SERVER (one UDP query), as JSON")
    query.add_argument("name")
    query.add_argument("server")
    query.set_defaults(func=_dns_query_cli)
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except LabError as exc:
        print(f"lab: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The colab.cluster lab: the cluster's Linux nodes as local systemd containers.

Run with the machine's python3 (standard library only, so it works before the
project's virtualenv exists):

    python3 lab/lab.py engine     # a Docker engine answers, Compose V2 is installed
    python3 lab/lab.py image      # the Debian 13 systemd base image exists (built once)
    python3 lab/lab.py up         # all of the above + the lab network and nodes
    python3 lab/lab.py summary    # what runs where, after a converge
    python3 lab/lab.py down       # remove every lab container, volume and network

Every step checks before it acts, so a second call changes nothing. A setup problem
(no engine and none can be started, no disk space, a package apt cannot install)
ends the run with a one-line reason and a non-zero exit.
"""
# The lab is run on the controller with python3; it is not shipped as a plugin.
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
STATE_DIR = os.path.join(ROOT, ".lab")

BASE_IMAGE = os.environ.get("LAB_BASE_IMAGE", "colab/debian-systemd:trixie")
# The cooperator node's image: the base image unless told otherwise (lab/arm64.py sets an
# emulated arm64 build here for `make lab LAB_COOPERATOR_ARCH=arm64`).
COOPERATOR_IMAGE = os.environ.get("LAB_COOPERATOR_IMAGE", "") or BASE_IMAGE
SUITE = "trixie"
MIRROR = os.environ.get("LAB_DEBIAN_MIRROR", "http://deb.debian.org/debian")
BASE_PACKAGES = "python3,systemd,systemd-sysv,dbus,iproute2,procps,sudo,ca-certificates"
# Compose V2 comes from Debian's sid suite (2.40.x, the version the seed pins).
COMPOSE_SUITE = os.environ.get("LAB_COMPOSE_SUITE", "sid")
COMPOSE_PLUGIN_DIR = "/usr/local/lib/docker/cli-plugins"
MIN_FREE_GIB = 8

NETWORK = "colab-lab"
SUBNET = "172.31.254.0/24"
GATEWAY = "172.31.254.1"
# The Linux nodes of the seed; the last octet mirrors the seed's LAN addresses.
NODES = {
    "cooperator": {"ip": "172.31.254.10", "image": COOPERATOR_IMAGE},
    "director": {"ip": "172.31.254.30", "image": BASE_IMAGE},
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
    log(f"installing Compose V2 from Debian {COMPOSE_SUITE} (a private apt state; "
        "the host's apt sources stay untouched)")
    base = os.path.join("/var/cache/colab-lab/apt", COMPOSE_SUITE)
    for sub in ("lists/partial", "archives/partial", "etc/sources.list.d", "etc/preferences.d"):
        os.makedirs(os.path.join(base, sub), exist_ok=True)
    with open(os.path.join(base, "etc/sources.list"), "w", encoding="utf-8") as fh:
        fh.write(f"deb {MIRROR} {COMPOSE_SUITE} main\n")
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
    work = tempfile.mkdtemp(prefix="colab-compose-")
    try:
        proc = subprocess.run(["apt-get", *opts, "download", "docker-compose"], cwd=work,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=600, check=False)
        if proc.returncode != 0:
            raise LabError("apt could not download docker-compose from Debian "
                           f"{COMPOSE_SUITE}: {proc.stderr.strip().splitlines()[-1:]}")
        debs = [f for f in os.listdir(work) if f.endswith(".deb")]
        if not debs:
            raise LabError("apt downloaded no docker-compose package")
        run(["dpkg-deb", "-x", os.path.join(work, debs[0]), os.path.join(work, "x")])
        plugin = os.path.join(work, "x/usr/libexec/docker/cli-plugins/docker-compose")
        if not os.path.exists(plugin):
            raise LabError(f"{debs[0]} holds no cli-plugins/docker-compose")
        os.makedirs(COMPOSE_PLUGIN_DIR, exist_ok=True)
        target = os.path.join(COMPOSE_PLUGIN_DIR, "docker-compose")
        shutil.copy2(plugin, target + ".new")
        os.chmod(target + ".new", 0o755)
        os.replace(target + ".new", target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    version = compose_version()
    if not version.lstrip("v").startswith("2."):
        raise LabError("docker compose version does not answer after installing the plugin")
    log(f"compose {version} installed")


# --- image --------------------------------------------------------------------------

def image_exists(tag):
    return subprocess.run(["docker", "image", "inspect", tag], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, check=False).returncode == 0


def ensure_image(tag=BASE_IMAGE, arch=None):
    """Build the base image when missing; arch (a Debian architecture such as arm64) makes
    a foreign-architecture image, which needs binfmt emulation on the host (lab/arm64.py)."""
    if image_exists(tag):
        log(f"base image {tag} present")
        return
    check_disk("/", need_gib=MIN_FREE_GIB)
    if not shutil.which("debootstrap"):
        apt_install(["debootstrap"])
    rootfs = tempfile.mkdtemp(prefix="colab-rootfs-")
    log(f"building {tag} with debootstrap {SUITE}{' ' + arch if arch else ''} "
        f"({'several minutes, emulated' if arch else 'about a minute'}; done once)")
    try:
        proc = subprocess.run(
            ["debootstrap", "--variant=minbase", *([f"--arch={arch}"] if arch else []),
             f"--include={BASE_PACKAGES}", SUITE, rootfs, MIRROR],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=3600 if arch else 1800, check=False)
        if proc.returncode != 0:
            tail = [ln for ln in proc.stdout.splitlines() if ln.strip()][-1:]
            raise LabError(f"debootstrap failed: {tail[0] if tail else proc.returncode}")
        # A container does not need these units; they only slow the boot down or fail.
        for unit in ("systemd-resolved.service", "getty.target", "console-getty.service",
                     "systemd-firstboot.service", "systemd-udevd.service"):
            link = os.path.join(rootfs, "etc/systemd/system", unit)
            if not os.path.lexists(link):
                os.symlink("/dev/null", link)
        # Ansible's remote temp dir, made here with the mode Ansible wants.
        os.makedirs(os.path.join(rootfs, "root/.ansible/tmp"), mode=0o700, exist_ok=True)
        shutil.rmtree(os.path.join(rootfs, "var/cache/apt/archives"), ignore_errors=True)
        os.makedirs(os.path.join(rootfs, "var/cache/apt/archives/partial"), exist_ok=True)
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        imp = subprocess.run(
            ["docker", "import", *(["--platform", f"linux/{arch}"] if arch else []),
             "--change", 'CMD ["/lib/systemd/systemd"]', "-", tag],
            stdin=tar.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            check=False, timeout=600)
        tar.stdout.close()
        tar.wait()
        if imp.returncode != 0 or tar.returncode != 0:
            raise LabError(f"docker import failed: {imp.stderr.strip()}")
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
    log(f"base image {tag} built")


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
    text = json.dumps([spec.get("image", BASE_IMAGE), NETWORK, place, SYSTEMD_FLAGS, host, lab_id()],
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


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
        run(["docker", "run", "-d", "--name", name, "--hostname", host,
             "--network", NETWORK, "--ip", spec["ip"], "--label", "colab.lab=1",
             "--label", f"colab.lab.spec={want}",
             *SYSTEMD_FLAGS,
             "-v", f"colab-lab-{host}-docker:/var/lib/docker",
             spec["image"]])
        log(f"node {host} created ({name}, {spec['ip']})")
    wait_systemd(name)


def _secret_store():
    """lab/secret_store.py: the Infisical API double the lab's lookups read (issue 4)."""
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    import secret_store  # pylint: disable=import-outside-toplevel
    return secret_store


def up(_args):
    ensure_engine()
    ensure_image()
    if COOPERATOR_IMAGE != BASE_IMAGE and not image_exists(COOPERATOR_IMAGE):
        raise LabError(f"cooperator image {COOPERATOR_IMAGE} is missing (LAB_COOPERATOR_IMAGE; "
                       "`python3 lab/arm64.py image` builds the arm64 one)")
    ensure_network()
    for host, spec in NODES.items():
        ensure_node(host, spec)
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
    print("-" * 72)
    total = sum(h.get("changed", 0) for h in data.get("hosts", {}).values())
    failed = sum(h.get("failed", 0) + h.get("unreachable", 0)
                 for h in data.get("hosts", {}).values())
    print(f"changed={total} failed={failed}  (a second `make lab` should report changed=0)")
    print("reach a node: docker exec -it colab-lab-<host> bash")
    if failed:
        sys.exit(1)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="lab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("engine").set_defaults(func=lambda _a: ensure_engine())
    sub.add_parser("image").set_defaults(func=lambda _a: (ensure_engine(), ensure_image()))
    pkgs = sub.add_parser("packages", help="install missing Debian packages on the host")
    pkgs.add_argument("names", nargs="+")
    pkgs.set_defaults(func=lambda a: apt_install(a.names))
    sub.add_parser("up").set_defaults(func=up)
    sub.add_parser("down").set_defaults(func=down)
    sub.add_parser("summary").set_defaults(func=summary)
    sub.add_parser("secrets").set_defaults(func=lambda _a: _secret_store().status())
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except LabError as exc:
        print(f"lab: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

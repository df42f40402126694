"""What this machine can do, measured once: the one place that knows the host.

Machines of this kind differ (ENVIRONMENT.md: one kernel had /dev/autofs, another not).
Every host feature a test relies on is probed here, printed as one table and written as
JSON to .cache/hostprobe.json; tests read it through tests.helpers.host_probe() and
scenarios get what they need from it (tests/molecule/test_scenarios.py), instead of
assuming the machine the test was written on.

    python3 lab/hostprobe.py            probe, print the table, write the JSON
    python3 lab/hostprobe.py --json     probe, print the JSON only (writes it too)

Standard library only: it runs before the virtualenv exists. Probes only read: files under
/proc, /sys and /dev, `docker info`; nothing is loaded, mounted or registered.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(ROOT, ".cache", "hostprobe.json")
# Below these the slow layers are known to fail or crawl (GiB free where the engine keeps
# its images; 1-minute load per core).
MIN_FREE_GIB = 10
MAX_LOAD_PER_CORE = 4.0


def _read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def filesystems(text):
    """Names /proc/filesystems lists (a module's filesystem appears only once it is loaded)."""
    return {line.split()[-1] for line in (text or "").splitlines() if line.split()}


def _feature(ok, detail):
    return {"ok": bool(ok), "detail": detail}


def probe_autofs(proc_filesystems, dev="/dev"):
    node = os.path.exists(os.path.join(dev, "autofs"))
    listed = "autofs" in filesystems(proc_filesystems)
    # systemd's automount units open /dev/autofs (the misc device); a container gets it only
    # when the host has it. Listed in /proc/filesystems without the node is not enough.
    return _feature(node, "/dev/autofs %s, autofs %s /proc/filesystems"
                    % ("present" if node else "absent", "in" if listed else "not in")) | {
                        "dev_autofs": node, "proc_filesystems": listed}


def probe_cifs(proc_filesystems, modules_dir=None):
    listed = "cifs" in filesystems(proc_filesystems)
    release = os.uname().release
    modules_dir = modules_dir or os.path.join("/lib/modules", release)
    module = False
    for base, _dirs, files in os.walk(os.path.join(modules_dir, "kernel", "fs")):
        if any(name.split(".")[0] == "cifs" for name in files):
            module = True
            break
    ok = listed or module
    return _feature(ok, "cifs %s /proc/filesystems, %s" % (
        "in" if listed else "not in", "module cifs.ko found" if module else "no cifs module for " + release))


def probe_node(path, what):
    present = os.path.exists(path)
    return _feature(present, "%s %s" % (path, "present" if present else "absent") + ("" if present else " (" + what + ")"))


def probe_binfmt(proc_filesystems, root="/proc/sys/fs/binfmt_misc"):
    mounted = os.path.exists(os.path.join(root, "status"))
    supported = mounted or "binfmt_misc" in filesystems(proc_filesystems)
    entry = _read(os.path.join(root, "qemu-aarch64"))
    enabled = bool(entry) and entry.splitlines()[0].strip() == "enabled"
    detail = "binfmt_misc %s, qemu-aarch64 %s" % (
        "mounted" if mounted else ("in the kernel, not mounted" if supported else "absent"),
        "registered and enabled" if enabled else ("registered, disabled" if entry else "not registered"))
    # the arm64 targets mount it and register qemu-aarch64 themselves (lab/arm64.py)
    return _feature(supported, detail) | {"mounted": mounted, "qemu_aarch64": enabled}


def probe_cgroup(mounts_text):
    types = {line.split()[2] for line in (mounts_text or "").splitlines()
             if len(line.split()) > 2 and line.split()[1] == "/sys/fs/cgroup"}
    version = 2 if "cgroup2" in types else (1 if types else None)
    # both work for the systemd containers (/sys/fs/cgroup bind-mounted, cgroupns host)
    return _feature(version is not None, "cgroup v%s" % version if version else "no cgroup at /sys/fs/cgroup") | {
        "version": version}


def probe_engine(timeout=20):
    docker = shutil.which("docker")
    if docker is None:
        return _feature(False, "no docker client (make engine installs it)") | {"driver": None}
    try:
        proc = subprocess.run([docker, "info", "--format", "{{json .}}"], capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return _feature(False, "docker info did not answer within %ss" % timeout) | {"driver": None}
    if proc.returncode != 0:
        return _feature(False, "docker info failed: %s" % (proc.stderr.strip().splitlines() or ["?"])[-1]) | {
            "driver": None}
    try:
        info = json.loads(proc.stdout)
    except ValueError:
        return _feature(False, "docker info answered no JSON") | {"driver": None}
    driver = info.get("Driver")
    return _feature(bool(driver), "engine %s, storage driver %s, root %s" % (
        info.get("ServerVersion"), driver, info.get("DockerRootDir"))) | {
            "driver": driver, "server_version": info.get("ServerVersion"), "root": info.get("DockerRootDir")}


def probe_disk(path):
    while not os.path.exists(path):
        path = os.path.dirname(path)
    usage = shutil.disk_usage(path)
    free = usage.free / 2**30
    return _feature(free >= MIN_FREE_GIB, "%.1f GiB free at %s (wanted >= %d)" % (free, path, MIN_FREE_GIB)) | {
        "free_gib": round(free, 1)}


def probe_load():
    one, five, _fifteen = os.getloadavg()
    cores = os.cpu_count() or 1
    return _feature(one / cores <= MAX_LOAD_PER_CORE, "load %.1f / %.1f (1/5 min) on %d cores" % (
        one, five, cores)) | {"load1": round(one, 2), "cores": cores}


def probe():
    proc_fs = _read("/proc/filesystems")
    engine = probe_engine()
    features = {
        "autofs": probe_autofs(proc_fs),
        "cifs": probe_cifs(proc_fs),
        "tun": probe_node("/dev/net/tun", "no tailscaled TUN in containers"),
        "fuse": probe_node("/dev/fuse", "no FUSE in containers"),
        "binfmt_misc": probe_binfmt(proc_fs),
        "cgroup": probe_cgroup(_read("/proc/mounts")),
        "engine": engine,
        "disk": probe_disk(engine.get("root") or "/var/lib/docker"),
        "load": probe_load(),
    }
    return {"kernel": os.uname().release, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "features": features}


def table(result):
    rows = [("feature", "here", "detail")] + [
        (name, "yes" if feat["ok"] else "NO", feat["detail"]) for name, feat in result["features"].items()]
    width = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = ["host probe (kernel %s, %s)" % (result["kernel"], result["time"])]
    lines += ["  %-*s  %-*s  %s" % (width[0], a, width[1], b, c) for a, b, c in rows]
    return "\n".join(lines)


def write(result, path=CACHE):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=2, sort_keys=True)
        fh.write("\n")
    os.replace(tmp, path)
    return path


def main(argv):
    result = probe()
    path = write(result)
    if "--json" in argv:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(table(result))
        print("  written to %s" % os.path.relpath(path, ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: colab.cluster developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: preflight_check
short_description: Read-only checks of a node before a converge changes it
version_added: 1.1.0
description:
  - Checks, in one call and without changing anything, what the roles about to run on a
    Linux or macOS node depend on - the operating system and architecture, the Python
    running the module, free disk where images and data go, the clock, the ports the
    roles will bind (and who holds them), the names the roles resolve, and block
    devices - and returns one row per check.
  - It never fails because a check fails. The C(colab.cluster.preflight) role gathers the
    rows of every host and reports them together before anything changes.
  - A port is V(ours) when the process or Compose service holding it is one the
    collection manages there, so a converge of a running cluster passes.
author:
  - colab.cluster developers (@colab)
requirements:
  - C(ss) (iproute2) on Linux, C(lsof) on macOS, to name who holds a port; C(docker) when
    containers may hold ports.
attributes:
  check_mode:
    support: full
    description: Only reads; the same result in check mode.
  diff_mode:
    support: none
    description: Nothing is changed, so there is nothing to show.
  idempotent:
    support: full
    description: Reads only.
  platform:
    support: full
    platforms: [posix]
    description: Linux and macOS nodes.
options:
  supported:
    description:
      - The supported systems, each a dict with C(system) (V(Linux) or V(Darwin)),
        optional C(distribution) (the C(ID) of C(/etc/os-release)), C(versions) (a list of
        C(VERSION_ID) values) and C(architectures) (C(uname -m) values).
    type: list
    elements: dict
    default: []
  min_python:
    description: The lowest Python version (V(3.9)) the modules need.
    type: str
    default: "3.9"
  paths:
    description:
      - Where data goes, each a dict with C(path) and C(min_free_gib). The nearest
        existing parent of a path that does not exist yet is measured.
    type: list
    elements: dict
    default: []
  ports:
    description:
      - The ports the roles will bind, each a dict with C(port), C(proto) (V(tcp) or
        V(udp)), C(role) (who needs it) and C(owners), a list of what may hold it already.
      - "An owner is C({process: NAME}), C({project: NAME, service: NAME}) (a Compose
        service, the service optional) or C({container: NAME})."
      - An owner with C(adopt=true) is something the role will take over (its adoption
        variable names it); the row is then V(warn), not V(fail).
    type: list
    elements: dict
    default: []
  names:
    description: Host names the roles resolve (each must resolve on the node).
    type: list
    elements: str
    default: []
  devices:
    description: Block devices that must be present.
    type: list
    elements: str
    default: []
  controller_time:
    description: The controller's clock (seconds since the epoch) when the task started.
    type: float
  max_clock_skew:
    description: Largest difference in seconds between the node's and the controller's clocks.
    type: int
    default: 60
  timeout:
    description: Seconds allowed for each command (ss, lsof, docker) and each name lookup.
    type: int
    default: 10
"""

EXAMPLES = r"""
- name: Check cooperator before the storage and services layers
  colab.cluster.preflight_check:
    supported:
      - {system: Linux, distribution: debian, versions: ["13"], architectures: [aarch64, x86_64]}
    paths:
      - {path: /var/lib/docker, min_free_gib: 10}
    ports:
      - {port: 445, proto: tcp, role: samba_server, owners: [{process: smbd}]}
      - {port: 3300, proto: tcp, role: gitea, owners: [{project: gitea, service: gitea}]}
    names: [deb.debian.org]
    controller_time: "{{ now(utc=true).timestamp() }}"
  register: preflight
"""

RETURN = r"""
checks:
  description: One row per check.
  returned: always
  type: list
  elements: dict
  contains:
    check:
      description: What was checked (V(os), V(python), V(disk /var/lib/docker), V(port 80/tcp), ...).
      type: str
    status:
      description: V(ok), V(warn) or V(fail).
      type: str
    detail:
      description: What was found, naming the process or container that holds a port.
      type: str
  sample:
    - {check: port 80/tcp, status: fail, detail: "edge needs it; held by container caddy (not managed by colab.cluster)"}
failures:
  description: How many rows have status V(fail).
  returned: always
  type: int
"""

import json
import os
import platform
import re
import socket
import subprocess
import sys
import threading
import time

from ansible.module_utils.basic import AnsibleModule

GIB = 1024 ** 3


def _run(argv, timeout):
    """(rc, stdout) of a read-only command; rc 127 when it is not installed."""
    try:
        # run_command has no timeout: a hung ss/lsof/docker must not hang the check
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,  # pylint: disable=ansible-bad-function
                              timeout=timeout, check=False, text=True)
    except FileNotFoundError:
        return 127, ""
    except subprocess.TimeoutExpired:
        return 124, ""
    return proc.returncode, proc.stdout


def read_os_release(text):
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip('"')
    return values


def check_os(supported, system, machine, os_release):
    found = f"{system} {os_release.get('ID', '')} {os_release.get('VERSION_ID', '')} {machine}".split()
    found = " ".join(found)
    if not supported:
        return "ok", found
    for entry in supported:
        if entry.get("system") and entry["system"] != system:
            continue
        if entry.get("distribution") and entry["distribution"] != os_release.get("ID"):
            continue
        if entry.get("versions") and os_release.get("VERSION_ID") not in [str(v) for v in entry["versions"]]:
            continue
        if entry.get("architectures") and machine not in entry["architectures"]:
            continue
        return "ok", found
    return "fail", f"{found} is not a supported system"


def free_gib(path):
    probe = path
    while probe and not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    st = os.statvfs(probe or "/")
    return st.f_bavail * st.f_frsize / GIB, probe


# `ss -Hlnp` rows: "tcp LISTEN 0 4096 0.0.0.0:80 0.0.0.0:* users:(("caddy",pid=812,fd=3))"
_SS_USER = re.compile(r'\("([^"]+)",pid=(\d+)')


def parse_ss(text, proto):
    """{(proto, port): [(process, pid)]} from `ss -Hlnpt` or `ss -Hlnpu` output (iproute2).

    With one of -t/-u there is no Netid column: State Recv-Q Send-Q Local Peer [Process].
    """
    found = {}
    for line in text.splitlines():
        cols = line.split()
        if len(cols) < 5:
            continue
        local = cols[3]
        port = local.rsplit(":", 1)[-1]
        if not port.isdigit():
            continue
        users = _SS_USER.findall(line)
        found.setdefault((proto, int(port)), []).extend((name, int(pid)) for name, pid in users)
    return found


# `lsof -nP -iTCP -sTCP:LISTEN` rows: "caddy 812 root 3u IPv4 ... TCP *:80 (LISTEN)"
def parse_lsof(text, proto):
    found = {}
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 9:
            continue
        port = cols[8].rsplit(":", 1)[-1]
        if port.isdigit():
            found.setdefault((proto, int(port)), []).append((cols[0], int(cols[1])))
    return found


_PUBLISHED = re.compile(r"(?:[\d.]+|\[[0-9a-f:]*\]|::)?:(\d+)(?:-(\d+))?->\d+(?:-\d+)?/(tcp|udp)")


def parse_docker_ps(lines):
    """{(proto, port): [container]} from `docker ps --format '{{json .}}'` lines."""
    found = {}
    for line in lines:
        line = line.strip()
        if not line:
            continue
        row = json.loads(line)
        labels = dict(item.partition("=")[::2] for item in (row.get("Labels") or "").split(",") if item)
        container = {"name": row.get("Names", ""),
                     "project": labels.get("com.docker.compose.project", ""),
                     "service": labels.get("com.docker.compose.service", "")}
        for match in _PUBLISHED.finditer(row.get("Ports") or ""):
            first = int(match.group(1))
            last = int(match.group(2) or first)
            for port in range(first, last + 1):
                entries = found.setdefault((match.group(3), port), [])
                if container not in entries:
                    entries.append(container)
    return found


def describe_container(container):
    if container["project"]:
        return (f"container {container['name']} (Compose project '{container['project']}', "
                f"service '{container['service']}')")
    return f"container {container['name']} (started by hand, not a Compose project)"


def check_port(spec, listeners, containers):
    port = int(spec["port"])
    proto = spec.get("proto", "tcp")
    role = spec.get("role", "a role")
    owners = spec.get("owners") or []
    procs = listeners.get((proto, port), [])
    held = containers.get((proto, port), [])
    # docker-proxy listens for a published port: the container is the holder
    procs = [p for p in procs if p[0] != "docker-proxy"] if held else procs
    if not procs and not held:
        return "ok", f"free ({role} will bind it)"

    def owner_of(container=None, process=None):
        for owner in owners:
            if container is not None and owner.get("project") == container["project"] and \
                    owner.get("service", container["service"]) == container["service"]:
                return owner
            if container is not None and owner.get("container") == container["name"]:
                return owner
            if process is not None and owner.get("process") == process:
                return owner
        return None

    foreign, adopted = [], []
    for container in held:
        owner = owner_of(container=container)
        (adopted if owner and owner.get("adopt") else foreign if not owner else []).append(
            describe_container(container))
    for name, pid in procs:
        owner = owner_of(process=name)
        (adopted if owner and owner.get("adopt") else foreign if not owner else []).append(
            f"process {name} (pid {pid})")
    if foreign:
        return "fail", f"{role} needs it; held by {', '.join(foreign)}"
    if adopted:
        return "warn", f"{role} will take it over from {', '.join(adopted)} (adoption asked for)"
    holders = [describe_container(c) for c in held] + [f"process {n}" for n, _p in procs]
    return "ok", f"held by {role}'s own {', '.join(holders)}"


def port_clashes(ports):
    """Rows for each port two roles of one host both declare: only one of them can bind it.

    Returns [(check, detail)], e.g. ("port 9090/tcp", "samba_server (Cockpit) and headscale
    (metrics) both need it; give one of them another port").
    """
    claims = {}
    for spec in ports:
        key = (spec.get("proto", "tcp"), int(spec["port"]))
        role = spec.get("role", "a role")
        claims.setdefault(key, [])
        if role not in claims[key]:
            claims[key].append(role)
    return [(f"port {port}/{proto}", f"{' and '.join(roles)} both need it; give one of them another port")
            for (proto, port), roles in sorted(claims.items(), key=lambda kv: (kv[0][1], kv[0][0]))
            if len(roles) > 1]


def resolve(name, timeout):
    result = {}

    def work():
        try:
            result["addr"] = sorted({ai[4][0] for ai in socket.getaddrinfo(name, None)})
        except OSError as exc:
            result["error"] = str(exc)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return "fail", f"no answer within {timeout}s"
    if "error" in result:
        return "fail", f"does not resolve ({result['error']})"
    return "ok", ", ".join(result["addr"])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            supported=dict(type="list", elements="dict", default=[]),
            min_python=dict(type="str", default="3.9"),
            paths=dict(type="list", elements="dict", default=[]),
            ports=dict(type="list", elements="dict", default=[]),
            names=dict(type="list", elements="str", default=[]),
            devices=dict(type="list", elements="str", default=[]),
            controller_time=dict(type="float"),
            max_clock_skew=dict(type="int", default=60),
            timeout=dict(type="int", default=10),
        ),
        supports_check_mode=True,
    )
    p = module.params
    for idx, spec in enumerate(p["ports"]):
        port = spec.get("port")
        if not str(port).isdigit() or not 0 < int(port) < 65536:
            module.fail_json(msg=f"ports[{idx}].port must be a port number (1-65535), got {port!r}")
        if spec.get("proto", "tcp") not in ("tcp", "udp"):
            module.fail_json(msg=f"ports[{idx}].proto must be tcp or udp, got {spec.get('proto')!r}")
    for idx, spec in enumerate(p["paths"]):
        if not str(spec.get("path", "")).startswith("/"):
            module.fail_json(msg=f"paths[{idx}].path must be an absolute path, got {spec.get('path')!r}")

    checks = []

    def add(check, status, detail):
        checks.append({"check": check, "status": status, "detail": detail})

    system = platform.system()
    os_release = {}
    if os.path.exists("/etc/os-release"):
        with open("/etc/os-release", encoding="utf-8") as fh:
            os_release = read_os_release(fh.read())
    elif system == "Darwin":
        os_release = {"ID": "macos", "VERSION_ID": platform.mac_ver()[0]}
    add("os", *check_os(p["supported"], system, platform.machine(), os_release))

    want = tuple(int(x) for x in p["min_python"].split("."))
    have = sys.version_info[:len(want)]
    add("python", "ok" if have >= want else "fail",
        f"{platform.python_version()} at {sys.executable}" + ("" if have >= want else f" (needs {p['min_python']})"))

    for spec in p["paths"]:
        gib, probe = free_gib(spec["path"])
        need = float(spec.get("min_free_gib", 1))
        where = spec["path"] if probe == spec["path"] else f"{spec['path']} (on {probe})"
        add(f"disk {spec['path']}", "ok" if gib >= need else "fail",
            f"{gib:.1f} GiB free at {where}, {need:g} GiB needed")

    if p["controller_time"] is not None:
        skew = time.time() - p["controller_time"]
        status = "ok" if abs(skew) <= p["max_clock_skew"] else "fail"
        detail = f"{skew:+.0f}s from the controller (at most {p['max_clock_skew']}s)"
        rc, out = _run(["timedatectl", "show", "--property=NTPSynchronized", "--value"], p["timeout"])
        if rc == 0 and out.strip() == "no":
            detail += "; NTP not synchronised"
            status = "warn" if status == "ok" else status
        add("clock", status, detail)

    if p["ports"]:
        listeners = {}
        if system == "Linux":
            for flag, proto in (("-t", "tcp"), ("-u", "udp")):
                rc, out = _run(["ss", "-Hlnp", flag], p["timeout"])
                if rc == 0:
                    listeners.update(parse_ss(out, proto))
                else:
                    add("ports", "warn", f"ss {flag} failed (rc {rc}): listeners not read")
        else:
            rc, out = _run(["lsof", "-nP", "-iTCP", "-sTCP:LISTEN"], p["timeout"])
            if rc in (0, 1):
                listeners.update(parse_lsof(out, "tcp"))
        containers = {}
        rc, out = _run(["docker", "ps", "--format", "{{json .}}"], p["timeout"])
        if rc == 0:
            containers = parse_docker_ps(out.splitlines())
        for spec in p["ports"]:
            add(f"port {spec['port']}/{spec.get('proto', 'tcp')}", *check_port(spec, listeners, containers))
        for check, detail in port_clashes(p["ports"]):
            add(check, "fail", detail)

    for name in p["names"]:
        add(f"name {name}", *resolve(name, p["timeout"]))

    for device in p["devices"]:
        if not os.path.exists(device):
            add(f"device {device}", "fail", "not present")
        else:
            add(f"device {device}", "ok", "present")

    module.exit_json(changed=False, checks=checks,
                     failures=sum(1 for c in checks if c["status"] == "fail"))


if __name__ == "__main__":
    main()

"""Cockpit listens only where the exposure table says: the samba_server role's
cockpit.socket drop-in, applied by the real systemd (issue 30).

A colab/debian-systemd:trixie container (systemd as PID 1, no network) gets Cockpit's socket
unit transcribed from cockpit-project/cockpit src/systemd/cockpit.socket.in@337 (Debian
13's cockpit; @datadir@/@PACKAGE@ filled in as Debian installs it) and a stand-in
cockpit.service (systemd refuses to start a socket whose service is missing). Without the
drop-in systemd binds *:9090; with the drop-in the role renders for the lab's cooperator
(tests/unit/roles/test_exposure_render.py), after daemon-reload and a restart of the
socket, it binds 127.0.0.1:9090 and nothing else. Cockpit itself is not installed here.
"""
from __future__ import annotations

import subprocess
import time
import uuid

import pytest

from tests.unit.roles.test_exposure_render import render

IMAGE = "colab/debian-systemd:trixie"
# cockpit-project/cockpit src/systemd/cockpit.socket.in@337
SOCKET_UNIT = """[Unit]
Description=Cockpit Web Service Socket
Documentation=man:cockpit-ws(8)
Wants=cockpit-issue.service

[Socket]
ListenStream=9090
ExecStartPost=-/usr/share/cockpit/issue/update-issue '' localhost
ExecStartPost=-/bin/ln -snf active.issue /run/cockpit/issue
ExecStopPost=-/bin/ln -snf inactive.issue /run/cockpit/issue

[Install]
WantedBy=sockets.target
"""
STAND_IN_SERVICE = "[Service]\nExecStart=/bin/sleep infinity\n"


def _docker(*args, check=True, timeout=120, stdin=None):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check,
                          timeout=timeout, input=stdin)


def _listening_9090(name):
    out = _docker("exec", name, "ss", "-tlnH").stdout
    return sorted(line.split()[3] for line in out.splitlines() if line.split()[3].endswith(":9090"))


def _write(name, path, text):
    _docker("exec", "-i", name, "sh", "-c", f"mkdir -p \"$(dirname {path})\" && cat > {path}", stdin=text)


def _wait_for_systemd(name):
    for _attempt in range(60):
        state = _docker("exec", name, "systemctl", "is-system-running", check=False).stdout.strip()
        if state in ("running", "degraded"):
            return
        time.sleep(1)
    pytest.fail(f"systemd in {name} did not come up: {state}")


@pytest.fixture()
def node():
    name = f"colab-cockpit-listen-{uuid.uuid4().hex[:8]}"
    _docker("run", "-d", "--name", name, "--network", "none", "--cgroupns", "host",
            "--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined",
            "--security-opt", "apparmor=unconfined", "--tmpfs", "/run", "--tmpfs", "/run/lock",
            "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", IMAGE, "/lib/systemd/systemd")
    try:
        _wait_for_systemd(name)
        yield name
    finally:
        _docker("rm", "-f", name, check=False)


def test_the_drop_in_moves_cockpit_to_loopback(node, tmp_path):
    _write(node, "/etc/systemd/system/cockpit.socket", SOCKET_UNIT)
    _write(node, "/etc/systemd/system/cockpit.service", STAND_IN_SERVICE)
    _docker("exec", node, "systemctl", "daemon-reload")
    _docker("exec", node, "systemctl", "start", "cockpit.socket")
    # Cockpit's own unit: every address
    assert _listening_9090(node) == ["*:9090"]
    conf = render("lab", tmp_path)["cooperator"]["cockpit"]
    _write(node, "/etc/systemd/system/cockpit.socket.d/listen.conf", conf)
    # what the role's handler does: daemon-reload, restart the socket
    _docker("exec", node, "systemctl", "daemon-reload")
    _docker("exec", node, "systemctl", "restart", "cockpit.socket")
    assert _listening_9090(node) == ["127.0.0.1:9090"]
    listen = _docker("exec", node, "systemctl", "show", "cockpit.socket", "-p", "Listen").stdout
    assert listen.strip() == "Listen=127.0.0.1:9090 (Stream)", listen

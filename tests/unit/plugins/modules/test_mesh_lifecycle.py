"""The headscale modules against the mesh double (tests/doubles/mesh), run for real.

Each test starts the headscale double's server on loopback in a scratch directory and a
tailscaled double, then runs a module whose CLI calls go to the double's executables.
The double keeps state on disk (SQLite), so a logout, a reinstall and a re-key happen the
way the upstream sources describe them (see the double's docstrings).
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from ansible_collections.colab.cluster.plugins.modules import headscale_preauth_key
from tests.helpers import ROOT
from tests.unit.plugins.modules.mesh_doubles import run_module

DOUBLE = os.path.join(ROOT, "tests", "doubles", "mesh")


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_socket(path):
    for _attempt in range(100):
        if os.path.exists(path):
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


class Mesh:
    def __init__(self, tmp_path, version="0.26.1"):
        self.dir = tmp_path
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (tmp_path / "headscale.version").write_text(version + "\n")
        (tmp_path / "tailscale.version").write_text("1.82.5\n")
        self.config = tmp_path / "config.yaml"
        self.config.write_text(
            f"server_url: {self.url}\nlisten_addr: 127.0.0.1:{self.port}\n"
            f"noise:\n  private_key_path: {tmp_path}/noise.key\n"
            "prefixes:\n  v4: 100.64.0.0/16\n  allocation: sequential\n"
            f"database:\n  type: sqlite\n  sqlite:\n    path: {tmp_path}/db.sqlite\n"
            f"unix_socket: {tmp_path}/hs.sock\n"
            "dns:\n  magic_dns: true\n  base_domain: colab\n")
        self.env = dict(os.environ, HEADSCALE_DOUBLE_VERSION_FILE=str(tmp_path / "headscale.version"))
        self.procs = [subprocess.Popen(self.hs_argv("serve"), env=self.env)]
        _wait_socket(str(tmp_path / "hs.sock"))
        self.clients = {}

    def hs_argv(self, *args):
        return [sys.executable, os.path.join(DOUBLE, "headscale.py"), "--config", str(self.config), *args]

    def hs(self, *args):
        out = subprocess.run(self.hs_argv(*args, "-o", "json"), env=self.env, capture_output=True,
                             text=True, check=True, timeout=30)
        return json.loads(out.stdout)

    def client(self, name, fresh=False):
        """Start (or restart with a wiped state: a reinstall) the tailscaled double of ``name``."""
        state = self.dir / f"{name}.state"
        if fresh and state.exists():
            state.unlink()
        env = dict(self.env, TAILSCALE_DOUBLE_STATE=str(state),
                   TAILSCALE_DOUBLE_SOCKET=str(self.dir / f"{name}.sock"))
        if name not in self.clients:
            tailscale = os.path.join(self.dir, "tailscale.py")
            if not os.path.exists(tailscale):
                os.symlink(os.path.join(DOUBLE, "tailscale.py"), tailscale)
            self.procs.append(subprocess.Popen([sys.executable, tailscale, "__daemon__"], env=env))
            _wait_socket(str(self.dir / f"{name}.sock"))
        elif fresh:
            # the daemon creates a fresh state (a new machine key) when none is there
            state.write_text(json.dumps({"machine_key": "mkey:" + os.urandom(32).hex(), "prefs": {
                "ControlURL": "https://controlplane.tailscale.com", "RouteAll": False, "ExitNodeID": "",
                "ExitNodeIP": "", "CorpDNS": True, "RunSSH": False, "WantRunning": False,
                "LoggedOut": False, "ShieldsUp": False, "AdvertiseTags": None, "Hostname": "",
                "AdvertiseRoutes": None}, "node_key": "", "node": None}))
        self.clients[name] = env
        return env

    def ts(self, name, *args, check=True):
        out = subprocess.run([sys.executable, os.path.join(self.dir, "tailscale.py"), *args],
                             env=self.clients[name], capture_output=True, text=True, timeout=30,
                             check=False)
        if check:
            assert out.returncode == 0, out.stderr
        return out

    def join(self, name):
        user = self.hs("users", "list")[0]
        key = self.hs("preauthkeys", "create", "--user", str(user["id"]), "--expiration", "10m")["key"]
        (self.dir / "key").write_text(key)
        self.ts(name, "up", "--reset", f"--login-server={self.url}", f"--auth-key=file:{self.dir}/key",
                f"--hostname={name}")
        return json.loads(self.ts(name, "status", "--json").stdout)

    def commands(self, module, argv, environ_update=None, **kwargs):
        """run_command for the modules: the double instead of /usr/bin/headscale."""
        argv = list(argv)
        if argv[0].endswith("timeout"):
            argv = argv[3:]
        assert argv[0].endswith("headscale")
        out = subprocess.run([sys.executable, os.path.join(DOUBLE, "headscale.py"), *argv[1:]],
                             env=self.env, capture_output=True, text=True, timeout=30, check=False)
        return out.returncode, out.stdout, out.stderr

    def stop(self):
        for proc in self.procs:
            proc.terminate()
            proc.wait(timeout=10)


@pytest.fixture
def mesh(tmp_path):
    world = Mesh(tmp_path)
    world.hs("users", "create", "colab")
    yield world
    world.stop()


def _key_args(mesh, node, **extra):
    return dict({"node": node, "user": "colab", "config_path": str(mesh.config)}, **extra)


def test_logged_out_node_gets_a_new_key_and_keeps_its_node(mesh, monkeypatch, capsys):
    mesh.client("director")
    first = mesh.join("director")
    result, failed = run_module(headscale_preauth_key.main, _key_args(mesh, "director"),
                                monkeypatch, capsys, mesh.commands)
    assert not failed and result["registered"] and result["key"] is None
    mesh.ts("director", "logout")  # headscale only expires the node (hscontrol/auth.go@v0.26.1)
    assert mesh.hs("nodes", "list")[0]["expiry"]
    result, failed = run_module(headscale_preauth_key.main, _key_args(mesh, "director"),
                                monkeypatch, capsys, mesh.commands)
    assert not failed and result["changed"] and result["key"] and result.get("expired")
    (mesh.dir / "key").write_text(result["key"])
    mesh.ts("director", "up", "--reset", f"--login-server={mesh.url}", f"--auth-key=file:{mesh.dir}/key",
            "--hostname=director")
    after = json.loads(mesh.ts("director", "status", "--json").stdout)
    assert after["BackendState"] == "Running"
    # same machine key, same user: the same node and address (hscontrol/db/node.go@v0.26.1)
    assert after["Self"]["TailscaleIPs"] == first["Self"]["TailscaleIPs"]
    assert len(mesh.hs("nodes", "list")) == 1


def test_reinstalled_node_replaces_its_stale_registration(mesh, monkeypatch, capsys):
    from ansible_collections.colab.cluster.plugins.modules import headscale_node

    mesh.client("director")
    mesh.join("director")
    mesh.client("director", fresh=True)  # a reinstall: a new machine key
    status = mesh.join("director")
    nodes = mesh.hs("nodes", "list")
    assert len(nodes) == 2 and nodes[1]["given_name"].startswith("director-")
    args = {"name": "director", "node_key": status["Self"]["PublicKey"], "config_path": str(mesh.config)}
    check, failed = run_module(headscale_node.main, args, monkeypatch, capsys, mesh.commands, check_mode=True)
    assert not failed and check["changed"] and check["deleted"] == [nodes[0]["id"]]
    assert len(mesh.hs("nodes", "list")) == 2
    result, failed = run_module(headscale_node.main, args, monkeypatch, capsys, mesh.commands, diff=True)
    assert not failed and result["changed"] and result["renamed"][1] == "director"
    nodes = mesh.hs("nodes", "list")
    assert [(n["name"], n["given_name"]) for n in nodes] == [("director", "director")]
    assert nodes[0]["ip_addresses"] == ["100.64.0.2"]  # the next address, in order
    again, failed = run_module(headscale_node.main, args, monkeypatch, capsys, mesh.commands)
    assert not failed and not again["changed"]


def test_a_used_or_expired_key_is_refused_by_the_double(mesh):
    mesh.client("a")
    mesh.join("a")
    mesh.client("b")
    out = mesh.ts("b", "up", "--reset", f"--login-server={mesh.url}", f"--auth-key=file:{mesh.dir}/key",
                  "--hostname=b", check=False)
    assert out.returncode == 1 and "authkey already used" in out.stderr

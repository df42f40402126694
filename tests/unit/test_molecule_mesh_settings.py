"""molecule/mesh runs the real headscale and tailscaled with the lab's no-leak settings: the
values its molecule.yml copies from inventory/lab/group_vars stay equal to them, its versions
are the ones lab/gobuild.py builds, and its tailnet is its own."""
from __future__ import annotations

import importlib.util
import ipaddress
import os

import yaml

from tests.helpers import ROOT


def _load(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _module(name, path):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCENARIO = _load("molecule", "mesh", "molecule.yml")
GROUP_VARS = SCENARIO["provisioner"]["inventory"]["group_vars"]
LAB = {group: _load("inventory", "lab", "group_vars", f"{group}.yml")
       for group in ("headscale_servers", "mesh_clients")}


def test_the_coordinators_no_leak_settings_are_the_labs():
    for key in ("headscale_derp_urls", "headscale_derp_embedded"):
        assert GROUP_VARS["headscale_servers"][key] == LAB["headscale_servers"][key], key
    # Not the lab's (its edge resolver), but never a public resolver either.
    for server in GROUP_VARS["headscale_servers"]["headscale_nameservers_global"]:
        assert not ipaddress.ip_address(server).is_global, server


def test_the_clients_no_leak_settings_are_the_labs():
    mine, lab = GROUP_VARS["mesh_clients"], LAB["mesh_clients"]
    assert mine["tailscale_accept_dns"] == lab["tailscale_accept_dns"]
    # The lab's env exactly (the control URL is HTTPS here too: no plain-HTTP DERP knob).
    assert mine["tailscale_daemon_env"] == lab["tailscale_daemon_env"]
    # The lab's flags are a template (userspace networking without TUN): its fixed flag.
    assert mine["tailscale_daemon_flags"] == ["--no-logs-no-support"]
    assert "'--no-logs-no-support'" in lab["tailscale_daemon_flags"]


def test_the_versions_are_the_ones_gobuild_builds():
    gobuild = _module("colab_gobuild_test", os.path.join("lab", "gobuild.py"))
    assert GROUP_VARS["headscale_servers"]["headscale_version"] == gobuild.HEADSCALE_UPGRADE_FROM
    assert gobuild.HEADSCALE_UPGRADE_FROM in gobuild.wanted_versions("headscale")


def test_every_container_gets_the_tun_device():
    for platform in SCENARIO["platforms"]:
        assert platform.get("devices") == ["/dev/net/tun"], platform["name"]
        assert "NET_ADMIN" in platform["capabilities"], platform["name"]


def test_the_scenarios_tailnet_is_its_own():
    mine = ipaddress.ip_network(GROUP_VARS["all"]["mesh_cidr"])
    lab = ipaddress.ip_network(_load("inventory", "lab", "group_vars", "all", "cluster.yml")["colab_mesh_cidr"])
    assert mine.subnet_of(ipaddress.ip_network("100.64.0.0/10"))
    assert not mine.overlaps(lab)
    assert not mine.overlaps(ipaddress.ip_network("100.64.0.0/24")), "the seed's addresses"
    assert GROUP_VARS["headscale_servers"]["headscale_prefix_v4"] == "{{ mesh_cidr }}"
    static = next(r["value"] for r in GROUP_VARS["headscale_servers"]["headscale_extra_records"]
                  if "value" in r)
    assert ipaddress.ip_address(static) in mine


def test_the_guard_units_are_the_labs(monkeypatch):
    """prepare.yml installs what `lab/lab.py guard-units` prints: the lab's own unit texts."""
    lab = _module("colab_lab_test", os.path.join("lab", "lab.py"))
    servers = ["192.0.2.1", "2001:db8::1"]

    class _Gobuild:  # fallback_servers reads the pinned tailscale module (needs Go)
        @staticmethod
        def pinned(_name):
            return "1.102.5"

        @staticmethod
        def fallback_servers(_version):
            return servers

    monkeypatch.setattr(lab, "_gobuild", _Gobuild)
    got = lab.guard_units()
    assert got["units"] == {lab.TAILNET_GUARD_UNIT: lab.TAILNET_GUARD,
                            lab.DERP_GUARD_UNIT: lab.derp_guard(servers)}
    assert got["tailnet_ranges"] == list(lab.TAILNET_RANGES) and got["fallback_servers"] == servers
    assert "unreachable 100.64.0.0/10" in got["units"][lab.TAILNET_GUARD_UNIT]
    prepare = _load("molecule", "mesh", "prepare.yml")
    argv = [task["ansible.builtin.command"]["argv"] for play in prepare for task in play.get("tasks", [])
            if "lab/lab.py" in str(task.get("ansible.builtin.command", {}))]
    assert argv and argv[0][-1] == "guard-units"

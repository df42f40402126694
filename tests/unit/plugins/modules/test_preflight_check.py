"""preflight_check's readers and rules, fed with recorded real outputs (fixtures/preflight/README.md)."""
from __future__ import annotations

import os

import pytest

from ansible_collections.colab.cluster.plugins.modules import preflight_check as pc

FIX = os.path.join(os.path.dirname(__file__), "fixtures", "preflight")


def fixture(name):
    with open(os.path.join(FIX, name), encoding="utf-8") as fh:
        return fh.read()


def test_docker_ps_json_maps_published_ports_to_containers():
    found = pc.parse_docker_ps(fixture("docker_ps_json.dockerd-20.10.24.txt").splitlines())
    gitea = {"name": "colab-pf-capture", "project": "compose", "service": "gitea"}
    assert found[("tcp", 39999)] == [gitea]
    assert found[("udp", 39998)] == [gitea]  # IPv4 and [::] bindings count once
    assert found[("tcp", 39997)] == [{"name": "colab-pf-capture2", "project": "", "service": ""}]
    assert ("tcp", 39998) not in found


def test_port_held_by_a_foreign_compose_project_names_it():
    containers = pc.parse_docker_ps(fixture("docker_ps_json.dockerd-20.10.24.txt").splitlines())
    spec = {"port": 39999, "proto": "tcp", "role": "gitea (web)", "owners": [{"project": "gitea", "service": "gitea"}]}
    status, detail = pc.check_port(spec, {("tcp", 39999): [("docker-proxy", 10)]}, containers)
    assert status == "fail"
    assert "container colab-pf-capture (Compose project 'compose', service 'gitea')" in detail
    assert "docker-proxy" not in detail


def test_port_held_by_our_own_service_or_to_be_adopted():
    containers = pc.parse_docker_ps(fixture("docker_ps_json.dockerd-20.10.24.txt").splitlines())
    ours = {"port": 39999, "proto": "tcp", "role": "gitea", "owners": [{"project": "compose", "service": "gitea"}]}
    assert pc.check_port(ours, {}, containers)[0] == "ok"
    owners = [{"process": "caddy"}, {"container": "colab-pf-capture2", "adopt": True}]
    adopt = {"port": 39997, "proto": "tcp", "role": "edge", "owners": owners}
    status, detail = pc.check_port(adopt, {}, containers)
    assert status == "warn" and "take it over from container colab-pf-capture2" in detail
    hand = {"port": 39997, "proto": "tcp", "role": "edge", "owners": [{"process": "caddy"}]}
    status, detail = pc.check_port(hand, {}, containers)
    assert status == "fail" and "started by hand, not a Compose project" in detail


def test_ss_rows_name_the_process():
    tcp = pc.parse_ss(fixture("ss_tcp.iproute2-trixie.txt"), "tcp")
    assert "smbd" in [name for name, _pid in tcp[("tcp", 445)]]  # IPv4 and [::] rows
    assert [name for name, _pid in tcp[("tcp", 80)]] == ["caddy"]
    assert ("tcp", 46803) in tcp and tcp[("tcp", 46803)] == []  # Docker's DNS: no process shown
    ours = {"port": 80, "proto": "tcp", "role": "edge (Caddy)", "owners": [{"process": "caddy"}]}
    assert pc.check_port(ours, tcp, {})[0] == "ok"
    spec = {"port": 445, "proto": "tcp", "role": "a test", "owners": [{"process": "caddy"}]}
    status, detail = pc.check_port(spec, tcp, {})
    assert status == "fail" and "process smbd (pid" in detail
    udp = pc.parse_ss(fixture("ss_udp.iproute2-trixie.txt"), "udp")
    assert [name for name, _pid in udp[("udp", 443)]] == ["caddy"]  # HTTP/3
    assert pc.check_port({"port": 1, "proto": "tcp", "role": "x", "owners": []}, tcp, {})[0] == "ok"


@pytest.mark.parametrize("release,machine,status", [
    ("ID=debian\nVERSION_ID=\"13\"\n", "aarch64", "ok"),
    ("ID=debian\nVERSION_ID=\"13\"\n", "x86_64", "ok"),
    ("ID=debian\nVERSION_ID=\"12\"\n", "x86_64", "fail"),
    ("ID=ubuntu\nVERSION_ID=\"24.04\"\n", "x86_64", "fail"),
    ("ID=debian\nVERSION_ID=\"13\"\n", "armv7l", "fail"),
])
def test_supported_systems(release, machine, status):
    supported = [{"system": "Linux", "distribution": "debian", "versions": ["13"],
                  "architectures": ["aarch64", "x86_64"]}, {"system": "Darwin"}]
    assert pc.check_os(supported, "Linux", machine, pc.read_os_release(release))[0] == status
    assert pc.check_os(supported, "Darwin", "arm64", {"ID": "macos"})[0] == "ok"


def test_free_disk_measures_the_nearest_existing_parent(tmp_path):
    gib, probe = pc.free_gib(str(tmp_path / "not" / "yet"))
    assert probe == str(tmp_path) and gib > 0


def test_name_lookup_failure_is_reported():
    assert pc.resolve("localhost", 5)[0] == "ok"
    status, detail = pc.resolve("no-such-host.invalid", 5)
    assert status == "fail" and "does not resolve" in detail

"""The lab's mesh plumbing without a lab: the Go builds' package layout and naming
(lab/gobuild.py), the node flags (/dev/net/tun, the tailnet guard), and the traffic
checks of tests/lab/traffic.py on recorded conntrack lines."""
from __future__ import annotations

import importlib.util
import os

import pytest

from tests.helpers import ROOT
from tests.lab.traffic import conntrack_flows, flow_problems, remote_problems


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gobuild = _load("colab_gobuild_unit", os.path.join(ROOT, "lab", "gobuild.py"))
lab = _load("colab_lab_tool_mesh", os.path.join(ROOT, "lab", "lab.py"))

# Lines in the format of this machine's /proc/net/nf_conntrack (kernel 6.18.44, 2026-12-06):
# the first and fourth verbatim, the others made from them with the lab's addresses and ports.
RECORDED = "\n".join([
    "ipv4     2 tcp      6 60 TIME_WAIT src=172.17.0.2 dst=203.0.113.80 sport=44870 dport=80"
    " src=203.0.113.80 dst=192.0.2.2 sport=80 dport=44870 [ASSURED] mark=0 zone=0 use=2",
    "ipv4     2 udp      17 29 src=172.31.254.30 dst=239.255.255.250 sport=41641 dport=1900 [UNREPLIED]"
    " src=239.255.255.250 dst=172.31.254.30 sport=1900 dport=41641 mark=0 zone=0 use=2",
    "ipv4     2 tcp      6 431999 ESTABLISHED src=172.31.254.30 dst=172.31.254.10 sport=50022 dport=443"
    " src=172.31.254.10 dst=172.31.254.30 sport=443 dport=50022 [ASSURED] mark=0 zone=0 use=2",
    "ipv4     2 unknown  2 544 src=172.31.254.1 dst=224.0.0.22 [UNREPLIED]"
    " src=224.0.0.22 dst=172.31.254.1 mark=0 zone=0 use=2",
    "ipv4     2 tcp      6 118 SYN_SENT src=172.31.254.10 dst=203.0.113.80 sport=41000 dport=80"
    " [UNREPLIED] src=203.0.113.80 dst=172.31.254.10 sport=80 dport=41000 mark=0 zone=0 use=2",
]) + "\n"
NODES = {"172.31.254.10", "172.31.254.30"}


def test_conntrack_lines_give_the_flows_of_the_lab_nodes_only():
    flows = conntrack_flows(RECORDED, NODES)
    assert flows == {("udp", "172.31.254.30", "239.255.255.250", 1900),
                     ("tcp", "172.31.254.30", "172.31.254.10", 443),
                     ("tcp", "172.31.254.10", "203.0.113.80", 80)}


def test_a_port_mapping_probe_is_a_problem_and_apt_to_the_archive_is_not():
    flows = conntrack_flows(RECORDED, NODES)
    problems = flow_problems(flows, archive={"203.0.113.80"})
    assert problems == [{"proto": "udp", "src": "172.31.254.30", "dst": "239.255.255.250", "dport": 1900}]
    # Without the archive's address, apt's flow is one too: nothing is allowed by port alone.
    assert len(flow_problems(flows, archive=set())) == 2
    dns = {("udp", "172.31.254.10", "10.255.255.53", 53)}
    assert flow_problems(dns, resolvers={"10.255.255.53"}) == []
    assert flow_problems(dns, resolvers={"10.0.0.2"}) != []


def test_socket_samples_outside_the_lab_are_problems_unless_apt_holds_them():
    samples = [
        {"remote": ["172.31.254.10", 443], "procs": ["tailscaled"]},
        {"remote": ["100.77.0.2", 41641], "procs": ["tailscaled"]},
        {"remote": ["127.0.0.53", 53], "procs": ["python3"]},
        {"remote": ["203.0.113.80", 80], "procs": ["http"]},
        {"remote": ["192.0.2.7", 443], "procs": ["tailscaled"]},
        {"remote": ["::ffff:198.51.100.1", 80], "procs": ["curl"]},
        {"remote": ["172.18.0.2", 5432], "procs": ["gitea-standin"]},
    ]
    bad = remote_problems(samples, extra_nets=["172.18.0.0/16"])
    assert [b["remote"][0] for b in bad] == ["192.0.2.7", "::ffff:198.51.100.1"]


def test_a_closed_socket_to_the_archive_is_apts_not_a_problem():
    """Recorded in the lab layer of `make test` (2026-12-07): apt's finished downloads left
    cooperator's sockets to the archive in TIME_WAIT, held by no process."""
    left = {"remote": ["203.0.113.80", 80], "procs": [], "state": "TIME_WAIT"}
    other_port = {"remote": ["203.0.113.80", 443], "procs": [], "state": "TIME_WAIT"}
    elsewhere = {"remote": ["198.51.100.9", 80], "procs": [], "state": "TIME_WAIT"}
    bad = remote_problems([left, other_port, elsewhere], archive={"203.0.113.80"})
    assert bad == [other_port, elsewhere]
    assert remote_problems([left]) == [left]


def test_packages_are_named_like_the_upstream_releases():
    assert gobuild.deb_name("headscale", "0.29.3", "arm64") == "headscale_0.29.3_linux_arm64.deb"
    assert gobuild.deb_name("tailscale", "1.102.5", "amd64") == "tailscale_1.102.5_amd64.deb"


def test_the_pins_are_the_roles_defaults():
    pins = {name: gobuild.pinned(name) for name in gobuild.DEB_PROGRAMS}
    for name, version in pins.items():
        with open(os.path.join(ROOT, "roles", name, "defaults", "main.yml"), encoding="utf-8") as fh:
            assert f'{name}_version: "{version}"' in fh.read()
    # the upgrade path's start is one minor below the pin
    major, minor = (int(part) for part in pins["headscale"].split(".")[:2])
    assert gobuild.HEADSCALE_UPGRADE_FROM.startswith(f"{major}.{minor - 1}.")


# The head and the exclude block of github.com/docker/compose/v5@v5.6.0's go.mod, verbatim (the
# module proxy's .mod file); its require blocks are left out here, as the throwaway module leaves them.
COMPOSE_GOMOD = """module github.com/docker/compose/v5

go 1.26.8

require (
\tgithub.com/DefangLabs/secret-detector v0.0.0-20260916192156-3e28d7ed64df
)

exclude (
\t// FIXME(thaJeztah): remove this once kubernetes updated their dependencies to no longer need this.
\t//
\t// For additional details, see this PR and links mentioned in that PR:
\t// https://github.com/kubernetes-sigs/kustomize/pull/5830#issuecomment-2569960859
\tgithub.com/davecgh/go-spew v1.1.2-0.20180830191138-d8f796af33cc
\tgithub.com/pmezard/go-difflib v1.0.1-0.20181226105442-5d4384ee4fb2
)
"""


def test_compose_builds_in_a_throwaway_module_with_its_excludes():
    """`go install` refuses compose's go.mod (exclude directives): the throwaway module requires it
    and carries its go line and excludes, which Go applies in the main module only."""
    text = gobuild.throwaway_gomod("github.com/docker/compose/v5", "5.6.0", COMPOSE_GOMOD)
    assert text == ("module colab.invalid/gobuild\n\ngo 1.26.8\n\n"
                    "require github.com/docker/compose/v5 v5.6.0\n\n"
                    "exclude (\n"
                    "\tgithub.com/davecgh/go-spew v1.1.2-0.20180830191138-d8f796af33cc\n"
                    "\tgithub.com/pmezard/go-difflib v1.0.1-0.20181226105442-5d4384ee4fb2\n)\n")
    assert "DefangLabs" not in text
    one_line = "module x\n\ngo 1.25\n\nexclude a.example/b v1.0.0\nreplace c.example/d => e.example/d v1.2.0\n"
    assert gobuild.throwaway_gomod("x", "1.0.0", one_line).endswith(
        "require x v1.0.0\n\nexclude a.example/b v1.0.0\nreplace c.example/d => e.example/d v1.2.0\n")
    with pytest.raises(SystemExit, match="local path"):
        gobuild.throwaway_gomod("x", "1.0.0", "module x\n\nreplace (\n\tc.example/d => ../d\n)\n")
    assert gobuild.PROGRAMS["compose"]["version"] == "5.6.0"
    assert "compose" not in gobuild.DEB_PROGRAMS


def test_a_module_that_needs_a_newer_go_gets_that_toolchain(tmp_path, monkeypatch):
    gomod = tmp_path / "go.mod"
    gomod.write_text("module example.invalid/x\n\ngo 1.99.1\n", encoding="utf-8")
    monkeypatch.setattr(gobuild, "_go", lambda args, env, timeout=0: "go1.26.8\n")
    assert gobuild.toolchain_for(str(gomod)) == "go1.99.1"
    gomod.write_text("module example.invalid/x\n\ngo 1.24.0\n", encoding="utf-8")
    assert gobuild.toolchain_for(str(gomod)) == "local"


def test_nodes_get_the_tun_device_only_where_the_machine_has_it(monkeypatch):
    monkeypatch.setattr(lab.os.path, "exists", lambda path: path != lab.TUN_DEVICE)
    assert lab.tun_mode()[0] == "userspace" and "/dev/net/tun" in lab.tun_mode()[1]
    assert "--device" not in lab.node_flags()
    monkeypatch.setattr(lab.os.path, "exists", lambda path: True)
    assert lab.tun_mode() == ("tun", "")
    assert lab.node_flags()[-2:] == ["--device", "/dev/net/tun"]


def test_the_tailnet_guard_makes_both_ranges_unreachable_before_tailscaled():
    unit = lab.TAILNET_GUARD
    assert "Before=network-pre.target tailscaled.service" in unit
    assert "route replace unreachable 100.64.0.0/10" in unit
    assert "route replace unreachable fd7a:115c:a1e0::/48" in unit


def test_the_derp_guard_makes_every_fallback_server_unreachable():
    """Every bootstrap-DNS address gets an unreachable route, IPv4 as /32 and IPv6 as /128,
    and the unit runs before tailscaled."""
    text = lab.derp_guard(["192.0.2.1", "198.51.100.7", "2001:db8::1"])
    assert "Before=network-pre.target tailscaled.service" in text
    v4 = next(line for line in text.splitlines() if "ip -4" in line)
    v6 = next(line for line in text.splitlines() if "ip -6" in line)
    assert "for a in 192.0.2.1 198.51.100.7;" in v4 and "unreachable $a/32" in v4
    assert v4.startswith("ExecStart=/bin/sh -ec")  # an IPv4 route that fails fails the unit
    assert "for a in 2001:db8::1;" in v6 and "unreachable $a/128" in v6
    assert v6.startswith("ExecStart=-")  # a node without IPv6 still starts


def test_docker_dns_forwarding_socket_is_allowed_only_to_the_machines_resolvers():
    """The socket CI's lab run sampled in cooperator (2026-12-07, tests/lab/test_mesh.py's
    failure message): UDP from the node's address to the machine's resolver on 53, held by no
    process in the node: Docker's embedded DNS forwarding a lookup from the node's namespace."""
    forwarded = {"ns": "net:[4026532182]", "proto": "udp", "local": ["172.31.254.10", 46689],
                 "remote": ["10.255.255.53", 53], "state": "udp", "procs": []}
    assert remote_problems([forwarded], resolvers={"10.255.255.53"}) == []
    # not to another address, not to another port, not TCP, and not held by a node process
    assert remote_problems([forwarded]) == [forwarded]
    assert remote_problems([forwarded], resolvers={"10.0.0.2"}) == [forwarded]
    other_port = {**forwarded, "remote": ["10.255.255.53", 5353]}
    tcp = {**forwarded, "proto": "tcp"}
    by_process = {**forwarded, "procs": ["dig"]}
    assert remote_problems([other_port, tcp, by_process], resolvers={"10.255.255.53"}) == [
        other_port, tcp, by_process]

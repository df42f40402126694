"""The mesh for real in the lab: headscale on cooperator and tailscaled on both nodes, built
from their Go modules (lab/gobuild.py), joined by site.yml through the edge's control URL.

Every tailnet address and name here is read from the nodes (`tailscale status --json`),
never written down: the lab's prefix is its own (inventory/lab colab_mesh_cidr), inside
100.64.0.0/10 and away from the seed's 100.64.0.x.
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess

import pytest
import yaml

from tests.helpers import OUTPUT, ROOT
from tests.lab.conftest import lab_tool
from tests.lab.traffic import debian_archive_addresses, flow_problems, machine_resolvers, remote_problems

pytestmark = pytest.mark.lab


def _inventory_mesh_cidr():
    with open(os.path.join(ROOT, "inventory", "lab", "group_vars", "all", "cluster.yml"),
              encoding="utf-8") as fh:
        return ipaddress.ip_network(yaml.safe_load(fh)["colab_mesh_cidr"])


def _status(host):
    status = lab_tool.tailnet_status(host)
    assert status, f"{host}: `tailscale status --json` does not answer"
    return status


def _v4(node):
    return [ip for ip in node.get("TailscaleIPs", []) if ":" not in ip]


def test_the_programs_are_the_ones_built_from_their_modules(converged_lab, tmp_path):
    """headscale and tailscaled in the nodes are ELF binaries whose build info names the
    upstream module and the pinned version (not the double, which is a Python script)."""
    pins = json.loads(subprocess.run(["python3", os.path.join(ROOT, "lab", "gobuild.py"), "pinned"],
                                     capture_output=True, text=True, check=True).stdout)
    wanted = [("cooperator", "/usr/bin/headscale", "github.com/juanfont/headscale", pins["headscale"])]
    wanted += [(host, "/usr/sbin/tailscaled", "tailscale.com", pins["tailscale"]) for host in converged_lab.nodes]
    for host, path, module, version in wanted:
        local = tmp_path / f"{host}-{os.path.basename(path)}"
        subprocess.run(["docker", "cp", f"{converged_lab.container(host)}:{path}", str(local)],
                       check=True, capture_output=True, timeout=120)
        with open(local, "rb") as fh:
            assert fh.read(4) == b"\x7fELF", f"{host}:{path} is not an ELF binary"
        info = subprocess.run(["go", "version", "-m", str(local)], capture_output=True, text=True,
                              check=True, timeout=60).stdout
        assert re.search(rf"^\s+mod\s+{re.escape(module)}\s+v{re.escape(version)}\s", info, re.M), \
            f"{host}:{path} was not built from {module}@v{version}:\n{info}"
    version = converged_lab.exec("cooperator", "headscale", "version").stdout
    assert f"v{pins['headscale']}" in version, version


def test_every_node_is_on_the_lab_tailnet(converged_lab):
    cidr = _inventory_mesh_cidr()
    assert cidr.subnet_of(ipaddress.ip_network("100.64.0.0/10"))
    assert not cidr.overlaps(ipaddress.ip_network("100.64.0.0/24")), "the seed's addresses"
    for host in converged_lab.nodes:
        status = _status(host)
        assert status["BackendState"] == "Running", f"{host}: {status['BackendState']}"
        addresses = _v4(status["Self"])
        assert addresses and all(ipaddress.ip_address(ip) in cidr for ip in addresses), \
            f"{host}: tailnet addresses {addresses} are not in the lab's {cidr}"
        peers = {peer["HostName"]: peer for peer in (status.get("Peer") or {}).values()}
        for other in converged_lab.nodes:
            if other != host:
                assert other in peers, f"{host} does not see {other} on the tailnet: {sorted(peers)}"
                assert peers[other].get("Online"), f"{host} sees {other} offline"


def test_tailnet_traffic_flows_over_tailscale0_and_the_range_is_unreachable_elsewhere(converged_lab):
    coop = _v4(_status("cooperator")["Self"])[0]
    route = converged_lab.exec("director", "ip", "route", "get", coop).stdout
    assert "dev tailscale0" in route or "table 52" in route, route
    ping = converged_lab.exec("director", "tailscale", "ping", "--c", "3", "--until-direct=false", coop,
                              timeout=60)
    assert ping.returncode == 0 and "pong from cooperator" in ping.stdout, ping.stdout + ping.stderr
    # An address of the range that is no node's: the main table's unreachable route answers.
    cidr = _inventory_mesh_cidr()
    nobody = str(cidr.broadcast_address - 1)
    unreachable = converged_lab.exec("director", "ip", "route", "get", nobody)
    assert unreachable.returncode != 0 or "unreachable" in unreachable.stdout, unreachable.stdout
    for host in converged_lab.nodes:
        table = converged_lab.exec(host, "ip", "-4", "route", "show", "type", "unreachable").stdout
        assert "100.64.0.0/10" in table, f"{host}: {table}"


def test_magicdns_names_resolve_to_the_tailnet_addresses(converged_lab):
    for host in converged_lab.nodes:
        me = _status(host)["Self"]
        name = me["DNSName"].rstrip(".")
        assert name.startswith(f"{host}."), name
        rcode, got = lab_tool.node_dns_query("director", name, lab_tool.MAGICDNS)
        assert rcode == 0 and got == _v4(me), f"MagicDNS answered {rcode} {got} for {name}"


def test_director_reaches_the_fortress_share_over_the_tailnet(converged_lab):
    """smbclient on director to cooperator's tailnet address and to its MagicDNS name (its
    address as MagicDNS answers it), with the credentials file samba_client wrote; the
    fstab line points at that tailnet address."""
    coop = _status("cooperator")["Self"]
    address = _v4(coop)[0]
    name = coop["DNSName"].rstrip(".")
    fstab = converged_lab.exec("director", "cat", "/etc/fstab").stdout
    assert f"//{address}/fortress" in fstab, f"director's fstab does not mount {address}:\n{fstab}"
    _rcode, by_name = lab_tool.node_dns_query("director", name, lab_tool.MAGICDNS)
    assert by_name == [address]
    for target in (address, name):
        argv = ["smbclient", f"//{name if target == name else address}/fortress", "-m", "SMB3",
                "-A", "/etc/samba/credentials/mnt-fortress.cred", "-c", "ls"]
        if target == name:
            argv[2:2] = ["-I", by_name[0]]
        res = converged_lab.exec("director", *argv, timeout=60)
        assert res.returncode == 0 and "blocks of size" in res.stdout, \
            f"smbclient to {target}: {res.stdout}{res.stderr}"


def test_the_summary_shows_each_nodes_tailnet_address_and_name(converged_lab):
    out = subprocess.run(["python3", os.path.join(ROOT, "lab", "lab.py"), "summary"],
                         capture_output=True, text=True, check=True, timeout=300).stdout
    for host in converged_lab.nodes:
        me = _status(host)["Self"]
        line = next((l for l in out.splitlines()
                     if l.split()[:2] == ["tailnet", f"{host}:"]), "")
        assert _v4(me)[0] in line and me["DNSName"].rstrip(".") in line, out
        assert line.endswith(f"MagicDNS from director: {_v4(me)[0]}"), line


def test_no_packet_leaves_the_lab(converged_lab):
    """From the first converge to the end of the check run: no flow left a node through the
    docker bridge for anything but the lab network (and apt's downloads from Debian's
    archive, and lookups Docker's embedded DNS forwards to the machine's resolvers: which
    names were asked is not seen here), and no socket in any node had a remote address outside the lab's ranges."""
    sampler = converged_lab.flow_sampler
    assert sampler.readable, "/proc/net/nf_conntrack is not readable here: nothing was sampled"
    assert sampler.flows, "no flow was sampled at all (the sampler saw nothing)"
    archive = debian_archive_addresses()
    problems = flow_problems(sampler.flows, archive, machine_resolvers())
    with open(os.path.join(OUTPUT, "lab-flows.json"), "w", encoding="utf-8") as fh:
        json.dump({"flows": sorted(sampler.flows), "archive": sorted(archive)}, fh, indent=1)
    assert not problems, f"flows out of the lab: {problems}"
    sockets = converged_lab.socket_sampler
    for host in converged_lab.nodes:
        name = converged_lab.container(host)
        samples = sockets.samples.get(name, [])
        assert samples, f"{host}: no socket sampled"
        bad = remote_problems(samples, sockets.nested_nets.get(name, []), archive, machine_resolvers())
        assert not bad, f"{host}: sockets to outside the lab: {bad[:10]}"


def _fallback_servers():
    out = subprocess.run(["python3", os.path.join(ROOT, "lab", "gobuild.py"), "fallback-servers"],
                         capture_output=True, text=True, check=True, timeout=300).stdout.split()
    assert out, "lab/gobuild.py fallback-servers gave no address"
    return out


def test_tailscaleds_bootstrap_dns_servers_are_unreachable_in_every_node(converged_lab):
    """tailscaled asks fixed public addresses for bootstrap DNS whenever a dial to the control
    URL fails (net/dnscache/dnscache.go and net/dnsfallback/dnsfallback.go@v1.102.5; no knob
    turns it off): each of them, read from the pinned module, is unreachable in every node, and
    every attempt tailscaled logged ("trying bootstrapDNS(...)") was to one of them."""
    servers = _fallback_servers()
    for host in converged_lab.nodes:
        routes = converged_lab.exec(host, "ip", "-4", "route", "show", "type", "unreachable").stdout
        guarded = {line.split()[1].split("/")[0] for line in routes.splitlines() if line.startswith("unreachable")}
        missing = [a for a in servers if ":" not in a and a not in guarded]
        assert not missing, f"{host}: routed, not unreachable: {missing}"
        probe = converged_lab.exec(host, "ip", "-4", "route", "get", servers[0])
        assert probe.returncode != 0, f"{host}: {servers[0]} is routed: {probe.stdout}"
        log = converged_lab.exec(host, "journalctl", "-u", "tailscaled", "--no-pager", "-o", "cat").stdout
        tried = set(re.findall(r'trying bootstrapDNS\("[^"]*", "([^"]+)"\)', log))
        assert tried <= set(servers), f"{host}: bootstrap DNS tried outside the guard: {tried - set(servers)}"


def test_a_limit_run_of_one_client_changes_nothing(converged_lab):
    """`--limit director --tags tailscale,samba_client`: the client's own key hand-off and
    the fortress address are found without the rest of the run."""
    # The summary callback records every run in .lab/last-run.json: keep the full run's.
    last_run = os.path.join(ROOT, ".lab", "last-run.json")
    with open(last_run, "rb") as fh:
        kept = fh.read()
    try:
        run = converged_lab.playbook("limit-director", "--limit", "director",
                                     "--tags", "tailscale,samba_client")
    finally:
        with open(last_run, "wb") as fh:
            fh.write(kept)
    assert run["rc"] == 0, run["text"][-4000:]
    recap = converged_lab.recap("limit-director")
    assert recap["director"]["changed"] == 0, recap

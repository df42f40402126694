"""tests/lab/sockets.py: `ss` and `docker inspect` read, and compared with the exposure table.

The parser runs on output recorded from the real programs (tests/unit/lab/fixtures/ss/,
SOURCES.md says how) and on the real `ss` of this machine, with a listener started here;
the table is the wiring's, resolved by ansible-playbook for both inventories.
"""
from __future__ import annotations

import os
import socket
import subprocess

import pytest

from tests.lab import sockets

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "ss")
HOST_LAN = "192.0.2.2"  # the recording machine's address (fixtures/ss/SOURCES.md)


def _fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as fh:
        return fh.read()


def _key(listener):
    return (listener.proto, listener.address, listener.port, listener.interface)


def test_the_recorded_listeners_are_read():
    by_key = {_key(lst): lst for lst in sockets.parse_ss(_fixture("host-listeners.txt"))}
    assert by_key[("tcp", "127.0.0.1", 15300, "")].names == ("python3",)
    assert by_key[("tcp", "127.0.0.1", 15300, "")].holders == ("python3 (pid 18390)",)
    # IPV6_V6ONLY wildcard, the dual-stack wildcard (`*`), an IPv6 address in brackets
    assert ("tcp", "::", 15022, "") in by_key
    assert ("tcp", "*", 15443, "") in by_key and ("udp", "*", 15478, "") in by_key
    assert ("tcp", "::1", 15631, "") in by_key
    # bound to a device: ss's %<device>
    assert ("tcp", "0.0.0.0", 15053, "lo") in by_key and ("udp", "127.0.0.1", 15137, "lo") in by_key
    # the real docker-proxy, as dockerd starts it for a published port
    proxies = {_key(lst) for lst in by_key.values() if lst.names == ("docker-proxy",)}
    assert proxies == {("tcp", "127.0.0.1", 15500, ""), ("tcp", "0.0.0.0", 15501, ""),
                       ("tcp", "::", 15501, ""), ("udp", "0.0.0.0", 15502, ""),
                       ("tcp", "172.17.0.1", 15503, "")}
    # held from outside this PID namespace: no users
    assert by_key[("tcp", "0.0.0.0", 2024, "")].names == ()
    assert "no process of this node" in by_key[("tcp", "0.0.0.0", 2024, "")].holder


def test_a_socket_two_processes_hold():
    (shared,) = sockets.parse_ss(_fixture("host-shared-listener.txt"))
    assert (_key(shared), shared.names) == (("tcp", "0.0.0.0", 15445, ""), ("python3", "python3"))
    assert shared.holder == "python3 (pid 29360), python3 (pid 29318)"


def test_the_recorded_docker_inspect_and_its_proxies_agree():
    """docker inspect's NetworkSettings.Ports (exposed-only ports are null) and the
    docker-proxy sockets dockerd started for the same container (fixtures/ss/SOURCES.md)."""
    published = sockets.parse_inspect(_fixture("docker-inspect.json"))
    assert sorted(_key(lst) for lst in published) == [("tcp", "127.0.0.1", 15999, ""), ("udp", "0.0.0.0", 15998, ""),
                                                      ("udp", "::", 15998, "")]
    assert {lst.holder for lst in published} == {"container w30x-rec-inspect (publishes 80/tcp)",
                                                 "container w30x-rec-inspect (publishes 53/udp)"}
    proxies = sockets.parse_ss(_fixture("docker-published.txt"))
    assert sorted(_key(lst) for lst in proxies) == sorted(_key(lst) for lst in published)
    assert all(lst.names == ("docker-proxy",) for lst in proxies)
    # a table allowing only loopback names both views of the wildcard UDP port
    entries = {"dns": {"group": "linux", "ports": [{"port": 15998, "proto": "udp"}, {"port": 15999, "proto": "tcp"}],
                       "bind": ["loopback"]}}
    found = sockets.problems("n", published + proxies, entries, ["linux"], SCOPES)
    assert len(found) == 4 and all("15998" in line for line in found), found
    assert any("container w30x-rec-inspect (publishes 53/udp)" in line and "udp [::]:15998" in line for line in found)


def test_a_line_that_is_not_ss_output_fails():
    with pytest.raises(ValueError, match="not a line of `ss -H -tlnup`"):
        sockets.parse_ss("State Recv-Q Send-Q Local Address:Port Peer Address:Port Process\n")


# A table covering every recorded listener: the test below then removes or narrows one.
SCOPES = {"lan": [HOST_LAN], "tailnet": []}
COVERING = {
    "web": {"group": "linux", "ports": [{"port": 15300, "proto": "tcp"}], "bind": ["loopback"]},
    "v6": {"group": "linux", "bind": ["all"],
           "ports": [{"port": 15022, "proto": "tcp"}, {"port": 15443, "proto": "tcp"},
                     {"port": 15478, "proto": "udp"}, {"port": 15053, "proto": "udp"}]},
    "local6": {"group": "linux", "ports": [{"port": 15631, "proto": "tcp"}], "bind": ["loopback"]},
    "on_lo": {"group": "linux", "ports": [{"port": 15053, "proto": "tcp"}, {"port": 15137, "proto": "udp"}],
              "bind": ["loopback"]},
    "registry": {"group": "registry_servers", "ports": [{"port": 15500, "proto": "tcp"}],
                 "bind": ["loopback", "lan"]},
    "open": {"group": "linux", "ports": [{"port": 15501, "proto": "tcp"}, {"port": 15502, "proto": "udp"}],
             "bind": ["all"]},
    "bridge": {"group": "linux", "ports": [{"port": 15503, "proto": "tcp"}], "bind": ["all"]},
    "outside": {"group": "linux", "ports": [{"port": 2024, "proto": "tcp"}], "bind": ["all"]},
}
GROUPS = ("linux", "registry_servers")


def _problems(entries, text=None, groups=GROUPS):
    listeners = sockets.parse_ss(_fixture("host-listeners.txt") if text is None else text)
    return sockets.problems("recorder", listeners, entries, groups, SCOPES)


def test_a_table_listing_every_listener_passes():
    assert _problems(COVERING) == []


def test_a_port_added_outside_the_table_fails_naming_process_and_address():
    """The recorded docker-proxy of a newly published port, which no entry lists."""
    added = ('tcp LISTEN 0      4096      0.0.0.0:15599 0.0.0.0:* '
             'users:(("docker-proxy",pid=18999,fd=4))\n')
    found = _problems(COVERING, _fixture("host-listeners.txt") + added)
    assert found == ["recorder: tcp 0.0.0.0:15599 held by docker-proxy (pid 18999): no colab_exposure "
                     "entry of this node's groups has tcp port 15599"]


def test_a_wildcard_socket_needs_all():
    narrowed = {**COVERING, "open": {**COVERING["open"], "bind": ["loopback", "lan"]}}
    found = _problems(narrowed)
    assert "recorder: tcp 0.0.0.0:15501 held by docker-proxy (pid 18952): colab_exposure.open binds " \
           "loopback; lan 192.0.2.2, not 0.0.0.0" in found
    assert any(line.startswith("recorder: tcp [::]:15501 held by docker-proxy (pid 18953)") for line in found)
    assert any(line.startswith("recorder: udp 0.0.0.0:15502 held by docker-proxy") for line in found)


def test_an_entry_of_another_group_does_not_count():
    found = _problems(COVERING, groups=["linux"])
    assert found == ["recorder: tcp 127.0.0.1:15500 held by docker-proxy (pid 18951): no colab_exposure "
                     "entry of this node's groups has tcp port 15500"]


def test_the_lan_scope_is_the_nodes_address_and_lo_bound_wildcards_are_loopback():
    text = _fixture("dnsmasq-bind-dynamic.txt")
    dns = {"dns": {"group": "edge", "ports": [{"port": 15353, "proto": "udp"}, {"port": 15353, "proto": "tcp"}],
                   "bind": ["loopback", "lan"]}}
    assert sockets.problems("edge", sockets.parse_ss(text), dns, ["edge"], SCOPES) == []
    found = sockets.problems("edge", sockets.parse_ss(text), dns, ["edge"], {"lan": ["192.0.2.9"]})
    assert len(found) == 2 and all("192.0.2.2" in line and "dnsmasq (pid 25381)" in line for line in found)
    # 0.0.0.0 bound to lo (SO_BINDTODEVICE) is loopback; bound to no device it is every address
    lo_only = {"x": {"group": "linux", "ports": [{"port": 15053, "proto": "tcp"}], "bind": ["loopback"]}}
    on_lo = [lst for lst in sockets.parse_ss(_fixture("host-listeners.txt")) if _key(lst) == ("tcp", "0.0.0.0", 15053, "lo")]
    assert sockets.problems("n", on_lo, lo_only, ["linux"], SCOPES) == []


def test_a_port_the_program_picks_matches_only_its_process():
    listeners = sockets.parse_ss(_fixture("host-listeners.txt"))
    entries = {"picked": {"group": "linux", "ports": [{"port": "any", "proto": "tcp"}], "bind": ["loopback"],
                          "process": "docker-proxy"}}
    loopback = [lst for lst in listeners if lst.address == "127.0.0.1" and lst.proto == "tcp"]
    found = sockets.problems("n", loopback, entries, ["linux"], SCOPES)
    # docker-proxy's 127.0.0.1:15500 matches; python3's 127.0.0.1:15300 does not
    assert found == ["n: tcp 127.0.0.1:15300 held by python3 (pid 18390): no colab_exposure entry of this "
                     "node's groups has tcp port 15300"]
    # process '': only a socket no process of the node holds (the lab's Docker DNS)
    nobody = {"dns": {"group": "linux", "ports": [{"port": "any", "proto": "tcp"}], "bind": ["all"], "process": ""}}
    outside = [lst for lst in listeners if not lst.names]
    assert sockets.problems("n", outside, nobody, ["linux"], SCOPES) == []
    assert sockets.problems("n", loopback, nobody, ["linux"], SCOPES) != []


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_real_ss_here_names_a_listener_the_table_lacks(tmp_path):
    """This machine's own ss, with a real listener started for the test (then stopped)."""
    port = _free_port()
    server = subprocess.Popen(["python3", "-c", "import socket,sys,time;s=socket.socket();"
                               "s.bind(('127.0.0.1',int(sys.argv[1])));s.listen();print('up',flush=True);"
                               "time.sleep(60)", str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "up"
        out = subprocess.run(["ss", "-H", "-tlnup"], capture_output=True, text=True, check=True, timeout=30).stdout
    finally:
        server.kill()
        server.wait(timeout=10)
    mine = [lst for lst in sockets.parse_ss(out) if lst.port == port]
    assert [(lst.proto, lst.address, lst.names) for lst in mine] == [("tcp", "127.0.0.1", ("python3",))]
    found = sockets.problems("here", mine, {}, ["linux"], SCOPES)
    assert found == [f"here: tcp 127.0.0.1:{port} held by python3 (pid {server.pid}): no colab_exposure "
                     f"entry of this node's groups has tcp port {port}"]


def test_node_scopes_read_tailscale_ip():
    assert sockets.node_scopes(["172.31.254.30"], "100.77.0.2\nfd7a:115c:a1e0::2\n") == {
        "lan": ["172.31.254.30"], "tailnet": ["100.77.0.2", "fd7a:115c:a1e0::2"]}
    tailnet = {"peerapi": {"group": "mesh_clients", "ports": [{"port": "any", "proto": "tcp"}],
                           "bind": ["tailnet"], "process": "tailscaled"}}
    peerapi = sockets.Listener("tcp", "100.77.0.2", 41112, "", ("tailscaled (pid 7)",), ("tailscaled",))
    scopes = sockets.node_scopes(["172.31.254.30"], "100.77.0.2\n")
    assert sockets.problems("d", [peerapi], tailnet, ["mesh_clients"], scopes) == []
    assert sockets.problems("d", [peerapi], tailnet, ["mesh_clients"], sockets.node_scopes(["172.31.254.30"])) \
        == ["d: tcp 100.77.0.2:41112 held by tailscaled (pid 7): colab_exposure.peerapi binds tailnet "
            "(none on this node), not 100.77.0.2"]


@pytest.fixture(scope="module", params=["production", "lab"])
def resolved(request):
    return request.param, sockets.resolve_table(request.param)


def test_every_port_of_the_table_resolves_for_every_host(resolved):
    """Each {var} names a role variable that holds a port number on that host."""
    _inventory, hosts = resolved
    assert set(hosts) == {"cooperator", "director"}
    for host in hosts.values():
        for name, entry in host["entries"].items():
            for spec in entry["ports"]:
                assert spec["port"] == "any" or 0 < spec["port"] < 65536, (name, spec)


def test_the_lab_table_per_node(resolved):
    inventory, hosts = resolved

    def ports(host, name):
        return sorted((s["proto"], s["port"]) for s in hosts[host]["entries"][name]["ports"])

    coop = hosts["cooperator"]["entries"]
    assert ports("cooperator", "registry") == [("tcp", 5000)]
    assert coop["registry"]["bind"] == ["loopback", "lan"]
    assert ports("cooperator", "pihole_dns") == [("tcp", 53), ("udp", 53)]
    assert ports("cooperator", "headscale") == [("tcp", 8080)]
    assert ports("director", "ollama") == [("tcp", 11434)]
    assert ports("director", "tailscaled") == [("udp", 41641)]
    assert ("lab_docker_dns" in coop) == (inventory == "lab")
    assert hosts["director"]["entries"]["ollama"]["bind"] == (["loopback"] if inventory == "lab"
                                                              else ["loopback", "tailnet"])


# What a converged lab cooperator is expected to hold (written in ss's recorded format from
# the roles' settings, NOT captured from a lab: tests/lab/test_listeners.py reads the real
# nodes). The lab's table must allow every line, and the pre-issue-30 bindings must fail.
EXPECTED_COOPERATOR = """\
udp UNCONN 0 0 127.0.0.11:45411 0.0.0.0:*
udp UNCONN 0 0 127.0.0.1:53 0.0.0.0:* users:(("dnsmasq",pid=901,fd=4))
udp UNCONN 0 0 172.31.254.10:53 0.0.0.0:* users:(("dnsmasq",pid=901,fd=6))
udp UNCONN 0 0 172.31.254.10:3478 0.0.0.0:* users:(("headscale",pid=1201,fd=9))
udp UNCONN 0 0 0.0.0.0:41641 0.0.0.0:* users:(("tailscaled",pid=1301,fd=12))
udp UNCONN 0 0 [::]:41641 [::]:* users:(("tailscaled",pid=1301,fd=13))
udp UNCONN 0 0 *:443 *:* users:(("caddy",pid=1101,fd=9))
tcp LISTEN 0 4096 127.0.0.11:37821 0.0.0.0:*
tcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=301,fd=3))
tcp LISTEN 0 128 [::]:22 [::]:* users:(("sshd",pid=301,fd=4))
tcp LISTEN 0 32 127.0.0.1:53 0.0.0.0:* users:(("dnsmasq",pid=901,fd=5))
tcp LISTEN 0 32 172.31.254.10:53 0.0.0.0:* users:(("dnsmasq",pid=901,fd=7))
tcp LISTEN 0 4096 127.0.0.1:2019 0.0.0.0:* users:(("caddy",pid=1101,fd=3))
tcp LISTEN 0 4096 *:80 *:* users:(("caddy",pid=1101,fd=7))
tcp LISTEN 0 4096 *:443 *:* users:(("caddy",pid=1101,fd=8))
tcp LISTEN 0 50 *:445 *:* users:(("smbd",pid=801,fd=30))
tcp LISTEN 0 4096 127.0.0.1:8080 0.0.0.0:* users:(("headscale",pid=1201,fd=10))
tcp LISTEN 0 4096 127.0.0.1:9098 0.0.0.0:* users:(("headscale",pid=1201,fd=11))
tcp LISTEN 0 4096 127.0.0.1:50443 0.0.0.0:* users:(("headscale",pid=1201,fd=12))
tcp LISTEN 0 4096 127.0.0.1:5000 0.0.0.0:* users:(("docker-proxy",pid=2001,fd=4))
tcp LISTEN 0 4096 172.31.254.10:5000 0.0.0.0:* users:(("docker-proxy",pid=2002,fd=4))
tcp LISTEN 0 4096 127.0.0.1:3300 0.0.0.0:* users:(("docker-proxy",pid=2101,fd=4))
tcp LISTEN 0 4096 172.31.254.10:2222 0.0.0.0:* users:(("docker-proxy",pid=2102,fd=4))
tcp LISTEN 0 4096 127.0.0.1:9000 0.0.0.0:* users:(("docker-proxy",pid=2201,fd=4))
tcp LISTEN 0 4096 172.31.254.10:9000 0.0.0.0:* users:(("docker-proxy",pid=2202,fd=4))
tcp LISTEN 0 4096 127.0.0.1:9001 0.0.0.0:* users:(("docker-proxy",pid=2203,fd=4))
tcp LISTEN 0 4096 127.0.0.1:36133 0.0.0.0:* users:(("containerd",pid=601,fd=9))
tcp LISTEN 0 4096 100.77.0.1:53311 0.0.0.0:* users:(("tailscaled",pid=1301,fd=20))
"""
# before issue 30: the registry on every address, dnsmasq on the wildcard
BEFORE = """\
tcp LISTEN 0 4096 0.0.0.0:5000 0.0.0.0:* users:(("docker-proxy",pid=2001,fd=4))
udp UNCONN 0 0 0.0.0.0:53 0.0.0.0:* users:(("dnsmasq",pid=901,fd=4))
tcp LISTEN 0 32 [::]:53 [::]:* users:(("dnsmasq",pid=901,fd=5))
"""


def test_the_lab_table_allows_the_expected_cooperator_and_refuses_the_old_bindings():
    coop = sockets.resolve_table("lab")["cooperator"]
    scopes = sockets.node_scopes(["172.31.254.10"], "100.77.0.1\n")
    listeners = sockets.parse_ss(EXPECTED_COOPERATOR)
    assert sockets.problems("cooperator", listeners, coop["entries"], coop["groups"], scopes) == []
    found = sockets.problems("cooperator", sockets.parse_ss(BEFORE), coop["entries"], coop["groups"], scopes)
    assert found == [
        "cooperator: tcp 0.0.0.0:5000 held by docker-proxy (pid 2001): colab_exposure.registry binds "
        "loopback; lan 172.31.254.10, not 0.0.0.0",
        "cooperator: tcp [::]:53 held by dnsmasq (pid 901): colab_exposure.pihole_dns binds loopback; "
        "lan 172.31.254.10, not ::",
        "cooperator: udp 0.0.0.0:53 held by dnsmasq (pid 901): colab_exposure.pihole_dns binds loopback; "
        "lan 172.31.254.10, not 0.0.0.0",
    ]

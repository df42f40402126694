"""Every listening socket of the converged lab is in the exposure table (issue 30, item 4).

Per node, after the session's converge (tests/lab/conftest.py): `ss -H -tlnup` inside the
node (TCP listeners and unconnected UDP sockets with their processes; the nested engine's
published ports appear there as docker-proxy's sockets) and the nested engine's own record
of what it publishes (`docker inspect` of its running containers), compared with
colab_exposure as the lab inventory resolves it for that node (tests/lab/sockets.py: the
scopes become the node's loopback, its LAN address and its tailnet addresses from
`tailscale ip`). A socket the table does not allow fails, naming its process and address.

Then the comparison is shown to catch one: a stray `python3 -m http.server` on 0.0.0.0 in a
node must be named. And from a container on the lab network that is not a cluster node
(the lab's node image, no inventory entry, no tailnet): the edge's resolver refuses a name
outside the SSOT (REFUSED: the lab has no upstream, nothing is forwarded) while it answers
an SSOT name, and Ollama's port on director is closed while Open WebUI's (the table's lan
scope) answers.
"""
from __future__ import annotations

import inspect
import json
import os
import subprocess
import time

import pytest

from tests.lab import sockets
from tests.lab.conftest import lab_tool

pytestmark = pytest.mark.lab

NODES = ("cooperator", "director")
STRAY_PID = "/run/colab-stray-listener.pid"


@pytest.fixture(scope="module")
def table(converged_lab):
    return sockets.resolve_table("lab")


def _node_view(lab, host):
    """(listeners, scopes) of one node, read with docker exec (an observer beside ssh)."""
    ss = lab.exec(host, "ss", "-H", "-tlnup", timeout=60)
    assert ss.returncode == 0, f"{host}: ss failed: {ss.stderr}"
    listeners = sockets.parse_ss(ss.stdout)
    engine = lab.exec(host, "sh", "-c", 'ids=$(docker ps -q); [ -z "$ids" ] || docker inspect $ids',
                      timeout=120)
    assert engine.returncode == 0, f"{host}: docker inspect failed: {engine.stderr}"
    listeners += sockets.parse_inspect(engine.stdout or "[]")
    tailnet = lab.exec(host, "tailscale", "ip", timeout=60)
    scopes = sockets.node_scopes([lab.ip(host)], tailnet.stdout if tailnet.returncode == 0 else "")
    return listeners, scopes


def _problems(lab, table, host):
    listeners, scopes = _node_view(lab, host)
    assert listeners, f"{host}: no listener at all (sshd at least must listen)"
    return sockets.problems(host, listeners, table[host]["entries"], table[host]["groups"], scopes)


@pytest.mark.parametrize("node", NODES)
def test_every_listener_is_in_the_exposure_table(converged_lab, table, node):
    found = _problems(converged_lab, table, node)
    assert not found, "listening sockets the exposure table (colab_exposure) does not allow:\n" + "\n".join(found)


def test_a_stray_listener_is_named(converged_lab, table):
    lab, host = converged_lab, "director"
    taken = {lst.port for lst in _node_view(lab, host)[0]}
    port = next(p for p in range(28080, 29000) if p not in taken)
    subprocess.run(["docker", "exec", "-d", lab.container(host), "sh", "-c",
                    f"echo $$ > {STRAY_PID}; exec python3 -m http.server {port} --bind 0.0.0.0 >/dev/null 2>&1"],
                   check=True, capture_output=True, timeout=60)
    try:
        deadline = time.monotonic() + 30
        while True:
            found = _problems(lab, table, host)
            if any(f"tcp 0.0.0.0:{port} " in line for line in found) or time.monotonic() > deadline:
                break
            time.sleep(1)
    finally:
        lab.exec(host, "sh", "-c", f"[ -s {STRAY_PID} ] && kill $(cat {STRAY_PID}); rm -f {STRAY_PID}", timeout=60)
    named = [line for line in found if f"tcp 0.0.0.0:{port} " in line]
    assert named, f"the stray listener on 0.0.0.0:{port} was not reported: {found}"
    assert "held by python3 (pid " in named[0], named
    assert "no colab_exposure entry" in named[0], named
    for _attempt in range(20):
        if not any(lst.port == port for lst in _node_view(lab, host)[0]):
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"the stray listener on {port} is still there after kill")


PROBE = r"""
import json, os, socket, struct, sys
{dns_query_a}
coop, director, inside, outside, webui, ollama = sys.argv[1:7]
out = {{}}
for name in (inside, outside):
    try:
        out[name] = dns_query_a(name, coop, timeout=5.0)
    except OSError as exc:
        out[name] = ["error", str(exc)]
for port in (int(webui), int(ollama)):
    s = socket.socket()
    s.settimeout(5)
    try:
        s.connect((director, port))
        out[str(port)] = "open"
    except OSError as exc:
        out[str(port)] = type(exc).__name__
    finally:
        s.close()
print(json.dumps(out))
"""


def _ssot_name():
    """One name of the lab's domain SSOT, with the address it must resolve to."""
    names = sorted(lab_tool.ssot_names())
    assert names, "the lab's domain SSOT has no name"
    return names[0]


@pytest.fixture(scope="module")
def probe(converged_lab, table):
    """What a container on the lab network that is not a cluster node sees (run once)."""
    inside, local_ip = _ssot_name()
    director = table["director"]["entries"]
    webui = director["open_webui"]["ports"][0]["port"]
    ollama = director["ollama"]["ports"][0]["port"]
    script = PROBE.format(dns_query_a=inspect.getsource(lab_tool.dns_query_a))
    name = f"colab-lab-probe-{os.getpid()}"
    proc = subprocess.run(["docker", "run", "--rm", "-i", "--name", name, "--network", lab_tool.NETWORK,
                           "--entrypoint", "python3", lab_tool.NODE_IMAGE, "-",
                           converged_lab.ip("cooperator"), converged_lab.ip("director"), inside,
                           "example.com", str(webui), str(ollama)],
                          input=script, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, f"the probe container failed: {proc.stderr[-2000:]}"
    return {"seen": json.loads(proc.stdout), "inside": inside, "local_ip": local_ip,
            "webui": str(webui), "ollama": str(ollama)}


def test_the_edge_resolver_refuses_recursion_from_outside_the_cluster(probe):
    seen = probe["seen"]
    # the resolver is reachable from there and answers the SSOT (the table's lan scope)
    assert seen[probe["inside"]] == [0, [probe["local_ip"]]], seen
    # a name outside the SSOT: REFUSED (rcode 5), not a forward that times out or fails
    assert seen["example.com"][0] == 5, f"example.com from a non-node: {seen['example.com']} (want REFUSED)"


def test_ollama_is_unreachable_from_outside_the_cluster(probe):
    seen = probe["seen"]
    # director is reachable from there (Open WebUI binds the LAN address, colab_exposure.open_webui)
    assert seen[probe["webui"]] == "open", seen
    assert seen[probe["ollama"]] != "open", f"Ollama's port {probe['ollama']} answered a non-node: {seen}"

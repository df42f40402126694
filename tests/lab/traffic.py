"""Where the lab's nodes send packets during a converge: every socket, sampled.

SocketSampler runs a small python3 loop inside each lab node (`docker exec -d`, like the
argv sampler in tests/lab/exposure.py) that reads, every 100 ms, the TCP and UDP socket
tables of every network namespace in the node (/proc/<pid>/net/{tcp,tcp6,udp,udp6} of one
process per namespace: the node's own, and each nested container's) and writes each socket
with a remote address once, with the command names of the processes holding it (from
/proc/<pid>/fd, looked up only for new sockets). A socket in SYN_SENT counts: an attempt is
traffic too. `ss -tunap` is read the same way at the end, as a second view.

ConntrackSampler reads the host's connection-tracking table (/proc/net/nf_conntrack) every
200 ms: every flow that left a lab node through the docker bridge (source in the lab
network), UDP included (tailscaled's STUN, disco and port-mapping probes are unconnected
UDP, which no socket table shows with a remote address), each recorded once.

remote_problems() checks every sampled remote address against what the lab may talk to:
loopback, the lab's docker network, the tailnet ranges, the nested engines' own networks
(containers the run created), and the Debian archive only from apt's own download methods
(its `http`/`https` processes; apt is how the first converge installs packages).
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
import subprocess
import threading
import time

NODE_LOG = "/run/colab-socket-samples.log"
NODE_STOP = "/run/colab-socket-samples.stop"
NODE_SCRIPT = r"""
import json, os, socket, struct, sys, time
out, stop = sys.argv[1], sys.argv[2]
TCP_STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1",
              "05": "FIN_WAIT2", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT",
              "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING"}

def addr(hexaddr):
    host, port = hexaddr.split(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        ip = socket.inet_ntop(socket.AF_INET, raw[::-1])
    else:
        ip = socket.inet_ntop(socket.AF_INET6, b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4)))
    return ip, int(port, 16)

def owners(inode):
    names = set()
    target = "socket:[%s]" % inode
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            for fd in os.listdir("/proc/%s/fd" % pid):
                if os.readlink("/proc/%s/fd/%s" % (pid, fd)) == target:
                    with open("/proc/%s/comm" % pid) as fh:
                        names.add(fh.read().strip())
                    break
        except OSError:
            continue
    return sorted(names)

seen = set()
with open(out, "a", encoding="utf-8") as fh:
    while not os.path.exists(stop):
        namespaces = {}
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    namespaces.setdefault(os.readlink("/proc/%s/ns/net" % pid), pid)
                except OSError:
                    pass
        for ns, pid in namespaces.items():
            for proto in ("tcp", "tcp6", "udp", "udp6"):
                try:
                    with open("/proc/%s/net/%s" % (pid, proto)) as table:
                        rows = table.read().splitlines()[1:]
                except OSError:
                    continue
                for row in rows:
                    cols = row.split()
                    remote_ip, remote_port = addr(cols[2])
                    if remote_port == 0:
                        continue
                    key = (ns, proto, cols[1], cols[2], cols[9])
                    if key in seen:
                        continue
                    seen.add(key)
                    local_ip, local_port = addr(cols[1])
                    state = TCP_STATES.get(cols[3], cols[3]) if proto.startswith("tcp") else "udp"
                    fh.write(json.dumps({"ns": ns, "proto": proto, "local": [local_ip, local_port],
                                         "remote": [remote_ip, remote_port], "state": state,
                                         "procs": owners(cols[9])}) + "\n")
                    fh.flush()
        time.sleep(0.1)
"""

# Always allowed: the node itself, the lab's docker network, the tailnet's ranges
# (tailscale's CGNAT range and ULA, net/tsaddr@v1.102.5, which the lab routes nowhere but
# tailscale0), link-local.
ALLOWED_NETS = ("127.0.0.0/8", "::1/128", "172.31.254.0/24", "100.64.0.0/10",
                "fd7a:115c:a1e0::/48", "fe80::/10")
# apt's download methods (/usr/lib/apt/methods/http, https): Debian's archive.
APT_METHODS = ("http", "https")


class SocketSampler:
    def __init__(self, containers):
        self.containers = list(containers)
        self.samples = {}
        self.ss = {}
        self.nested_nets = {}

    def start(self):
        for name in self.containers:
            subprocess.run(["docker", "exec", name, "rm", "-f", NODE_LOG, NODE_STOP],
                           capture_output=True, check=False, timeout=60)
            subprocess.run(["docker", "exec", "-d", name, "python3", "-c", NODE_SCRIPT, NODE_LOG,
                            NODE_STOP], capture_output=True, check=True, timeout=60)
        return self

    def stop(self):
        for name in self.containers:
            subprocess.run(["docker", "exec", name, "touch", NODE_STOP], capture_output=True,
                           check=False, timeout=60)
        for name in self.containers:
            res = subprocess.run(["docker", "exec", name, "cat", NODE_LOG], capture_output=True,
                                 text=True, check=False, timeout=60)
            self.samples[name] = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
            self.ss[name] = subprocess.run(["docker", "exec", name, "ss", "-tunap"],
                                           capture_output=True, text=True, check=False,
                                           timeout=60).stdout
            self.nested_nets[name] = nested_networks(name)
            subprocess.run(["docker", "exec", name, "rm", "-f", NODE_LOG, NODE_STOP],
                           capture_output=True, check=False, timeout=60)
        return self

    def save(self, path):
        with open(path, "w", encoding="utf-8") as fh:
            json.dump({"samples": self.samples, "ss": self.ss, "nested_nets": self.nested_nets},
                      fh, indent=1)


def nested_networks(container):
    """The subnets of the networks a node's nested engine made (its containers' networks)."""
    ids = subprocess.run(["docker", "exec", container, "sh", "-c",
                          "command -v docker >/dev/null && docker network ls -q || true"],
                         capture_output=True, text=True, check=False, timeout=60).stdout.split()
    if not ids:
        return []
    out = subprocess.run(["docker", "exec", container, "docker", "network", "inspect", "-f",
                          "{{range .IPAM.Config}}{{.Subnet}} {{end}}", *ids],
                         capture_output=True, text=True, check=False, timeout=60).stdout
    return sorted(set(out.split()))


def remote_problems(samples, extra_nets=(), archive=(), resolvers=()):
    """Each sampled socket whose remote address is outside what the lab may reach. A socket
    no process holds any more (apt's, in TIME_WAIT after a download) is allowed only to
    the Debian archive's port 80, the one place apt fetches from. A UDP socket no process in
    the node holds, to one of the machine's resolvers on port 53, is Docker's embedded DNS
    forwarding a node's lookup from the node's namespace (dockerd holds it, outside the
    node): the same exception flow_problems makes for its flow."""
    nets = [ipaddress.ip_network(net) for net in (*ALLOWED_NETS, *extra_nets)]
    problems = []
    for sample in samples:
        ip = ipaddress.ip_address(sample["remote"][0])
        if getattr(ip, "ipv4_mapped", None):
            ip = ip.ipv4_mapped
        if any(ip in net for net in nets if net.version == ip.version):
            continue
        if sample["procs"] and all(proc in APT_METHODS for proc in sample["procs"]):
            continue
        if not sample["procs"] and sample["remote"][1] == 80 and str(ip) in archive:
            continue
        if not sample["procs"] and sample.get("proto") == "udp" and sample["remote"][1] == 53 \
                and str(ip) in resolvers:
            continue
        problems.append(sample)
    return problems


CONNTRACK = "/proc/net/nf_conntrack"
LAB_NET = "172.31.254.0/24"
_FLOW = re.compile(r"^\S+\s+\d+\s+(\S+)\s+\d+\s+(?:\d+\s+)?(?:[A-Z_]+\s+)?"
                   r"src=(\S+) dst=(\S+)(?: sport=(\d+) dport=(\d+))?")


def conntrack_flows(text, sources):
    """(proto, src, dst, dport) of each flow whose original direction starts at one of
    `sources` (the lab nodes' addresses; the bridge's own address is the host's)."""
    flows = set()
    for line in text.splitlines():
        match = _FLOW.match(line)
        if not match:
            continue
        proto, src, dst, _sport, dport = match.groups()
        if src not in sources:
            continue
        flows.add((proto, src, dst, int(dport) if dport else 0))
    return flows


class ConntrackSampler:
    def __init__(self, sources, interval=0.2):
        self.sources = set(sources)
        self.interval = interval
        self.flows = set()
        self.readable = os.path.exists(CONNTRACK)
        self._stop = threading.Event()
        self._thread = None

    def _loop(self):
        while not self._stop.is_set():
            try:
                with open(CONNTRACK, encoding="utf-8") as fh:
                    self.flows |= conntrack_flows(fh.read(), self.sources)
            except OSError:
                self.readable = False
                return
            time.sleep(self.interval)

    def start(self):
        if self.readable:
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        return self


def debian_archive_addresses(host="deb.debian.org"):
    """Where this machine reaches Debian's archive (the lab nodes' apt sources), asked here."""
    try:
        return {info[4][0] for info in socket.getaddrinfo(host, 80, proto=socket.IPPROTO_TCP)}
    except OSError:
        return set()


def machine_resolvers(path="/etc/resolv.conf"):
    """The machine's own DNS resolvers: Docker's embedded DNS (127.0.0.11 in each node)
    forwards the nodes' lookups to them from the node's namespace."""
    try:
        with open(path, encoding="utf-8") as fh:
            return {line.split()[1] for line in fh if line.startswith("nameserver") and len(line.split()) > 1}
    except OSError:
        return set()


def flow_problems(flows, archive=(), resolvers=()):
    """Each flow from a lab node to anywhere but the lab network, the Debian archive on
    port 80 (apt, over plain http as the lab's sources.list says), or the machine's own
    resolvers on port 53 (Docker's embedded DNS forwarding the nodes' lookups: the flow is
    seen, the names asked are not)."""
    lab = ipaddress.ip_network(LAB_NET)
    problems = []
    for proto, src, dst, dport in sorted(flows):
        ip = ipaddress.ip_address(dst)
        if ip in lab:
            continue
        if proto == "tcp" and dport == 80 and dst in archive:
            continue
        if dport == 53 and dst in resolvers:
            continue
        problems.append({"proto": proto, "src": src, "dst": dst, "dport": dport})
    return problems

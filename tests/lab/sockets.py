"""Every listening socket of a node against the exposure table (colab_exposure, issue 30).

A node's listeners are read two ways: `ss -H -tlnup` in the node (TCP listeners and
unconnected UDP sockets, numeric, with the processes holding them; the nested engine's
published ports show there too, as docker-proxy's sockets), and the nested engine's own
record of what it publishes (`docker inspect` of every running container:
NetworkSettings.Ports), which holds where no userland proxy listens. Each listener must
match an entry of the table whose group holds the node: the same protocol, the port (or
`any`) and an address inside the entry's bind scopes, resolved to the node's addresses
(loopback: 127.0.0.0/8 and ::1; lan: its LAN address; tailnet: its addresses from
`tailscale ip`; all: anything); a port the program picks itself (`port: any`) matches only
a socket held by the entry's `process`. A wildcard socket (0.0.0.0, [::], * = both) is allowed only
by `all`; one bound to the loopback device (`%lo`) counts as loopback. Anything else is a
problem naming the process and the address.

The output format is iproute2's misc/ss.c@v6.15.0 (Debian 13's iproute2, the nodes'):
inet_addr_print prints IPv4 as is, IPv6 in brackets, the dual-stack IPv6 wildcard (not
v6only) as `*`, and sock_addr_print appends `%<device>` for a socket bound to a device
(SO_BINDTODEVICE); users:(("<comm>",pid=N,fd=N),...) lists every process holding the socket
(user_ent_hash_build/find_entry). tests/unit/lab/fixtures/ss/ holds real output recorded
with Debian 12's ss (iproute2 6.1.0, the same two functions).
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
import tempfile
import textwrap
from dataclasses import dataclass

import yaml

from ansible_collections.colab.cluster.plugins.filter.exposure import merged_entry
from tests.helpers import ROOT, render_debug_play

_USER = re.compile(r'\("(?P<name>(?:[^"\\]|\\.)*)",pid=(?P<pid>\d+),')
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
WILDCARDS = ("0.0.0.0", "::", "*")


@dataclass(frozen=True)
class Listener:
    proto: str            # tcp | udp
    address: str          # an IP address, or a wildcard: 0.0.0.0, ::, * (IPv4 and IPv6)
    port: int
    interface: str = ""   # the device the socket is bound to (ss's %<device>), or ""
    holders: tuple = ()   # who holds it: "python3 (pid 12)", "container registry-registry-1"
    names: tuple = ()     # the holders' process names (comm), as ss prints them

    @property
    def where(self):
        host = f"[{self.address}]" if ":" in self.address else self.address
        device = f"%{self.interface}" if self.interface else ""
        return f"{self.proto} {host}{device}:{self.port}"

    @property
    def holder(self):
        return ", ".join(self.holders) if self.holders else (
            "no process of this node (held from outside its PID namespace)")


def _split_local(field):
    """ss's local-address field -> (address, device, port)."""
    host, port = field.rsplit(":", 1) if ":" in field else ("", "")
    if not host or not port.isdigit():
        raise ValueError(f"not an ADDRESS:PORT field: {field!r}")
    device = ""
    if "%" in host:
        host, device = host.split("%", 1)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host != "*":
        ip = ipaddress.ip_address(host)
        mapped = getattr(ip, "ipv4_mapped", None)
        host = str(mapped or ip)
    return host, device, int(port)


def parse_ss(text):
    """Listeners of `ss -H -tlnup` (or -tlnp / -ulnp) output; a line that is not one fails."""
    listeners = []
    for line in text.splitlines():
        if not line.strip():
            continue
        cols = line.split(None, 6)
        if len(cols) < 6 or cols[0] not in ("tcp", "udp"):
            raise ValueError(f"not a line of `ss -H -tlnup`: {line!r}")
        address, device, port = _split_local(cols[4])
        users = cols[6] if len(cols) > 6 else ""
        users = list(_USER.finditer(users))
        holders = tuple(f"{m.group('name')} (pid {m.group('pid')})" for m in users)
        listeners.append(Listener(cols[0], address, port, device, holders,
                                  tuple(m.group("name") for m in users)))
    return listeners


def parse_inspect(text):
    """Published ports of `docker inspect` output (a JSON list of containers)."""
    listeners = []
    for container in json.loads(text or "[]"):
        name = container.get("Name", "").lstrip("/") or container.get("Id", "?")[:12]
        ports = (container.get("NetworkSettings") or {}).get("Ports") or {}
        for key, bindings in sorted(ports.items()):
            target, proto = (key.split("/", 1) + ["tcp"])[:2]
            for binding in bindings or []:  # None: exposed, not published
                host = binding.get("HostIp") or "0.0.0.0"
                listeners.append(Listener(proto or "tcp", host, int(binding["HostPort"]), "",
                                          (f"container {name} (publishes {target}/{proto or 'tcp'})",)))
    return listeners


def node_scopes(lan, tailnet_text=""):
    """The node's addresses per scope: lan (a list), tailnet (`tailscale ip` output lines)."""
    tailnet = [line.strip() for line in (tailnet_text or "").splitlines() if line.strip()]
    return {"lan": [str(ipaddress.ip_address(a)) for a in lan],
            "tailnet": [str(ipaddress.ip_address(a)) for a in tailnet]}


def _port_matches(spec, entry, listener):
    """Same protocol and port; a port the program picks (any) only when the listener's holder
    is the entry's process ('' : a socket no process of the node holds)."""
    if spec["proto"] != listener.proto:
        return False
    if spec["port"] == "any":
        process = entry.get("process")
        return bool(listener.names) and process in listener.names if process else not listener.names
    return int(spec["port"]) == listener.port


def _allowed(bind, listener, scopes):
    if "all" in bind:
        return True
    if listener.address in WILDCARDS:
        return listener.interface == "lo" and "loopback" in bind
    ip = ipaddress.ip_address(listener.address)
    if "loopback" in bind and any(ip in net for net in LOOPBACK if net.version == ip.version):
        return True
    return any(str(ip) == address for scope in bind if scope in ("lan", "tailnet")
               for address in scopes.get(scope, []))


def _describe(bind, scopes):
    out = []
    for scope in bind:
        if scope == "loopback":
            out.append("loopback")
        elif scope == "all":
            out.append("all")
        else:
            out.append(f"{scope} {', '.join(scopes.get(scope) or ['(none on this node)'])}")
    return "; ".join(out)


def problems(node, listeners, entries, groups, scopes):
    """One line per listener the table does not allow on this node (entries: resolve_table's)."""
    mine = {name: entry for name, entry in entries.items() if entry.get("group") in groups}
    found = []
    for listener in listeners:
        by_port = {name: entry for name, entry in mine.items()
                   if any(_port_matches(spec, entry, listener) for spec in entry["ports"])}
        if any(_allowed(entry["bind"], listener, scopes) for entry in by_port.values()):
            continue
        if not by_port:
            found.append(f"{node}: {listener.where} held by {listener.holder}: no colab_exposure entry "
                         f"of this node's groups has {listener.proto} port {listener.port}")
        else:
            allowed = "; ".join(f"colab_exposure.{name} binds {_describe(entry['bind'], scopes)}"
                                for name, entry in sorted(by_port.items()))
            found.append(f"{node}: {listener.where} held by {listener.holder}: {allowed}, "
                         f"not {listener.address}")
    return sorted(set(found))


# --- the table, resolved per host ------------------------------------------------------
ROLES_DIR = os.path.join(ROOT, "roles")
PLAY = textwrap.dedent("""\
    - name: The exposure table per host
      hosts: linux
      gather_facts: false
      tasks:
        - name: Show them
          ansible.builtin.debug:
            msg:
              groups: "{{ group_names }}"
              table: "{{ colab_exposure }}"
              overrides: "{{ colab_exposure_overrides | default({}) }}"
              values: "{{ dict(exposure_port_vars | zip(exposure_port_vars | map('extract', hostvars[inventory_hostname]))) }}"
    """)


def _merged(table, overrides):
    return {name: merged_entry(table, name, overrides) for name in sorted(set(table) | set(overrides))}


def _port_number(value, where):
    text = str(value).rsplit(":", 1)[-1]
    if not text.isdigit():
        raise AssertionError(f"{where} is {value!r}, not a port")
    return int(text)


def resolve_entries(table, overrides, values):
    """The merged entries with every {var} port replaced by its number (values: {var: value})."""
    entries = {}
    for name, entry in _merged(table, overrides).items():
        ports = []
        for spec in entry["ports"]:
            if "var" in spec:
                port = _port_number(values[spec["var"]], f"colab_exposure.{name}: {spec['var']}")
            else:
                port = spec["port"] if spec["port"] == "any" else int(spec["port"])
            ports.append({"port": port, "proto": spec["proto"]})
        entries[name] = {**entry, "ports": ports}
    return entries


def _role_defaults():
    merged = {}
    for role in sorted(os.listdir(ROLES_DIR)):
        path = os.path.join(ROLES_DIR, role, "defaults", "main.yml")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as fh:
                merged.update(yaml.safe_load(fh) or {})
    return merged


def _port_vars(inventory):
    names = set()
    with open(os.path.join(ROOT, "inventory", "common", "wiring.yml"), encoding="utf-8") as fh:
        tables = [yaml.safe_load(fh)["all"]["vars"]["colab_exposure"]]
    path = os.path.join(ROOT, "inventory", inventory, "group_vars", "all", "exposure.yml")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            tables.append(yaml.safe_load(fh)["colab_exposure_overrides"])
    for table in tables:
        for entry in table.values():
            names |= {spec["var"] for spec in entry.get("ports") or [] if "var" in spec}
    return sorted(names)


def resolve_table(inventory="lab"):
    """{host: {"groups": [...], "entries": {service: entry with numeric ports}}} for the Linux
    hosts of `inventory`, read by ansible-playbook (no host contacted): the roles' defaults
    are the lowest inventory layer, so the wiring and the inventory's group_vars win over
    them as in a real run (tests/unit/roles/test_exposure_render.py does the same)."""
    with tempfile.TemporaryDirectory() as tmp:
        defaults = os.path.join(tmp, "defaults.yml")
        with open(defaults, "w", encoding="utf-8") as fh:
            yaml.safe_dump({"all": {"vars": _role_defaults()}}, fh)
        play = os.path.join(tmp, "exposure-table.yml")
        with open(play, "w", encoding="utf-8") as fh:
            fh.write(PLAY)
        shown = render_debug_play(play, [defaults, os.path.join("inventory", inventory)],
                                  "-e", json.dumps({"exposure_port_vars": _port_vars(inventory)}))
    return {host: {"groups": msg["groups"],
                   "entries": resolve_entries(msg["table"], msg["overrides"], msg["values"])}
            for host, msg in shown.items()}

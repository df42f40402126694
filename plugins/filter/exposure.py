# Copyright: (c) 2026, colab.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The exposure table (colab_exposure, inventory/common/wiring.yml) read one way.

exposure_addresses turns (table, service, host facts) into the addresses the service
listens on; published_ports turns those addresses into Compose's ADDR:PORT:PORT entries;
exposure_listen_addr gives one ADDR:PORT for a program configured that way (headscale).
The wiring is the only caller of exposure_addresses and exposure_listen_addr: roles receive
addresses, never a scope.

Each entry also says which inventory group runs it (group) and its ports (ports: a list of
{port, proto} with a number, or ``any`` for a port the program picks itself, or {var, proto}
naming the role variable that holds the port, or ADDR:PORT; with ``any``, process names the
program holding it, as ``ss -p`` shows it): tests/lab/sockets.py compares
every node's listening sockets with them. An override (colab_exposure_overrides) replaces
the keys it gives of the table's entry (an override with bind and reach keeps group and
ports), or adds an entry the table lacks.
"""
from __future__ import annotations

import ipaddress

from ansible.errors import AnsibleFilterError

# scope -> the host fact that holds its address (None: a fixed address)
_SCOPES = {"loopback": None, "lan": "colab_lan_ip", "tailnet": "colab_mesh_ip", "all": None}
_FIXED = {"loopback": "127.0.0.1", "all": "0.0.0.0"}
PROTOCOLS = ("tcp", "udp")


def merged_entry(table, service, overrides=None):
    """The table's entry for ``service`` with the override's keys over it (None: neither has it)."""
    base = table.get(service)
    override = (overrides or {}).get(service)
    if base is None and override is None:
        return None
    if not isinstance(base, (dict, type(None))) or not isinstance(override, (dict, type(None))):
        return base if override is None else override
    return {**(base or {}), **(override or {})}


def check_ports(service, entry):
    """The entry's ports, checked: a list of {port|var, proto}; each problem names the field."""
    ports = entry.get("ports")
    if not isinstance(ports, list) or not ports:
        raise AnsibleFilterError(f"colab_exposure.{service}.ports must be a non-empty list of "
                                 "{port, proto} or {var, proto}")
    for index, spec in enumerate(ports):
        where = f"colab_exposure.{service}.ports[{index}]"
        if not isinstance(spec, dict) or ("port" in spec) == ("var" in spec):
            raise AnsibleFilterError(f"{where} must have exactly one of port (a number or 'any') "
                                     "and var (the role variable holding the port)")
        if spec.get("proto") not in PROTOCOLS:
            raise AnsibleFilterError(f"{where}.proto must be one of {', '.join(PROTOCOLS)}")
        if "port" in spec and spec["port"] != "any":
            try:
                number = int(spec["port"])
            except (TypeError, ValueError):
                number = 0
            if not 0 < number < 65536:
                raise AnsibleFilterError(f"{where}.port must be a port number (1-65535) or 'any'")
        if "var" in spec and not str(spec["var"] or "").strip():
            raise AnsibleFilterError(f"{where}.var must name a variable")
        if spec.get("port") == "any" and not isinstance(entry.get("process"), str):
            raise AnsibleFilterError(f"{where}.port is 'any': colab_exposure.{service}.process must "
                                     "name the process that holds it ('' for none of the node's)")
    return ports


def _entry(table, service, overrides):
    if not isinstance(table, dict):
        raise AnsibleFilterError("exposure_addresses: the exposure table (colab_exposure) must be a dict")
    entry = merged_entry(table, service, overrides)
    if entry is None:
        raise AnsibleFilterError(f"exposure_addresses: colab_exposure has no entry '{service}'")
    if not isinstance(entry, dict) or not isinstance(entry.get("bind"), list) or not entry["bind"]:
        raise AnsibleFilterError(f"exposure_addresses: colab_exposure.{service}.bind must be a "
                                 f"non-empty list of scopes ({', '.join(_SCOPES)})")
    if not str(entry.get("reach") or "").strip():
        raise AnsibleFilterError(f"exposure_addresses: colab_exposure.{service}.reach must say "
                                 "who may reach the service")
    if "group" in entry and not str(entry.get("group") or "").strip():
        raise AnsibleFilterError(f"exposure_addresses: colab_exposure.{service}.group must name "
                                 "the inventory group that runs it")
    return entry


def exposure_addresses(table, service, facts, overrides=None):
    """The addresses ``service`` binds on this host, in the table's order, without repeats."""
    entry = _entry(table, service, overrides)
    scopes = entry["bind"]
    unknown = [s for s in scopes if s not in _SCOPES]
    if unknown:
        raise AnsibleFilterError(f"exposure_addresses: colab_exposure.{service}.bind: unknown "
                                 f"scope(s) {unknown} (known: {', '.join(_SCOPES)})")
    if "all" in scopes:
        if len(scopes) > 1:
            raise AnsibleFilterError(f"exposure_addresses: colab_exposure.{service}.bind: 'all' "
                                     "already covers every other scope; list it alone")
        if not str(entry.get("reason") or "").strip():
            raise AnsibleFilterError(f"exposure_addresses: colab_exposure.{service}.bind is 'all' "
                                     f"(0.0.0.0): colab_exposure.{service}.reason must say why")
    addresses = []
    for scope in scopes:
        fact = _SCOPES[scope]
        address = _FIXED.get(scope) if fact is None else str((facts or {}).get(fact) or "")
        if not address:
            raise AnsibleFilterError(f"exposure_addresses: colab_exposure.{service} binds the "
                                     f"{scope} address, but this host's {fact} is empty")
        try:
            ipaddress.ip_address(address)
        except ValueError as exc:
            raise AnsibleFilterError(f"exposure_addresses: {fact} '{address}' (for colab_exposure."
                                     f"{service}) is not an IP address") from exc
        if address not in addresses:
            addresses.append(address)
    return addresses


def exposure_listen_addr(table, service, facts, overrides=None):
    """``ADDR:PORT`` of a service that listens on one address and one fixed port (headscale's
    listen_addr, metrics_listen_addr, grpc_listen_addr, the embedded DERP's STUN address)."""
    addresses = exposure_addresses(table, service, facts, overrides)
    entry = _entry(table, service, overrides)
    try:
        ports = check_ports(service, entry)
    except AnsibleFilterError as exc:
        raise AnsibleFilterError(f"exposure_listen_addr: {exc}") from exc
    if len(addresses) != 1 or len(ports) != 1 or "port" not in ports[0] or ports[0]["port"] == "any":
        raise AnsibleFilterError(f"exposure_listen_addr: colab_exposure.{service} must bind one "
                                 "scope and give one fixed port (a program with one listen address)")
    ip = ipaddress.ip_address(addresses[0])
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    return f"{host}:{int(ports[0]['port'])}"


def published_ports(addresses, host_port, container_port=None, protocol=""):
    """Compose short-syntax ports: ``ADDR:HOST:CONTAINER[/proto]`` per address (IPv6 in [])."""
    if not isinstance(addresses, list) or not addresses:
        raise AnsibleFilterError("published_ports: give a non-empty list of bind addresses "
                                 "(from colab_exposure through the wiring)")
    target = host_port if container_port is None else container_port
    suffix = f"/{protocol}" if protocol else ""
    out = []
    for address in addresses:
        try:
            ip = ipaddress.ip_address(str(address))
        except ValueError as exc:
            raise AnsibleFilterError(f"published_ports: '{address}' is not an IP address") from exc
        host = f"[{ip}]" if ip.version == 6 else str(ip)
        out.append(f"{host}:{int(host_port)}:{int(target)}{suffix}")
    return out


class FilterModule:
    def filters(self):
        return {"exposure_addresses": exposure_addresses, "exposure_listen_addr": exposure_listen_addr,
                "published_ports": published_ports}

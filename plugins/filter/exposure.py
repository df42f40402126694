# Copyright: (c) 2026, colab.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The exposure table (colab_exposure, inventory/common/wiring.yml) read one way.

exposure_addresses turns (table, service, host facts) into the addresses the service
listens on; published_ports turns those addresses into Compose's ADDR:PORT:PORT entries.
The wiring is the only caller of exposure_addresses: roles receive addresses, never a scope.
"""
from __future__ import annotations

import ipaddress

from ansible.errors import AnsibleFilterError

# scope -> the host fact that holds its address (None: a fixed address)
_SCOPES = {"loopback": None, "lan": "colab_lan_ip", "tailnet": "colab_mesh_ip", "all": None}
_FIXED = {"loopback": "127.0.0.1", "all": "0.0.0.0"}


def _entry(table, service, overrides):
    if not isinstance(table, dict):
        raise AnsibleFilterError("exposure_addresses: the exposure table (colab_exposure) must be a dict")
    entry = (overrides or {}).get(service, table.get(service))
    if entry is None:
        raise AnsibleFilterError(f"exposure_addresses: colab_exposure has no entry '{service}'")
    if not isinstance(entry, dict) or not isinstance(entry.get("bind"), list) or not entry["bind"]:
        raise AnsibleFilterError(f"exposure_addresses: colab_exposure.{service}.bind must be a "
                                 f"non-empty list of scopes ({', '.join(_SCOPES)})")
    if not str(entry.get("reach") or "").strip():
        raise AnsibleFilterError(f"exposure_addresses: colab_exposure.{service}.reach must say "
                                 "who may reach the service")
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
        return {"exposure_addresses": exposure_addresses, "published_ports": published_ports}

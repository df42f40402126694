# -*- coding: utf-8 -*-
# Copyright: colab.cluster developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Side-effect free planning for the tailscale client (module tailscale_up).

The live state comes from two documented JSON outputs of the tailscale CLI:

* ``tailscale status --json`` (``ipnstate.Status``): ``BackendState``
  (NoState, NeedsLogin, NeedsMachineAuth, Stopped, Starting, Running), ``Self``
  (``DNSName``, ``TailscaleIPs``, ``Tags``), ``CurrentTailnet.MagicDNSSuffix``;
* ``tailscale debug prefs`` (``ipn.Prefs``, keys stripped by tailscaled): ``ControlURL``,
  ``WantRunning``, ``LoggedOut``, ``CorpDNS``, ``RouteAll``, ``AdvertiseRoutes``,
  ``AdvertiseTags``, ``ExitNodeID``/``ExitNodeIP``, ``Hostname``.

``plan()`` compares them with what was asked and answers one of: nothing to do;
``tailscale set`` with only the preferences that differ; ``tailscale up`` (not logged in,
another control server, other tags: the only cases that need a login and so an auth
key); ``tailscale down``. No state file is kept anywhere: a second run reads the same
live state and plans nothing.
"""

from __future__ import annotations

import ipaddress
import json

LOGGED_IN_STATES = ("Running", "Starting", "Stopped", "NeedsMachineAuth")
NEEDS_LOGIN_STATES = ("NeedsLogin", "NoState")
EXIT_ROUTES = ("0.0.0.0/0", "::/0")
DEFAULT_CONTROL_URL = "https://controlplane.tailscale.com"


class TailscaleError(Exception):
    """The CLI answered something that cannot be planned from."""


def _desired_flags(desired):
    """(name, value) of every settable flag the task gives; advertised routes sorted and
    without the exit-node default routes (EXIT_ROUTES)."""
    for name in _SET_FLAGS:
        value = desired.get(name)
        if value is None:
            continue
        if name == "advertise_routes":
            value = sorted(_routes(value) - set(EXIT_ROUTES))
        yield name, value


def load(text, what):
    if text is None or not str(text).strip():
        raise TailscaleError(f"tailscale printed nothing for {what}")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise TailscaleError(f"tailscale printed no JSON for {what}: {str(text)[:200]!r}") from exc
    if not isinstance(data, dict):
        raise TailscaleError(f"tailscale {what} is not a JSON object")
    return data


def normalise_url(url):
    if not url:
        return DEFAULT_CONTROL_URL
    url = str(url).strip().rstrip("/")
    if url.startswith("https://") and url.endswith(":443"):
        url = url[:-4]
    return url.lower()


def _routes(routes):
    out = set()
    for route in routes or []:
        out.add(str(ipaddress.ip_network(str(route), strict=False)))
    return out


def facts(status, prefs=None):
    """The node's mesh identity, for other roles: IPs, MagicDNS name, state."""
    self_ = status.get("Self") or {}
    ips = list(self_.get("TailscaleIPs") or status.get("TailscaleIPs") or [])
    dns_name = (self_.get("DNSName") or "").rstrip(".")
    tailnet = status.get("CurrentTailnet") or {}
    suffix = (tailnet.get("MagicDNSSuffix") or status.get("MagicDNSSuffix") or "").rstrip(".")
    return {
        "backend_state": status.get("BackendState", "NoState"),
        "version": status.get("Version", ""),
        "ips": ips,
        "ipv4": next((ip for ip in ips if ":" not in ip), None),
        "ipv6": next((ip for ip in ips if ":" in ip), None),
        "dns_name": dns_name,
        "short_name": dns_name.split(".")[0] if dns_name else self_.get("HostName", ""),
        "magic_dns_suffix": suffix,
        "tags": sorted(self_.get("Tags") or []),
        "online": bool(self_.get("Online", False)),
        # the node key the control server knows this node by (headscale nodes list node_key)
        "node_key": self_.get("PublicKey", "") if status.get("BackendState") in LOGGED_IN_STATES else "",
        "control_url": normalise_url((prefs or {}).get("ControlURL")) if prefs is not None else None,
    }


def _exit_node_ip(status, prefs):
    """tailscaled turns an ExitNodeIP into the peer's StableNodeID (ExitNodeID) once it has
    the netmap: map the ID back to the peer's IPv4 so a configured IP compares stable."""
    if prefs.get("ExitNodeIP"):
        return prefs["ExitNodeIP"]
    node_id = prefs.get("ExitNodeID") or ""
    if not node_id:
        return ""
    candidates = [status.get("ExitNodeStatus") or {}] + list((status.get("Peer") or {}).values())
    for peer in candidates:
        if peer.get("ID") == node_id:
            for ip in peer.get("TailscaleIPs") or []:
                ip = ip.split("/")[0]
                if ":" not in ip:
                    return ip
    return node_id


def current_prefs(prefs, status=None):
    """The mutable preferences, in the module's option names."""
    routes = _routes(prefs.get("AdvertiseRoutes"))
    exit_node = _exit_node_ip(status or {}, prefs)
    return {
        "accept_dns": bool(prefs.get("CorpDNS", True)),
        "accept_routes": bool(prefs.get("RouteAll", False)),
        "advertise_exit_node": all(route in routes for route in EXIT_ROUTES),
        "advertise_routes": sorted(routes - set(EXIT_ROUTES)),
        "exit_node": str(exit_node),
        "hostname": prefs.get("Hostname", "") or "",
        "ssh": bool(prefs.get("RunSSH", False)),
    }


def resolve_exit_node(status, wanted):
    """An exit node given by name becomes the peer's IPv4 (what ExitNodeIP holds)."""
    if not wanted:
        return ""
    try:
        ipaddress.ip_address(wanted)
        return wanted
    except ValueError:
        pass
    for peer in (status.get("Peer") or {}).values():
        names = {(peer.get("DNSName") or "").rstrip(".").lower(),
                 (peer.get("DNSName") or "").split(".")[0].lower(),
                 (peer.get("HostName") or "").lower()}
        if wanted.lower() in names:
            for ip in peer.get("TailscaleIPs") or []:
                if ":" not in ip:
                    return ip
            return (peer.get("TailscaleIPs") or [wanted])[0]
    raise TailscaleError(f"exit_node: no peer named {wanted!r} in this tailnet")


_SET_FLAGS = {
    "accept_dns": "--accept-dns",
    "accept_routes": "--accept-routes",
    "advertise_exit_node": "--advertise-exit-node",
    "advertise_routes": "--advertise-routes",
    "exit_node": "--exit-node",
    "hostname": "--hostname",
    "ssh": "--ssh",
}


def flag(name, value):
    if isinstance(value, bool):
        return f"{_SET_FLAGS[name]}={'true' if value else 'false'}"
    if isinstance(value, list):
        return f"{_SET_FLAGS[name]}={','.join(value)}"
    return f"{_SET_FLAGS[name]}={value}"


def plan(status, prefs, desired):
    """Decide what to run.

    ``desired`` holds ``state`` (up/down), ``login_server``, ``tags`` (list or None = not
    managed), ``force_reauth`` and the mutable preferences (None = not managed).
    Returns ``{"action": none|set|up|down, "reason": str, "changes": {name: (before, after)},
    "needs_auth_key": bool, "set_flags": [...]}``.
    """
    backend = status.get("BackendState", "NoState")
    logged_in = backend in LOGGED_IN_STATES and not prefs.get("LoggedOut", False)
    result = {"action": "none", "reason": "the node already matches", "changes": {},
              "needs_auth_key": False, "set_flags": []}

    if desired.get("state", "up") == "down":
        if backend in ("Running", "Starting") and prefs.get("WantRunning", True):
            result.update(action="down", reason=f"backend is {backend}",
                          changes={"running": (True, False)})
        return result

    before = current_prefs(prefs, status)
    wanted = {}
    for name, value in _desired_flags(desired):
        if name == "exit_node":
            value = resolve_exit_node(status, value)
        wanted[name] = value
    changes = {name: (before[name], value) for name, value in wanted.items() if before[name] != value}

    login_server = desired.get("login_server")
    control_before = normalise_url(prefs.get("ControlURL"))
    reasons = []
    if not logged_in:
        reasons.append(f"backend is {backend}: not logged in")
    if login_server and normalise_url(login_server) != control_before:
        reasons.append(f"control server is {control_before}, not {normalise_url(login_server)}")
        changes["login_server"] = (control_before, normalise_url(login_server))
    tags = desired.get("tags")
    if tags is not None:
        tags_before = sorted(prefs.get("AdvertiseTags") or [])
        if sorted(tags) != tags_before:
            reasons.append("advertised tags differ")
            changes["tags"] = (tags_before, sorted(tags))
    if desired.get("force_reauth"):
        reasons.append("force_reauth is set")

    if reasons:
        result.update(action="up", reason="; ".join(reasons), changes=changes,
                      needs_auth_key=True)
        return result
    if not prefs.get("WantRunning", True) or backend == "Stopped":
        changes["running"] = (False, True)
        result.update(action="up", reason=f"backend is {backend}: bring it up (no login needed)",
                      changes=changes)
        return result
    if changes:
        result.update(action="set", reason="preferences differ", changes=changes,
                      set_flags=[flag(name, changes[name][1]) for name in _SET_FLAGS
                                 if name in changes])
    return result


def up_argv(binary, desired, auth_key_file=None, timeout="60s"):
    """``tailscale up`` with every managed preference (up refuses partial flag sets)."""
    argv = [binary, "up", f"--timeout={timeout}", "--reset"]
    if desired.get("login_server"):
        argv.append(f"--login-server={desired['login_server']}")
    if auth_key_file:
        argv.append(f"--auth-key=file:{auth_key_file}")
    if desired.get("tags") is not None:
        argv.append(f"--advertise-tags={','.join(desired['tags'])}")
    if desired.get("force_reauth"):
        argv.append("--force-reauth")
    for name, value in _desired_flags(desired):
        argv.append(flag(name, value))
    if desired.get("unattended"):
        argv.append("--unattended")
    return argv


def set_argv(binary, set_flags):
    return [binary, "set"] + list(set_flags)


def redact_argv(argv):
    return [("--auth-key=********" if part.startswith("--auth-key=") else part) for part in argv]

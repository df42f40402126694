"""A double of the tailscale CLI and tailscaled (1.82), for applying the mesh roles.

Not tailscale: it keeps the contracts the roles rely on, per tailscale/tailscale@v1.82.5:

* ``tailscale version`` prints the short version first, then indented commit lines —
  version/print.go.
* every command needs tailscaled's local socket; without it: "failed to connect to local
  tailscaled; it doesn't appear to be running" — cmd/tailscale/cli/diag.go.
* ``status --json`` is ``ipnstate.Status`` (BackendState, TailscaleIPs, Self{ID, PublicKey,
  HostName, DNSName, TailscaleIPs, Tags, Online}, CurrentTailnet{MagicDNSSuffix}, Peer) —
  ipn/ipnstate/ipnstate.go. BackendState is NeedsLogin when logged out or the node key is
  expired, Stopped when WantRunning is false, Running otherwise — ipn/backend.go (State).
* ``debug prefs`` prints ``ipn.Prefs`` (ControlURL, WantRunning, LoggedOut, CorpDNS,
  RouteAll, AdvertiseRoutes, AdvertiseTags, ExitNodeIP, Hostname, RunSSH) — ipn/prefs.go.
* ``up`` without ``--reset`` refuses to drop a non-default setting it was not given
  ("changing settings via 'tailscale up' requires mentioning all ...") — cmd/tailscale/cli/up.go
  (accidentalUpPrefix); ``--auth-key=file:PATH`` reads the key from a file — same file;
  a control refusal is "backend error: <msg>" — same file.
* ``logout`` expires the node key at the control server and forgets it —
  cmd/tailscale/cli/logout.go ("Disconnect from Tailscale and expire current node key").
* the machine key lives in tailscaled's state file and survives logouts; it is new only
  when the state is gone (a purge/reinstall) — ipn/store, control/controlclient.

The control protocol is NOT ts2021/Noise: the double posts plain JSON to the headscale
double's ``/machine/register`` and ``/machine/map`` on the login server URL.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import sys
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import meshcommon  # noqa: E402  pylint: disable=wrong-import-position
STATE = os.environ.get("TAILSCALE_DOUBLE_STATE", "/var/lib/tailscale/tailscaled.state")
SOCKET = os.environ.get("TAILSCALE_DOUBLE_SOCKET", "/var/run/tailscale/tailscaled.sock")
VERSION_FILE = os.path.join(HERE, "tailscale.version")

DEFAULT_PREFS = {
    "ControlURL": "https://controlplane.tailscale.com", "RouteAll": False, "ExitNodeID": "",
    "ExitNodeIP": "", "CorpDNS": True, "RunSSH": False, "WantRunning": False, "LoggedOut": False,
    "ShieldsUp": False, "AdvertiseTags": None, "Hostname": "", "AdvertiseRoutes": None,
}
UP_FLAGS = {
    "--login-server": ("ControlURL", str), "--accept-dns": ("CorpDNS", bool),
    "--accept-routes": ("RouteAll", bool), "--hostname": ("Hostname", str),
    "--advertise-tags": ("AdvertiseTags", list), "--advertise-routes": ("AdvertiseRoutes", list),
    "--exit-node": ("ExitNodeIP", str), "--ssh": ("RunSSH", bool),
}
SET_FLAGS = {k: v for k, v in UP_FLAGS.items() if k not in ("--login-server", "--advertise-tags")}


class Fail(Exception):
    pass


def version():
    with open(VERSION_FILE, encoding="utf-8") as handle:
        return handle.read().strip()


def load_state():
    if os.path.exists(STATE):
        with open(STATE, encoding="utf-8") as handle:
            return json.load(handle)
    return None


def save_state(state):
    tmp = STATE + ".tmp"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
        json.dump(state, handle, indent=1)
    os.replace(tmp, STATE)


def daemon():
    os.makedirs(os.path.dirname(STATE), exist_ok=True)
    if load_state() is None:
        save_state({"machine_key": "mkey:" + secrets.token_hex(32), "prefs": dict(DEFAULT_PREFS),
                    "node_key": "", "node": None})
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    meshcommon.listen_unix(SOCKET)


def need_daemon():
    if not meshcommon.socket_answers(SOCKET):
        raise Fail("failed to connect to local tailscaled; it doesn't appear to be running"
                   " (sudo systemctl start tailscaled ?)")
    state = load_state()
    if state is None:
        raise Fail("failed to connect to local tailscaled; it doesn't appear to be running")
    return state


def control(state, path, body, timeout=10):
    url = state["prefs"]["ControlURL"].rstrip("/") + path
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return 200, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
    except (urllib.error.URLError, OSError) as exc:
        return 0, {"error": str(exc)}


def refresh(state):
    """Ask the control server for the netmap; NeedsLogin when it no longer knows the key."""
    if not state["node_key"]:
        return None
    code, answer = control(state, "/machine/map", {"node_key": state["node_key"]})
    if code == 200:
        state["node"] = answer["node"]
        state["netmap"] = answer
        state["expired"] = answer["expired"]
    elif code == 401:
        state["expired"] = True
    save_state(state)
    return state


def backend_state(state):
    prefs = state["prefs"]
    if prefs["LoggedOut"] or not state["node_key"] or state.get("expired"):
        return "NeedsLogin"
    return "Running" if prefs["WantRunning"] else "Stopped"


def status_json(state):
    refresh(state)
    backend = backend_state(state)
    node = state.get("node") or {}
    netmap = state.get("netmap") or {}
    suffix = (netmap.get("dns") or {}).get("base_domain", "")
    ips = node.get("ip_addresses", []) if backend != "NeedsLogin" else []
    self_ = {"ID": str(node.get("id", "")), "PublicKey": state["node_key"] or
             "nodekey:0000000000000000000000000000000000000000000000000000000000000000",
             "HostName": state["prefs"]["Hostname"] or socket.gethostname(),
             "DNSName": f"{node.get('given_name')}.{suffix}." if node and suffix else "",
             "OS": "linux", "TailscaleIPs": ips,
             "Online": backend == "Running"}
    tags = node.get("tags") or node.get("forced_tags")
    if tags:
        self_["Tags"] = tags
    peers = {}
    if backend == "Running":
        for peer in netmap.get("peers") or []:
            peers[peer.get("node_key", "")] = {
                "ID": str(peer["id"]), "HostName": peer.get("name", ""),
                "DNSName": f"{peer.get('given_name')}.{suffix}.", "TailscaleIPs": peer.get("ip_addresses", []),
                "Online": bool(peer.get("online"))}
    return {"Version": version() + "-tdouble-gdouble", "TUN": True, "BackendState": backend,
            "HaveNodeKey": bool(state["node_key"]), "AuthURL": "", "TailscaleIPs": ips or None,
            "Self": self_, "Health": [],
            "MagicDNSSuffix": suffix,
            "CurrentTailnet": {"Name": suffix, "MagicDNSSuffix": suffix,
                               "MagicDNSEnabled": bool((netmap.get("dns") or {}).get("magic_dns"))} if suffix else None,
            "Peer": peers or None, "User": None}


def parse_flags(args, table):
    values, extra = {}, {}
    for arg in args:
        name, _sep, raw = arg.partition("=")
        if name in table:
            field, kind = table[name]
            if kind is bool:
                values[field] = raw in ("", "true")
            elif kind is list:
                values[field] = [v for v in raw.split(",") if v] or None
            else:
                values[field] = raw
        elif name == "--advertise-exit-node":
            extra["exit"] = raw in ("", "true")
        elif name in ("--auth-key", "--authkey", "--timeout", "--reset", "--force-reauth", "--unattended",
                      "--json", "--accept-risk"):
            extra[name] = raw
        else:
            raise Fail(f"flag provided but not defined: {name}")
    if "exit" in extra:
        routes = [r for r in (values.get("AdvertiseRoutes") or []) if r not in ("0.0.0.0/0", "::/0")]
        values["AdvertiseRoutes"] = (routes + (["0.0.0.0/0", "::/0"] if extra["exit"] else [])) or None
    return values, extra


def read_key(raw):
    if raw.startswith("file:"):
        with open(raw[5:], encoding="utf-8") as handle:
            return handle.read().strip()
    return raw


def up(state, args):
    values, extra = parse_flags(args, UP_FLAGS)
    prefs = state["prefs"]
    if "--reset" not in extra:
        missing = [field for field, default in DEFAULT_PREFS.items()
                   if field not in values and prefs.get(field) not in (default, None, [], "")
                   and field not in ("WantRunning", "LoggedOut", "ControlURL")]
        if missing:
            raise Fail("Error: changing settings via 'tailscale up' requires mentioning all\n"
                       f"non-default flags. missing: {', '.join(missing)}")
        new = dict(prefs)
    else:
        new = dict(DEFAULT_PREFS)
        new["ControlURL"] = prefs["ControlURL"]
    new.update(values)
    login = (not state["node_key"] or prefs["LoggedOut"] or state.get("expired")
             or new["ControlURL"] != prefs["ControlURL"]
             or sorted(new.get("AdvertiseTags") or []) != sorted(prefs.get("AdvertiseTags") or [])
             or "--force-reauth" in extra)
    state["prefs"] = new
    if login:
        key = read_key(extra.get("--auth-key") or extra.get("--authkey") or "")
        if not key:
            raise Fail(f"\nTo authenticate, visit:\n\n\t{new['ControlURL']}/register/{secrets.token_hex(12)}\n\n"
                       "timeout waiting for login")
        node_key = "nodekey:" + secrets.token_hex(32)
        code, answer = control(state, "/machine/register", {
            "machine_key": state["machine_key"], "node_key": node_key, "auth_key": key,
            "hostname": new["Hostname"] or socket.gethostname(), "tags": new.get("AdvertiseTags") or []})
        if code != 200:
            raise Fail(f"backend error: {answer.get('error', 'no answer from the control server')}")
        state.update(node_key=node_key, node=answer["node"], expired=False)
    new["LoggedOut"] = False
    new["WantRunning"] = True
    save_state(state)
    refresh(state)
    return ""


def main(argv):
    if argv[:1] == ["__daemon__"]:
        daemon()
        return 0
    args = list(argv)
    try:
        if args[:1] == ["version"]:
            print(f"{version()}\n  tailscale commit: double\n  other commit: double\n  go version: go1.24.0")
            return 0
        state = need_daemon()
        if args[:2] == ["status", "--json"]:
            print(json.dumps(status_json(state), indent=2))
        elif args[:1] == ["status"]:
            status = status_json(state)
            if status["BackendState"] != "Running":
                print(f"Tailscale is {status['BackendState']}.")
                return 1
            print(f"{status['Self']['TailscaleIPs'][0]}  {status['Self']['HostName']}")
        elif args[:2] == ["debug", "prefs"]:
            print(json.dumps(state["prefs"], indent=2))
        elif args[:1] == ["up"]:
            up(state, args[1:])
        elif args[:1] == ["set"]:
            values, _extra = parse_flags(args[1:], SET_FLAGS)
            state["prefs"].update(values)
            save_state(state)
        elif args[:1] == ["down"]:
            state["prefs"]["WantRunning"] = False
            save_state(state)
        elif args[:1] == ["logout"]:
            if state["node_key"]:
                control(state, "/machine/register", {"node_key": state["node_key"], "logout": True})
            state["prefs"].update(LoggedOut=True, WantRunning=False)
            state.update(node_key="", node=None, netmap=None)
            save_state(state)
        elif args[:1] == ["ip"]:
            for ip in status_json(state)["TailscaleIPs"] or []:
                print(ip)
        else:
            raise Fail(f"tailscale: unknown subcommand: {' '.join(args)}")
    except Fail as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

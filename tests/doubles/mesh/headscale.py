"""A double of the headscale server and CLI (0.25, 0.26, 0.28), for applying the mesh roles.

Not headscale: it keeps headscale's *contracts* as its sources define them, so the roles can
be applied end to end where headscale cannot be installed. Per behaviour (juanfont/headscale):

* CLI output: ``-o json`` prints Go ``json.MarshalIndent`` of the protobuf structs
  (snake_case, zero values omitted, timestamps ``{seconds, nanos}``); errors go to stderr as
  ``{"error": ...}`` with rc 1 — cmd/headscale/cli/utils.go@v0.26.1 (SuccessOutput,
  ErrorOutput); field names from gen/go/headscale/v1/node.pb.go@v0.26.1.
* ``version`` prints the bare version without ``-o`` — cmd/headscale/cli/version.go@v0.26.1;
  0.28 prints ``headscale version vX`` first — cmd/headscale/cli/version.go@v0.28.0.
* ``users destroy --identifier`` (0.24+), ``preauthkeys create --user <id>`` (0.26+, a
  name before) — cmd/headscale/cli/{users,preauthkeys}.go@v0.25.1/@v0.26.1.
* ``nodes delete|rename|expire --identifier`` — cmd/headscale/cli/nodes.go@v0.26.1.
* ``policy check --file`` exists from 0.26 — cmd/headscale/cli/policy.go@v0.26.1.
* ``configtest`` builds the whole server, which opens and migrates the database —
  cmd/headscale/cli/configtest.go@v0.26.1 (newHeadscaleServerWithConfig).
* Registration with a pre-auth key: "invalid pre auth key", "authkey expired",
  "authkey already used"; a non-reusable key is marked used — hscontrol/auth.go@v0.26.1
  (handleRegisterWithAuthKey, canUsePreAuthKey). A request whose expiry is in the past is
  a logout: the node's expiry is set, the node stays — same file, handleExistingNode.
* A node registering again with the same machine key and user keeps its id, given name and
  addresses; a new machine key is a new node, and a taken given name gets ``-<8 random>``
  — hscontrol/db/node.go@v0.26.1 (RegisterNode, ensureUniqueGivenName).
* Addresses are handed out in order from the prefix (sequential allocation) —
  hscontrol/db/ip.go@v0.26.1 (IPAllocator.Next).
* ``dns.extra_records_path`` is re-read while running — docs/ref/dns.md@v0.26.1.

The wire protocol between tailscaled and headscale (Noise over ts2021) is NOT reproduced:
the tailscale double talks plain JSON to ``/machine/*`` on the same listen address.
State is a real SQLite database at ``database.sqlite.path`` (so a backup means something).
"""
from __future__ import annotations

import ipaddress
import json
import os
import random
import secrets
import signal
import sqlite3
import string
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import meshcommon  # noqa: E402  pylint: disable=wrong-import-position

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION_FILE = os.environ.get("HEADSCALE_DOUBLE_VERSION_FILE", os.path.join(HERE, "headscale.version"))


def version():
    with open(VERSION_FILE, encoding="utf-8") as handle:
        return handle.read().strip()


def minor():
    parts = version().split(".")
    return int(parts[0]), int(parts[1])


class CliError(Exception):
    pass


def now():
    return int(time.time())


def ts(seconds):
    return {"seconds": int(seconds), "nanos": 0} if seconds else None


def drop_empty(data):
    """Go encoding/json with omitempty: zero values are left out."""
    return {k: v for k, v in data.items() if v not in (None, "", 0, False, [], {})}


# --- config and database -------------------------------------------------------------------
def load_config(path):
    try:
        with open(path, encoding="utf-8") as handle:
            config = meshcommon.loads(handle.read())
    except FileNotFoundError as exc:
        raise CliError(f"Config File \"config\" Not Found in \"[{os.path.dirname(path)}]\"") from exc
    except ValueError as exc:
        raise CliError(f"failed to load config: {exc}") from exc
    if not isinstance(config, dict):
        raise CliError("failed to load config: not a mapping")
    for key in ("server_url", "listen_addr", "noise", "prefixes", "database"):
        if key not in config:
            raise CliError(f"Fatal config error: {key} is required")
    if not str(config["server_url"]).startswith(("http://", "https://")):
        raise CliError("Fatal config error: server_url must start with https:// or http://")
    if not (config["prefixes"] or {}).get("v4") and not (config["prefixes"] or {}).get("v6"):
        raise CliError("Fatal config error: no IPv4 or IPv6 prefix configured")
    return config


SCHEMA = """
create table if not exists meta (k text primary key, v text);
create table if not exists users (id integer primary key autoincrement, name text unique, created integer);
create table if not exists keys (id integer primary key autoincrement, key text unique, user_id integer,
  reusable integer, ephemeral integer, used integer, expiration integer, created integer, tags text);
create table if not exists nodes (id integer primary key autoincrement, machine_key text, node_key text,
  hostname text, given_name text, user_id integer, ipv4 text, ipv6 text, expiry integer,
  created integer, last_seen integer, auth_key_id integer, tags text);
"""


def open_db(config):
    path = ((config.get("database") or {}).get("sqlite") or {}).get("path")
    if not path:
        raise CliError("Fatal config error: database.sqlite.path is required")
    directory = os.path.dirname(path)
    if directory and not os.path.isdir(directory):
        raise CliError(f"unable to open database file: {path}")
    db = sqlite3.connect(path, timeout=10, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.executescript(SCHEMA)
    # the "migration": the database remembers the newest release that opened it
    row = db.execute("select v from meta where k='schema_version'").fetchone()
    if row is None or tuple(int(p) for p in row["v"].split(".")[:2]) < minor():
        db.execute("insert or replace into meta values ('schema_version', ?)", (version(),))
    return db


def config_path(args):
    for flag in ("--config", "-c"):
        if flag in args:
            index = args.index(flag)
            value = args[index + 1]
            del args[index:index + 2]
            return value
    return os.environ.get("HEADSCALE_CONFIG", "/etc/headscale/config.yaml")


def socket_answers(config):
    return meshcommon.socket_answers(config.get("unix_socket") or "/var/run/headscale/headscale.sock")


# --- JSON shapes (node.pb.go, user.pb.go, preauthkey.pb.go) ----------------------------------
def user_json(row):
    return drop_empty({"id": row["id"], "name": row["name"], "created_at": ts(row["created"])})


def key_json(db, row):
    user = db.execute("select * from users where id=?", (row["user_id"],)).fetchone()
    data = {"id": row["id"], "key": row["key"], "reusable": bool(row["reusable"]),
            "ephemeral": bool(row["ephemeral"]), "used": bool(row["used"]),
            "expiration": ts(row["expiration"]), "created_at": ts(row["created"]),
            "acl_tags": json.loads(row["tags"] or "[]")}
    if user is not None:
        # 0.26 (#2542): the full user object; before, the user's name
        data["user"] = user_json(user) if minor() >= (0, 26) else user["name"]
    if minor() < (0, 24):
        data["id"] = str(data["id"])
    return drop_empty(data)


def node_json(db, row):
    user = db.execute("select * from users where id=?", (row["user_id"],)).fetchone()
    tags = json.loads(row["tags"] or "[]")
    data = {
        "id": row["id"], "machine_key": row["machine_key"], "node_key": row["node_key"],
        "ip_addresses": [ip for ip in (row["ipv4"], row["ipv6"]) if ip],
        "name": row["hostname"], "user": user_json(user) if user else None,
        "last_seen": ts(row["last_seen"]), "expiry": ts(row["expiry"]),
        "created_at": ts(row["created"]), "register_method": 1,
        "given_name": row["given_name"],
        "online": bool(row["last_seen"] and now() - row["last_seen"] < 60
                       and not (row["expiry"] and row["expiry"] <= now())),
    }
    if minor() >= (0, 28):
        data["tags"] = tags
    else:
        data["forced_tags"] = tags
        data["valid_tags"] = tags
    return drop_empty(data)


# --- the server ----------------------------------------------------------------------------
class State:
    def __init__(self, config):
        self.config = config
        self.lock = threading.Lock()

    def db(self):
        return open_db(self.config)

    def next_ips(self, db):
        prefixes = self.config.get("prefixes") or {}
        taken4 = {r["ipv4"] for r in db.execute("select ipv4 from nodes")}
        taken6 = {r["ipv6"] for r in db.execute("select ipv6 from nodes")}
        out = []
        for family, taken in (("v4", taken4), ("v6", taken6)):
            if not prefixes.get(family):
                out.append(None)
                continue
            net = ipaddress.ip_network(prefixes[family])
            for addr in net.hosts():
                if str(addr) not in taken:
                    out.append(str(addr))
                    break
            else:
                raise CliError("allocating IPs: no more addresses in the prefix")
        return out

    def register(self, request):
        with self.lock:
            db = self.db()
            node = db.execute("select * from nodes where node_key=?", (request["node_key"],)).fetchone()
            if node is not None:
                if request.get("logout"):
                    db.execute("update nodes set expiry=? where id=?", (now(), node["id"]))
                return 200, {"node": node_json(db, db.execute(
                    "select * from nodes where id=?", (node["id"],)).fetchone())}
            key = db.execute("select * from keys where key=?", (request.get("auth_key") or "",)).fetchone()
            if key is None:
                return 401, {"error": "invalid pre auth key"}
            if key["expiration"] and key["expiration"] <= now():
                return 401, {"error": "authkey expired"}
            if key["used"] and not key["reusable"]:
                return 401, {"error": "authkey already used"}
            old = db.execute("select * from nodes where machine_key=? and user_id=?",
                             (request["machine_key"], key["user_id"])).fetchone()
            tags = key["tags"]
            if old is not None:
                db.execute("update nodes set node_key=?, hostname=?, expiry=NULL, last_seen=?,"
                           " auth_key_id=?, tags=? where id=?",
                           (request["node_key"], request["hostname"], now(), key["id"], tags, old["id"]))
                node_id = old["id"]
            else:
                ipv4, ipv6 = self.next_ips(db)
                given = request["hostname"].lower()
                if db.execute("select 1 from nodes where given_name=?", (given,)).fetchone():
                    suffix = "".join(random.choice(string.ascii_lowercase + string.digits) for _index in range(8))
                    given = f"{given}-{suffix}"
                cur = db.execute(
                    "insert into nodes (machine_key, node_key, hostname, given_name, user_id, ipv4,"
                    " ipv6, expiry, created, last_seen, auth_key_id, tags) values (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (request["machine_key"], request["node_key"], request["hostname"], given,
                     key["user_id"], ipv4, ipv6, None, now(), now(), key["id"], tags))
                node_id = cur.lastrowid
            if not key["reusable"]:
                db.execute("update keys set used=1 where id=?", (key["id"],))
            return 200, {"node": node_json(db, db.execute("select * from nodes where id=?", (node_id,)).fetchone())}

    def netmap(self, request):
        with self.lock:
            db = self.db()
            node = db.execute("select * from nodes where node_key=?", (request["node_key"],)).fetchone()
            if node is None:
                return 401, {"error": "node not found"}
            db.execute("update nodes set last_seen=? where id=?", (now(), node["id"]))
            dns = self.config.get("dns") or {}
            records = list(dns.get("extra_records") or [])
            path = dns.get("extra_records_path")
            if path and os.path.exists(path):
                with open(path, encoding="utf-8") as handle:
                    records += json.load(handle)
            peers = [node_json(db, r) for r in db.execute("select * from nodes where id != ?", (node["id"],))]
            return 200, {"node": node_json(db, node), "peers": peers,
                         "dns": {"magic_dns": bool(dns.get("magic_dns")), "base_domain": dns.get("base_domain", ""),
                                 "extra_records": records},
                         "expired": bool(node["expiry"] and node["expiry"] <= now())}


def serve(config):
    state = State(config)
    state.db().close()
    noise = (config.get("noise") or {}).get("private_key_path")
    if noise and not os.path.exists(noise):
        with open(os.open(noise, os.O_WRONLY | os.O_CREAT, 0o600), "w", encoding="utf-8") as handle:
            handle.write("privkey:" + secrets.token_hex(32) + "\n")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/health":  # hscontrol/handlers.go: {"status":"pass"}
                return self._answer(200, {"status": "pass"})
            return self._answer(404, {"error": "not found"})

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            request = json.loads(self.rfile.read(length) or b"{}")
            if self.path == "/machine/register":
                return self._answer(*state.register(request))
            if self.path == "/machine/map":
                return self._answer(*state.netmap(request))
            return self._answer(404, {"error": "not found"})

    host, _sep, port = str(config["listen_addr"]).rpartition(":")
    server = ThreadingHTTPServer((host or "0.0.0.0", int(port)), Handler)
    meshcommon.listen_unix(config.get("unix_socket") or "/var/run/headscale/headscale.sock", background=True)
    signal.signal(signal.SIGHUP, lambda *_: None)  # policy reload: nothing to reload here
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()


# --- the CLI -------------------------------------------------------------------------------
def take(args, *names, flag=False, default=None):
    for name in names:
        for index, arg in enumerate(args):
            if arg == name:
                if flag:
                    del args[index]
                    return True
                value = args[index + 1]
                del args[index:index + 2]
                return value
            if arg.startswith(name + "=") and name.startswith("--"):
                del args[index]
                return arg.split("=", 1)[1]
    return False if flag else default


def parse_duration(text):
    # hscontrol uses model.ParseDuration (prometheus): 30m, 1h, 2d, 0s ...
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    if not text or text[-1] not in units or not text[:-1].isdigit():
        raise CliError(f"Could not parse duration: not a valid duration string: {text!r}")
    return int(text[:-1]) * units[text[-1]]


def cli(args, output):
    path = config_path(args)
    command = args[:2]
    if args[:1] == ["version"]:
        if output == "json":
            return {"version": "v" + version(), "commit": "mesh-double"}
        if minor() >= (0, 28):
            return f"headscale version v{version()}\ncommit: mesh-double\nbuild time: -\ngo: -"
        return "v" + version()
    config = load_config(path)
    if args[:1] == ["serve"]:
        serve(config)
        return None
    if args[:1] == ["configtest"]:
        open_db(config).close()
        return ""
    if command == ["policy", "check"]:
        if minor() < (0, 26):
            raise CliError('unknown command "policy" for "headscale"')
        policy_file = take(args, "--file", "-f")
        with open(policy_file, encoding="utf-8") as handle:
            text = handle.read()
        try:
            json.loads("\n".join(line for line in text.splitlines() if not line.strip().startswith("//")))
        except ValueError as exc:
            raise CliError(f"Error reading the policy file: {exc}") from exc
        return "Policy is valid"
    if not socket_answers(config):
        # the CLI talks gRPC to the running server over unix_socket
        raise CliError("Could not connect: context deadline exceeded")
    db = open_db(config)
    force = take(args, "--force", flag=True)
    del force
    if command == ["users", "list"]:
        return [user_json(r) for r in db.execute("select * from users order by id")] or None
    if command == ["users", "create"]:
        name = args[2]
        if db.execute("select 1 from users where name=?", (name,)).fetchone():
            raise CliError("Cannot create user: user already exists")
        cur = db.execute("insert into users (name, created) values (?, ?)", (name, now()))
        return user_json(db.execute("select * from users where id=?", (cur.lastrowid,)).fetchone())
    if command == ["users", "destroy"]:
        ident = take(args, "--identifier", "-i")
        row = (db.execute("select * from users where id=?", (int(ident),)).fetchone() if ident
               else db.execute("select * from users where name=?", (args[2],)).fetchone())
        if row is None:
            raise CliError("Error: user not found")
        db.execute("delete from users where id=?", (row["id"],))
        return {}
    if command == ["preauthkeys", "create"]:
        user_arg = take(args, "--user", "-u")
        if minor() >= (0, 26):
            if not str(user_arg).isdigit():
                raise CliError(f'invalid argument "{user_arg}" for "-u, --user" flag: strconv.ParseUint: parsing "{user_arg}": invalid syntax')
            user = db.execute("select * from users where id=?", (int(user_arg),)).fetchone()
        else:
            user = db.execute("select * from users where name=?", (user_arg,)).fetchone()
        if user is None:
            raise CliError("user not found")
        expiration = parse_duration(take(args, "--expiration", "-e", default="1h"))
        reusable = take(args, "--reusable", flag=True)
        ephemeral = take(args, "--ephemeral", flag=True)
        tags = [t for t in (take(args, "--tags", default="") or "").split(",") if t]
        key = secrets.token_hex(24)
        cur = db.execute("insert into keys (key, user_id, reusable, ephemeral, used, expiration, created, tags)"
                         " values (?,?,?,?,0,?,?,?)",
                         (key, user["id"], int(reusable), int(ephemeral), now() + expiration, now(), json.dumps(tags)))
        return key_json(db, db.execute("select * from keys where id=?", (cur.lastrowid,)).fetchone())
    if command == ["preauthkeys", "list"]:
        user_arg = take(args, "--user", "-u")
        rows = db.execute("select * from keys order by id").fetchall()
        if user_arg:
            column = "id" if minor() >= (0, 26) else "name"
            rows = [r for r in rows if str(db.execute(f"select {column} from users where id=?",
                                                      (r["user_id"],)).fetchone()[0]) == str(user_arg)]
        return [key_json(db, r) for r in rows] or None
    if command == ["nodes", "list"] or command == ["nodes", "ls"]:
        return [node_json(db, r) for r in db.execute("select * from nodes order by id")] or None
    if args[:1] == ["nodes"] and len(args) > 1 and args[1] in ("delete", "del", "rename", "expire", "logout"):
        ident = take(args, "--identifier", "-i")
        if not ident:
            raise CliError('required flag(s) "identifier" not set')
        row = db.execute("select * from nodes where id=?", (int(ident),)).fetchone()
        if row is None:
            raise CliError("Error getting node node from ID: record not found")
        if args[1] in ("delete", "del"):
            db.execute("delete from nodes where id=?", (row["id"],))
            return {}
        if args[1] == "rename":
            new = args[2]
            if db.execute("select 1 from nodes where given_name=? and id != ?", (new, row["id"])).fetchone():
                raise CliError("Cannot rename node: name is not unique")
            db.execute("update nodes set given_name=? where id=?", (new, row["id"]))
        else:
            db.execute("update nodes set expiry=? where id=?", (now(), row["id"]))
        return {"node": node_json(db, db.execute("select * from nodes where id=?", (row["id"],)).fetchone())}
    raise CliError(f'unknown command "{" ".join(args)}" for "headscale"')


def main(argv):
    args = list(argv)
    output = take(args, "--output", "-o", default="")
    try:
        result = cli(args, output)
    except CliError as exc:
        if output:
            sys.stderr.write(json.dumps({"error": str(exc)}, indent="\t") + "\n")
        else:
            sys.stderr.write(f"{exc}\n")
        return 1
    if result is None and args[:1] == ["serve"]:
        return 0
    if output == "json":
        print(json.dumps(result, indent="\t"))
    elif result not in (None, ""):
        print(result if isinstance(result, str) else json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

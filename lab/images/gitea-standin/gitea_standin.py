"""A lab stand-in for the gitea/gitea image. It is NOT Gitea.

No reachable registry ships Gitea, so the lab runs this in its place. It keeps the parts
of Gitea's contract that the colab.cluster.gitea role relies on:

* configuration from the same ``GITEA__<section>__<KEY>`` environment variables;
* ``gitea web``: connects to the configured PostgreSQL with ``GITEA__database__*``
  (a real login, so a wrong injected password fails), creates its one table (its
  "migration") and serves ``GET /api/healthz`` in Gitea's format
  (routers/web/healthcheck/check.go: ``{"status": "pass"|"fail", "description",
  "checks": {"database:ping": [...]}}``, HTTP 200 on pass, 424 on fail);
* the rootless image's start-up: ``docker-setup.sh`` writes ``$GITEA_APP_INI``
  (/etc/gitea/app.ini) from its template when missing, then ``environment-to-ini`` copies
  every ``GITEA__<section>__<KEY>`` variable into it, secrets included
  (docker/rootless/usr/local/bin/docker-setup.sh and cmd/environment_to_ini.go,
  go-gitea/gitea@0fd39aeb / @019e1247): so the tests see where the real image leaves
  SECRET_KEY and the database password;
* ``gitea admin user list [--admin]``; ``gitea admin user create --username --email
  (--password P | --random-password [--random-password-length N]) [--admin]
  [--must-change-password=false]``, printing ``generated random password is '...'`` as
  cmd/admin_user_create.go does; ``gitea admin user generate-access-token --username
  [--token-name] [--scopes] [--raw]`` (cmd/admin_user_generate_access_token.go, which
  refuses a token name used already);
* the API calls the role makes: ``GET /api/v1/user`` (basic or token auth, 401 when the
  credentials are wrong), ``PATCH /api/v1/admin/users/{name}`` (admin only; ``login_name``
  is required and ``source_id`` sent, as modules/structs/admin_user.go's EditUserOption
  binds them; 422 otherwise) and ``DELETE /api/v1/users/{name}/tokens/{token}``
  (basic auth only, 204);
* ``gitea dump -f FILE``: a zip with ``app.ini`` (cmd/dump.go always adds the custom
  config file), ``gitea-db.sql`` and ``data/``.

It has no web UI, no git hosting and no SSH server.
"""
from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import http.server
import json
import os
import re
import secrets
import sys
import time
import zipfile

import psycopg2

# Gitea answers "Gitea: Git with a cup of tea"; the stand-in says what it is.
DESCRIPTION = "colab.cluster lab stand-in for Gitea (not Gitea)"


def setting(section, key, default=""):
    return os.environ.get(f"GITEA__{section}__{key}", default)


def connect(timeout=5):
    host, _sep, port = setting("database", "HOST", "localhost:5432").partition(":")
    return psycopg2.connect(host=host, port=int(port or 5432),
                            dbname=setting("database", "NAME", "gitea"),
                            user=setting("database", "USER", "gitea"),
                            password=setting("database", "PASSWD"),
                            connect_timeout=timeout)


def migrate(deadline_s=120):
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            conn = connect()
            break
        except psycopg2.OperationalError as exc:
            if time.monotonic() > deadline:
                print(f"gitea-standin: database unreachable: {exc}", file=sys.stderr)
                sys.exit(1)
            time.sleep(2)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS standin_user (id SERIAL PRIMARY KEY, "
                    "name TEXT UNIQUE NOT NULL, email TEXT NOT NULL, passwd TEXT NOT NULL, "
                    "salt TEXT NOT NULL, is_admin BOOLEAN NOT NULL, "
                    "must_change_password BOOLEAN NOT NULL)")
        cur.execute("CREATE TABLE IF NOT EXISTS standin_token (id SERIAL PRIMARY KEY, "
                    "uid INTEGER NOT NULL, name TEXT NOT NULL, token_hash TEXT NOT NULL, "
                    "UNIQUE (uid, name))")
    conn.close()


# --- app.ini, the way the rootless image writes it --------------------------------------
APP_INI = os.environ.get("GITEA_APP_INI", "/etc/gitea/app.ini")
# The keys docker/rootless/etc/templates/app.ini fills in from the environment (a subset:
# the template's other keys are paths and defaults the stand-in does not use).
TEMPLATE = """APP_NAME = Gitea: Git with a cup of tea
RUN_USER = git
RUN_MODE = prod
WORK_PATH = /var/lib/gitea

[repository]
ROOT = /var/lib/gitea/git/repos

[server]
APP_DATA_PATH = /var/lib/gitea
SSH_DOMAIN = localhost
HTTP_PORT = 3000
ROOT_URL =
SSH_PORT = 2222

[database]
PATH = /var/lib/gitea/data/gitea.db
DB_TYPE = sqlite3
HOST = localhost:3306
NAME = gitea
USER = root
PASSWD =

[security]
INSTALL_LOCK = false
SECRET_KEY =
"""


def read_ini(text):
    """Sections in file order: [(name, [(key, value)])]; '' is the top level."""
    sections = [("", [])]
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            sections.append((stripped[1:-1], []))
            continue
        key, _sep, value = stripped.partition("=")
        sections[-1][1].append((key.strip(), value.strip()))
    return sections


def write_ini(sections):
    out = []
    for name, items in sections:
        if name:
            out.append(f"\n[{name}]")
        out.extend(f"{key} = {value}" for key, value in items)
    return "\n".join(out).lstrip("\n") + "\n"


def environment_to_ini(path=APP_INI, environ=None):
    """docker-setup.sh + environment-to-ini: template when missing, then GITEA__* over it."""
    environ = os.environ if environ is None else environ
    if not os.path.exists(path):
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        os.chmod(folder, 0o700)  # docker-setup.sh: mkdir -p ... && chmod 0700
        text = TEMPLATE
    else:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    sections = read_ini(text)
    for name, value in environ.items():
        if not name.startswith("GITEA__"):
            continue
        section, _sep, key = name[len("GITEA__"):].partition("__")
        if not key:
            continue
        items = next((sec[1] for sec in sections if sec[0] == section), None)
        if items is None:
            items = []
            sections.append((section, items))
        for idx, (existing, _old) in enumerate(items):
            if existing == key:
                items[idx] = (key, value)
                break
        else:
            items.append((key, value))
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(write_ini(sections))


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def hash_password(password, salt):
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 100000).hex()


def find_user(cur, name):
    cur.execute("SELECT id, name, email, passwd, salt, is_admin FROM standin_user WHERE name = %s",
                (name,))
    return cur.fetchone()


def authenticate(cur, header, allow_token=True):
    """The user behind an Authorization header (basic, or ``token X``), else None."""
    kind, _sep, value = (header or "").partition(" ")
    if kind.lower() == "basic":
        try:
            name, _sep, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return None
        row = find_user(cur, name)
        if row and hash_password(password, row[4]) == row[3]:
            return row
        return None
    if kind.lower() == "token" and allow_token:
        digest = hashlib.sha256(value.encode()).hexdigest()
        cur.execute("SELECT u.id, u.name, u.email, u.passwd, u.salt, u.is_admin FROM standin_user u "
                    "JOIN standin_token t ON t.uid = u.id WHERE t.token_hash = %s", (digest,))
        return cur.fetchone()
    return None


def user_json(row):
    return {"id": row[0], "login": row[1], "email": row[2], "is_admin": row[5]}


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "gitea-standin/1"

    def reply(self, code, data=None):
        body = b"" if data is None else json.dumps(data).encode()
        self.send_response(code)
        if data is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def api(self, method):
        path = self.path.split("?")[0]
        conn = connect(timeout=3)
        try:
            with conn, conn.cursor() as cur:
                return self.route(cur, method, path)
        finally:
            conn.close()

    def route(self, cur, method, path):
        header = self.headers.get("Authorization")
        if method == "GET" and path == "/api/v1/user":
            user = authenticate(cur, header)
            if not user:
                return self.reply(401, {"message": "user does not exist or password is wrong"})
            return self.reply(200, user_json(user))
        match = re.fullmatch(r"/api/v1/admin/users/([^/]+)", path)
        if method == "PATCH" and match:
            user = authenticate(cur, header)
            if not user:
                return self.reply(401, {"message": "token is required"})
            if not user[5]:
                return self.reply(403, {"message": "reqSiteAdmin"})
            length = int(self.headers.get("Content-Length") or 0)
            form = json.loads(self.rfile.read(length) or b"{}")
            if not form.get("login_name") or "source_id" not in form:
                return self.reply(422, [{"fieldNames": ["LoginName"], "classification":
                                         "RequiredError", "message": "Required"}])
            target = find_user(cur, match.group(1))
            if not target:
                return self.reply(404, {"message": "user does not exist"})
            if form.get("password"):
                salt = secrets.token_hex(16)
                cur.execute("UPDATE standin_user SET passwd = %s, salt = %s WHERE id = %s",
                            (hash_password(form["password"], salt), salt, target[0]))
            if "must_change_password" in form:
                cur.execute("UPDATE standin_user SET must_change_password = %s WHERE id = %s",
                            (bool(form["must_change_password"]), target[0]))
            return self.reply(200, user_json(find_user(cur, target[1])))
        match = re.fullmatch(r"/api/v1/users/([^/]+)/tokens/([^/]+)", path)
        if method == "DELETE" and match:
            # routers/api/v1/api.go: the token endpoints take basic auth only
            user = authenticate(cur, header, allow_token=False)
            if not user or user[1] != match.group(1):
                return self.reply(401, {"message": "auth required"})
            cur.execute("DELETE FROM standin_token WHERE uid = %s AND name = %s",
                        (user[0], match.group(2)))
            return self.reply(204 if cur.rowcount else 404)
        return self.reply(404, {"message": "not served by the colab gitea stand-in"})

    def do_PATCH(self):  # noqa: N802
        self.api("PATCH")

    def do_DELETE(self):  # noqa: N802
        self.api("DELETE")

    def do_GET(self):  # noqa: N802 (http.server's naming)
        if self.path.startswith("/api/v1/"):
            self.api("GET")
            return
        if self.path.split("?")[0] != "/api/healthz":
            body = b"colab gitea stand-in: only /api/healthz is served\n"
            self.send_response(404)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        check = {"status": "pass", "time": now()}
        try:
            conn = connect(timeout=3)
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
            conn.close()
        except psycopg2.Error:
            check = {"status": "fail", "time": now()}
        rsp = {"status": check["status"], "description": DESCRIPTION,
               "checks": {"database:ping": [check]}}
        body = json.dumps(rsp, indent=2).encode()
        self.send_response(200 if check["status"] == "pass" else 424)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("gitea-standin: %s\n" % (fmt % args))


def cmd_web(_args):
    environment_to_ini()
    migrate()
    port = int(setting("server", "HTTP_PORT", "3000"))
    print(f"gitea-standin: serving /api/healthz on :{port} "
          f"(domain {setting('server', 'DOMAIN', '-')}, "
          f"install lock {setting('security', 'INSTALL_LOCK', 'false')})", flush=True)
    http.server.ThreadingHTTPServer(("", port), Handler).serve_forever()


def cmd_user_list(args):
    conn = connect()
    with conn.cursor() as cur:
        cur.execute("SELECT id, name, email, is_admin FROM standin_user ORDER BY id")
        rows = cur.fetchall()
    conn.close()
    print("ID   Username Email IsActive IsAdmin 2FA")
    for uid, name, email, is_admin in rows:
        if args.admin and not is_admin:
            continue
        print(f"{uid}   {name} {email} true {str(is_admin).lower()} false")


def fail(msg):
    print(f"Command error: {msg}", file=sys.stderr)
    sys.exit(1)


def cmd_user_create(args):
    if not args.username or not args.email:
        fail("--username and --email are required")
    if args.password and args.random_password:
        fail("cannot set both -random-password and -password flags")
    if args.random_password:
        password = secrets.token_urlsafe(args.random_password_length)[:args.random_password_length]
        print(f"generated random password is '{password}'")
    elif args.password:
        password = args.password
    else:
        fail("must set either password or random-password flag")
    salt = secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 100000)
    must_change = args.must_change_password.lower() == "true"
    conn = connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute("INSERT INTO standin_user (name, email, passwd, salt, is_admin, "
                        "must_change_password) VALUES (%s, %s, %s, %s, %s, %s)",
                        (args.username, args.email, digest.hex(), salt, args.admin, must_change))
    except psycopg2.IntegrityError:
        print(f"Command error: CreateUser: user already exists [name: {args.username}]",
              file=sys.stderr)
        sys.exit(1)
    finally:
        conn.close()
    print(f"New user '{args.username}' has been successfully created!")


def cmd_token(args):
    if not args.username:
        fail("You must provide a username to generate a token for")
    token = secrets.token_hex(20)
    conn = connect()
    try:
        with conn, conn.cursor() as cur:
            row = find_user(cur, args.username)
            if not row:
                fail(f"user does not exist [name: {args.username}]")
            cur.execute("SELECT 1 FROM standin_token WHERE uid = %s AND name = %s",
                        (row[0], args.token_name))
            if cur.fetchone():
                fail("access token name has been used already")
            cur.execute("INSERT INTO standin_token (uid, name, token_hash) VALUES (%s, %s, %s)",
                        (row[0], args.token_name, hashlib.sha256(token.encode()).hexdigest()))
    finally:
        conn.close()
    print(token if args.raw else f"Access token was successfully created: {token}")


def cmd_dump(args):
    conn = connect()
    with conn.cursor() as cur:
        cur.execute("SELECT id, name, email, is_admin FROM standin_user ORDER BY id")
        rows = cur.fetchall()
    conn.close()
    data_dir = setting("server", "APP_DATA_PATH", "/var/lib/gitea")
    with zipfile.ZipFile(args.file, "w", zipfile.ZIP_DEFLATED) as zf:
        # cmd/dump.go: app.ini (with every secret in it), the database, then data/
        if os.path.exists(APP_INI):
            zf.write(APP_INI, "app.ini")
        zf.writestr("gitea-db.sql", "".join(
            f"INSERT INTO standin_user (id, name, email, is_admin) VALUES "
            f"({uid}, '{name}', '{email}', {str(adm).lower()});\n" for uid, name, email, adm in rows))
        for root, _dirs, files in os.walk(data_dir):
            for name in files:
                path = os.path.join(root, name)
                if os.path.abspath(path) != os.path.abspath(args.file):
                    zf.write(path, os.path.join("data", os.path.relpath(path, data_dir)))
    print(f"Finish dumping in file {args.file}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="gitea", description="colab lab stand-in for Gitea")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("web").set_defaults(func=cmd_web)
    dump = sub.add_parser("dump")
    dump.add_argument("-f", "--file", required=True)
    dump.add_argument("--type", default="zip", choices=["zip"])
    dump.set_defaults(func=cmd_dump)
    admin = sub.add_parser("admin").add_subparsers(dest="admin_cmd", required=True)
    user = admin.add_parser("user").add_subparsers(dest="user_cmd", required=True)
    ulist = user.add_parser("list")
    ulist.add_argument("--admin", action="store_true")
    ulist.set_defaults(func=cmd_user_list)
    create = user.add_parser("create")
    create.add_argument("--username")
    create.add_argument("--password")
    create.add_argument("--email")
    create.add_argument("--admin", action="store_true")
    create.add_argument("--random-password", action="store_true")
    create.add_argument("--random-password-length", type=int, default=12)
    create.add_argument("--must-change-password", default="true")
    create.set_defaults(func=cmd_user_create)
    token = user.add_parser("generate-access-token")
    token.add_argument("--username", "-u")
    token.add_argument("--token-name", "-t", default="gitea-admin")
    token.add_argument("--raw", action="store_true")
    token.add_argument("--scopes", default="")
    token.set_defaults(func=cmd_token)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()

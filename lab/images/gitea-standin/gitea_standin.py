"""A lab stand-in for the gitea/gitea image. It is NOT Gitea.

No reachable registry ships Gitea, so the lab runs this in its place. It keeps the parts
of Gitea's contract that the colab.cluster.gitea role relies on:

* configuration from the same ``GITEA__<section>__<KEY>`` environment variables;
* ``gitea web``: connects to the configured PostgreSQL with ``GITEA__database__*``
  (a real login, so a wrong injected password fails), creates its one table (its
  "migration") and serves ``GET /api/healthz`` in Gitea's format
  (routers/web/healthcheck/check.go: ``{"status": "pass"|"fail", "description",
  "checks": {"database:ping": [...]}}``, HTTP 200 on pass, 424 on fail);
* ``gitea admin user list [--admin]`` and ``gitea admin user create --username
  --password --email [--admin] [--must-change-password=false]`` against that table;
* ``gitea dump -f FILE``: a zip of the data directory plus a database export.

It has no web UI, no git hosting and no SSH server.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import http.server
import json
import os
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
    conn.close()


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "gitea-standin/1"

    def do_GET(self):  # noqa: N802 (http.server's naming)
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


def cmd_user_create(args):
    if not args.username or not args.email or not args.password:
        print("Command error: --username, --email and --password are required", file=sys.stderr)
        sys.exit(1)
    salt = secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", args.password.encode(), salt.encode(), 100000)
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


def cmd_dump(args):
    conn = connect()
    with conn.cursor() as cur:
        cur.execute("SELECT id, name, email, is_admin FROM standin_user ORDER BY id")
        rows = cur.fetchall()
    conn.close()
    data_dir = setting("server", "APP_DATA_PATH", "/var/lib/gitea")
    with zipfile.ZipFile(args.file, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("gitea-db.json", json.dumps(rows))
        for root, _dirs, files in os.walk(data_dir):
            for name in files:
                path = os.path.join(root, name)
                if os.path.abspath(path) != os.path.abspath(args.file):
                    zf.write(path, os.path.relpath(path, data_dir))
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
    create.add_argument("--must-change-password", default="true")
    create.set_defaults(func=cmd_user_create)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()

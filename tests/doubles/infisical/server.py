"""An Infisical API double: the endpoints colab.cluster reads, from a JSON seed.

Standard library only (http.server + json), so any python3 runs it (the lab's too):

    python3 tests/doubles/infisical/server.py --seed seed.json [--port 0] [--port-file F]

What it follows, endpoint by endpoint (see README.md for the sources):
  POST /api/v1/auth/universal-auth/login   {clientId, clientSecret}
       200 {accessToken, expiresIn, accessTokenMaxTTL, tokenType: "Bearer"}
       401 for an unknown client id or a wrong secret
  GET  /api/v4/secrets          projectId, environment, secretPath, recursive,
                                include_imports, expandSecretReferences, viewSecretValue, tagSlugs
       200 {secrets: [secret...], imports: [{secretPath, environment, folderId, secrets}]}
  GET  /api/v4/secrets/{name}   projectId, environment, secretPath, expandSecretReferences ...
       200 {secret: secret}
  GET  /api/v3/secrets/raw[/{name}]  the same with workspaceId (what infisicalsdk 1.0.x calls)
  401 without/with an unknown or expired token, 403 for a project the identity may not
  read, 404 for an unknown environment, folder or secret, 429 (with Retry-After) when a
  fault is armed. Error bodies: {reqId, statusCode, message, error}.
  References are expanded server-side like Infisical does: a reference that does not
  resolve becomes an empty string.

Test-only endpoints (not Infisical's), under /__double__/:
  GET  /__double__/counts   {"requests": {"POST /api/v1/auth/universal-auth/login": n, ...},
                             "lists": {"<env>:<path>": n}, "logins": {"<clientId>": n}}
  POST /__double__/reset    zero the counters (and disarm faults)
  POST /__double__/fault    {"route": "GET /api/v4/secrets", "status": 429, "times": 2,
                             "retryAfter": 0}  answer the next N matching requests with it
  POST /__double__/expire   every issued token expires now
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets as _secrets
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

REF_RE = re.compile(r"\$\{([^}]+)\}")
MAX_DEPTH = 10
STAMP = "2026-01-01T00:00:00.000Z"


def norm(path):
    return "/" + "/".join(p for p in (path or "/").split("/") if p)


class State:
    def __init__(self, seed):
        self.lock = threading.Lock()
        self.seed = seed
        self.tokens = {}  # token -> {"clientId", "expires"}
        self.faults = []
        self.reset()

    def reset(self):
        with self.lock:
            self.requests = {}
            self.lists = {}
            self.logins = {}
            self.faults = []

    def count(self, route):
        with self.lock:
            self.requests[route] = self.requests.get(route, 0) + 1

    def take_fault(self, route):
        with self.lock:
            for fault in self.faults:
                if fault["route"] == route and fault["times"] > 0:
                    fault["times"] -= 1
                    return fault
        return None

    # data access
    def identity(self, client_id):
        for ident in self.seed.get("identities", []):
            if ident.get("clientId") == client_id:
                return ident
        return None

    def folder(self, project, env, path):
        envs = self.seed.get("projects", {}).get(project, {}).get("environments", {})
        if env not in envs:
            return None, f"Environment with slug '{env}' in project with ID {project} not found"
        folders = envs[env].get("folders", {})
        path = norm(path)
        if path not in folders:
            return None, f"Folder with path '{path}' in environment with slug '{env}' not found"
        return folders[path], None

    def subfolders(self, project, env, path):
        folders = self.seed["projects"][project]["environments"][env].get("folders", {})
        prefix = norm(path).rstrip("/") + "/"
        return sorted(p for p in folders if p.startswith(prefix) and p != norm(path))


def secret_obj(project, env, path, key, spec, value=None, hidden=False):
    spec = spec if isinstance(spec, dict) else {"value": spec}
    sid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{project}/{env}{path}/{key}"))
    tags = [{"id": str(uuid.uuid5(uuid.NAMESPACE_URL, "tag/" + t)), "slug": t, "name": t,
             "color": "#888888"} for t in spec.get("tags", [])]
    return {
        "id": sid, "_id": sid, "workspace": project, "environment": env,
        "version": spec.get("version", 1), "type": "shared", "secretKey": key,
        "secretValue": "<hidden-by-infisical>" if hidden else (spec["value"] if value is None else value),
        "secretValueHidden": hidden, "secretComment": spec.get("comment", ""),
        "secretReminderNote": None, "secretReminderRepeatDays": None,
        "skipMultilineEncoding": False, "secretMetadata": [], "secretPath": path,
        "createdAt": STAMP, "updatedAt": STAMP, "tags": tags,
    }


class Handler(BaseHTTPRequestHandler):
    server_version = "infisical-double/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet unless asked
        if self.server.verbose:
            sys.stderr.write("double: " + fmt % args + "\n")

    @property
    def state(self):
        return self.server.state

    def _send(self, status, body, headers=None):
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status, name, message, headers=None):
        self._send(status, {"reqId": "req-" + uuid.uuid4().hex[:12], "statusCode": status,
                            "message": message, "error": name}, headers)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw.decode("utf-8") or "{}")
        except ValueError:
            return None

    def _route(self, method):
        parts = urlsplit(self.path)
        path = parts.path
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        if path.startswith("/__double__/"):
            return self._control(method, path)
        for pattern, name in ((r"^/api/v4/secrets/([^/]+)$", "GET /api/v4/secrets/{secretName}"),
                              (r"^/api/v3/secrets/raw/([^/]+)$", "GET /api/v3/secrets/raw/{secretName}")):
            match = re.match(pattern, path)
            if match and method == "GET":
                return self._guarded(name, lambda: self._get_one(query, unquote(match.group(1)), name))
        if method == "POST" and path == "/api/v1/auth/universal-auth/login":
            return self._guarded("POST " + path, self._login)
        if method == "GET" and path in ("/api/v4/secrets", "/api/v3/secrets/raw"):
            return self._guarded("GET " + path, lambda: self._list(query, path))
        self.state.count(f"{method} {path}")
        return self._error(404, "NotFound", f"Route {method}:{path} not found")

    def _guarded(self, route, func):
        self.state.count(route)
        fault = self.state.take_fault(route)
        if fault:
            status = fault.get("status", 429)
            headers = {}
            if status == 429:
                headers["Retry-After"] = str(fault.get("retryAfter", 1))
                return self._error(429, "RateLimitExceeded",
                                   "Rate limit exceeded. Please try again in 1 second", headers)
            return self._error(status, "InternalServerError", "Something went wrong")
        return func()

    def do_GET(self):  # noqa: N802
        self._route("GET")

    def do_POST(self):  # noqa: N802
        self._route("POST")

    # control endpoints (test-only)
    def _control(self, method, path):
        state = self.state
        if method == "GET" and path == "/__double__/counts":
            with state.lock:
                return self._send(200, {"requests": dict(state.requests), "lists": dict(state.lists),
                                        "logins": dict(state.logins)})
        if method == "POST" and path == "/__double__/reset":
            state.reset()
            return self._send(200, {"ok": True})
        if method == "POST" and path == "/__double__/fault":
            body = self._body() or {}
            with state.lock:
                state.faults.append({"route": body.get("route", "GET /api/v4/secrets"),
                                     "status": int(body.get("status", 429)),
                                     "times": int(body.get("times", 1)),
                                     "retryAfter": body.get("retryAfter", 0)})
            return self._send(200, {"ok": True})
        if method == "POST" and path == "/__double__/expire":
            with state.lock:
                for tok in state.tokens.values():
                    tok["expires"] = 0
            return self._send(200, {"ok": True})
        return self._error(404, "NotFound", f"Route {method}:{path} not found")

    # Infisical endpoints
    def _login(self):
        body = self._body()
        if not isinstance(body, dict) or not body.get("clientId") or not body.get("clientSecret"):
            return self._error(400, "BadRequest", "body/clientId and body/clientSecret are required")
        ident = self.state.identity(body["clientId"])
        with self.state.lock:
            self.state.logins[body["clientId"]] = self.state.logins.get(body["clientId"], 0) + 1
        if not ident or not _secrets.compare_digest(str(ident.get("clientSecret")), str(body["clientSecret"])):
            return self._error(401, "UnauthorizedError", "Invalid credentials")
        ttl = int(self.server.token_ttl or ident.get("accessTokenTTL") or 7200)
        token = "st." + _secrets.token_urlsafe(32)
        with self.state.lock:
            self.state.tokens[token] = {"clientId": ident["clientId"], "expires": time.time() + ttl}
        return self._send(200, {"accessToken": token, "expiresIn": ttl,
                                "accessTokenMaxTTL": int(ident.get("accessTokenMaxTTL", 2592000)),
                                "tokenType": "Bearer"})

    def _auth(self, project):
        header = self.headers.get("Authorization") or ""
        if not header.startswith("Bearer "):
            self._error(401, "UnauthorizedError", "Failed to authenticate: token missing")
            return False
        with self.state.lock:
            tok = self.state.tokens.get(header[7:])
        if not tok:
            self._error(401, "UnauthorizedError", "Failed to authenticate: invalid token")
            return False
        if tok["expires"] <= time.time():
            self._error(401, "UnauthorizedError", "Failed to authenticate: token expired")
            return False
        ident = self.state.identity(tok["clientId"]) or {}
        allowed = ident.get("projects", ["*"])
        if "*" not in allowed and project not in allowed:
            self._error(403, "PermissionDenied",
                        "You are not allowed to read on secrets")
            return False
        return True

    def _flags(self, query):
        def flag(name, default):
            value = query.get(name)
            return default if value in (None, "") else value.lower() == "true"
        return {"recursive": flag("recursive", False), "imports": flag("include_imports", False),
                "expand": flag("expandSecretReferences", False), "view": flag("viewSecretValue", True)}

    def _values(self, project, env, path):
        folder = self.state.folder(project, env, path)[0]
        if not folder:
            return {}
        return {k: (v if isinstance(v, dict) else {"value": v})["value"]
                for k, v in folder.get("secrets", {}).items()}

    def _expand(self, project, env, path, value, depth=0):
        if "${" not in value or depth >= MAX_DEPTH:
            return value

        def sub(match):
            parts = match.group(1).split(".")
            if len(parts) == 1:
                r_env, r_path, r_key = env, path, parts[0]
            else:
                r_env, r_path, r_key = parts[0], norm("/".join(parts[1:-1])), parts[-1]
            found = self._values(project, r_env, r_path).get(r_key)
            return "" if found is None else self._expand(project, r_env, r_path, found, depth + 1)

        return REF_RE.sub(sub, value)

    def _folder_secrets(self, project, env, path, flags, tag_filter):
        folder = self.state.folder(project, env, path)[0]
        out = []
        for key, spec in (folder or {}).get("secrets", {}).items():
            spec = spec if isinstance(spec, dict) else {"value": spec}
            if tag_filter and not set(tag_filter) & set(spec.get("tags", [])):
                continue
            value = spec["value"]
            if flags["expand"]:
                value = self._expand(project, env, path, value)
            out.append(secret_obj(project, env, path, key, spec, value, hidden=not flags["view"]))
        return out

    def _list(self, query, route_path):
        project = query.get("projectId") or query.get("workspaceId")
        env, path = query.get("environment"), norm(query.get("secretPath", "/"))
        if not project or not env:
            return self._error(400, "BadRequest", "querystring/projectId and environment are required")
        if not self._auth(project):
            return None
        folder, why = self.state.folder(project, env, path)
        if folder is None:
            return self._error(404, "NotFound", why)
        with self.state.lock:
            self.state.lists[f"{env}:{path}"] = self.state.lists.get(f"{env}:{path}", 0) + 1
        flags = self._flags(query)
        tags = [t for t in (query.get("tagSlugs") or "").split(",") if t]
        secrets = self._folder_secrets(project, env, path, flags, tags)
        if flags["recursive"]:
            for sub in self.state.subfolders(project, env, path):
                secrets += self._folder_secrets(project, env, sub, flags, tags)
        imports = []
        if flags["imports"]:
            for imp in folder.get("imports", []):
                i_env, i_path = imp.get("environment", env), norm(imp.get("path", "/"))
                i_folder = self.state.folder(project, i_env, i_path)[0]
                if i_folder is None:
                    continue
                imports.append({
                    "secretPath": i_path, "environment": i_env,
                    "folderId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{project}/{i_env}{i_path}")),
                    "secrets": self._folder_secrets(project, i_env, i_path, flags, [])})
        body = {"secrets": secrets}
        if flags["imports"]:
            body["imports"] = imports
        return self._send(200, body)

    def _get_one(self, query, name, route):
        project = query.get("projectId") or query.get("workspaceId")
        env, path = query.get("environment"), norm(query.get("secretPath", "/"))
        if not project or not env:
            return self._error(400, "BadRequest", "querystring/projectId and environment are required")
        if not self._auth(project):
            return None
        folder, why = self.state.folder(project, env, path)
        if folder is None:
            return self._error(404, "NotFound", why)
        flags = self._flags(query)
        candidates = [(env, path, folder)]
        if flags["imports"]:
            for imp in reversed(folder.get("imports", [])):
                i_env, i_path = imp.get("environment", env), norm(imp.get("path", "/"))
                i_folder = self.state.folder(project, i_env, i_path)[0]
                if i_folder is not None:
                    candidates.append((i_env, i_path, i_folder))
        for c_env, c_path, c_folder in candidates:
            if name in c_folder.get("secrets", {}):
                spec = c_folder["secrets"][name]
                spec = spec if isinstance(spec, dict) else {"value": spec}
                value = spec["value"]
                if flags["expand"]:
                    value = self._expand(project, c_env, c_path, value)
                return self._send(200, {"secret": secret_obj(project, c_env, c_path, name, spec, value,
                                                             hidden=not flags["view"])})
        return self._error(404, "NotFound", f"Secret with name '{name}' not found")


def make_server(seed, host="127.0.0.1", port=0, token_ttl=None, verbose=False, tls=None):
    """tls: (certfile, keyfile) to serve HTTPS instead of HTTP."""
    server = ThreadingHTTPServer((host, port), Handler)
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    server.state = State(seed)
    server.token_ttl = token_ttl
    server.verbose = verbose
    return server


def main(argv=None):
    parser = argparse.ArgumentParser(description="Infisical API double")
    parser.add_argument("--seed", required=True, help="JSON seed file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--port-file", help="write the port chosen here (mode 0600)")
    parser.add_argument("--token-ttl", type=int, default=None,
                        help="expiresIn of every issued token (s); default: the identity's accessTokenTTL")
    parser.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--tls-key", help="... and this key (PEM)")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    with open(args.seed, encoding="utf-8") as fh:
        seed = json.load(fh)
    server = make_server(seed, args.host, args.port, args.token_ttl, args.verbose,
                         tls=(args.tls_cert, args.tls_key) if args.tls_cert else None)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(str(server.server_address[1]))
        os.replace(tmp, args.port_file)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

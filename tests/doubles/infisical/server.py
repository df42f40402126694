"""An Infisical API double: the endpoints colab.cluster reads, from a JSON seed.

Standard library only (http.server + json + hmac), so any python3 runs it (the lab's too):

    python3 tests/doubles/infisical/server.py --seed seed.json [--port 0] [--port-file F]

Each behaviour follows Infisical's backend source; README.md names the file and commit
for every one. In short:
  POST /api/v1/auth/universal-auth/login  {clientId, clientSecret}
  POST /api/v1/auth/oidc-auth/login       {identityId, jwt}
       200 {accessToken (an HS256 JWT with exp), expiresIn, accessTokenMaxTTL, tokenType}
       401 UnauthorizedError "Invalid credentials"; 422 ValidationFailure for a missing field
  GET  /api/v4/secrets[/{name}]  and  GET /api/v3/secrets/raw[/{name}] (workspaceId)
       200 {secrets, imports} through the route's response schema (unknown keys dropped);
       a folder or environment that does not exist is an empty 200, never a 404;
       values the identity may not read are "<hidden-by-infisical>" + secretValueHidden;
       imports nest (deeper imports' secrets appended to the top import), cycles cut.
  Tokens: no header 401 "Token missing"; bad/expired JWT 403 TokenError; revoked 401;
  use limit reached 401 (400 on older servers: identity "useLimitStatus": 400).
  Error bodies: {reqId, statusCode, message, error}.

Test-only endpoints (not Infisical's), under /__double__/:
  GET  /__double__/counts   {"requests": {"<METHOD> <route>": n}, "lists": {"<env>:<path>": n},
                             "logins": {"<clientId or identityId>": n}}
  POST /__double__/reset    zero the counters, disarm faults
  POST /__double__/fault    {"route", "status", "times", "retryAfter", "location", "delay", "drop"}
                            the next N requests of that route: answer status (429 with
                            Retry-After, 3xx with Location), or sleep `delay` s first, or
                            close the connection without an answer (`drop`)
  POST /__double__/expire   every issued token is expired (the JWT's exp is checked: 403)
  POST /__double__/revoke   every issued token is revoked (401)
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import posixpath
import re
import secrets as _secrets
import socket
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

# secret-reference-fns.ts: INTERPOLATION_PATTERN_STRING = \${([a-zA-Z0-9-_.@]+)}
REF_RE = re.compile(r"\$\{([a-zA-Z0-9_.@-]+)\}")
MAX_REFERENCE_DEPTH = 10   # secret-reference-fns.ts MAX_SECRET_REFERENCE_DEPTH
IMPORT_LEVEL_BREAK = 10    # secret-import-fns.ts LEVEL_BREAK
HIDDEN_MASK = "<hidden-by-infisical>"  # secret-fns.ts INFISICAL_SECRET_VALUE_HIDDEN_MASK
STAMP = "2026-01-01T00:00:00.000Z"
# folder-dal.ts findBySecretPath: isValidSecretPath, else 400
VALID_PATH = re.compile(r"^/([a-zA-Z0-9_-]+(/[a-zA-Z0-9_-]+)*)?$")


def norm(path):
    return "/" + "/".join(p for p in (path or "/").split("/") if p)


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenError(Exception):
    """What jsonwebtoken's verify throws; error-handler.ts answers 403 TokenError."""


class State:
    def __init__(self, seed):
        self.lock = threading.Lock()
        self.seed = seed
        self.key = _secrets.token_bytes(32)
        self.tokens = {}  # token id -> {"identity", "revoked", "uses"}
        self.faults = []
        for ident in seed.get("identities", []):
            ident.setdefault("id", ident.get("clientId"))
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

    # --- tokens: HS256 JWTs like crypto.jwt().sign in identity-ua-service.ts -----------
    def issue(self, ident, ttl):
        tid = str(uuid.uuid4())
        now = int(time.time())
        claims = {"identityId": ident["id"], "identityAccessTokenId": tid,
                  "authTokenType": "identityAccessToken", "iat": now}
        if ttl:
            claims["exp"] = now + ttl
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64(json.dumps(claims).encode())
        sig = _b64(hmac.new(self.key, f"{head}.{body}".encode(), hashlib.sha256).digest())
        with self.lock:
            self.tokens[tid] = {"identity": ident["id"], "revoked": False, "expired": False, "uses": 0}
        return f"{head}.{body}.{sig}"

    def verify(self, token):
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenError("jwt malformed")
        expected = _b64(hmac.new(self.key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, parts[2]):
            raise TokenError("invalid signature")
        try:
            claims = json.loads(_unb64(parts[1]))
        except ValueError:
            raise TokenError("jwt malformed") from None
        # jsonwebtoken: expired once floor(now) >= exp (whole seconds, exp = iat + TTL)
        if "exp" in claims and int(time.time()) >= claims["exp"]:
            raise TokenError("jwt expired")
        return claims

    def identity(self, **match):
        for ident in self.seed.get("identities", []):
            if all(ident.get(k) == v for k, v in match.items()):
                return ident
        return None

    # --- data --------------------------------------------------------------------------
    def folder(self, project, env, path):
        """None when the project, environment or folder does not exist (findBySecretPath)."""
        envs = self.seed.get("projects", {}).get(project, {}).get("environments", {})
        return envs.get(env, {}).get("folders", {}).get(norm(path))

    def subfolders(self, project, env, path):
        folders = self.seed["projects"][project]["environments"][env].get("folders", {})
        prefix = norm(path).rstrip("/") + "/"
        return sorted(p for p in folders if p.startswith(prefix))


def _spec(spec):
    return spec if isinstance(spec, dict) else {"value": spec}


def _sid(*parts):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)))


def secret_obj(project, env, path, key, spec, value, hidden, imported=False):
    """A secret shaped by the v4 route's response schema (secret-router.ts): fastify
    serializes through it, so keys the schema does not name never reach the client."""
    spec = _spec(spec)
    sid = _sid(project, env, path, key)
    out = {
        "id": sid, "_id": sid, "workspace": "" if imported else project, "environment": env,
        "version": spec.get("version", 1), "type": "shared", "secretKey": key,
        "secretValue": HIDDEN_MASK if hidden else value, "secretValueHidden": hidden,
        "secretComment": spec.get("comment", ""), "secretReminderNote": None,
        "secretReminderRepeatDays": None, "skipMultilineEncoding": False,
        "secretMetadata": [], "isRotatedSecret": False, "rotationId": None,
    }
    if not imported:  # the import schema omits createdAt/updatedAt and has no secretPath/tags
        out.update({"secretPath": path, "createdAt": STAMP, "updatedAt": STAMP,
                    "tags": [{"id": _sid("tag", t), "slug": t, "name": t, "color": None}
                             for t in spec.get("tags", [])]})
    return out


class Handler(BaseHTTPRequestHandler):
    server_version = "infisical-double/2"
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
        """error-handler.ts: {reqId, statusCode, message, error}."""
        self._send(status, {"reqId": "req-" + uuid.uuid4().hex[:14], "statusCode": status,
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
                return self._guarded(name, lambda: self._get_one(query, unquote(match.group(1))))
        if method == "POST" and path == "/api/v1/auth/universal-auth/login":
            return self._guarded("POST " + path, self._login_ua)
        if method == "POST" and path == "/api/v1/auth/oidc-auth/login":
            return self._guarded("POST " + path, self._login_oidc)
        if method == "GET" and path in ("/api/v4/secrets", "/api/v3/secrets/raw"):
            return self._guarded("GET " + path, lambda: self._list(query))
        self.state.count(f"{method} {path}")
        # fastify's not-found handler
        return self._error(404, "Not Found", f"Route {method}:{path} not found")

    def _guarded(self, route, func):
        self.state.count(route)
        fault = self.state.take_fault(route)
        if fault:
            if fault.get("delay"):
                time.sleep(float(fault["delay"]))
            if fault.get("drop"):
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return None
            status = fault.get("status")
            if status == 429:
                return self._error(429, "RateLimitExceeded",
                                   "Rate limit exceeded. Please try again in 1 second",
                                   {"Retry-After": str(fault.get("retryAfter", 1))})
            if status and 300 <= status < 400:
                body = b""
                self.send_response(status)
                self.send_header("Location", fault.get("location") or "/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                self.wfile.write(body)
                return None
            if status:
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
                                     "status": body.get("status"),
                                     "times": int(body.get("times", 1)),
                                     "retryAfter": body.get("retryAfter", 0),
                                     "location": body.get("location"),
                                     "delay": body.get("delay"), "drop": bool(body.get("drop"))})
            return self._send(200, {"ok": True})
        if method == "POST" and path == "/__double__/expire":
            with state.lock:
                for tok in state.tokens.values():
                    tok["expired"] = True
            return self._send(200, {"ok": True})
        if method == "POST" and path == "/__double__/revoke":
            with state.lock:
                for tok in state.tokens.values():
                    tok["revoked"] = True
            return self._send(200, {"ok": True})
        return self._error(404, "Not Found", f"Route {method}:{path} not found")

    # --- logins --------------------------------------------------------------------------
    def _issue(self, ident):
        ttl = int(self.server.token_ttl or ident.get("accessTokenTTL", 7200))
        token = self.state.issue(ident, ttl)
        return self._send(200, {"accessToken": token, "expiresIn": ttl,
                                "accessTokenMaxTTL": int(ident.get("accessTokenMaxTTL", 2592000)),
                                "tokenType": "Bearer"})

    def _count_login(self, who):
        with self.state.lock:
            self.state.logins[who] = self.state.logins.get(who, 0) + 1

    def _login_ua(self):
        body = self._body()
        if not isinstance(body, dict) or not isinstance(body.get("clientId"), str) \
                or not isinstance(body.get("clientSecret"), str):
            return self._error(422, "ValidationFailure", "body/clientId and body/clientSecret are required")
        self._count_login(body["clientId"])
        ident = self.state.identity(clientId=body["clientId"].strip())
        if not ident or not _secrets.compare_digest(str(ident.get("clientSecret", "")),
                                                    body["clientSecret"].strip()):
            return self._error(401, "UnauthorizedError", "Invalid credentials")
        return self._issue(ident)

    def _login_oidc(self):
        body = self._body()
        if not isinstance(body, dict) or not isinstance(body.get("identityId"), str) \
                or not isinstance(body.get("jwt"), str):
            return self._error(422, "ValidationFailure", "body/identityId and body/jwt are required")
        self._count_login(body["identityId"])
        ident = self.state.identity(id=body["identityId"].strip())
        if not ident or body["jwt"] not in ident.get("oidcJwts", []):
            # identity-oidc-auth-service.ts: a JWT the issuer did not sign, or no OIDC auth
            return self._error(401, "UnauthorizedError", "Access denied: OIDC JWT could not be verified")
        return self._issue(ident)

    # --- auth on secret routes (inject-identity.ts, verify-auth.ts, identity-access-token-service.ts)
    def _auth(self):
        header = self.headers.get("Authorization") or ""
        if not header:
            self._error(401, "UnauthorizedError", "Token missing")
            return None
        token = header[7:]
        for ident in self.state.seed.get("identities", []):
            if token in ident.get("staticTokens", []):  # token auth: issued in the UI
                return ident
        try:
            claims = self.state.verify(token)
            with self.state.lock:
                if self.state.tokens.get(claims.get("identityAccessTokenId"), {}).get("expired"):
                    raise TokenError("jwt expired")
        except TokenError as exc:
            message = {"jwt expired": "Your token has expired. Please re-authenticate.",
                       "jwt malformed": "The provided access token is malformed. Please use a valid "
                                        "token or generate a new one and try again."}.get(str(exc), str(exc))
            self._error(403, "TokenError", message)
            return None
        with self.state.lock:
            tok = self.state.tokens.get(claims.get("identityAccessTokenId"))
            ident = self.state.identity(id=claims.get("identityId"))
            if tok is None or tok["revoked"] or ident is None:
                tok = None
            else:
                limit = int(ident.get("accessTokenNumUsesLimit", 0))
                if limit > 0 and tok["uses"] > 0 and tok["uses"] >= limit:
                    del self.state.tokens[claims["identityAccessTokenId"]]
                    status = int(ident.get("useLimitStatus", 401))
                    name = "BadRequestError" if status == 400 else "UnauthorizedError"
                    self._error(status, name,
                                "Unable to renew because access token number of uses limit reached")
                    return None
                tok["uses"] += 1
        if tok is None:
            self._error(401, "UnauthorizedError", "No identity access token found")
            return None
        return ident

    def _allowed(self, ident, project):
        allowed = ident.get("projects", ["*"])
        if "*" not in allowed and project not in allowed:
            self._error(403, "PermissionDenied", "You are not allowed to describeSecret on secrets")
            return False
        return True

    @staticmethod
    def _can_read_value(ident, env, path):
        return f"{env}:{norm(path)}" not in ident.get("hideValuesIn", [])

    @staticmethod
    def _flags(query):
        # secret-router.ts convertStringBoolean: viewSecretValue defaults true, the rest false
        def flag(name, default):
            value = query.get(name)
            return default if value in (None, "") else value == "true"
        return {"recursive": flag("recursive", False), "imports": flag("include_imports", False),
                "expand": flag("expandSecretReferences", False), "view": flag("viewSecretValue", True)}

    # --- reference expansion (secret-reference-fns.ts expandSecretReferencesFactory) ----------
    def _lookup_value(self, project, env, path, key):
        folder = self.state.folder(project, env, path)
        spec = (folder or {}).get("secrets", {}).get(key)
        return "" if spec is None else _spec(spec)["value"]

    def _expand(self, project, env, path, key, value):
        if not value or not REF_RE.search(value):
            return value
        expanded = value
        stack = [(value, env, path, 0, {f"{env}:{path}:{key}"})]
        while stack:
            cur, c_env, c_path, depth, seen = stack.pop()
            if depth > MAX_REFERENCE_DEPTH:
                continue
            for match in REF_RE.finditer(cur or ""):
                parts = match.group(1).strip().split(".")
                if parts[0].startswith("@"):
                    continue  # cross-project sharing is not configured here: left literal
                if len(parts) == 1:
                    r_env, r_path, r_key = c_env, c_path, parts[0]
                else:
                    r_env, r_path, r_key = parts[0], posixpath.join("/", *parts[1:-1]), parts[-1]
                found = self._lookup_value(project, r_env, r_path, r_key)
                rid = f"{r_env}:{r_path}:{r_key}"
                if REF_RE.search(found) and rid not in seen:
                    stack.append((found, r_env, r_path, depth + 1, seen | {rid}))
                # the newer factory replaces a missing reference by "" (replaceAll, no guard)
                expanded = expanded.replace(match.group(0), found)
        return expanded

    def _own_secrets(self, ident, project, env, path, flags, tag_filter):
        folder = self.state.folder(project, env, path) or {}
        view = flags["view"] and self._can_read_value(ident, env, path)
        out = []
        for key, spec in folder.get("secrets", {}).items():
            spec = _spec(spec)
            if tag_filter and not set(tag_filter) & set(spec.get("tags", [])):
                continue
            value = spec["value"]
            if flags["expand"] and view:
                value = self._expand(project, env, path, key, value)
            out.append(secret_obj(project, env, path, key, spec, value, hidden=not view))
        return out

    def _imports(self, ident, project, env, folders, flags):
        """secret-import-fns.ts fnSecretsV2FromImports: the top level's imports are listed;
        the secrets of deeper imports are appended to the top import they came through;
        an (env, path) seen before is skipped; deeper than LEVEL_BREAK is cut."""
        seen = set()
        top = []
        stack = [([imp for f in folders for imp in f.get("imports", [])], 0, None)]
        while stack:
            imports, depth, parent = stack.pop()
            if depth > IMPORT_LEVEL_BREAK:
                continue
            fresh = [i for i in imports
                     if f"{i.get('environment', env)}={norm(i.get('path'))}" not in seen]
            for imp in fresh:
                seen.add(f"{imp.get('environment', env)}={norm(imp.get('path'))}")
            for imp in fresh:
                i_env, i_path = imp.get("environment", env), norm(imp.get("path"))
                i_folder = self.state.folder(project, i_env, i_path)
                view = flags["view"] and self._can_read_value(ident, i_env, i_path)
                secrets = []
                for key, spec in (i_folder or {}).get("secrets", {}).items():
                    value = _spec(spec)["value"]
                    secrets.append(secret_obj(project, i_env, i_path, key, spec, value,
                                              hidden=not view, imported=True))
                if parent is None:
                    entry = {"secretPath": i_path, "environment": i_env, "secrets": secrets}
                    if i_folder is not None:
                        entry["folderId"] = _sid(project, i_env, i_path)
                    top.append(entry)
                    target = entry["secrets"]
                else:
                    parent.extend(secrets)
                    target = parent
                if i_folder and i_folder.get("imports"):
                    stack.append((i_folder["imports"], depth + 1, target))
        if flags["expand"]:
            for entry in top:
                unique, keys = [], set()
                for sec in entry["secrets"]:
                    if sec["secretKey"] in keys:
                        continue
                    keys.add(sec["secretKey"])
                    if not sec["secretValueHidden"]:
                        sec["secretValue"] = self._expand(project, entry["environment"], entry["secretPath"],
                                                          sec["secretKey"], sec["secretValue"]) or ""
                    unique.append(sec)
                entry["secrets"] = unique
        return top

    def _scope(self, query):
        project = query.get("projectId") or query.get("workspaceId")
        env, path = (query.get("environment") or "").strip(), norm(query.get("secretPath", "/"))
        if not VALID_PATH.match(path):
            self._error(400, "BadRequestError",
                        "Invalid secret path. Only alphanumeric characters, dashes, and underscores are allowed.")
            return None
        ident = self._auth()
        if ident is None:
            return None
        if not project or not env:
            self._error(400, "BadRequestError", "Missing project id or environment")
            return None
        if not self._allowed(ident, project):
            return None
        return ident, project, env, path

    def _list(self, query):
        scope = self._scope(query)
        if scope is None:
            return None
        ident, project, env, path = scope
        with self.state.lock:
            self.state.lists[f"{env}:{path}"] = self.state.lists.get(f"{env}:{path}", 0) + 1
        flags = self._flags(query)
        tags = [t.strip() for t in (query.get("tagSlugs") or "").split(",") if t.strip()]
        folder = self.state.folder(project, env, path)
        if folder is None:
            # secret-v2-bridge-service.ts getSecrets: `if (!folder) return { secrets: [], imports: [] }`
            return self._send(200, {"secrets": [], "imports": []})
        paths = [path]
        if flags["recursive"]:
            paths += self.state.subfolders(project, env, path)
        secrets = []
        for sub in paths:
            secrets += self._own_secrets(ident, project, env, sub, flags, tags)
        body = {"secrets": secrets}
        if flags["imports"]:
            body["imports"] = self._imports(ident, project, env,
                                            [self.state.folder(project, env, p) or {} for p in paths], flags)
        return self._send(200, body)

    def _get_one(self, query, name):
        scope = self._scope(query)
        if scope is None:
            return None
        ident, project, env, path = scope
        flags = self._flags(query)
        folder = self.state.folder(project, env, path)
        if folder is None:
            return self._error(404, "NotFoundError",
                               f"Folder with path '{path}' in environment with slug '{env}' not found")
        if name in folder.get("secrets", {}):
            own = [s for s in self._own_secrets(ident, project, env, path, flags, []) if s["secretKey"] == name]
            return self._send(200, {"secret": own[0]})
        if flags["imports"]:
            for entry in reversed(self._imports(ident, project, env, [folder], flags)):
                for sec in entry["secrets"]:
                    if sec["secretKey"] == name:
                        sec = dict(sec, secretPath=entry["secretPath"], workspace=project)
                        return self._send(200, {"secret": sec})
        return self._error(404, "NotFoundError", f"Secret with name '{name}' not found")


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

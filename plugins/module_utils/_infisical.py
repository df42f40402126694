# Copyright (c) colab.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small Infisical REST client shared by the lookup (and any future module).

Only the standard library and ansible.module_utils (open_url), so it also runs as the
controller-side cache broker (``python _infisical.py --serve ...``, see ``serve``) with the
controller's interpreter, outside Ansible's collection loader.

API contract (Infisical's backend, Infisical/infisical; tests/doubles/infisical/README.md
cites file and commit for each point):
  POST /api/v1/auth/universal-auth/login  {clientId, clientSecret}
  POST /api/v1/auth/oidc-auth/login       {identityId, jwt}
       -> {accessToken, expiresIn, accessTokenMaxTTL, tokenType}; 401 "Invalid credentials"
  GET  /api/v4/secrets?projectId&environment&secretPath&recursive&include_imports
       &expandSecretReferences&viewSecretValue&tagSlugs  -> {secrets: [...], imports: [...]}
       an empty 200 for a folder or environment that does not exist; a value the identity
       may not read is "<hidden-by-infisical>" with secretValueHidden: true
  A refused token: 401, 403 {"error": "TokenError"} (JWT expired or invalid), 400 (token
  use limit, older servers). Errors: {reqId, statusCode, message, error}.
Imports are merged the way the Infisical CLI merges them (Infisical/cli
packages/util/secrets.go, InjectImportedSecret): the path's own secrets win, then the
imports from the last to the first, so a later import overrides an earlier one. References
are expanded here (not by the server, which substitutes "" for one that does not resolve).

Nothing here writes to disk: tokens and values live in process memory only.
"""
from __future__ import annotations

import hashlib
import http.client
import ipaddress
import json
import os
import re
import socket
import sys
import threading
import time
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import open_url

DEFAULT_URL = "https://app.infisical.com"
LOGIN_PATHS = {
    "universal_auth": "/api/v1/auth/universal-auth/login",   # body {clientId, clientSecret}
    "oidc": "/api/v1/auth/oidc-auth/login",                   # body {identityId, jwt}
}
LIST_PATH = "/api/v4/secrets"
RETRY_STATUSES = (429, 500, 502, 503, 504)
MAX_RETRIES = 3
MAX_BACKOFF = 8.0
# Infisical's server stops expanding after this depth (MAX_SECRET_REFERENCE_DEPTH).
MAX_REFERENCE_DEPTH = 10
# The server's own reference syntax (backend secret-reference-fns.ts INTERPOLATION_PATTERN_STRING,
# \${([a-zA-Z0-9-_.@]+)}): ${KEY}, ${env.KEY}, ${env.a.b.KEY}, ${@project-slug.env.a.KEY}.
# Anything else that merely looks like ${...} (${HOME:-/root}, k9${Qz!x}p) is literal text.
REFERENCE_RE = re.compile(r"\$\{([a-zA-Z0-9_.@-]+)\}")
# What the server puts in secretValue when the identity may list but not read a value
# (backend secret-fns.ts INFISICAL_SECRET_VALUE_HIDDEN_MASK), with secretValueHidden: true.
HIDDEN_MASK = "<hidden-by-infisical>"
AUTH_ALIASES = {"token_auth": "token", "oidc_auth": "oidc"}  # infisical.vault's spellings
AUTH_METHODS = ("universal_auth", "token", "oidc")

CONNECTION_OPTIONS = ("url", "auth_method", "client_id", "client_secret", "token", "identity_id",
                      "jwt", "validate_certs", "ca_path", "timeout", "allow_http")
QUERY_OPTIONS = ("project_id", "env", "path", "recursive", "include_imports",
                 "expand_references", "tags", "allow_empty")
SECRET_OPTIONS = ("client_secret", "token", "jwt")


class InfisicalError(Exception):
    """Any failure; the message never contains a secret value or credential."""
    kind = "error"


class InfisicalAuthError(InfisicalError):
    kind = "auth"


class InfisicalNotFoundError(InfisicalError):
    kind = "not_found"


class InfisicalConnectionError(InfisicalError):
    kind = "connection"


class InfisicalReferenceError(InfisicalError):
    kind = "reference"


class InfisicalHiddenValueError(InfisicalError):
    kind = "hidden"


ERROR_KINDS = {cls.kind: cls for cls in (InfisicalError, InfisicalAuthError, InfisicalNotFoundError,
                                         InfisicalConnectionError, InfisicalReferenceError,
                                         InfisicalHiddenValueError)}


# --- options -------------------------------------------------------------------------

def options_from_plugin(plugin):
    """Connection + query options of an Ansible plugin (get_option), as a plain dict."""
    return {name: plugin.get_option(name) for name in CONNECTION_OPTIONS + QUERY_OPTIONS}


def options_from_module(module):
    """Same dict from an AnsibleModule whose argspec uses the same option names."""
    return {name: module.params.get(name) for name in CONNECTION_OPTIONS + QUERY_OPTIONS}


def normalize_path(path):
    path = "/" + "/".join(p for p in str(path or "/").split("/") if p)
    return path


def _is_loopback(host):
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redact_url(url):
    """url without the credentials a user:pass@ part could carry, for messages and logs."""
    parts = urlsplit(str(url))
    if "@" not in parts.netloc:
        return str(url)
    return urlunsplit((parts.scheme, "***@" + parts.netloc.rsplit("@", 1)[1], parts.path,
                       parts.query, parts.fragment))


def option_warnings(opts):
    """What validated options (validate_options) turn off, one sentence each, for a warning."""
    out = []
    if not opts.get("validate_certs", True):
        out.append(f"validate_certs=false: the certificate of {redact_url(opts['url'])} is not "
                   "checked, so anyone in the path can read the client secret and every secret")
    if opts.get("allow_http") and urlsplit(opts["url"]).scheme == "http" \
            and not _is_loopback(urlsplit(opts["url"]).hostname or ""):
        out.append(f"allow_http=true: {redact_url(opts['url'])} is plain http to another host; the "
                   "client secret, the access token and every secret cross the network in clear")
    return out


def validate_options(opts):
    """Fail early, naming the field. Returns the normalised copy."""
    opts = dict(opts)
    opts["url"] = str(opts.get("url") or DEFAULT_URL).rstrip("/")
    parsed = urlsplit(opts["url"])
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InfisicalError(f"url must be an http(s) URL, got {redact_url(opts['url'])!r}")
    opts["allow_http"] = bool(opts.get("allow_http"))
    if parsed.scheme == "http" and not _is_loopback(parsed.hostname) and not opts["allow_http"]:
        raise InfisicalError(
            f"url {redact_url(opts['url'])} is plain http to a host that is not this machine: the client secret "
            "and the access token would cross the network in clear. Use https, or set "
            "allow_http=true to accept that explicitly")
    method = opts.get("auth_method") or "universal_auth"
    method = AUTH_ALIASES.get(method, method)
    if method not in AUTH_METHODS:
        raise InfisicalError(f"auth_method must be one of {', '.join(AUTH_METHODS)}, got {method!r}")
    opts["auth_method"] = method
    needs = {"universal_auth": ("client_id", "client_secret"), "token": ("token",),
             "oidc": ("identity_id", "jwt")}[method]
    missing = [k for k in needs if not opts.get(k)]
    if missing:
        raise InfisicalError(f"auth_method={method} needs {' and '.join(missing)} "
                             "(task option, environment variable or inventory variable)")
    if not opts.get("project_id"):
        raise InfisicalError("project_id is required (the Infisical project's ID)")
    opts["env"] = str(opts.get("env") or "prod")
    opts["path"] = normalize_path(opts.get("path"))
    try:
        opts["timeout"] = float(opts.get("timeout") or 10)
    except (TypeError, ValueError):
        raise InfisicalError(f"timeout must be a number of seconds, got {opts.get('timeout')!r}")
    if opts["timeout"] <= 0:
        raise InfisicalError("timeout must be positive")
    tags = opts.get("tags") or []
    if isinstance(tags, str):
        tags = [t for t in tags.split(",") if t]
    opts["tags"] = sorted(str(t).strip() for t in tags)
    for flag, default in (("recursive", False), ("include_imports", True), ("allow_empty", False),
                          ("expand_references", True), ("validate_certs", True)):
        value = opts.get(flag)
        opts[flag] = default if value is None else bool(value)
    return opts


def identity_key(opts):
    """Cache key of an identity: the URL, method, ids and a hash of the credential."""
    material = "\0".join([opts["url"], opts["auth_method"], str(opts.get("client_id") or ""),
                          str(opts.get("identity_id") or "")]
                         + [str(opts.get(k) or "") for k in SECRET_OPTIONS])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]


def _scrub(text, opts):
    text = str(text)
    for name in SECRET_OPTIONS:
        value = opts.get(name)
        if value and len(str(value)) >= 4:
            text = text.replace(str(value), "********")
    return text


def _token_rejected(status, payload):
    """The answers after which a fresh login may succeed (backend error-handler.ts and
    identity-access-token-service.ts): 401 (revoked, expired by TTL, use limit on newer
    servers), 403 TokenError (the JWT expired or does not verify), 400 use limit (older)."""
    if status == 401:
        return True
    if status == 403 and payload.get("error") == "TokenError":
        return True
    message = str(payload.get("message") or "").lower()
    return status == 400 and "limit" in message and "token" in message


# --- HTTP client ---------------------------------------------------------------------

class InfisicalClient:
    """Talks to one Infisical server as one identity. Thread-safe for the token."""

    def __init__(self, opts, counter=None):
        self.opts = validate_options(opts)
        self.url = self.opts["url"]
        # the url as messages show it (no user:pass@)
        self.shown_url = redact_url(self.url)
        self.timeout = self.opts["timeout"]
        self._token = self.opts.get("token") if self.opts["auth_method"] == "token" else None
        self._expires_at = float("inf") if self._token else 0.0
        self._lock = threading.Lock()
        self._login_error = None
        self.counter = counter if counter is not None else {}

    # one HTTP exchange, with bounded retries on 429/5xx, connection errors and timeouts
    def _request(self, method, path, params=None, body=None, token=None):
        url = self.url + path
        if params:
            url += "?" + urlencode(params)
        data = json.dumps(body).encode("utf-8") if body is not None else None
        headers = {"Accept": "application/json", "User-Agent": "colab.cluster-infisical/2"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        route = method + " " + path.split("?")[0]
        attempt = 0
        while True:
            attempt += 1
            self.counter[route] = self.counter.get(route, 0) + 1
            try:
                # never follow a redirect: it would carry the bearer token (or the login
                # body) to wherever the Location points
                with open_url(url, data=data, headers=headers, method=method, timeout=self.timeout,
                              validate_certs=self.opts["validate_certs"],
                              ca_path=self.opts.get("ca_path") or None,
                              follow_redirects="none") as resp:
                    raw = resp.read()
                    return resp.status, (json.loads(raw.decode("utf-8")) if raw else {})
            except HTTPError as exc:
                status = exc.code
                if 300 <= status < 400:
                    target = urlsplit(exc.headers.get("Location") or "")
                    where = f"{target.scheme}://{target.netloc}" if target.netloc else "another path"
                    raise InfisicalError(
                        f"Infisical at {self.shown_url} answered {route.split(' ')[1]} with a redirect "
                        f"(HTTP {status} to {where}); redirects are not followed, since the request "
                        "carries credentials: set url to the server's final address") from None
                try:
                    payload = json.loads(exc.read().decode("utf-8") or "{}")
                except (ValueError, UnicodeDecodeError):
                    payload = {}
                if not isinstance(payload, dict):
                    payload = {}
                if status in RETRY_STATUSES and attempt <= MAX_RETRIES:
                    time.sleep(self._backoff(attempt, exc.headers.get("Retry-After")))
                    continue
                if status in RETRY_STATUSES:
                    payload.setdefault("message", "")
                    payload["_attempts"] = attempt
                return status, payload
            except (URLError, UrlsConnectionError, socket.timeout, TimeoutError, ConnectionError,
                    OSError, http.client.HTTPException) as exc:
                if attempt <= MAX_RETRIES:
                    time.sleep(self._backoff(attempt, None))
                    continue
                reason = getattr(exc, "reason", None) or exc
                raise InfisicalConnectionError(
                    f"cannot reach Infisical at {self.shown_url} (timeout {self.timeout:g}s, "
                    f"{attempt} attempts): {_scrub(reason, self.opts) or type(exc).__name__}") from None

    @staticmethod
    def _backoff(attempt, retry_after):
        if retry_after:
            try:
                return min(max(float(retry_after), 0.0), MAX_BACKOFF)
            except ValueError:
                pass
        return min(0.25 * (2 ** (attempt - 1)), MAX_BACKOFF)

    def _error(self, status, payload, what):
        message = _scrub(payload.get("message") or "", self.opts)
        name = payload.get("error") or ""
        detail = ": ".join(x for x in (name, message) if x and isinstance(x, str))
        tail = f" (HTTP {status}{': ' + detail if detail else ''})"
        if payload.get("_attempts"):
            tail += f" after {payload['_attempts']} attempts"
        if status in (401, 403):
            return InfisicalAuthError(f"{what}: access denied{tail}")
        if status == 404:
            return InfisicalNotFoundError(f"{what}: not found{tail}")
        return InfisicalError(f"{what}: request failed{tail}")

    # authentication
    def login(self):
        """Universal Auth or OIDC login; returns the access token (kept in memory only).

        A refused login is remembered for the run: retrying bad credentials host by host
        would only trip the identity's lockout (identity-ua-service.ts locks it after
        lockoutThreshold failures, 3 by default).
        """
        if self._login_error is not None:
            raise self._login_error
        method = self.opts["auth_method"]
        path = LOGIN_PATHS[method]
        if method == "oidc":
            body, who = {"identityId": self.opts["identity_id"], "jwt": self.opts["jwt"]}, \
                f"identity_id {self.opts['identity_id']}"
            hidden = "the JWT is not shown"
        else:
            body, who = {"clientId": self.opts["client_id"], "clientSecret": self.opts["client_secret"]}, \
                f"client_id {self.opts['client_id']}"
            hidden = "the client secret is not shown"
        status, payload = self._request("POST", path, body=body)
        if status == 200 and payload.get("accessToken"):
            ttl = float(payload.get("expiresIn") or 0) or 300.0
            # renewed (a fresh login) once 80% of the announced lifetime has passed
            self._expires_at = time.monotonic() + ttl * 0.8
            self._token = payload["accessToken"]
            return self._token
        if status == 404:
            hint = " (it ends in /api)" if urlsplit(self.url).path.rstrip("/").endswith("/api") else ""
            raise InfisicalError(
                f"Infisical login: {self.shown_url}{path} does not exist (HTTP 404): url must be the "
                f"server's base address, without /api or a further path{hint}")
        if status in (400, 401, 403, 422):
            self._login_error = InfisicalAuthError(
                f"Infisical {method} login to {self.shown_url} failed for {who}: bad credentials or "
                f"identity not allowed (HTTP {status}); {hidden}")
            raise self._login_error
        raise self._error(status, payload, f"Infisical login to {self.shown_url}")

    def token(self, force=False, rejected=None):
        with self._lock:
            if self.opts["auth_method"] == "token":
                return self._token
            # a rejection seen on an older token must not make a fresh one log in again
            if force and rejected is not None and rejected != self._token:
                return self._token
            if force or not self._token or time.monotonic() >= self._expires_at:
                self.login()
            return self._token

    def _authed_get(self, path, params, what):
        used = self.token()
        status, payload = self._request("GET", path, params=params, token=used)
        if _token_rejected(status, payload):
            if self.opts["auth_method"] == "token":
                raise self._error(status, payload, f"{what}: the access token was refused "
                                                   "(expired, revoked or used up; auth_method=token "
                                                   "cannot log in again)")
            # expired earlier than announced, revoked, or out of uses: one fresh login, once
            status, payload = self._request("GET", path, params=params,
                                            token=self.token(force=True, rejected=used))
        if status != 200:
            raise self._error(status, payload, what)
        return payload

    def _params(self, env, path, recursive, include_imports, expand, tags):
        params = {
            "projectId": self.opts["project_id"], "environment": env, "secretPath": path,
            "viewSecretValue": "true", "expandSecretReferences": str(bool(expand)).lower(),
            "recursive": str(bool(recursive)).lower(),
            "include_imports": str(bool(include_imports)).lower(),
        }
        if tags:
            params["tagSlugs"] = ",".join(tags)
        return params

    def list_secrets(self, env, path, recursive=False, include_imports=True, expand=False, tags=()):
        """Raw v4 list answer: {"secrets": [...], "imports": [...]}."""
        return self._authed_get(
            LIST_PATH, self._params(env, path, recursive, include_imports, expand, tags),
            f"listing secrets at path {path} in env {env} of project {self.opts['project_id']}")

    def get_secret(self, name, env, path, include_imports=True, expand=True):
        """Raw v4 single-secret answer's ``secret`` object."""
        params = self._params(env, path, False, include_imports, expand, ())
        params.pop("recursive")
        payload = self._authed_get(
            LIST_PATH + "/" + quote(name, safe=""), params,
            f"reading secret {name} at path {path} in env {env} of project {self.opts['project_id']}")
        return payload.get("secret") or {}


# --- merging and reference expansion -------------------------------------------------

def _entry(sec, env, path):
    hidden = bool(sec.get("secretValueHidden")) or sec.get("secretValue") == HIDDEN_MASK
    return {"value": "" if hidden else sec.get("secretValue", ""), "env": env, "path": path,
            "hidden": hidden}


def merge_secrets(payload, include_imports=True):
    """{key: {"value", "env", "path", "hidden"}}: own secrets win (the shallowest folder
    first when recursive), later imports beat earlier ones, and inside one import its own
    secrets beat the deeper imports' ones the server appends after them."""
    merged = {}
    own = sorted(payload.get("secrets") or [],
                 key=lambda s: normalize_path(s.get("secretPath")).count("/"))
    for sec in own:
        merged.setdefault(sec["secretKey"], _entry(sec, sec.get("environment"),
                                                   normalize_path(sec.get("secretPath"))))
    if include_imports:
        for imp in reversed(payload.get("imports") or []):
            for sec in imp.get("secrets") or []:
                merged.setdefault(sec["secretKey"], _entry(
                    sec, imp.get("environment") or sec.get("environment"),
                    normalize_path(imp.get("secretPath"))))
    return merged


def parse_reference(ref, env, path):
    """(env, path, key) a reference points at, relative to where it was found; None for a
    cross-project reference (${@project-slug.env.path.KEY})."""
    parts = ref.strip().split(".")
    if parts[0].startswith("@"):
        return None
    if len(parts) == 1:
        return env, path, parts[0]
    return parts[0], normalize_path("/".join(parts[1:-1])), parts[-1]


def _where(key, entry, project):
    return f"secret {key} at path {entry['path']} in env {entry['env']} of project {project}"


def _hidden_error(key, entry, project, via=None):
    chain = f" (referenced by {via})" if via else ""
    return InfisicalHiddenValueError(
        f"{_where(key, entry, project)}{chain}: the server hid its value "
        f"(secretValueHidden, \"{HIDDEN_MASK}\"): the machine identity may list it but lacks "
        f"the 'Read Value' permission on secrets at path {entry['path']} in env {entry['env']}")


class Resolver:
    """Per-process cache: one login per identity, one list per (project, env, path, options).
    Only successful answers are kept; a failure is retried by the next lookup."""

    def __init__(self):
        self._clients = {}
        self._lists = {}
        self._locks = {}
        self._guard = threading.Lock()
        self.counter = {}

    def _lock_for(self, key):
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def client(self, opts):
        key = identity_key(opts)
        with self._lock_for(("client", key)):
            if key not in self._clients:
                self._clients[key] = InfisicalClient(opts, counter=self.counter)
            return self._clients[key]

    def _merged(self, opts, env, path, recursive, tags):
        key = (identity_key(opts), opts["project_id"], env, path, recursive,
               opts["include_imports"], ",".join(tags))
        with self._lock_for(key):
            if key not in self._lists:
                payload = self.client(opts).list_secrets(
                    env, path, recursive=recursive, include_imports=opts["include_imports"],
                    expand=False, tags=tags)
                self._lists[key] = merge_secrets(payload, opts["include_imports"])
            return self._lists[key]

    def resolve(self, opts, keys=None):
        """{key: value} of the path (or of ``keys`` only, the ones present there), with
        references expanded unless expand_references=false. Only the keys returned, and
        what they reference, are expanded or checked."""
        opts = validate_options(opts)
        env, path, project = opts["env"], opts["path"], opts["project_id"]
        merged = self._merged(opts, env, path, opts["recursive"], opts["tags"])
        if not merged and not opts["allow_empty"]:
            raise InfisicalNotFoundError(
                f"no secret at path {path} in env {env} of project {project}"
                f"{' with tags ' + ','.join(opts['tags']) if opts['tags'] else ''}: Infisical "
                "answers an empty list for a folder or environment that does not exist, so check "
                "path and env (allow_empty=true accepts an empty path)")
        wanted = list(merged) if keys is None else [k for k in keys if k in merged]
        out = {}
        for key in wanted:
            entry = merged[key]
            if entry["hidden"]:
                raise _hidden_error(key, entry, project)
            out[key] = entry["value"] if not opts["expand_references"] else \
                self._expand(opts, key, entry, [(entry["env"], entry["path"], key)])
        return out

    def _expand(self, opts, key, entry, chain):
        value = entry["value"]
        if not REFERENCE_RE.search(value):
            return value
        project = opts["project_id"]
        if len(chain) > MAX_REFERENCE_DEPTH:
            raise InfisicalReferenceError(
                f"{_where(key, entry, project)}: references nest deeper than "
                f"{MAX_REFERENCE_DEPTH} levels")

        def _sub(match):
            target = parse_reference(match.group(1), entry["env"], entry["path"])
            if target is None:
                raise InfisicalReferenceError(
                    f"{_where(key, entry, project)} holds a cross-project reference (to project "
                    f"{match.group(1).split('.')[0]}): only the server can resolve those (it holds the "
                    "folder grant), and this lookup does not ask it to; set expand_references=false "
                    "to read the literal text")
            ref_env, ref_path, ref_key = target
            if target in chain:
                raise InfisicalReferenceError(
                    f"{_where(key, entry, project)}: reference loop through secret {ref_key} at "
                    f"path {ref_path} in env {ref_env}")
            # references resolve whatever the tags filter (the server expands them regardless)
            found = self._merged(opts, ref_env, ref_path, False, ())
            if ref_key not in found:
                raise InfisicalReferenceError(
                    f"{_where(key, entry, project)} references secret {ref_key} at path "
                    f"{ref_path} in env {ref_env}, which does not exist (the server would "
                    "substitute an empty string)")
            if found[ref_key]["hidden"]:
                raise _hidden_error(ref_key, found[ref_key], project,
                                    via=f"secret {key} at path {entry['path']} in env {entry['env']}")
            return self._expand(opts, ref_key, found[ref_key], chain + [target])

        return REFERENCE_RE.sub(_sub, value)

    def handle(self, request):
        """One broker/in-process request -> JSON-able answer (errors carried by kind)."""
        try:
            return {"ok": True, "secrets": self.resolve(request["opts"], request.get("keys"))}
        except InfisicalError as exc:
            return {"ok": False, "kind": exc.kind, "error": str(exc)}


# --- the controller-side broker ------------------------------------------------------
# Ansible templates each task for each host in a forked worker process, so a cache held
# in a worker dies with it. The broker is one small process per controller run (started
# by the first worker that needs it, ended when the controller process exits) that keeps
# the Resolver above in memory and answers workers over a 0600 unix socket in a 0700
# directory. Requests carry the identity's credentials, answers only exist for a caller
# that presents them. Nothing is written to disk but the socket and its lock file.

BROKER_IDLE_SECONDS = 900


def broker_dir():
    base = os.environ.get("XDG_RUNTIME_DIR")
    if not base or not os.path.isdir(base) or not os.access(base, os.W_OK):
        base = os.path.join(os.path.expanduser("~"), ".ansible", "tmp")
    path = os.path.join(base, f"colab-infisical-{os.getuid()}")
    if len(path) > 80:  # AF_UNIX paths are short (104/108 bytes)
        path = os.path.join("/tmp", f"colab-infisical-{os.getuid()}")
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.lstat(path)
    if st.st_uid != os.getuid() or (st.st_mode & 0o077) or not os.path.isdir(path):
        raise InfisicalError(f"{path} must be a directory owned by uid {os.getuid()} with mode 0700")
    return path


def _send(sock_path, request, timeout):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(sock_path)
        sock.sendall(json.dumps(request).encode("utf-8") + b"\n")
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            if chunk.endswith(b"\n"):
                break
    return json.loads(b"".join(chunks).decode("utf-8"))


def broker_request(opts, controller_pid, timeout, keys=None):
    """Resolve through the controller run's broker, starting it when it is not there yet."""
    import fcntl  # POSIX only, like Ansible's controller
    import subprocess

    opts = validate_options(opts)
    directory = broker_dir()
    sock_path = os.path.join(directory, f"b-{controller_pid}.sock")
    request = {"op": "resolve", "opts": opts, "keys": keys}
    try:
        return _send(sock_path, request, timeout)
    except (FileNotFoundError, ConnectionRefusedError):
        pass
    with open(os.path.join(directory, f"b-{controller_pid}.lock"), "a+") as lock:
        os.chmod(lock.name, 0o600)
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return _send(sock_path, request, timeout)
        except (FileNotFoundError, ConnectionRefusedError):
            pass
        if os.path.lexists(sock_path):
            os.unlink(sock_path)
        # a detached broker that outlives this process: run_command waits for its command
        subprocess.Popen(  # pylint: disable=consider-using-with,ansible-bad-function
            [sys.executable, os.path.abspath(__file__), "--serve", sock_path,
             "--watch-pid", str(controller_pid)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=True, start_new_session=True)
        deadline = time.monotonic() + 10
        while not os.path.exists(sock_path):
            if time.monotonic() > deadline:
                raise InfisicalError(f"the Infisical cache broker did not start ({sock_path})")
            time.sleep(0.02)
    return _send(sock_path, request, timeout)


def serve(sock_path, watch_pid, idle=BROKER_IDLE_SECONDS):
    """Run the broker until the controller process ``watch_pid`` is gone or it is idle."""
    import socketserver

    resolver = Resolver()
    state = {"last": time.monotonic()}

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            state["last"] = time.monotonic()
            try:
                request = json.loads(self.rfile.readline().decode("utf-8"))
                if request.get("op") == "stats":
                    answer = {"ok": True, "counter": resolver.counter}
                else:
                    answer = resolver.handle(request)
            except Exception as exc:  # pylint: disable=broad-except
                answer = {"ok": False, "kind": "error",
                          "error": f"broker failure: {type(exc).__name__}"}
            self.wfile.write(json.dumps(answer).encode("utf-8") + b"\n")

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    old = os.umask(0o177)
    try:
        tmp = sock_path + f".{os.getpid()}"
        server = Server(tmp, Handler)
        os.rename(tmp, sock_path)  # appears atomically, already listening
    finally:
        os.umask(old)

    def _watch():
        while True:
            time.sleep(0.25)
            try:
                os.kill(watch_pid, 0)
            except ProcessLookupError:
                break
            except PermissionError:
                pass
            if time.monotonic() - state["last"] > idle:
                break
        server.shutdown()

    threading.Thread(target=_watch, daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.25)
    finally:
        server.server_close()
        for leftover in (sock_path, sock_path[:-len(".sock")] + ".lock"):
            try:
                os.unlink(leftover)
            except OSError:
                pass


def _main(argv):
    if len(argv) == 5 and argv[1] == "--serve" and argv[3] == "--watch-pid":
        serve(argv[2], int(argv[4]))
        return 0
    sys.stderr.write("usage: _infisical.py --serve SOCKET --watch-pid PID\n")
    return 2


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv))

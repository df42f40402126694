# Copyright (c) colab.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small Infisical REST client shared by the lookup (and any future module).

Only the standard library and ansible.module_utils (open_url), so it also runs as the
controller-side cache broker (``python _infisical.py --serve ...``, see ``serve``) with the
controller's interpreter, outside Ansible's collection loader.

API contract (Infisical's published API reference, api-reference/endpoints):
  POST /api/v1/auth/universal-auth/login  {clientId, clientSecret}
       -> {accessToken, expiresIn, accessTokenMaxTTL, tokenType}
  GET  /api/v4/secrets?projectId&environment&secretPath&recursive&include_imports
       &expandSecretReferences&viewSecretValue&tagSlugs  -> {secrets: [...], imports: [...]}
  GET  /api/v4/secrets/{secretName}?projectId&environment&secretPath... -> {secret: {...}}
Imports are merged the way the Infisical CLI merges them (Infisical/cli
packages/util/secrets.go, InjectImportedSecret): the path's own secrets win, then the
imports from the last to the first, so a later import overrides an earlier one.

Nothing here writes to disk: tokens and values live in process memory only.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import sys
import threading
import time
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import open_url

DEFAULT_URL = "https://app.infisical.com"
LOGIN_PATH = "/api/v1/auth/universal-auth/login"
LIST_PATH = "/api/v4/secrets"
RETRY_STATUSES = (429, 500, 502, 503, 504)
MAX_RETRIES = 3
MAX_BACKOFF = 8.0
# Infisical's own server stops expanding after this depth (MAX_SECRET_REFERENCE_DEPTH).
MAX_REFERENCE_DEPTH = 10
# ${KEY} (same env and path), ${env.KEY} (root of env), ${env.a.b.KEY} (path /a/b of env)
REFERENCE_RE = re.compile(r"\$\{([^}]+)\}")

CONNECTION_OPTIONS = ("url", "auth_method", "client_id", "client_secret", "token",
                      "validate_certs", "ca_path", "timeout")
QUERY_OPTIONS = ("project_id", "env", "path", "recursive", "include_imports",
                 "expand_references", "tags")


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


ERROR_KINDS = {cls.kind: cls for cls in (InfisicalError, InfisicalAuthError, InfisicalNotFoundError,
                                         InfisicalConnectionError, InfisicalReferenceError)}


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


def validate_options(opts):
    """Fail early, naming the field. Returns the normalised copy."""
    opts = dict(opts)
    opts["url"] = str(opts.get("url") or DEFAULT_URL).rstrip("/")
    if not re.match(r"^https?://[^/\s]+", opts["url"]):
        raise InfisicalError(f"url must be an http(s) URL, got {opts['url']!r}")
    method = opts.get("auth_method") or "universal_auth"
    if method not in ("universal_auth", "token"):
        raise InfisicalError(f"auth_method must be universal_auth or token, got {method!r}")
    opts["auth_method"] = method
    if method == "universal_auth":
        missing = [k for k in ("client_id", "client_secret") if not opts.get(k)]
        if missing:
            raise InfisicalError(f"auth_method=universal_auth needs {' and '.join(missing)} "
                                 "(task option, environment variable or inventory variable)")
    elif not opts.get("token"):
        raise InfisicalError("auth_method=token needs token")
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
    for flag, default in (("recursive", False), ("include_imports", True),
                          ("expand_references", True), ("validate_certs", True)):
        value = opts.get(flag)
        opts[flag] = default if value is None else bool(value)
    return opts


def identity_key(opts):
    """Cache key of an identity: the URL, method, client id and a hash of the credential."""
    material = "\0".join([opts["url"], opts["auth_method"], str(opts.get("client_id") or ""),
                          str(opts.get("client_secret") or opts.get("token") or "")])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]


def query_key(opts, env=None, path=None):
    return (identity_key(opts), opts["project_id"], env or opts["env"], path or opts["path"],
            opts["recursive"], opts["include_imports"], ",".join(opts["tags"]))


def _scrub(text, opts):
    text = str(text)
    for name in ("client_secret", "token"):
        value = opts.get(name)
        if value and len(str(value)) >= 4:
            text = text.replace(str(value), "********")
    return text


# --- HTTP client ---------------------------------------------------------------------

class InfisicalClient:
    """Talks to one Infisical server as one identity. Thread-safe for the token."""

    def __init__(self, opts, counter=None):
        self.opts = validate_options(opts)
        self.url = self.opts["url"]
        self.timeout = self.opts["timeout"]
        self._token = self.opts.get("token") if self.opts["auth_method"] == "token" else None
        self._expires_at = float("inf") if self._token else 0.0
        self._lock = threading.Lock()
        self._login_error = None
        self.counter = counter if counter is not None else {}

    # one HTTP exchange, with bounded retries on 429/5xx
    def _request(self, method, path, params=None, body=None, token=None):
        url = self.url + path
        if params:
            url += "?" + urlencode(params)
        data = json.dumps(body).encode("utf-8") if body is not None else None
        headers = {"Accept": "application/json", "User-Agent": "colab.cluster-infisical/1"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        attempt = 0
        while True:
            attempt += 1
            self.counter[method + " " + path.split("?")[0]] = \
                self.counter.get(method + " " + path.split("?")[0], 0) + 1
            try:
                with open_url(url, data=data, headers=headers, method=method, timeout=self.timeout,
                              validate_certs=self.opts["validate_certs"],
                              ca_path=self.opts.get("ca_path") or None,
                              follow_redirects="safe") as resp:
                    raw = resp.read()
                    return resp.status, (json.loads(raw.decode("utf-8")) if raw else {})
            except HTTPError as exc:
                status = exc.code
                try:
                    payload = json.loads(exc.read().decode("utf-8") or "{}")
                except (ValueError, UnicodeDecodeError):
                    payload = {}
                if status in RETRY_STATUSES and attempt <= MAX_RETRIES:
                    time.sleep(self._backoff(attempt, exc.headers.get("Retry-After")))
                    continue
                if status in RETRY_STATUSES:
                    payload.setdefault("message", "")
                    payload["_attempts"] = attempt
                return status, payload
            except (URLError, UrlsConnectionError, socket.timeout, TimeoutError, ConnectionError,
                    OSError) as exc:
                reason = getattr(exc, "reason", exc)
                raise InfisicalConnectionError(
                    f"cannot reach Infisical at {self.url} (timeout {self.timeout:g}s): "
                    f"{_scrub(reason, self.opts)}") from None

    @staticmethod
    def _backoff(attempt, retry_after):
        if retry_after:
            try:
                return min(max(float(retry_after), 0.0), MAX_BACKOFF)
            except ValueError:
                pass
        return min(0.25 * (2 ** (attempt - 1)), MAX_BACKOFF)

    def _error(self, status, payload, what):
        message = _scrub(payload.get("message") or payload.get("error") or "", self.opts)
        tail = f" (HTTP {status}{': ' + message if message else ''})"
        if payload.get("_attempts"):
            tail += f" after {payload['_attempts']} attempts"
        if status in (401, 403):
            return InfisicalAuthError(f"{what}: access denied{tail}")
        if status == 404:
            return InfisicalNotFoundError(f"{what}: not found{tail}")
        return InfisicalError(f"{what}: request failed{tail}")

    # authentication
    def login(self):
        """Universal Auth login; returns the access token (kept in memory only).

        A refused login is remembered: the run does not retry bad credentials host by host.
        """
        if self._login_error is not None:
            raise self._login_error
        status, payload = self._request("POST", LOGIN_PATH, body={
            "clientId": self.opts["client_id"], "clientSecret": self.opts["client_secret"]})
        if status != 200 or not payload.get("accessToken"):
            if status in (400, 401, 403, 404):
                self._login_error = InfisicalAuthError(
                    f"Infisical universal-auth login to {self.url} failed for client_id "
                    f"{self.opts['client_id']}: bad credentials or identity not allowed "
                    f"(HTTP {status}); the client secret is not shown")
                raise self._login_error
            raise self._error(status, payload, f"Infisical login to {self.url}")
        ttl = float(payload.get("expiresIn") or 0) or 300.0
        # renewed (a fresh login) once 80% of the announced lifetime has passed
        self._expires_at = time.monotonic() + ttl * 0.8
        self._token = payload["accessToken"]
        return self._token

    def token(self, force=False):
        with self._lock:
            if self.opts["auth_method"] == "token":
                return self._token
            if force or not self._token or time.monotonic() >= self._expires_at:
                self.login()
            return self._token

    def _authed_get(self, path, params, what):
        status, payload = self._request("GET", path, params=params, token=self.token())
        if status == 401 and self.opts["auth_method"] == "universal_auth":
            # expired earlier than announced (server restart, revoked): log in again once
            status, payload = self._request("GET", path, params=params, token=self.token(force=True))
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

def merge_secrets(payload, include_imports=True):
    """{key: {"value", "env", "path"}}: own secrets win, later imports beat earlier ones."""
    merged = {}
    own = sorted(payload.get("secrets") or [],
                 key=lambda s: normalize_path(s.get("secretPath")).count("/"))
    for sec in own:
        merged.setdefault(sec["secretKey"], {
            "value": sec.get("secretValue", ""), "env": sec.get("environment"),
            "path": normalize_path(sec.get("secretPath"))})
    if include_imports:
        for imp in reversed(payload.get("imports") or []):
            for sec in imp.get("secrets") or []:
                merged.setdefault(sec["secretKey"], {
                    "value": sec.get("secretValue", ""),
                    "env": imp.get("environment") or sec.get("environment"),
                    "path": normalize_path(imp.get("secretPath"))})
    return merged


def parse_reference(ref, env, path):
    """(env, path, key) a ${...} reference points at, relative to where it was found."""
    parts = ref.strip().split(".")
    if len(parts) == 1:
        return env, path, parts[0]
    return parts[0], normalize_path("/".join(parts[1:-1])), parts[-1]


class Resolver:
    """Per-process cache: one login per identity, one list per (project, env, path, options)."""

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

    def _merged(self, opts, env, path, recursive):
        key = query_key(opts, env, path) + (recursive,)
        with self._lock_for(key):
            if key not in self._lists:
                client = self.client(opts)
                try:
                    payload = client.list_secrets(env, path, recursive=recursive,
                                                  include_imports=opts["include_imports"],
                                                  expand=False, tags=opts["tags"])
                    self._lists[key] = merge_secrets(payload, opts["include_imports"])
                except InfisicalError as exc:
                    # a failure is the answer for the whole run, not retried host by host
                    self._lists[key] = exc
            if isinstance(self._lists[key], InfisicalError):
                raise self._lists[key]
            return self._lists[key]

    def resolve(self, opts):
        """The path as {key: value}, references expanded unless expand_references=false."""
        opts = validate_options(opts)
        env, path = opts["env"], opts["path"]
        merged = self._merged(opts, env, path, opts["recursive"])
        if not opts["expand_references"]:
            return {k: v["value"] for k, v in merged.items()}
        return {k: self._expand(opts, k, v, 0) for k, v in merged.items()}

    def _expand(self, opts, key, entry, depth):
        value = entry["value"]
        if "${" not in value:
            return value
        if depth >= MAX_REFERENCE_DEPTH:
            raise InfisicalReferenceError(
                f"secret {key} at path {entry['path']} in env {entry['env']}: references nest "
                f"deeper than {MAX_REFERENCE_DEPTH} levels (a reference loop?)")

        def _sub(match):
            ref_env, ref_path, ref_key = parse_reference(match.group(1), entry["env"], entry["path"])
            try:
                target = self._merged(opts, ref_env, ref_path, False)
            except InfisicalNotFoundError:
                target = {}
            if ref_key not in target:
                raise InfisicalReferenceError(
                    f"secret {key} at path {entry['path']} in env {entry['env']} references "
                    f"${{{match.group(1)}}}, which does not resolve (no secret {ref_key} at path "
                    f"{ref_path} in env {ref_env})")
            return self._expand(opts, ref_key, target[ref_key], depth + 1)

        return REFERENCE_RE.sub(_sub, value)

    def handle(self, request):
        """One broker/in-process request -> JSON-able answer (errors carried by kind)."""
        try:
            return {"ok": True, "secrets": self.resolve(request["opts"])}
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


def broker_request(opts, controller_pid, timeout):
    """Resolve through the controller run's broker, starting it when it is not there yet."""
    import fcntl  # POSIX only, like Ansible's controller
    import subprocess

    opts = validate_options(opts)
    directory = broker_dir()
    sock_path = os.path.join(directory, f"b-{controller_pid}.sock")
    request = {"op": "resolve", "opts": opts}
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
        subprocess.Popen(  # pylint: disable=consider-using-with
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

"""The lab's secret store: the Infisical API double, seeded with the seed's paths.

Run with the machine's python3 (standard library only):

    python3 lab/secret_store.py ensure    # running on 127.0.0.1 (nothing to do if it already is)
    python3 lab/secret_store.py status    # URL, project, identity and the key names (never values)
    python3 lab/secret_store.py stop
    python3 lab/secret_store.py slow 6    # every login and list answers 6 s late (a fault)
    python3 lab/secret_store.py clear     # no more faults, request counters back to zero
    python3 lab/secret_store.py counts    # the requests the store answered, as JSON

No Infisical server can run here, so the lab points colab.cluster.infisical_secret at the
double (tests/doubles/infisical/server.py), which speaks Infisical's documented API. Its
seed is the seed's Layer 2 ("keys" project, env prod, paths /docker /gitea /samba /mcp)
with RANDOM values generated once per lab, and one lab machine identity. All of it lives
under .lab/infisical/ (directory 0700, files 0600, gitignored, removed by `lab.py down`):
  seed.json       the store's content (values and the identity's client secret)
  client_secret   the lab identity's client secret, read by inventory/lab/group_vars/all/infisical.yml
  port            the port the store listens on (18080, or a free one when 18080 is taken)
  pid, server.log the running store
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SERVER = os.path.join(ROOT, "tests", "doubles", "infisical", "server.py")
DEFAULT_PORT = int(os.environ.get("LAB_INFISICAL_PORT", "18080"))
HOST = "127.0.0.1"

PROJECT_ID = "colab-lab-keys"
ENVIRONMENT = "prod"
CLIENT_ID = "colab-lab-identity"
# The seed's Layer 2: path -> secret names.
LAYOUT = {
    "/docker": ["REGISTRY_USERNAME", "REGISTRY_PASSWORD", "GITHUB_TOKEN"],
    "/gitea": ["GITEA_ADMIN_PASSWORD", "GITEA_SECRET_KEY", "GITEA_DB_PASSWORD"],
    "/samba": ["COLAB_NAS_SAMBA_PASSWORD"],
    "/mcp": ["OPENAI_API_KEY", "WEBUI_SECRET_KEY"],
    "/minio": ["MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"],
}


def state_dir(base=None):
    return os.path.join(base or os.path.join(ROOT, ".lab"), "infisical")


def log(msg):
    print(f"lab: {msg}", flush=True)


def _write_private(path, text):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _value(name):
    if name == "REGISTRY_USERNAME":
        return "lab-registry-" + secrets.token_hex(3)
    if name == "MINIO_ROOT_USER":
        return "lab-minio-" + secrets.token_hex(3)
    if name == "GITEA_SECRET_KEY":
        return secrets.token_urlsafe(48)
    return secrets.token_urlsafe(24)


def complete_seed(seed_path):
    """Add the LAYOUT paths and names an older seed lacks (values kept, new ones random).

    A lab seeded before a path joined LAYOUT (/minio) keeps its secrets and gains the new
    ones. Returns the added "path/NAME" entries (names only, never values)."""
    with open(seed_path, encoding="utf-8") as fh:
        seed = json.load(fh)
    folders = seed["projects"][PROJECT_ID]["environments"][ENVIRONMENT]["folders"]
    added = []
    for path, names in LAYOUT.items():
        folder = folders.setdefault(path, {"secrets": {}})["secrets"]
        for name in names:
            if name not in folder:
                folder[name] = _value(name)
                added.append(f"{path}/{name}")
    if added:
        _write_private(seed_path, json.dumps(seed, indent=1) + "\n")
        log(f"secret store seed completed with {', '.join(added)} ({seed_path})")
    return added


def ensure_seed(directory):
    """Generate the lab's secrets once; keep them for the lab's lifetime."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    seed_path = os.path.join(directory, "seed.json")
    secret_path = os.path.join(directory, "client_secret")
    if os.path.exists(seed_path) and os.path.exists(secret_path):
        complete_seed(seed_path)
        return seed_path
    client_secret = secrets.token_urlsafe(32)
    folders = {"/": {"secrets": {}}}
    for path, names in LAYOUT.items():
        folders[path] = {"secrets": {name: _value(name) for name in names}}
    seed = {
        "identities": [{"clientId": CLIENT_ID, "clientSecret": client_secret,
                        "accessTokenTTL": 7200, "accessTokenMaxTTL": 86400,
                        "projects": [PROJECT_ID]}],
        "projects": {PROJECT_ID: {"environments": {ENVIRONMENT: {"folders": folders}}}},
    }
    _write_private(seed_path, json.dumps(seed, indent=1) + "\n")
    _write_private(secret_path, client_secret)
    log(f"secret store seeded with random values ({seed_path})")
    return seed_path


def _read(path):
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def _is_ours(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return SERVER.encode() in fh.read()
    except OSError:
        return False


def _answers(port, timeout=2):
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/__double__/counts", timeout=timeout) as resp:
            return resp.status == 200
    except OSError:
        return False


def _mtime(path):
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _port_free(port):
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def running(directory):
    pid, port = _read(os.path.join(directory, "pid")), _read(os.path.join(directory, "port"))
    if pid.isdigit() and port.isdigit() and _is_ours(int(pid)) and _answers(int(port)):
        return int(pid), int(port)
    return None


def ensure(base=None, port=None):
    """Start the store unless it already runs. Returns its URL."""
    directory = state_dir(base)
    seed_mtime = _mtime(os.path.join(directory, "seed.json"))
    seed_path = ensure_seed(directory)
    found = running(directory)
    if found and _mtime(seed_path) != seed_mtime:
        # the server reads its seed once, at start: a completed seed needs a restart
        log("secret store restarted: its seed changed")
        found = None
    if found:
        log(f"secret store running (http://{HOST}:{found[1]}, pid {found[0]})")
        return f"http://{HOST}:{found[1]}"
    stop(base, quiet=True)
    port = DEFAULT_PORT if port is None else port
    if port and not _port_free(port):
        log(f"port {port} is taken: the secret store takes a free port (see .lab/infisical/port)")
        port = 0
    port_file = os.path.join(directory, "port")
    if os.path.exists(port_file):
        os.unlink(port_file)
    with open(os.path.join(directory, "server.log"), "ab") as out:
        proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, SERVER, "--seed", seed_path, "--host", HOST, "--port", str(port),
             "--port-file", port_file],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
    _write_private(os.path.join(directory, "pid"), str(proc.pid))
    deadline = time.monotonic() + 15
    while True:
        chosen = _read(port_file)
        if chosen.isdigit() and _answers(int(chosen)):
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the secret store did not start: see {directory}/server.log")
        time.sleep(0.1)
    log(f"secret store started (http://{HOST}:{chosen}, project {PROJECT_ID}, identity {CLIENT_ID})")
    return f"http://{HOST}:{chosen}"


def stop(base=None, quiet=False):
    directory = state_dir(base)
    pid = _read(os.path.join(directory, "pid"))
    if pid.isdigit() and _is_ours(int(pid)):
        os.kill(int(pid), signal.SIGTERM)
        deadline = time.monotonic() + 5
        while _is_ours(int(pid)) and time.monotonic() < deadline:
            try:
                os.waitpid(int(pid), os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.05)
        if not quiet:
            log(f"secret store stopped (pid {pid})")
    elif not quiet:
        log("secret store not running")
    for name in ("pid", "port"):
        try:
            os.unlink(os.path.join(directory, name))
        except OSError:
            pass


# The routes a converge uses: one login per identity, one list per path (issue 17.4).
SLOW_ROUTES = ("POST /api/v1/auth/universal-auth/login", "GET /api/v4/secrets", "GET /api/v3/secrets/raw")


def _control(path, body=None, base=None, timeout=10):
    found = running(state_dir(base))
    if not found:
        raise RuntimeError("the secret store is not running (python3 lab/secret_store.py ensure)")
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://{HOST}:{found[1]}/__double__/{path}", data=data,
                                 method="POST" if data is not None else "GET",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read().decode("utf-8") or "{}")


def slow(delay, base=None, times=10000):
    """Every login and list waits `delay` seconds before it answers (until `clear`)."""
    for route in SLOW_ROUTES:
        _control("fault", {"route": route, "delay": float(delay), "times": times}, base)
    log(f"secret store slow: logins and lists answer {delay:g} s late")


def clear(base=None):
    _control("reset", {}, base)
    log("secret store: faults cleared, counters reset")


def counts(base=None):
    """{"requests": {"<METHOD> <route>": n}, "lists": {"<env>:<path>": n}, "logins": {...}}"""
    return _control("counts", base=base)


def status(base=None):
    directory = state_dir(base)
    found = running(directory)
    if not found:
        print("secret store: not running (python3 lab/secret_store.py ensure)")
        return 1
    with open(os.path.join(directory, "seed.json"), encoding="utf-8") as fh:
        seed = json.load(fh)
    print(f"secret store: http://{HOST}:{found[1]} (pid {found[0]})")
    print(f"  project {PROJECT_ID}, env {ENVIRONMENT}, identity {CLIENT_ID} "
          f"(client secret in {directory}/client_secret)")
    for path, folder in seed["projects"][PROJECT_ID]["environments"][ENVIRONMENT]["folders"].items():
        if folder["secrets"]:
            print(f"  {path}: {', '.join(sorted(folder['secrets']))}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="secret_store", description=__doc__.splitlines()[0])
    parser.add_argument("cmd", choices=["ensure", "status", "stop", "slow", "clear", "counts"])
    parser.add_argument("delay", nargs="?", type=float, default=None, help="slow: seconds of delay")
    args = parser.parse_args(argv)
    if (args.cmd == "slow") != (args.delay is not None):
        parser.error("slow takes the delay in seconds (and only slow takes one)")
    try:
        if args.cmd == "ensure":
            ensure()
        elif args.cmd == "stop":
            stop()
        elif args.cmd == "slow":
            slow(args.delay)
        elif args.cmd == "clear":
            clear()
        elif args.cmd == "counts":
            print(json.dumps(counts(), indent=1, sort_keys=True))
        else:
            return status()
    except (OSError, RuntimeError) as exc:
        print(f"lab: error: secret store: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

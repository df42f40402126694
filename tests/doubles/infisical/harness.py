"""Start the Infisical double inside the test process (a thread) and read its counters."""
from __future__ import annotations

import contextlib
import json
import os
import threading
import urllib.request

from tests.doubles.infisical.server import make_server

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = os.path.join(HERE, "seed.json")
PROJECT = "6f1e3c2a-keys-4d5e-9f00-0a1b2c3d4e5f"
CLIENT_ID = "11111111-aaaa-4bbb-8ccc-000000000001"
CLIENT_SECRET = "cs-test-7d3f9b2e61a84c05b7e0f6a1d2c3b4a5"
OTHER_ID = "11111111-aaaa-4bbb-8ccc-000000000002"
OTHER_SECRET = "cs-test-other-9a8b7c6d5e4f3a2b1c0d"
# lists every secret, but the values of prod:/gitea and prod:/shared/two are hidden from it
DESCRIBE_ID = "11111111-aaaa-4bbb-8ccc-000000000003"
DESCRIBE_SECRET = "cs-test-describe-only-4f3e2d1c0b9a"
# its tokens are good for 2 requests, and an exhausted one is answered 400 (older servers)
LIMITED_ID = "11111111-aaaa-4bbb-8ccc-000000000004"
LIMITED_SECRET = "cs-test-limited-8e7d6c5b4a39"
OIDC_IDENTITY = "22222222-aaaa-4bbb-8ccc-00000000000a"
OIDC_JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjaS1ydW5uZXIifQ.c2lnLXRlc3Qtb2lkYw"
STATIC_TOKEN = "tok-test-static-5a6b7c8d9e0f1a2b"
LOGIN = "POST /api/v1/auth/universal-auth/login"
OIDC_LOGIN = "POST /api/v1/auth/oidc-auth/login"
LIST = "GET /api/v4/secrets"
GET_ONE = "GET /api/v4/secrets/{secretName}"


def load_seed():
    with open(SEED, encoding="utf-8") as fh:
        return json.load(fh)


def seed_values(seed=None):
    """Every secret value and credential of the seed (for 'no value leaks' assertions)."""
    seed = seed or load_seed()
    out = []
    for ident in seed["identities"]:
        out += [ident[k] for k in ("clientSecret",) if k in ident]
        out += ident.get("oidcJwts", []) + ident.get("staticTokens", [])
    for project in seed["projects"].values():
        for env in project["environments"].values():
            for folder in env["folders"].values():
                for spec in folder.get("secrets", {}).values():
                    out.append(spec["value"] if isinstance(spec, dict) else spec)
    return out


class Double:
    def __init__(self, server, scheme="http"):
        self.server = server
        self.url = f"{scheme}://127.0.0.1:{server.server_address[1]}"

    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())

    def counts(self):
        return self._call("GET", "/__double__/counts")

    def requests(self, route):
        return self.counts()["requests"].get(route, 0)

    def reset(self):
        self._call("POST", "/__double__/reset")

    def fault(self, route, status=429, times=1, retry_after=0, **extra):
        """extra: location (3xx), delay (seconds before answering), drop (close, no answer)."""
        self._call("POST", "/__double__/fault",
                   dict({"route": route, "status": status, "times": times, "retryAfter": retry_after}, **extra))

    def expire_tokens(self):
        """Every issued token's JWT now counts as expired: 403 TokenError."""
        self._call("POST", "/__double__/expire")

    def revoke_tokens(self):
        """Every issued token is revoked: 401."""
        self._call("POST", "/__double__/revoke")


@contextlib.contextmanager
def running_double(seed=None, token_ttl=None, tls=None):
    server = make_server(seed or load_seed(), token_ttl=token_ttl, tls=tls)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield Double(server, "https" if tls else "http")
    finally:
        server.shutdown()
        server.server_close()

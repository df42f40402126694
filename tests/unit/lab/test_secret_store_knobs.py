"""lab/secret_store.py's fault knobs (issue 17): `slow` delays every login and list until
`clear`; `counts` reports the requests the store answered (the scale bench reads it)."""
from __future__ import annotations

import importlib.util
import json
import os
import time
import urllib.request

import pytest

from tests.helpers import ROOT

_spec = importlib.util.spec_from_file_location("colab_secret_store_knobs",
                                               os.path.join(ROOT, "lab", "secret_store.py"))
store = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(store)


@pytest.fixture()
def running_store(tmp_path):
    url = store.ensure(base=str(tmp_path), port=0)
    yield url, str(tmp_path)
    store.stop(base=str(tmp_path), quiet=True)


def _login(url, secret_path):
    with open(secret_path, encoding="utf-8") as fh:
        body = json.dumps({"clientId": store.CLIENT_ID, "clientSecret": fh.read().strip()}).encode()
    req = urllib.request.Request(url + "/api/v1/auth/universal-auth/login", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    start = time.monotonic()
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
    return time.monotonic() - start


def test_slow_delays_logins_until_clear_and_counts_them(running_store):
    url, base = running_store
    secret = os.path.join(base, "infisical", "client_secret")
    assert _login(url, secret) < 0.5
    store.slow(0.8, base=base)
    assert _login(url, secret) >= 0.8
    assert _login(url, secret) >= 0.8  # every request, not only the first
    assert store.counts(base=base)["requests"]["POST /api/v1/auth/universal-auth/login"] == 3
    store.clear(base=base)
    assert _login(url, secret) < 0.5
    assert store.counts(base=base)["requests"] == {"POST /api/v1/auth/universal-auth/login": 1}


def test_knobs_need_a_running_store(tmp_path):
    with pytest.raises(RuntimeError, match="not running"):
        store.slow(1, base=str(tmp_path))

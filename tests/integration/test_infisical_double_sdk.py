"""The Infisical API double is faithful enough for a client nobody here wrote: the
official Python SDK (infisicalsdk, in the .venv) logs in, lists and reads through it.
The double runs as its own process (the way the lab runs it), on a free loopback port."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

infisical_sdk = pytest.importorskip("infisical_sdk")

from tests.doubles.infisical.harness import CLIENT_ID, CLIENT_SECRET, PROJECT, SEED  # noqa: E402
from tests.helpers import ROOT  # noqa: E402


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    port_file = tmp_path_factory.mktemp("double") / "port"
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "doubles", "infisical", "server.py"),
                             "--seed", SEED, "--port", "0", "--port-file", str(port_file)])
    try:
        deadline = time.monotonic() + 10
        while not port_file.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "double did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port_file.read_text().strip()}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_official_sdk_login_list_get(url):
    client = infisical_sdk.InfisicalSDKClient(host=url, cache_ttl=None)
    login = client.auth.universal_auth.login(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    assert login.tokenType == "Bearer" and login.expiresIn == 7200 and login.accessToken
    listed = client.secrets.list_secrets(environment_slug="prod", secret_path="/gitea", project_id=PROJECT)
    assert {s.secretKey for s in listed.secrets} == {
        "GITEA_ADMIN_PASSWORD", "GITEA_SECRET_KEY", "GITEA_DB_PASSWORD", "SHARED_NAME"}
    imports = [(i.secretPath, i.environment) for i in listed.imports]
    assert imports == [("/shared/one", "prod"), ("/shared/two", "prod")]
    tagged = client.secrets.list_secrets(environment_slug="prod", secret_path="/docker",
                                         project_id=PROJECT, tag_filters=["deploy"])
    assert [s.secretKey for s in tagged.secrets] == ["REGISTRY_PASSWORD"]
    assert tagged.secrets[0].tags[0]["slug"] == "deploy"  # the SDK keeps tags as dicts
    one = client.secrets.get_secret_by_name(secret_name="DB_URL", environment_slug="prod",
                                            secret_path="/refs", project_id=PROJECT)
    # server-side expansion, as the SDK asks for by default
    assert one.secretValue == "postgres://gitea:gd-Ua3Ko9Ei5Ry1Tw7S@db.internal:5432/gitea"
    raw = client.secrets.get_secret_by_name(secret_name="DB_URL", environment_slug="prod",
                                            secret_path="/refs", project_id=PROJECT,
                                            expand_secret_references=False)
    assert raw.secretValue.startswith("postgres://gitea:${prod.gitea.GITEA_DB_PASSWORD}@")
    client.close()


def test_official_sdk_sees_errors(url):
    from infisical_sdk.infisical_requests import APIError

    client = infisical_sdk.InfisicalSDKClient(host=url, cache_ttl=None)
    with pytest.raises(APIError) as err:
        client.auth.universal_auth.login(client_id=CLIENT_ID, client_secret="not-the-secret")
    assert err.value.status_code == 401
    client.auth.universal_auth.login(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    with pytest.raises(APIError) as err:
        client.secrets.get_secret_by_name(secret_name="NOPE", environment_slug="prod",
                                          secret_path="/gitea", project_id=PROJECT)
    assert err.value.status_code == 404
    with pytest.raises(APIError) as err:
        client.secrets.list_secrets(environment_slug="prod", secret_path="/missing", project_id=PROJECT)
    assert err.value.status_code == 404
    client.close()

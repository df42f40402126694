"""The Infisical API double is faithful enough for a client nobody here wrote: the
official Python SDK (infisicalsdk, pinned in requirements.txt, so never skipped) logs in,
lists and reads through it. infisicalsdk 1.0.18 calls the v3 raw routes; for the v4 list
route it has no method, so its own HTTP layer (InfisicalRequests.get) and response model
(ListSecretsResponse) are driven at /api/v4/secrets directly.
The double runs as its own process (the way the lab runs it), on a free loopback port."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import infisical_sdk
import pytest
from infisical_sdk.api_types import ListSecretsResponse
from infisical_sdk.infisical_requests import APIError

from tests.doubles.infisical.harness import (
    CLIENT_ID, CLIENT_SECRET, DESCRIBE_ID, DESCRIBE_SECRET, OIDC_IDENTITY, OIDC_JWT, PROJECT, SEED,
)
from tests.helpers import ROOT


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
    client = infisical_sdk.InfisicalSDKClient(host=url, cache_ttl=None)
    with pytest.raises(APIError) as err:
        client.auth.universal_auth.login(client_id=CLIENT_ID, client_secret="not-the-secret")
    assert err.value.status_code == 401
    client.auth.universal_auth.login(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    with pytest.raises(APIError) as err:
        client.secrets.get_secret_by_name(secret_name="NOPE", environment_slug="prod",
                                          secret_path="/gitea", project_id=PROJECT)
    assert err.value.status_code == 404
    # a folder that does not exist is an empty list, not an error (the server's getSecrets)
    empty = client.secrets.list_secrets(environment_slug="prod", secret_path="/missing", project_id=PROJECT)
    assert empty.secrets == [] and empty.imports == []
    client.close()


def test_official_sdk_on_the_v4_list_route(url):
    client = infisical_sdk.InfisicalSDKClient(host=url, cache_ttl=None)
    client.auth.universal_auth.login(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    params = {"projectId": PROJECT, "environment": "prod", "secretPath": "/nest/top",
              "include_imports": "true", "expandSecretReferences": "false"}
    listed = client.api.get(path="/api/v4/secrets", model=ListSecretsResponse, params=params).data
    assert listed.secrets == []
    # nested imports: /nest/top imports /nest/a, which imports /nest/b, which imports /nest/c;
    # the deeper imports' secrets are appended to the one import the server lists
    assert [(i.secretPath, i.environment) for i in listed.imports] == [("/nest/a", "prod")]
    keys = [s["secretKey"] for s in listed.imports[0].secrets]
    assert keys == ["A_OWN", "B_ONLY", "DEEP", "C_ONLY", "DEEP"]
    params.update(secretPath="/refs", expandSecretReferences="true")
    refs = client.api.get(path="/api/v4/secrets", model=ListSecretsResponse, params=params).data
    by_key = {s.secretKey: s.secretValue for s in refs.secrets}
    assert by_key["DB_URL"] == "postgres://gitea:gd-Ua3Ko9Ei5Ry1Tw7S@db.internal:5432/gitea"
    params.update(secretPath="/literal")
    literal = client.api.get(path="/api/v4/secrets", model=ListSecretsResponse, params=params).data
    assert {s.secretKey: s.secretValue for s in literal.secrets}["PASSWORDISH"] == "k9${Qz!x}p-Lt4Wq"
    client.close()


def test_official_sdk_sees_hidden_values_and_token_errors(url):
    client = infisical_sdk.InfisicalSDKClient(host=url, cache_ttl=None)
    client.auth.universal_auth.login(client_id=DESCRIBE_ID, client_secret=DESCRIBE_SECRET)
    listed = client.secrets.list_secrets(environment_slug="prod", secret_path="/gitea", project_id=PROJECT)
    assert {(s.secretValue, s.secretValueHidden) for s in listed.secrets} == {("<hidden-by-infisical>", True)}
    client.auth.oidc_auth.login(identity_id=OIDC_IDENTITY, jwt=OIDC_JWT)
    assert client.secrets.get_secret_by_name(secret_name="ROOT_DOMAIN", environment_slug="prod",
                                             secret_path="/", project_id=PROJECT).secretValue == "example.test"
    client.set_token(client.get_token()[:-2] + "xx")  # a JWT whose signature does not verify
    with pytest.raises(APIError) as err:
        client.secrets.list_secrets(environment_slug="prod", secret_path="/", project_id=PROJECT)
    assert err.value.status_code == 403 and err.value.response.get("error") == "TokenError"
    client.close()

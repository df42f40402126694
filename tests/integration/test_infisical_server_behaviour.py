"""colab.cluster.infisical_secret against the Infisical double, one test per server behaviour
(issue #18). The double follows the backend source (tests/doubles/infisical/README.md cites
file and commit per behaviour); each test names the behaviour it pins down.

The lookup runs in this process (the controller-process cache), so each test starts with
a fresh cache and reads the double's request counters directly."""
from __future__ import annotations

import socket
import sys
import time

import pytest
from ansible.errors import AnsibleLookupError, AnsibleOptionsError
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import lookup_loader
from ansible.template import Templar

from ansible_collections.colab.cluster.plugins.module_utils import _infisical as inf
from tests.doubles.infisical.harness import (
    CLIENT_ID, CLIENT_SECRET, DESCRIBE_ID, DESCRIBE_SECRET, LIMITED_ID, LIMITED_SECRET, LIST,
    LOGIN, OIDC_IDENTITY, OIDC_JWT, OIDC_LOGIN, PROJECT, STATIC_TOKEN, running_double, seed_values,
)

ENV_NAMES = ("COLAB_INFISICAL_URL", "INFISICAL_URL", "COLAB_INFISICAL_CLIENT_ID", "COLAB_INFISICAL_CLIENT_SECRET",
             "COLAB_INFISICAL_PROJECT_ID", "INFISICAL_TOKEN", "COLAB_INFISICAL_TOKEN", "INFISICAL_AUTH_METHOD",
             "COLAB_INFISICAL_AUTH_METHOD", "INFISICAL_UNIVERSAL_AUTH_CLIENT_ID",
             "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET", "UNIVERSAL_AUTH_MACHINE_IDENTITY_CLIENT_ID",
             "UNIVERSAL_AUTH_MACHINE_IDENTITY_CLIENT_SECRET", "INFISICAL_MACHINE_IDENTITY_ID", "INFISICAL_JWT",
             "INFISICAL_OIDC_AUTH_JWT", "COLAB_INFISICAL_ENV")


@pytest.fixture(scope="module")
def double():
    with running_double() as dbl:
        yield dbl


@pytest.fixture()
def lookup(double, monkeypatch):
    double.reset()
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    loader = DataLoader()
    plugin = lookup_loader.get("colab.cluster.infisical_secret", loader=loader, templar=Templar(loader=loader))
    monkeypatch.setattr(sys.modules[type(plugin).__module__], "_RESOLVER", inf.Resolver())
    return plugin


def v(double, **extra):
    out = {"infisical_secret_url": double.url, "infisical_secret_project_id": PROJECT,
           "infisical_secret_client_id": CLIENT_ID, "infisical_secret_client_secret": CLIENT_SECRET}
    out.update(extra)
    return out


def no_value_in(text):
    leaked = [x for x in seed_values() if len(x) >= 6 and x in text]
    assert not leaked, f"{len(leaked)} seed value(s) in: {text}"


# 1. hidden values -----------------------------------------------------------------------

def test_hidden_value_is_an_error_naming_key_path_env_and_permission(lookup, double):
    vrs = v(double, infisical_secret_client_id=DESCRIBE_ID, infisical_secret_client_secret=DESCRIBE_SECRET)
    with pytest.raises(AnsibleLookupError) as err:
        lookup.run(["GITEA_DB_PASSWORD"], vrs, path="/gitea")
    msg = str(err.value)
    assert "secret GITEA_DB_PASSWORD at path /gitea in env prod" in msg
    assert "'Read Value' permission" in msg
    no_value_in(msg)
    # an imported secret the server hides: BOTH comes from /shared/two
    with pytest.raises(AnsibleLookupError, match="secret BOTH at path /shared/two in env prod"):
        lookup.run(["BOTH"], vrs, path="/gitea")
    # the whole path is refused as soon as one value is hidden
    with pytest.raises(AnsibleLookupError, match="the server hid its value"):
        lookup.run([], vrs, path="/gitea", as_dict=True)
    # a readable secret of the same identity, imported from /shared/one, still reads
    assert lookup.run(["ONLY_ONE"], vrs, path="/gitea") == ["one-only"]


def test_hidden_value_reached_through_a_reference_names_both(lookup, double):
    vrs = v(double, infisical_secret_client_id=DESCRIBE_ID, infisical_secret_client_secret=DESCRIBE_SECRET)
    with pytest.raises(AnsibleLookupError) as err:
        lookup.run(["DB_URL"], vrs, path="/refs")
    msg = str(err.value)
    assert "secret GITEA_DB_PASSWORD at path /gitea in env prod" in msg
    assert "referenced by secret DB_URL at path /refs" in msg and "Read Value" in msg
    no_value_in(msg)


# 2. references ----------------------------------------------------------------------------

def test_only_the_server_reference_syntax_is_a_reference(lookup, double):
    got = lookup.run(["COMPOSE_STYLE", "PASSWORDISH", "DOLLAR"], v(double), path="/literal")
    assert got == ["${HOME:-/root}/data", "k9${Qz!x}p-Lt4Wq", "pr$ce-${}-x"]


def test_only_the_keys_asked_for_are_resolved(lookup, double):
    assert lookup.run(["OK", "ALSO_OK"], v(double), path="/broken") == ["fine", "fine-too"]
    with pytest.raises(AnsibleLookupError) as err:
        lookup.run(["BAD_REF"], v(double), path="/broken")
    msg = str(err.value)
    assert "secret BAD_REF at path /broken in env prod" in msg
    assert "references secret MISSING_KEY at path /nowhere in env prod, which does not exist" in msg
    assert "pre-" not in msg and "-post" not in msg  # no part of the value


def test_tag_filter_is_not_applied_to_referenced_secrets(lookup, double):
    got = lookup.run([], v(double), path="/tagged", tags=["deploy"], as_dict=True)
    assert got == [{"DEPLOY_URL": "https://host.internal/x"}]


def test_cross_project_reference_is_a_clear_error(lookup, double):
    assert lookup.run(["PLAIN"], v(double), path="/xproj") == ["plain-value"]
    with pytest.raises(AnsibleLookupError) as err:
        lookup.run(["XREF"], v(double), path="/xproj")
    msg = str(err.value)
    assert "secret XREF at path /xproj in env prod" in msg and "cross-project reference" in msg
    assert "@other-project" in msg and "pre-" not in msg
    assert lookup.run(["XREF"], v(double), path="/xproj", expand_references=False) == \
        ["pre-${@other-project.prod.shared.KEY}"]


def test_nested_and_cyclic_imports_merge_like_the_server(lookup, double):
    top = lookup.run([], v(double), path="/nest/top", as_dict=True)[0]
    assert top == {"A_OWN": "a-own", "B_ONLY": "b-only", "DEEP": "b-wins", "C_ONLY": "c-only"}
    cyc = lookup.run([], v(double), path="/cyc/a", as_dict=True)[0]
    assert cyc == {"CA": "cyc-a", "CB": "cyc-b"}


# 3. a path with no secret -------------------------------------------------------------------

@pytest.mark.parametrize("env,path", [("prod", "/gitae"), ("staging", "/gitea"), ("prod", "/empty")])
def test_empty_path_is_an_error_naming_project_env_path(lookup, double, env, path):
    with pytest.raises(AnsibleLookupError) as err:
        lookup.run([], v(double), path=path, env=env, as_dict=True)
    assert f"no secret at path {path} in env {env} of project {PROJECT}" in str(err.value)
    assert lookup.run([], v(double), path=path, env=env, as_dict=True, allow_empty=True) == [{}]


# 4. a token the server rejects ----------------------------------------------------------------

@pytest.mark.parametrize("reject", ["expire", "revoke"])
def test_rejected_token_one_fresh_login_and_retry(lookup, double, reject):
    lookup.run(["OK"], v(double), path="/broken")
    getattr(double, {"expire": "expire_tokens", "revoke": "revoke_tokens"}[reject])()
    assert lookup.run(["DB_HOST"], v(double), path="/refs") == ["db.internal"]
    assert double.requests(LOGIN) == 2 and double.requests(LIST) == 3  # 1 + (rejected + retry)
    lookup.run(["ONLY_TWO"], v(double), path="/shared/two")
    assert double.requests(LOGIN) == 2  # the fresh token is used from then on


def test_token_use_limit_400_logs_in_again(lookup, double):
    vrs = v(double, infisical_secret_client_id=LIMITED_ID, infisical_secret_client_secret=LIMITED_SECRET)
    for path in ("/samba", "/mcp", "/docker"):  # 2 uses per token: the third list is refused (400)
        lookup.run([], vrs, path=path, as_dict=True)
    assert double.counts()["logins"] == {LIMITED_ID: 2}


def test_refused_access_token_with_token_auth_is_clear(lookup, double):
    token = inf.InfisicalClient({"url": double.url, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                 "project_id": PROJECT}).login()
    double.revoke_tokens()
    double.reset()
    with pytest.raises(AnsibleLookupError) as err:
        lookup.run(["OK"], v(double, infisical_secret_auth_method="token", infisical_secret_token=token),
                   path="/broken")
    assert "access token was refused" in str(err.value) and token not in str(err.value)
    assert double.requests(LOGIN) == 0


# 5. transient failures ----------------------------------------------------------------------

def test_dropped_connections_and_timeouts_are_retried(lookup, double):
    double.fault(LOGIN, drop=True, times=1)
    double.fault(LIST, drop=True, times=2)
    assert lookup.run(["OK"], v(double), path="/broken") == ["fine"]
    assert double.requests(LOGIN) == 2 and double.requests(LIST) == 3
    double.reset()
    double.fault(LIST, delay=1.5, times=1)
    start = time.monotonic()
    assert lookup.run(["ROOT_DOMAIN"], v(double), path="/", timeout=0.5) == ["example.test"]
    assert double.requests(LIST) == 2 and time.monotonic() - start < 5


def test_only_successes_are_cached(lookup, double):
    double.fault(LIST, drop=True, times=4)
    with pytest.raises(AnsibleLookupError, match=r"cannot reach Infisical at .* 4 attempts"):
        lookup.run(["OK"], v(double), path="/broken")
    assert lookup.run(["OK"], v(double), path="/broken") == ["fine"]  # the server is back
    assert double.requests(LIST) == 5
    lookup.run(["OK"], v(double), path="/broken")
    assert double.requests(LIST) == 5 and double.requests(LOGIN) == 1


# 6. and 7. URL problems, redirects, plain http -------------------------------------------------

def test_login_404_is_reported_as_a_url_problem(lookup, double):
    with pytest.raises(AnsibleLookupError) as err:
        lookup.run(["OK"], v(double, infisical_secret_url=double.url + "/api"), path="/broken")
    msg = str(err.value)
    assert "does not exist (HTTP 404)" in msg and "it ends in /api" in msg and "credentials" not in msg


def test_redirects_are_not_followed(lookup, double):
    with running_double() as elsewhere:
        for route in (LOGIN, LIST):
            double.reset()
            if route == LIST:
                lookup.run(["OK"], v(double), path="/broken")  # logged in already
            double.fault(route, status=307, location=elsewhere.url + "/api/v4/secrets")
            with pytest.raises(AnsibleLookupError) as err:
                lookup.run(["DB_HOST"], v(double), path="/refs")
            assert "redirect (HTTP 307 to " + elsewhere.url + ")" in str(err.value)
        counts = elsewhere.counts()["requests"]
        assert counts == {}, counts  # neither the token nor the login body went there


def test_plain_http_refused_for_a_remote_host(lookup, double):
    with pytest.raises(AnsibleOptionsError, match="plain http to a host that is not this machine"):
        lookup.run(["X"], v(double, infisical_secret_url="http://infisical.example.invalid"))
    opts = inf.validate_options({"url": "http://infisical.example.invalid", "allow_http": True,
                                 "client_id": "x", "client_secret": "y", "project_id": "p"})
    assert opts["allow_http"]
    for url in ("http://127.0.0.1:1", "http://localhost:1", "http://[::1]:1"):
        inf.validate_options({"url": url, "client_id": "x", "client_secret": "y", "project_id": "p"})


# auth methods and the official collection's names ---------------------------------------------

def test_oidc_login(lookup, double):
    vrs = {"infisical_secret_url": double.url, "infisical_secret_project_id": PROJECT}
    got = lookup.run(["OPENAI_API_KEY"], vrs, path="/mcp", auth_method="oidc_auth",
                     identity_id=OIDC_IDENTITY, jwt=OIDC_JWT)
    assert got == ["sk-test-Mn2Bv4Cx6Zl8Kj0H"] and double.requests(OIDC_LOGIN) == 1
    with pytest.raises(AnsibleLookupError) as err:
        lookup.run(["OPENAI_API_KEY"], vrs, path="/mcp", auth_method="oidc", identity_id=OIDC_IDENTITY,
                   jwt=OIDC_JWT + "x")
    assert "oidc login" in str(err.value) and OIDC_JWT not in str(err.value)


def test_static_token_auth(lookup, double):
    vrs = {"infisical_secret_url": double.url, "infisical_secret_project_id": PROJECT}
    assert lookup.run(["OK"], vrs, path="/broken", auth_method="token_auth", token=STATIC_TOKEN) == ["fine"]
    assert double.requests(LOGIN) == 0


def test_official_collection_env_vars_and_option_names(lookup, double, monkeypatch):
    monkeypatch.setenv("INFISICAL_URL", double.url)
    monkeypatch.setenv("UNIVERSAL_AUTH_MACHINE_IDENTITY_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("UNIVERSAL_AUTH_MACHINE_IDENTITY_CLIENT_SECRET", CLIENT_SECRET)
    assert lookup.run(["GITEA_DB_PASSWORD"], {}, project_id=PROJECT, env_slug="dev", path="/gitea") == \
        ["dev-db-pass"]
    monkeypatch.setenv("INFISICAL_AUTH_METHOD", "oidc_auth")
    monkeypatch.setenv("INFISICAL_MACHINE_IDENTITY_ID", OIDC_IDENTITY)
    monkeypatch.setenv("INFISICAL_JWT", OIDC_JWT)
    assert lookup.run(["ROOT_DOMAIN"], {}, project_id=PROJECT) == ["example.test"]
    monkeypatch.delenv("INFISICAL_AUTH_METHOD")
    assert lookup.run(["ROOT_DOMAIN"], {"infisical_secret_url": double.url}, project_id=PROJECT,
                      universal_auth_client_id=CLIENT_ID, universal_auth_client_secret=CLIENT_SECRET) == \
        ["example.test"]
    assert double.requests(OIDC_LOGIN) == 1


def test_unreachable_server_message(lookup):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(AnsibleLookupError) as err:
        lookup.run(["X"], {"infisical_secret_url": f"http://127.0.0.1:{port}", "infisical_secret_project_id": PROJECT,
                           "infisical_secret_client_id": CLIENT_ID, "infisical_secret_client_secret": CLIENT_SECRET},
                   timeout=1)
    assert f"cannot reach Infisical at http://127.0.0.1:{port} (timeout 1s, 4 attempts)" in str(err.value)

"""The Infisical REST client and its cache, against the API double (tests/doubles/infisical)."""
from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time

import pytest

from ansible_collections.colab.cluster.plugins.module_utils import _infisical as inf
from tests.doubles.infisical.harness import (
    CLIENT_ID, CLIENT_SECRET, GET_ONE, LIST, LOGIN, OTHER_ID, OTHER_SECRET, PROJECT,
    running_double,
)


@pytest.fixture(scope="module")
def double():
    with running_double() as dbl:
        yield dbl


@pytest.fixture(autouse=True)
def _reset(double):
    double.reset()


def opts(double, **extra):
    base = {"url": double.url, "auth_method": "universal_auth", "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, "project_id": PROJECT, "env": "prod", "path": "/gitea",
            "timeout": 5}
    base.update(extra)
    return base


def test_validate_options_names_the_field():
    with pytest.raises(inf.InfisicalError, match="client_secret"):
        inf.validate_options({"client_id": "x", "project_id": "p"})
    with pytest.raises(inf.InfisicalError, match="project_id"):
        inf.validate_options({"client_id": "x", "client_secret": "y"})
    with pytest.raises(inf.InfisicalError, match="auth_method=token needs token"):
        inf.validate_options({"auth_method": "token", "project_id": "p"})
    with pytest.raises(inf.InfisicalError, match="url must be"):
        inf.validate_options({"url": "ftp://x", "client_id": "x", "client_secret": "y", "project_id": "p"})
    with pytest.raises(inf.InfisicalError, match="timeout"):
        inf.validate_options({"client_id": "x", "client_secret": "y", "project_id": "p", "timeout": "soon"})
    norm = inf.validate_options({"client_id": "x", "client_secret": "y", "project_id": "p",
                                 "path": "gitea//sub/", "tags": "b,a"})
    assert norm["path"] == "/gitea/sub" and norm["tags"] == ["a", "b"] and norm["env"] == "prod"
    assert norm["url"] == inf.DEFAULT_URL and norm["include_imports"] and norm["expand_references"]


def test_identity_key_hashes_the_secret(double):
    o = inf.validate_options(opts(double))
    key = inf.identity_key(o)
    assert CLIENT_SECRET not in key and CLIENT_ID not in key
    assert key != inf.identity_key(dict(o, client_secret=CLIENT_SECRET + "x"))


def test_login_list_get_and_merge(double):
    client = inf.InfisicalClient(opts(double))
    payload = client.list_secrets("prod", "/gitea")
    assert {s["secretKey"] for s in payload["secrets"]} >= {"GITEA_DB_PASSWORD", "SHARED_NAME"}
    assert [i["secretPath"] for i in payload["imports"]] == ["/shared/one", "/shared/two"]
    merged = inf.merge_secrets(payload)
    # own secret wins over both imports; the later import wins over the earlier one
    assert merged["SHARED_NAME"]["value"] == "from-gitea"
    assert merged["BOTH"]["value"] == "two-wins" and merged["BOTH"]["path"] == "/shared/two"
    assert merged["ONLY_ONE"]["value"] == "one-only"
    assert "BOTH" not in inf.merge_secrets(payload, include_imports=False)
    secret = client.get_secret("GITEA_DB_PASSWORD", "prod", "/gitea")
    assert secret["secretValue"] == "gd-Ua3Ko9Ei5Ry1Tw7S"
    assert double.requests(LOGIN) == 1 and double.requests(LIST) == 1 and double.requests(GET_ONE) == 1


def test_resolver_one_login_one_list_per_path(double):
    resolver = inf.Resolver()
    for _round in range(5):
        for path in ("/gitea", "/docker", "/samba"):
            resolver.resolve(opts(double, path=path))
    assert double.requests(LOGIN) == 1
    assert double.counts()["lists"] == {"prod:/gitea": 1, "prod:/docker": 1, "prod:/samba": 1}
    # different options are a different list
    resolver.resolve(opts(double, path="/gitea", include_imports=False))
    assert double.requests(LIST) == 4 and double.requests(LOGIN) == 1


def test_options_recursive_tags_imports_expand(double):
    resolver = inf.Resolver()
    rec = resolver.resolve(opts(double, recursive=True))
    assert rec["RUNNER_TOKEN"] == "rt-Zx5Cv7Bn9Mq1We3R"
    assert rec["GITEA_SECRET_KEY"] == "gk-Hc6Nb2Vd8Lf5Jt0P"  # the shallowest folder wins
    tagged = resolver.resolve(opts(double, path="/docker", tags=["deploy"]))
    assert list(tagged) == ["REGISTRY_PASSWORD"]
    no_imp = resolver.resolve(opts(double, include_imports=False))
    assert "ONLY_ONE" not in no_imp
    refs = resolver.resolve(opts(double, path="/refs"))
    assert refs["DB_URL"] == "postgres://gitea:gd-Ua3Ko9Ei5Ry1Tw7S@db.internal:5432/gitea"
    assert refs["CHAIN"] == "x-" + refs["DB_URL"]
    assert refs["ROOT_REF"] == "https://example.test" and refs["DEV_REF"] == "dev-value-1"
    literal = resolver.resolve(opts(double, path="/refs", expand_references=False))
    assert literal["DB_HOST"] == "db.internal" and literal["ROOT_REF"] == "https://${prod.ROOT_DOMAIN}"


def test_unresolved_reference_names_it(double):
    with pytest.raises(inf.InfisicalReferenceError) as err:
        inf.Resolver().resolve(opts(double, path="/broken"))
    msg = str(err.value)
    assert "BAD_REF" in msg and "references secret MISSING_KEY at path /nowhere in env prod" in msg
    assert "pre-" not in msg and "-post" not in msg
    with pytest.raises(inf.InfisicalReferenceError, match="reference loop"):
        inf.Resolver().resolve(opts(double, path="/loop"))


def test_bad_credentials_never_echo_and_are_not_retried(double):
    wrong = "cs-wrong-0f9e8d7c6b5a49382716"
    resolver = inf.Resolver()
    for _round in range(3):
        with pytest.raises(inf.InfisicalAuthError) as err:
            resolver.resolve(opts(double, client_secret=wrong))
        assert wrong not in str(err.value) and CLIENT_ID in str(err.value)
        assert "bad credentials" in str(err.value)
    assert double.requests(LOGIN) == 1


def test_forbidden_project_and_missing_path(double):
    with pytest.raises(inf.InfisicalAuthError, match=r"access denied \(HTTP 403"):
        inf.Resolver().resolve(opts(double, client_id=OTHER_ID, client_secret=OTHER_SECRET))
    with pytest.raises(inf.InfisicalNotFoundError, match="path /nope in env prod"):
        inf.Resolver().resolve(opts(double, path="/nope"))


def test_token_renewed_before_expiry():
    # a JWT's exp is whole seconds (iat truncated + TTL), so a 2 s token lives 1 to 2 s
    with running_double(token_ttl=2) as dbl:
        client = inf.InfisicalClient(opts(dbl))
        client.list_secrets("prod", "/gitea")
        client.list_secrets("prod", "/gitea")
        assert dbl.requests(LOGIN) == 1
        time.sleep(1.7)  # past 80% of the 2 s lifetime: renewed by the client itself
        client.list_secrets("prod", "/gitea")
        assert dbl.requests(LOGIN) == 2 and dbl.requests(LIST) == 3


def test_expired_token_relogs_once(double):
    client = inf.InfisicalClient(opts(double))
    client.list_secrets("prod", "/gitea")
    double.expire_tokens()
    client.list_secrets("prod", "/gitea")
    assert double.requests(LOGIN) == 2 and double.requests(LIST) == 3  # 1 + (401 + retry)


def test_token_auth_method(double):
    token = inf.InfisicalClient(opts(double)).login()
    client = inf.InfisicalClient(opts(double, auth_method="token", token=token,
                                      client_id=None, client_secret=None))
    assert client.list_secrets("prod", "/mcp")["secrets"][0]["secretKey"] == "OPENAI_API_KEY"
    assert double.requests(LOGIN) == 1
    bad = inf.InfisicalClient(opts(double, auth_method="token", token="st.bogus-token-value"))
    with pytest.raises(inf.InfisicalAuthError) as err:
        bad.list_secrets("prod", "/mcp")
    assert "st.bogus-token-value" not in str(err.value)


def test_429_and_5xx_retried_with_bounded_backoff(double):
    client = inf.InfisicalClient(opts(double))
    client.token()
    double.fault(LIST, status=429, times=2, retry_after=0)
    assert client.list_secrets("prod", "/gitea")["secrets"]
    assert double.requests(LIST) == 3
    double.reset()
    double.fault(LIST, status=503, times=10)
    start = time.monotonic()
    with pytest.raises(inf.InfisicalError, match=r"HTTP 503.*after 4 attempts"):
        client.list_secrets("prod", "/gitea")
    assert double.requests(LIST) == 4 and time.monotonic() - start < 5


def test_unreachable_server_gives_url_and_timeout():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(inf.InfisicalConnectionError) as err:
        inf.InfisicalClient({"url": url, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                             "project_id": PROJECT, "timeout": 2}).login()
    assert url in str(err.value) and "timeout 2s" in str(err.value)
    assert CLIENT_SECRET not in str(err.value)


def test_broker_shares_one_cache_between_processes(double, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    # a stand-in "controller": the broker lives as long as this sleeping process
    controller = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        code = ("import sys, json; sys.path[:0] = sys.argv[1:2];"
                "from ansible_collections.colab.cluster.plugins.module_utils import _infisical as i;"
                "a = i.broker_request(json.loads(sys.argv[2]), int(sys.argv[3]), 10);"
                "print(json.dumps(a))")
        collections = os.path.join(os.path.dirname(__file__), *[".."] * 4, ".ansible", "collections")
        procs = [subprocess.Popen([sys.executable, "-c", code, os.path.abspath(collections),
                                   __import__("json").dumps(opts(double, path=p)), str(controller.pid)],
                                  stdout=subprocess.PIPE, text=True)
                 for p in ("/gitea", "/gitea", "/docker", "/gitea", "/docker")]
        answers = [__import__("json").loads(p.communicate(timeout=30)[0]) for p in procs]
        assert all(a["ok"] for a in answers)
        assert answers[0]["secrets"]["GITEA_DB_PASSWORD"] == "gd-Ua3Ko9Ei5Ry1Tw7S"
        assert double.requests(LOGIN) == 1
        assert double.counts()["lists"] == {"prod:/gitea": 1, "prod:/docker": 1}
        directory = tmp_path / f"colab-infisical-{os.getuid()}"
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        sock = directory / f"b-{controller.pid}.sock"
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
        # only the socket and its lock: no token or value ever lands on disk
        assert sorted(p.name for p in directory.iterdir()) == sorted([sock.name, f"b-{controller.pid}.lock"])
    finally:
        controller.kill()
        controller.wait()
    deadline = time.monotonic() + 5
    while (tmp_path / f"colab-infisical-{os.getuid()}" / f"b-{controller.pid}.sock").exists():
        assert time.monotonic() < deadline, "broker did not exit with its controller"
        time.sleep(0.1)


def test_tls_validate_certs_and_ca_path(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    with running_double(tls=(str(cert), str(key))) as dbl:
        assert dbl.url.startswith("https://")
        with pytest.raises(inf.InfisicalConnectionError) as err:
            inf.InfisicalClient(opts(dbl)).login()
        assert dbl.url in str(err.value) and "CERTIFICATE_VERIFY_FAILED" in str(err.value)
        trusted = inf.Resolver().resolve(opts(dbl, ca_path=str(cert), path="/mcp"))
        assert trusted == {"OPENAI_API_KEY": "sk-test-Mn2Bv4Cx6Zl8Kj0H"}
        unverified = inf.Resolver().resolve(opts(dbl, validate_certs=False, path="/mcp"))
        assert unverified == trusted


def test_module_adapter_reads_the_same_option_names(double):
    class FakeModule:  # what AnsibleModule exposes to the adapter
        params = dict(opts(double, path="/samba"), recursive=None, include_imports=None,
                      expand_references=None, tags=None, validate_certs=True, ca_path=None, token=None)

    got = inf.Resolver().resolve(inf.options_from_module(FakeModule()))
    assert got == {"COLAB_NAS_SAMBA_PASSWORD": "sb-Pl0Ok9Ij8Uh7Yg6T"}


# --- pure pieces (no server) ------------------------------------------------------------

@pytest.mark.parametrize("text,refs", [
    ("${KEY}", ["KEY"]), ("${prod.a.b.KEY}", ["prod.a.b.KEY"]), ("${@slug.prod.a.KEY}", ["@slug.prod.a.KEY"]),
    ("${my-key_1}", ["my-key_1"]), ("${HOME:-/root}", []), ("k9${Qz!x}p", []), ("${}", []), ("$KEY", []),
    ("${a b}", []), ("x${A}y${B}z", ["A", "B"]),
])
def test_reference_pattern_is_the_servers(text, refs):
    # backend secret-reference-fns.ts: \${([a-zA-Z0-9-_.@]+)}
    assert inf.REFERENCE_RE.findall(text) == refs


def test_parse_reference():
    assert inf.parse_reference("KEY", "prod", "/gitea") == ("prod", "/gitea", "KEY")
    assert inf.parse_reference("dev.KEY", "prod", "/gitea") == ("dev", "/", "KEY")
    assert inf.parse_reference("dev.a.b.KEY", "prod", "/gitea") == ("dev", "/a/b", "KEY")
    assert inf.parse_reference("@other.dev.a.KEY", "prod", "/gitea") is None


def test_validate_options_auth_methods_and_http():
    base = {"project_id": "p"}
    assert inf.validate_options(dict(base, auth_method="oidc_auth", identity_id="i", jwt="j"))["auth_method"] == "oidc"
    assert inf.validate_options(dict(base, auth_method="token_auth", token="t"))["auth_method"] == "token"
    with pytest.raises(inf.InfisicalError, match="auth_method=oidc needs identity_id and jwt"):
        inf.validate_options(dict(base, auth_method="oidc"))
    with pytest.raises(inf.InfisicalError, match="auth_method must be one of"):
        inf.validate_options(dict(base, auth_method="ldap_auth"))
    creds = dict(base, client_id="x", client_secret="y")
    for url in ("http://10.0.0.5:8080", "http://infisical.lan"):
        with pytest.raises(inf.InfisicalError, match="plain http"):
            inf.validate_options(dict(creds, url=url))
        assert inf.validate_options(dict(creds, url=url, allow_http=True))["url"] == url
    for url in ("http://127.0.0.1:8080", "http://127.8.9.1", "http://localhost:1", "http://[::1]:1", "https://x"):
        inf.validate_options(dict(creds, url=url))


def test_merge_marks_hidden_values_and_keeps_the_first_of_an_import():
    payload = {"secrets": [{"secretKey": "A", "secretValue": "<hidden-by-infisical>", "secretValueHidden": True,
                            "environment": "prod", "secretPath": "/x"}],
               "imports": [{"secretPath": "/i", "environment": "prod", "secrets": [
                   {"secretKey": "B", "secretValue": "own", "secretValueHidden": False},
                   {"secretKey": "B", "secretValue": "deeper", "secretValueHidden": False}]}]}
    merged = inf.merge_secrets(payload)
    assert merged["A"] == {"value": "", "env": "prod", "path": "/x", "hidden": True}
    assert merged["B"]["value"] == "own" and merged["B"]["path"] == "/i"

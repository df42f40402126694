"""colab.cluster.infisical_secret in the controller process, against the API double."""
from __future__ import annotations

import sys

import pytest
from ansible.errors import AnsibleLookupError, AnsibleOptionsError
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import lookup_loader
from ansible.template import Templar, trust_as_template
from ansible._internal._datatag._tags import TrustedAsTemplate

from ansible_collections.colab.cluster.plugins.module_utils._infisical import Resolver
from tests.doubles.infisical.harness import (
    CLIENT_ID, CLIENT_SECRET, LIST, LOGIN, PROJECT, running_double, seed_values,
)


@pytest.fixture(scope="module")
def double():
    with running_double() as dbl:
        yield dbl


@pytest.fixture()
def lookup(double, monkeypatch):
    double.reset()
    for name in ("COLAB_INFISICAL_URL", "INFISICAL_URL", "COLAB_INFISICAL_CLIENT_ID",
                 "COLAB_INFISICAL_CLIENT_SECRET", "COLAB_INFISICAL_PROJECT_ID", "INFISICAL_TOKEN",
                 "INFISICAL_UNIVERSAL_AUTH_CLIENT_ID", "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    loader = DataLoader()
    plugin = lookup_loader.get("colab.cluster.infisical_secret", loader=loader,
                               templar=Templar(loader=loader))
    # a fresh controller-process cache for each test
    monkeypatch.setattr(sys.modules[type(plugin).__module__], "_RESOLVER", Resolver())
    return plugin


def variables(double, **extra):
    out = {"infisical_secret_url": double.url, "infisical_secret_project_id": PROJECT,
           "infisical_secret_client_id": CLIENT_ID, "infisical_secret_client_secret": CLIENT_SECRET}
    out.update(extra)
    return out


def test_terms_return_values_in_order(lookup, double):
    got = lookup.run(["GITEA_DB_PASSWORD", "GITEA_SECRET_KEY"], variables(double), path="/gitea")
    assert got == ["gd-Ua3Ko9Ei5Ry1Tw7S", "gk-Hc6Nb2Vd8Lf5Jt0P"]


def test_as_dict_whole_path_and_selected(lookup, double):
    whole = lookup.run([], variables(double), path="/gitea", as_dict=True)
    assert len(whole) == 1 and whole[0]["GITEA_ADMIN_PASSWORD"] == "ga-Qm4Rt7Yp1Ws9Ze3X"
    assert whole[0]["BOTH"] == "two-wins" and whole[0]["SHARED_NAME"] == "from-gitea"
    picked = lookup.run(["GITEA_DB_PASSWORD"], variables(double), path="/gitea", as_dict=True)
    assert picked == [{"GITEA_DB_PASSWORD": "gd-Ua3Ko9Ei5Ry1Tw7S"}]


def test_values_are_unsafe(lookup, double):
    value = lookup.run(["JINJA"], variables(double), path="/templ")[0]
    assert value.startswith("{{ 7 * 6 }}") and not TrustedAsTemplate.is_tagged_on(value)
    mapping = lookup.run([], variables(double), path="/templ", as_dict=True)[0]
    assert not TrustedAsTemplate.is_tagged_on(mapping["JINJA"])


def test_cache_survives_plugin_instances(lookup, double):
    for _round in range(4):
        plugin = lookup_loader.get("colab.cluster.infisical_secret")
        plugin.run(["GITEA_DB_PASSWORD"], variables(double), path="/gitea")
        plugin.run([], variables(double), path="/samba", as_dict=True)
    assert double.requests(LOGIN) == 1 and double.requests(LIST) == 2


def test_options_from_environment(lookup, double, monkeypatch):
    monkeypatch.setenv("COLAB_INFISICAL_URL", double.url)
    monkeypatch.setenv("COLAB_INFISICAL_PROJECT_ID", PROJECT)
    monkeypatch.setenv("INFISICAL_UNIVERSAL_AUTH_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("COLAB_INFISICAL_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("COLAB_INFISICAL_ENV", "dev")
    assert lookup.run(["GITEA_DB_PASSWORD"], {}, path="/gitea") == ["dev-db-pass"]


def test_direct_options_beat_inventory_vars(lookup, double):
    vrs = variables(double, infisical_secret_env="dev", infisical_secret_path="/gitea")
    assert lookup.run(["GITEA_DB_PASSWORD"], vrs) == ["dev-db-pass"]
    assert lookup.run(["GITEA_DB_PASSWORD"], vrs, env="prod") == ["gd-Ua3Ko9Ei5Ry1Tw7S"]


def test_inventory_templates_are_rendered_untrusted_text_is_not(lookup, double):
    vrs = variables(double, infisical_secret_client_secret=trust_as_template("{{ '%s' }}" % CLIENT_SECRET))
    assert lookup.run(["OPENAI_API_KEY"], vrs, path="/mcp") == ["sk-test-Mn2Bv4Cx6Zl8Kj0H"]
    vrs = variables(double, infisical_secret_client_secret="{{ '%s' }}" % CLIENT_SECRET)
    with pytest.raises(AnsibleLookupError, match="bad credentials"):
        lookup.run(["OPENAI_API_KEY"], vrs, path="/mcp")


def test_option_flags_pass_through(lookup, double):
    vrs = variables(double)
    assert lookup.run([], vrs, path="/docker", tags=["deploy"], as_dict=True) == \
        [{"REGISTRY_PASSWORD": "rp-Vx81kQ2mZ7wLs0Pd"}]
    assert "ONLY_ONE" not in lookup.run([], vrs, path="/gitea", include_imports=False, as_dict=True)[0]
    assert lookup.run(["RUNNER_TOKEN"], vrs, path="/gitea", recursive=True) == ["rt-Zx5Cv7Bn9Mq1We3R"]
    assert lookup.run(["ROOT_REF"], vrs, path="/refs", expand_references=False) == ["https://${prod.ROOT_DOMAIN}"]
    assert lookup.run(["ROOT_REF"], vrs, path="/refs") == ["https://example.test"]


def test_missing_key_names_key_path_env_and_no_value(lookup, double):
    with pytest.raises(AnsibleLookupError) as err:
        lookup.run(["NOPE_KEY"], variables(double), path="/gitea")
    msg = str(err.value)
    assert "NOPE_KEY" in msg and "path /gitea" in msg and "env prod" in msg
    assert not [v for v in seed_values() if v in msg]


def test_bad_input_fails_early(lookup, double):
    with pytest.raises(AnsibleOptionsError, match="as_dict=true"):
        lookup.run([], variables(double), path="/gitea")
    with pytest.raises(AnsibleOptionsError, match="project_id"):
        lookup.run(["X"], variables(double, infisical_secret_project_id=""))
    with pytest.raises(Exception, match="cache_mode"):
        lookup.run(["X"], variables(double), cache_mode="disk")
    assert double.requests(LOGIN) == 0


class _Display:
    """Collects what the lookup shows (its module's Display, replaced)."""

    def __init__(self):
        self.lines = []

    def vvv(self, msg, *args, **kwargs):
        self.lines.append(("vvv", msg))

    def warning(self, msg, *args, **kwargs):
        self.lines.append(("warning", msg))


@pytest.fixture()
def shown(lookup, monkeypatch):
    out = _Display()
    monkeypatch.setattr(sys.modules[type(lookup).__module__], "display", out)
    return out


def test_a_url_with_credentials_is_never_shown_with_them(lookup, double, shown):
    """A url carrying user:pass@ is logged (-vvv) and named in errors without them."""
    port = double.url.rsplit(":", 1)[1]
    url = f"http://colab:pw-Zq81xLm@127.0.0.1:{port}"
    lookup.run(["GITEA_ADMIN_PASSWORD"], variables(double, infisical_secret_url=url), path="/gitea")
    assert any(f"http://***@127.0.0.1:{port}" in msg for _kind, msg in shown.lines), shown.lines
    with pytest.raises(AnsibleLookupError) as err:
        lookup.run(["X"], variables(double, infisical_secret_url="http://colab:pw-Zq81xLm@127.0.0.1:1"),
                   path="/gitea", timeout=2)
    assert "***@127.0.0.1:1" in str(err.value)
    for text in [str(err.value)] + [msg for _kind, msg in shown.lines]:
        assert "pw-Zq81xLm" not in text


def test_validate_certs_false_and_allow_http_warn(lookup, double, shown):
    vrs = variables(double)
    lookup.run(["GITEA_ADMIN_PASSWORD"], vrs, path="/gitea", validate_certs=False)
    warnings = [msg for kind, msg in shown.lines if kind == "warning"]
    assert len(warnings) == 1 and "validate_certs=false" in warnings[0], shown.lines
    # allow_http to another host warns too (validated only: the options are refused or
    # accepted before any request)
    from ansible_collections.colab.cluster.plugins.module_utils._infisical import (  # pylint: disable=import-outside-toplevel
        option_warnings, validate_options)
    opts = validate_options({"url": "http://secrets.example.test", "allow_http": True,
                             "client_id": "i", "client_secret": "s", "project_id": "p"})
    assert [w.split(":")[0] for w in option_warnings(opts)] == ["allow_http=true"]
    # loopback http needs no allow_http and gets no warning
    assert option_warnings(validate_options(dict(opts, url="http://127.0.0.1:8080", allow_http=True))) == []

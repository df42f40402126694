"""_tailscale: facts and the up/set/none/down plan from `tailscale status --json` +
`tailscale debug prefs` (fixtures: tests/unit/plugins/fixtures/tailscale/, see SOURCES.md)."""
from __future__ import annotations

import pytest

from ansible_collections.colab.cluster.plugins.module_utils import _tailscale as ts
from tests.unit.plugins.modules.mesh_doubles import fixture, fixture_json

LOGIN = "https://headscale.example.org"


def state(status="status_running.json", prefs="prefs_running.json"):
    return fixture_json("tailscale", status), fixture_json("tailscale", prefs)


def test_facts_of_a_running_node():
    status, prefs = state()
    facts = ts.facts(status, prefs)
    assert facts["ips"] == ["100.64.0.2", "fd7a:115c:a1e0::2"]
    assert facts["ipv4"] == "100.64.0.2" and facts["ipv6"] == "fd7a:115c:a1e0::2"
    assert facts["dns_name"] == "director.colab" and facts["short_name"] == "director"
    assert facts["magic_dns_suffix"] == "colab" and facts["backend_state"] == "Running"
    assert facts["control_url"] == LOGIN


def test_facts_of_a_logged_out_node():
    status, prefs = state("status_needslogin.json", "prefs_needslogin.json")
    facts = ts.facts(status, prefs)
    assert facts["ips"] == [] and facts["ipv4"] is None and facts["dns_name"] == ""
    assert facts["backend_state"] == "NeedsLogin"
    assert facts["control_url"] == ts.DEFAULT_CONTROL_URL


def test_load_rejects_text():
    with pytest.raises(ts.TailscaleError, match="no JSON"):
        ts.load("Logged out.", "status --json")
    assert ts.load(fixture("tailscale", "status_running.json"), "status")["BackendState"] == "Running"


def test_matching_node_plans_nothing():
    status, prefs = state()
    decision = ts.plan(status, prefs, {"login_server": LOGIN + "/", "hostname": "director",
                                       "accept_dns": True, "accept_routes": False,
                                       "advertise_routes": [], "exit_node": "", "tags": []})
    assert decision["action"] == "none" and decision["changes"] == {}


def test_unmanaged_prefs_are_left_alone():
    status, prefs = state()
    assert ts.plan(status, prefs, {"login_server": LOGIN})["action"] == "none"


def test_mutable_prefs_go_through_set_only():
    status, prefs = state()
    decision = ts.plan(status, prefs, {"login_server": LOGIN, "accept_routes": True,
                                       "advertise_routes": ["172.20.0.0/16"], "accept_dns": True})
    assert decision["action"] == "set" and not decision["needs_auth_key"]
    assert decision["set_flags"] == ["--accept-routes=true", "--advertise-routes=172.20.0.0/16"]
    assert decision["changes"] == {"accept_routes": (False, True), "advertise_routes": ([], ["172.20.0.0/16"])}


def test_logged_out_node_needs_up_with_key():
    status, prefs = state("status_needslogin.json", "prefs_needslogin.json")
    decision = ts.plan(status, prefs, {"login_server": LOGIN, "hostname": "director"})
    assert decision["action"] == "up" and decision["needs_auth_key"]
    assert "NeedsLogin" in decision["reason"]
    assert decision["changes"]["login_server"] == (ts.DEFAULT_CONTROL_URL, LOGIN)


def test_stopped_node_comes_up_without_key():
    status, prefs = state("status_stopped.json", "prefs_stopped.json")
    decision = ts.plan(status, prefs, {"login_server": LOGIN})
    assert decision["action"] == "up" and not decision["needs_auth_key"]
    assert decision["changes"] == {"running": (False, True)}


def test_other_control_server_or_tags_need_a_login():
    status, prefs = state()
    decision = ts.plan(status, prefs, {"login_server": "https://other.example.org"})
    assert decision["action"] == "up" and decision["needs_auth_key"]
    decision = ts.plan(status, prefs, {"login_server": LOGIN, "tags": ["tag:server"]})
    assert decision["action"] == "up" and decision["needs_auth_key"]
    assert decision["changes"]["tags"] == ([], ["tag:server"])


def test_force_reauth_needs_a_login():
    status, prefs = state()
    assert ts.plan(status, prefs, {"login_server": LOGIN, "force_reauth": True})["needs_auth_key"]


def test_down():
    status, prefs = state()
    assert ts.plan(status, prefs, {"state": "down"})["action"] == "down"
    status, prefs = state("status_stopped.json", "prefs_stopped.json")
    assert ts.plan(status, prefs, {"state": "down"})["action"] == "none"


def test_exit_node_id_maps_back_to_the_configured_ip_and_name():
    status, prefs = state(prefs="prefs_exit_node.json")
    base = {"login_server": LOGIN, "accept_routes": True, "advertise_routes": ["172.20.0.0/16"]}
    assert ts.plan(status, prefs, dict(base, exit_node="100.64.0.1"))["action"] == "none"
    assert ts.plan(status, prefs, dict(base, exit_node="cooperator"))["action"] == "none"
    assert ts.plan(status, prefs, dict(base, exit_node="cooperator.colab"))["action"] == "none"
    decision = ts.plan(status, prefs, dict(base, exit_node=""))
    assert decision["set_flags"] == ["--exit-node="]
    with pytest.raises(ts.TailscaleError, match="no peer named"):
        ts.plan(status, prefs, dict(base, exit_node="projector"))


def test_exit_node_advertising_is_its_own_flag():
    status, prefs = state()
    decision = ts.plan(status, prefs, {"advertise_exit_node": True, "advertise_routes": ["0.0.0.0/0"]})
    assert decision["set_flags"] == ["--advertise-exit-node=true"]


def test_up_argv_mentions_every_managed_flag_and_hides_the_key():
    argv = ts.up_argv("tailscale", {"login_server": LOGIN, "tags": ["tag:server"], "hostname": "director",
                                    "accept_dns": True, "advertise_routes": ["172.20.0.0/16"]},
                      auth_key_file="/tmp/k", timeout="60s")
    assert argv[:4] == ["tailscale", "up", "--timeout=60s", "--reset"]
    assert "--login-server=" + LOGIN in argv and "--auth-key=file:/tmp/k" in argv
    assert "--advertise-tags=tag:server" in argv and "--hostname=director" in argv
    assert "--accept-dns=true" in argv and "--advertise-routes=172.20.0.0/16" in argv
    assert "--auth-key=********" in ts.redact_argv(argv)
    assert not any("/tmp/k" in part for part in ts.redact_argv(argv))


def test_quoted_third_party_outputs():
    status = fixture_json("tailscale", "quoted", "status_connected_trimmed.json")
    facts = ts.facts(status)
    assert facts["ipv4"] == "100.107.222.96" and facts["ipv6"] == "fd7a:115c:a1e0::6e39:de61"
    assert facts["magic_dns_suffix"] == "tail4f69a0.ts.net" and facts["short_name"] == "BLAPTOP04"
    logged_out = fixture_json("tailscale", "quoted", "status_logged_out_min.json")
    assert ts.facts(logged_out)["ips"] == []
    decision = ts.plan(logged_out, fixture_json("tailscale", "prefs_needslogin.json"), {"login_server": LOGIN})
    assert decision["action"] == "up" and decision["needs_auth_key"]

"""The preflight report and failure list (plugins/filter/preflight.py)."""
from __future__ import annotations

from ansible_collections.colab.cluster.plugins.filter.postgres import pg_scram_sha256
from ansible_collections.colab.cluster.plugins.filter.preflight import preflight_failures, preflight_report

HOSTVARS = {
    "cooperator": {"_preflight_rows": [
        {"check": "os", "status": "ok", "detail": "Linux debian 13 aarch64"},
        {"check": "port 80/tcp", "status": "fail", "detail": "edge needs it; held by container caddy"},
        {"check": "port 3300/tcp", "status": "fail", "detail": "gitea needs it; held by container compose-gitea-1"},
        {"check": "clock", "status": "warn", "detail": "+2s; NTP not synchronised"},
    ]},
    "director": {"_preflight_rows": [{"check": "os", "status": "ok", "detail": "Linux debian 13 x86_64"}]},
    "projector": {},
}


def test_report_lists_every_host_failures_first():
    lines = preflight_report(["cooperator", "director", "projector"], HOSTVARS)
    assert lines[0] == "cooperator: 2 problem(s)"
    assert lines[1].startswith("  FAIL  port 80/tcp")
    assert lines[2].startswith("  FAIL  port 3300/tcp")
    assert lines[3].startswith("  WARN  clock")
    assert "director: ready" in lines
    assert lines[-2] == "projector: 1 problem(s)"  # no rows: it never got checked
    assert "connection" in lines[-1]


def test_failures_name_host_and_check():
    assert preflight_failures(["cooperator", "director"], HOSTVARS) == [
        "cooperator port 80/tcp: edge needs it; held by container caddy",
        "cooperator port 3300/tcp: gitea needs it; held by container compose-gitea-1",
    ]


def test_scram_verifier_is_deterministic_for_a_salt():
    assert pg_scram_sha256("x", salt="AAAAAAAAAAAAAAAAAAAAAA==") == pg_scram_sha256("x", salt="AAAAAAAAAAAAAAAAAAAAAA==")

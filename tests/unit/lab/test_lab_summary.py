"""The lab summary prints commands that work as printed (issue 29 item 5): every name the
edge serves with the address its DNS answers, and an HTTPS command that verifies the edge's
local CA through a printed --cacert path, never curl -k."""
from __future__ import annotations

import http.server
import importlib.util
import json
import os
import re
import ssl
import subprocess
import threading

import pytest
import yaml

from tests.helpers import ROOT

_spec = importlib.util.spec_from_file_location("colab_lab_summary_tool", os.path.join(ROOT, "lab", "lab.py"))
lab = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lab)

SSOT = """\
# BEGIN headscale (managed by colab.cluster.headscale)
- fqdn: headscale.lab.colab.test
  service: headscale
  backend: localhost:8080
  type: standard
  local_ip: 172.31.254.10
  external_dns: false
# END headscale (managed by colab.cluster.headscale)
# BEGIN gitea (managed by colab.cluster.gitea)
- fqdn: git.lab.colab.test
  service: gitea
  backend: localhost:3300
  local_ip: 172.31.254.10
  external_dns: false
# END gitea (managed by colab.cluster.gitea)
"""


def _inventory_endpoints():
    """Every node's colab_lab_endpoints as the lab inventory writes them (untemplated)."""
    hosts = {}
    for host in lab.NODES:
        with open(os.path.join(ROOT, "inventory", "lab", "host_vars", f"{host}.yml"), encoding="utf-8") as fh:
            endpoints = (yaml.safe_load(fh) or {}).get("colab_lab_endpoints", [])
        hosts[host] = {"ok": 1, "changed": 0, "failed": 0, "unreachable": 0, "roles": [],
                       "endpoints": endpoints}
    return hosts


@pytest.fixture
def summary_out(monkeypatch, tmp_path, capsys):
    (tmp_path / "ssot").mkdir()
    (tmp_path / "ssot" / "domains.yml").write_text(SSOT, encoding="utf-8")
    (tmp_path / "last-run.json").write_text(json.dumps({"hosts": _inventory_endpoints()}), encoding="utf-8")
    monkeypatch.setattr(lab, "STATE_DIR", str(tmp_path))
    answers = {"headscale.lab.colab.test": "172.31.254.10", "git.lab.colab.test": "172.31.254.10"}
    monkeypatch.setattr(lab, "dns_query_a", lambda name, server: (0, [answers[name]]))

    def fetched(edge_host="cooperator"):
        assert edge_host == "cooperator"
        path = tmp_path / "edge-root-ca.crt"
        path.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
        return str(path), None

    monkeypatch.setattr(lab, "fetch_edge_ca", fetched, raising=False)
    monkeypatch.setattr(lab, "https_check", lambda fqdn, address, cafile: "certificate verified, HTTP/1.1 200 OK",
                        raising=False)
    monkeypatch.setattr(lab, "registry_catalog", lambda: "cooperator:5000 /v2/_catalog: (empty)")
    monkeypatch.setattr(lab, "mesh_lines", lambda: [])
    assert lab.main(["summary"]) == 0
    return capsys.readouterr().out, tmp_path


def test_summary_never_prints_curl_k(summary_out):
    out, _state = summary_out
    curls = [line for line in out.splitlines() if "curl" in line]
    assert curls, out
    for line in curls:
        words = line[line.index("curl"):].split()
        assert not [w for w in words if w == "--insecure" or re.fullmatch(r"-[A-Za-z]*k[A-Za-z]*", w)], line


def test_summary_lists_every_ssot_name_with_its_address(summary_out):
    out, _state = summary_out
    for fqdn in ("headscale.lab.colab.test", "git.lab.colab.test"):
        assert f"dns          {fqdn} -> 172.31.254.10   " in out, out


def test_summary_prints_the_cacert_path_in_a_command_per_name(summary_out):
    out, state = summary_out
    cafile = str(state / "edge-root-ca.crt")
    assert f"edge CA      {cafile}   (Caddy's local CA root, copied from cooperator:" \
           "/var/lib/caddy/.local/share/caddy/pki/authorities/local/root.crt)" in out
    for fqdn in ("headscale.lab.colab.test", "git.lab.colab.test"):
        assert f"https        curl --cacert {cafile} --resolve {fqdn}:443:172.31.254.10 https://{fqdn}/" \
               "   (certificate verified, HTTP/1.1 200 OK)" in out, out


def test_summary_says_why_when_the_edge_ca_cannot_be_copied(summary_out, monkeypatch, capsys):
    monkeypatch.setattr(lab, "fetch_edge_ca", lambda edge_host="cooperator": (None, "no certificate"))
    assert lab.main(["summary"]) == 0
    out = capsys.readouterr().out
    assert "edge CA      not copied: no certificate" in out
    assert not re.search(r"^https ", out, re.M), out


def test_fetch_edge_ca_reads_the_edge_roles_root_path(monkeypatch, tmp_path):
    calls = []

    def fake_run(cmd, check=True, timeout=600):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, "-----BEGIN CERTIFICATE-----\nx\n", "")

    monkeypatch.setattr(lab, "STATE_DIR", str(tmp_path))
    monkeypatch.setattr(lab, "run", fake_run)
    path, why = lab.fetch_edge_ca()
    assert why is None and path == str(tmp_path / "edge-root-ca.crt")
    with open(os.path.join(ROOT, "roles", "edge", "defaults", "main.yml"), encoding="utf-8") as fh:
        source = yaml.safe_load(fh)["edge_caddy_root_ca_path"]
    assert calls == [["docker", "exec", "colab-lab-cooperator", "cat", source]]
    assert (tmp_path / "edge-root-ca.crt").read_text(encoding="utf-8").startswith("-----BEGIN CERTIFICATE-----")


@pytest.fixture
def tls_server(tmp_path):
    """An HTTPS server on loopback with a certificate for git.lab.colab.test (self-signed,
    so the certificate is its own CA file)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=git.lab.colab.test",
                    "-addext", "subjectAltName=DNS:git.lab.colab.test"],
                   check=True, capture_output=True, timeout=60)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *_args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Quiet)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], str(cert)
    finally:
        server.shutdown()
        server.server_close()


def test_https_check_verifies_the_name_against_the_ca(tls_server, tmp_path):
    port, cafile = tls_server
    ok = lab.https_check("git.lab.colab.test", "127.0.0.1", cafile, port=port)
    assert ok.startswith("certificate verified, HTTP/1.0 200"), ok
    wrong_name = lab.https_check("headscale.lab.colab.test", "127.0.0.1", cafile, port=port)
    assert wrong_name.startswith("failed:") and "CERTIFICATE_VERIFY_FAILED" in wrong_name, wrong_name
    other_ca = tmp_path / "other.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(tmp_path / "other.key"), "-out", str(other_ca), "-subj", "/CN=other"],
                   check=True, capture_output=True, timeout=60)
    untrusted = lab.https_check("git.lab.colab.test", "127.0.0.1", str(other_ca), port=port)
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted, untrusted


def test_summary_without_a_docker_cli_still_prints(monkeypatch, tmp_path, capsys):
    """A controller with no docker CLI (tests/core_latest.py's container) gets the summary,
    each service line saying it got no answer, not a traceback."""
    (tmp_path / "last-run.json").write_text('{"hosts": {}}', encoding="utf-8")
    monkeypatch.setattr(lab, "STATE_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert lab.main(["summary"]) == 0
    out = capsys.readouterr().out
    assert "cooperator: no tailscaled answers" in out and "changed=0 failed=0" in out

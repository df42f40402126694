"""The cluster registry on the converged lab (issue 15, point 1).

What is real: the CNCF distribution registry (colab/registry:2.8 is Debian 13's
docker-registry package, distribution 2.8.3) deployed by colab.cluster.registry on
cooperator through compose_stack, over TLS with a certificate from the cluster CA the
role keeps on cooperator and with htpasswd auth (issue 30), a real logged-in `docker push`
from cooperator's nested engine and a real pull by director's nested engine, which trusts
the CA through /etc/docker/certs.d/cooperator:5000/ca.crt and has no insecure-registries. What is not: the image pulled,
colab/mcp-standin:1, stands in for Ollama and Open WebUI (lab/images/mcp-standin); the
Docker Hub mirror is not deployed here (Docker Hub is unreachable; molecule/registry
proves the proxy mode against a local upstream).
Every request goes to the lab's own containers.
"""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.helpers import ROOT, lab_secrets

pytestmark = pytest.mark.lab

REGISTRY = "cooperator:5000"
IMAGE = "colab/mcp-standin"
TAG = "1"
MANIFEST_TYPES = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
])
CA = f"/etc/docker/certs.d/{REGISTRY}/ca.crt"
# Run inside director (its python3), so every request goes where director's engine goes,
# verified against the CA director's engine trusts. The credential (if any) arrives on
# stdin, never in an argument: "user:password" or empty.
HTTP = """
import base64, json, ssl, sys, urllib.error, urllib.request
cred = sys.stdin.read().strip()
headers = {"Accept": sys.argv[3]}
if cred:
    headers["Authorization"] = "Basic " + base64.b64encode(cred.encode()).decode()
ctx = ssl.create_default_context(cafile=sys.argv[4]) if sys.argv[4] else ssl.create_default_context()
req = urllib.request.Request(sys.argv[1], method=sys.argv[2], headers=headers)
try:
    resp = urllib.request.urlopen(req, timeout=10, context=ctx)
except urllib.error.HTTPError as err:
    resp = err
except urllib.error.URLError as err:
    print(json.dumps({"status": None, "error": str(err.reason)}))
    sys.exit(0)
print(json.dumps({"status": resp.status, "digest": resp.headers.get("Docker-Content-Digest"),
                  "challenge": resp.headers.get("WWW-Authenticate"),
                  "body": resp.read().decode() if sys.argv[2] == "GET" else ""}))
"""


def _account():
    docker = lab_secrets("/docker")
    return f"{docker['REGISTRY_USERNAME']}:{docker['REGISTRY_PASSWORD']}"


def _http(lab, host, url, method="GET", accept="application/json", cred=None, ca=CA):
    res = subprocess.run(["docker", "exec", "-i", lab.container(host), "python3", "-c", HTTP,
                          url, method, accept, ca],
                         input=_account() if cred is None else cred,
                         capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_the_registry_refuses_a_request_without_credentials(converged_lab):
    answer = _http(converged_lab, "director", f"https://{REGISTRY}/v2/_catalog", cred="")
    assert answer["status"] == 401, answer
    assert answer["challenge"] == 'Basic realm="colab registry"', answer


def test_the_registry_is_tls_from_the_cluster_ca(converged_lab):
    """Verified with the CA director's engine trusts; refused by the system's public roots."""
    lab = converged_lab
    trusted = _http(lab, "director", f"https://{REGISTRY}/v2/")
    assert trusted["status"] == 200, trusted
    untrusted = _http(lab, "director", f"https://{REGISTRY}/v2/", ca="")
    assert untrusted["status"] is None and "CERTIFICATE_VERIFY_FAILED" in untrusted["error"], untrusted
    plain = lab.exec("director", "python3", "-c",
                     "import urllib.request; urllib.request.urlopen('http://cooperator:5000/v2/', timeout=5)")
    assert plain.returncode != 0, "the registry answered plain HTTP"
    # the CA key stays on the node that signs
    assert lab.exec("cooperator", "stat", "-c", "%a %U", "/etc/colab/pki/ca.key").stdout.strip() == "600 root"
    assert lab.exec("director", "test", "-e", "/etc/colab/pki/ca.key").returncode != 0


def test_an_anonymous_push_is_refused(converged_lab):
    """An engine without the login (an empty DOCKER_CONFIG on director) cannot push."""
    lab = converged_lab
    ref = f"{REGISTRY}/colab/anonymous:1"
    res = lab.exec("director", "sh", "-c",
                   f"mkdir -p /tmp/anon-docker && docker tag {REGISTRY}/{IMAGE}:{TAG} {ref}"
                   f" && DOCKER_CONFIG=/tmp/anon-docker docker push {ref}; rc=$?;"
                   f" docker image rm {ref} >/dev/null; exit $rc", timeout=180)
    assert res.returncode != 0, res.stdout + res.stderr
    assert "no basic auth credentials" in (res.stdout + res.stderr), res.stdout + res.stderr
    catalog = _http(lab, "director", f"https://{REGISTRY}/v2/_catalog")
    assert "colab/anonymous" not in json.loads(catalog["body"])["repositories"], catalog


def test_directors_login_is_roots_alone(converged_lab):
    lab = converged_lab
    mode = lab.exec("director", "stat", "-c", "%a %U", "/root/.docker/config.json")
    assert mode.stdout.strip() == "600 root", mode.stdout + mode.stderr
    htpasswd = lab.exec("cooperator", "sh", "-c",
                        "stat -c '%a %U' /media/crtr/fortress/docker/registry/auth/htpasswd"
                        " && cut -d: -f2 /media/crtr/fortress/docker/registry/auth/htpasswd | cut -c1-4")
    words = htpasswd.stdout.split()
    # 0600 root, and a bcrypt entry (the only kind distribution accepts)
    assert words[:2] == ["600", "root"] and words[2] in ("$2y$", "$2b$", "$2a$"), \
        htpasswd.stdout + htpasswd.stderr


def test_director_reads_the_catalog_over_https(converged_lab):
    answer = _http(converged_lab, "director", f"https://{REGISTRY}/v2/_catalog")
    assert answer["status"] == 200
    assert IMAGE in json.loads(answer["body"])["repositories"], answer


def test_director_pulled_the_stand_in_from_cooperator(converged_lab):
    lab = converged_lab
    head = _http(lab, "director", f"https://{REGISTRY}/v2/{IMAGE}/manifests/{TAG}", "HEAD",
                 MANIFEST_TYPES)
    assert head["status"] == 200 and head["digest"].startswith("sha256:"), head
    res = lab.exec("director", "docker", "image", "inspect", f"{REGISTRY}/{IMAGE}:{TAG}")
    assert res.returncode == 0, res.stderr
    (info,) = json.loads(res.stdout)
    # the engine records where it pulled from, with the registry's digest
    assert f"{REGISTRY}/{IMAGE}@{head['digest']}" in info["RepoDigests"], info["RepoDigests"]
    # no archive was loaded on director: the image has no other name there
    assert info["RepoTags"] == [f"{REGISTRY}/{IMAGE}:{TAG}"], info["RepoTags"]
    # both AI services run that image
    ps = lab.exec("director", "docker", "ps", "--filter", "label=com.docker.compose.project=mcp",
                  "--format", "{{.Label \"com.docker.compose.service\"}} {{.Image}} {{.State}}")
    assert sorted(ps.stdout.split("\n")[:-1]) == [
        f"ollama {REGISTRY}/{IMAGE}:{TAG} running",
        f"open-webui {REGISTRY}/{IMAGE}:{TAG} running"], ps.stdout + ps.stderr
    version = _http(lab, "director", "http://127.0.0.1:11434/api/version")
    assert "lab-standin" in version["body"]
    # director's daemon trusts the push registry through the CA, not insecure-registries,
    # and mirrors nothing in the lab
    daemon = json.loads(lab.exec("director", "cat", "/etc/docker/daemon.json").stdout)
    assert "insecure-registries" not in daemon, daemon
    assert "registry-mirrors" not in daemon
    ca_node = lab.exec("director", "cat", CA).stdout
    ca_signer = lab.exec("cooperator", "cat", "/etc/colab/pki/ca.crt").stdout
    assert ca_node and ca_node == ca_signer


def test_the_registry_log_shows_directors_pull(converged_lab):
    lab = converged_lab
    cid = lab.exec("cooperator", "docker", "ps", "-q", "--filter",
                   "label=com.docker.compose.project=registry", "--filter",
                   "label=com.docker.compose.service=registry").stdout.split()
    assert len(cid) == 1, cid
    logs = lab.exec("cooperator", "docker", "logs", cid[0], timeout=60)
    lines = [ln for ln in (logs.stdout + logs.stderr).splitlines()
             if f"/v2/{IMAGE}/manifests/{TAG}" in ln and lab.ip("director") in ln]
    assert lines, "no manifest request from director in the registry's log"


def test_the_registry_runs_the_real_distribution_program(converged_lab):
    res = converged_lab.exec("cooperator", "docker", "exec", "registry-registry-1",
                             "docker-registry", "--version")
    # Debian's build names itself: /usr/bin/docker-registry github.com/docker/distribution 2.8.3+ds1
    assert res.returncode == 0 and "github.com/docker/distribution 2.8" in res.stdout, \
        res.stdout + res.stderr


def test_idempotence_leaves_the_registry_and_the_pull_alone(converged_lab):
    """The second converge: nothing pushed again, nothing pulled, changed=0 on every node."""
    converged_lab.assert_run("idempotence", changed=0)


def test_summary_shows_the_catalog(converged_lab):
    out = subprocess.run(["python3", os.path.join(ROOT, "lab", "lab.py"), "summary"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert f"{REGISTRY} /v2/_catalog (TLS, authenticated): {IMAGE}" in out.stdout, out.stdout + out.stderr

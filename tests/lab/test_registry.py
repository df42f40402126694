"""The cluster registry on the converged lab (issue 15, point 1).

What is real: the CNCF distribution registry (colab/registry:2.8 is Debian 13's
docker-registry package, distribution 2.8.3) deployed by colab.cluster.registry on
cooperator through compose_stack, a real `docker push` from cooperator's nested engine
and a real pull by director's nested engine over plain HTTP (daemon.json's
insecure-registries, written by the docker role). What is not: the image pulled,
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

from tests.helpers import ROOT

pytestmark = pytest.mark.lab

REGISTRY = "cooperator:5000"
IMAGE = "colab/mcp-standin"
TAG = "1"
MANIFEST_TYPES = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
])
# Run inside director (its python3), so every request goes where director's engine goes.
HTTP = """
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1], method=sys.argv[2], headers={"Accept": sys.argv[3]})
with urllib.request.urlopen(req, timeout=10) as resp:
    print(json.dumps({"status": resp.status, "digest": resp.headers.get("Docker-Content-Digest"),
                      "body": resp.read().decode() if sys.argv[2] == "GET" else ""}))
"""


def _http(lab, host, url, method="GET", accept="application/json"):
    res = lab.exec(host, "python3", "-c", HTTP, url, method, accept, timeout=60)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_director_reads_the_catalog_over_http(converged_lab):
    answer = _http(converged_lab, "director", f"http://{REGISTRY}/v2/_catalog")
    assert answer["status"] == 200
    assert IMAGE in json.loads(answer["body"])["repositories"], answer


def test_director_pulled_the_stand_in_from_cooperator(converged_lab):
    lab = converged_lab
    head = _http(lab, "director", f"http://{REGISTRY}/v2/{IMAGE}/manifests/{TAG}", "HEAD",
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
    # director's daemon trusts exactly the push registry, and mirrors nothing in the lab
    daemon = json.loads(lab.exec("director", "cat", "/etc/docker/daemon.json").stdout)
    assert daemon["insecure-registries"] == [REGISTRY]
    assert "registry-mirrors" not in daemon


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
    assert f"{REGISTRY} /v2/_catalog: {IMAGE}" in out.stdout, out.stdout + out.stderr

"""MinIO in the converged lab: the role's buckets, listed over real S3 from the controller.

cooperator runs colab/s3-standin:2 in MinIO's place (NOT MinIO: moto's S3 server from
Debian's python3-moto behind MinIO's command line, lab/images/s3-standin). What is real
here: compose_stack on cooperator's nested engine, the root pair from the lab's secret
store (/minio) injected through the process environment, the SigV4-signed S3 requests
(moto verifies each signature against that pair), and the data directory bind-mounted from
fortress, where each bucket is a directory as in MinIO's layout.
"""
from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET

from plugins.module_utils import _s3
from tests.helpers import ROOT
from tests.lab.test_services import lab_secrets, node_docker

COOP = "cooperator"
DATA_DIR = "/media/crtr/fortress/data/minio"  # colab_fortress_server_path + data/minio
BUCKETS = {"lab-artifacts", "lab-backups"}  # inventory/lab/group_vars/minio_servers.yml


def _client(lab, secret=None):
    creds = lab_secrets("/minio")
    return _s3.S3Client(f"http://{lab.ip(COOP)}:9000", creds["MINIO_ROOT_USER"],
                        secret or creds["MINIO_ROOT_PASSWORD"], timeout=10)


def _minio_container(lab):
    res = node_docker(lab, COOP, "ps", "-q", "--filter", "label=com.docker.compose.project=minio",
                      "--filter", "label=com.docker.compose.service=minio")
    ids = res.stdout.split()
    assert len(ids) == 1, f"expected one minio container, got {res.stdout!r} {res.stderr!r}"
    info = node_docker(lab, COOP, "inspect", ids[0])
    assert info.returncode == 0, info.stderr
    return json.loads(info.stdout)[0]


def test_minio_buckets_listed_over_s3_with_the_lab_root_pair(converged_lab):
    status, body = _client(converged_lab).request("GET", "")
    assert status == 200, body[:500]
    names = {el.text for el in ET.fromstring(body).iter() if el.tag.rpartition("}")[2] == "Name"}
    assert BUCKETS <= names, names
    assert _client(converged_lab).get_versioning("lab-artifacts") == "Enabled"
    # the root secret is checked, as MinIO does: a wrong one is refused
    status, body = _client(converged_lab, secret="not-the-lab-secret").request("GET", "")
    assert status == 403 and b"SignatureDoesNotMatch" in body, body[:300]


def test_minio_data_lives_on_fortress(converged_lab):
    info = _minio_container(converged_lab)
    assert info["State"]["Health"]["Status"] == "healthy"
    assert info["Config"]["Image"] == "colab/s3-standin:2"
    mounts = {m["Destination"]: m["Source"] for m in info["Mounts"]}
    assert mounts.get("/data") == DATA_DIR, mounts
    listing = converged_lab.exec(COOP, "ls", "-1", DATA_DIR)
    assert listing.returncode == 0, listing.stderr
    assert BUCKETS <= set(listing.stdout.split()), listing.stdout


def test_summary_shows_minio_standin_and_its_buckets(converged_lab):
    out = subprocess.run(["python3", "lab/lab.py", "summary"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=False)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("MinIO (stand-in")]
    assert line, out.stdout + out.stderr
    assert "NOT MinIO" in line[0] and "buckets listed over S3" in line[0], line
    assert all(name in line[0] for name in BUCKETS), line
    for value in lab_secrets("/minio").values():
        assert value not in out.stdout + out.stderr

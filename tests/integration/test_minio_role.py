"""colab.cluster.minio on the host's real Docker engine, buckets checked over real S3 calls.

What is real: the Docker engine and Compose V2 (compose_stack deploys the stack), the S3
traffic (every request the role's s3_bucket module sends and every request this test makes
is a SigV4-signed HTTP request to the container), the secrets path (a 0600 extra-vars file).
What is NOT: MinIO itself. No registry here ships minio/minio, so the image is
colab/s3-standin:2 (lab/images/s3-standin): moto's S3 server from Debian's python3-moto,
started by a `minio server` stand-in script. Like MinIO it accepts only the root pair and
moto verifies every SigV4 signature against it (a wrong secret gets 403
SignatureDoesNotMatch here); like MinIO it keeps each bucket as a directory of the data
directory. Objects stay in memory and there is no console.

One playbook, six runs: a bad bucket name and a too short password (both fail before any
change), apply (-vvv), apply again (changed=0), check mode with one more
bucket (predicted, not created), then state absent. No secret value may appear in any
run's output or in the project and data directories.
"""
from __future__ import annotations

import importlib.util
import os
import re
import secrets
import socket
import subprocess
import xml.etree.ElementTree as ET

import pytest

from plugins.module_utils import _s3
from tests.helpers import ROOT, require_engine, run_logged, tail, tool

_spec = importlib.util.spec_from_file_location("colab_lab_images", os.path.join(ROOT, "lab", "images.py"))
lab_images = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lab_images)

IMAGE = lab_images.IMAGES["s3-standin"]
PROJECT = "colab-it-minio"

PLAYBOOK = """---
- name: MinIO role against the S3 stand-in
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    minio_project_name: {project}
    minio_project_dir: {base}/project
    minio_fortress_root: {base}/fortress
    minio_image_repository: {repository}
    minio_image_tag: "{tag}"
    minio_pull: never
    minio_api_bind_addresses: [127.0.0.1]
    minio_api_port: {api}
    minio_console_port: {console}
    minio_external_networks: []
    minio_wait_timeout: 90
  roles:
    - role: colab.cluster.minio
"""


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _docker(*args, timeout=60):
    return subprocess.run(["docker", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, check=False, timeout=timeout)


@pytest.fixture(scope="module")
def standin_image():
    require_engine()
    if _docker("image", "inspect", IMAGE).returncode != 0:
        # once per machine, by the lab's one image builder (~1 min: 30 packages, 15 MB)
        lab_images.build("s3-standin", IMAGE)
    return IMAGE


def _recap_changed(text):
    found = re.findall(r"localhost\s*:\s*ok=\d+\s+changed=(\d+)", text)
    assert found, tail(text)
    return int(found[-1])


def _listed_buckets(client):
    """ListBuckets (GET /) parsed here: an S3 call independent of the module's HeadBucket."""
    status, body = client.request("GET", "")
    assert status == 200, body[:500]
    return {el.text for el in ET.fromstring(body).iter() if el.tag.endswith("}Name") or el.tag == "Name"}


def test_minio_role_provisions_buckets_over_s3(standin_image, tmp_path):
    user = "it-root-" + secrets.token_hex(4)
    password = "it-pw-" + secrets.token_hex(16)
    api, console = _free_port(), _free_port()
    base = str(tmp_path)
    playbook = tmp_path / "minio.yml"
    repository, tag = IMAGE.rsplit(":", 1)
    playbook.write_text(PLAYBOOK.format(project=PROJECT, base=base, api=api, console=console,
                                        repository=repository, tag=tag))
    secrets_file = tmp_path / "secrets.yml"
    secrets_file.write_text(f"minio_secrets:\n  MINIO_ROOT_USER: {user}\n"
                            f"  MINIO_ROOT_PASSWORD: {password}\n")
    os.chmod(secrets_file, 0o600)

    def play(name, *extra):
        return run_logged([tool("ansible-playbook"), str(playbook), "-e", f"@{secrets_file}",
                           *extra], f"minio-{name}.log", timeout=300)

    buckets = '{"minio_buckets": [{"name": "alpha", "versioning": true}, {"name": "beta"}]}'
    more = ('{"minio_buckets": [{"name": "alpha", "versioning": true}, {"name": "beta"},'
            ' {"name": "gamma"}]}')
    outputs = []
    try:
        rc, out = play("bad-name", "-e", '{"minio_buckets": [{"name": "Bad_Name"}]}')
        outputs.append(out)
        assert rc != 0 and "Bad_Name is not an S3 bucket name" in out, tail(out)
        ps = _docker("ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}")
        assert ps.stdout.strip() == "", "a bad bucket name must fail before the deploy"

        rc, out = play("short-password", "-e", '{"minio_secrets": {"MINIO_ROOT_USER": "abc",'
                       ' "MINIO_ROOT_PASSWORD": "short"}}')
        outputs.append(out)
        assert rc != 0 and "MINIO_ROOT_PASSWORD" in out and "8+ characters" in out, tail(out)
        assert not os.path.exists(os.path.join(base, "project")), "must fail before any change"

        rc, out = play("apply", "-e", buckets, "-vvv")
        outputs.append(out)
        assert rc == 0, tail(out)

        client = _s3.S3Client(f"http://127.0.0.1:{api}", user, password, timeout=10)
        assert {"alpha", "beta"} <= _listed_buckets(client)
        assert client.bucket_exists("alpha") and client.bucket_exists("beta")
        assert client.get_versioning("alpha") == "Enabled"
        assert client.get_versioning("beta") == ""
        # the stand-in checks the signature against the root secret, as MinIO does
        wrong = _s3.S3Client(f"http://127.0.0.1:{api}", user, password + "x", timeout=10)
        status, body = wrong.request("GET", "")
        assert status == 403 and b"SignatureDoesNotMatch" in body, body[:300]
        # each bucket is a directory of the data directory on fortress
        data_dir = os.path.join(base, "fortress", "data", "minio")
        assert {"alpha", "beta"} <= set(os.listdir(data_dir))

        rc, out = play("again", "-e", buckets)
        outputs.append(out)
        assert rc == 0, tail(out)
        assert _recap_changed(out) == 0, tail(out)

        rc, out = play("check", "-e", more, "--check", "--diff")
        outputs.append(out)
        assert rc == 0, tail(out)
        assert _recap_changed(out) == 1, tail(out)
        assert "created or changed: gamma" in out, tail(out)
        assert "gamma" not in _listed_buckets(client)
        assert not client.bucket_exists("gamma")

        rc, out = play("absent", "-e", "minio_state=absent")
        outputs.append(out)
        assert rc == 0, tail(out)
        ps = _docker("ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}")
        assert ps.stdout.strip() == ""
    finally:
        _docker("compose", "-p", PROJECT, "down", "--timeout", "5", timeout=120)

    for out in outputs:
        assert user not in out and password not in out
    for top in ("project", "fortress"):
        for dirpath, _dirs, files in os.walk(os.path.join(base, top)):
            for fname in files:
                with open(os.path.join(dirpath, fname), "rb") as fh:
                    data = fh.read()
                assert password.encode() not in data and user.encode() not in data, fname

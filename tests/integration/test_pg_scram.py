"""colab.cluster.pg_scram_sha256 against the real PostgreSQL 17 (colab/postgres:17).

The gitea role rotates GITEA_DB_PASSWORD with ``ALTER ROLE ... PASSWORD '<verifier>'`` so the
clear text never reaches the server. This proves the verifier the filter builds is one
PostgreSQL accepts: the role's password is set with it over the local socket (SQL on
stdin), then a TCP login with scram-sha-256 succeeds with the password and fails with
another. The image is the lab's (lab/images/postgres), built here when missing.
"""
from __future__ import annotations

import importlib.util
import os
import secrets
import subprocess
import time
import uuid

import pytest

from plugins.filter.postgres import pg_scram_sha256
from tests.helpers import ROOT

# lab/images.py by its path (`from lab import images` would make the lab/ directory a
# namespace package named `lab` for every later import in the session).
_spec = importlib.util.spec_from_file_location("colab_lab_images_scram", os.path.join(ROOT, "lab", "images.py"))
images = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(images)

NAME = f"colab-it-pg-scram-{uuid.uuid4().hex[:8]}"


def docker(*args, **kw):
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120,
                          check=False, **kw)


@pytest.fixture(scope="module")
def postgres():
    images.ensure_images({"postgres": "colab/postgres:17"})
    boot = secrets.token_urlsafe(16)
    run = docker("run", "-d", "--name", NAME, "-e", "POSTGRES_USER=app", "-e", "POSTGRES_DB=app",
                 "--env-file", "/dev/stdin", "colab/postgres:17", input=f"POSTGRES_PASSWORD={boot}\n")
    assert run.returncode == 0, run.stderr
    try:
        for _attempt in range(60):
            if docker("exec", NAME, "pg_isready", "-h", "127.0.0.1", "-U", "app").returncode == 0:
                break
            time.sleep(1)
        else:
            pytest.fail("PostgreSQL did not become ready: " + docker("logs", NAME).stderr[-2000:])
        yield NAME
    finally:
        docker("rm", "-f", "-v", NAME)


def tcp_login(container, password):
    """A scram-sha-256 login over TCP; the password reaches psql through stdin + env only."""
    return docker("exec", "-i", container, "sh", "-c",
                  'IFS= read -r PGPASSWORD && export PGPASSWORD && '
                  'exec psql --no-psqlrc -h 127.0.0.1 -U app -d app -tAc "SELECT 1"',
                  input=password + "\n")


def test_verifier_layout_and_salt():
    fixed = pg_scram_sha256("pencil", salt="W22ZaJ0SNY7soEsUEjb6gQ==")
    assert fixed == pg_scram_sha256("pencil", salt="W22ZaJ0SNY7soEsUEjb6gQ==")
    assert fixed.startswith("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$")
    assert pg_scram_sha256("pencil") != pg_scram_sha256("pencil")  # random salt
    assert "pencil" not in fixed


def test_postgres_accepts_the_verifier(postgres):
    new = "rot-" + secrets.token_urlsafe(18)
    sql = f"ALTER ROLE \"app\" WITH PASSWORD '{pg_scram_sha256(new)}';\n"
    res = docker("exec", "-i", postgres, "psql", "--no-psqlrc", "-q", "-U", "app", "-d", "app",
                 "--set=ON_ERROR_STOP=1", input=sql)
    assert res.returncode == 0, res.stderr
    ok = tcp_login(postgres, new)
    assert ok.returncode == 0 and ok.stdout.strip() == "1", ok.stderr
    bad = tcp_login(postgres, new + "x")
    assert bad.returncode != 0 and "password authentication failed" in bad.stderr, bad.stderr
    # the server never saw the clear text: it is nowhere in its log
    assert new not in docker("logs", postgres).stdout + docker("logs", postgres).stderr

"""tests/helpers.py require(): a test whose proof needs the engine or an image fails without
it, and skips only where COLAB_TESTS_ALLOW_MISSING says so."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.helpers import ALLOW_MISSING, ROOT, require

# one test per module whose fixture needs the engine or the base image
NEEDS_ENGINE = [
    "tests/integration/test_minio_role.py::test_minio_role_provisions_buckets_over_s3",
    "tests/integration/test_gitea_postgres_major.py::test_postgres_major_change_refused_then_performed",
    "tests/integration/test_workstations_contract.py::test_macos_base_layer_writes_the_cluster_names_with_sudo",
]


def test_missing_fails_unless_allowed(monkeypatch):
    monkeypatch.delenv(ALLOW_MISSING, raising=False)
    require("engine", True, "unused")
    with pytest.raises(pytest.fail.Exception, match="no engine here .*COLAB_TESTS_ALLOW_MISSING=engine skips"):
        require("engine", False, "no engine here")
    monkeypatch.setenv(ALLOW_MISSING, "image")
    with pytest.raises(pytest.fail.Exception):
        require("engine", False, "no engine here")
    with pytest.raises(pytest.skip.Exception, match=r"gone \(COLAB_TESTS_ALLOW_MISSING=image\)"):
        require("image", False, "gone")
    monkeypatch.setenv(ALLOW_MISSING, "engine, image")
    with pytest.raises(pytest.skip.Exception):
        require("engine", False, "no engine here")
    monkeypatch.setenv(ALLOW_MISSING, "all")
    with pytest.raises(pytest.skip.Exception):
        require("image", False, "gone")
    with pytest.raises(AssertionError):
        require("enigne", True, "a kind nobody can allow")


def run_without_engine(tmp_path, allow):
    """pytest on NEEDS_ENGINE with a `docker` first on PATH that answers nothing (exit 1), so no
    real engine is asked; the summary line's counts."""
    fake = tmp_path / "bin"
    fake.mkdir(parents=True)
    (fake / "docker").write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    (fake / "docker").chmod(0o755)
    env = dict(os.environ, PATH=str(fake) + os.pathsep + os.environ["PATH"])
    env.pop(ALLOW_MISSING, None)
    if allow:
        env[ALLOW_MISSING] = allow
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *NEEDS_ENGINE],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    counts = dict((word, int(n)) for n, word in re.findall(r"(\d+) (passed|failed|skipped|errors?)", proc.stdout))
    return counts, proc.stdout


def test_integration_tests_fail_without_an_engine(tmp_path):
    """Before: all three skipped without an engine (the macOS role's only proof among them)."""
    counts, out = run_without_engine(tmp_path, allow=None)
    assert counts == {"errors": 3}, out[-3000:]
    assert out.count("no Docker engine answers") >= 3, out[-3000:]
    counts, out = run_without_engine(tmp_path / "allowed", allow="engine")
    assert counts == {"skipped": 3}, out[-3000:]

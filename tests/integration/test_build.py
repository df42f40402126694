"""`ansible-galaxy collection build` leaves local state out of the tarball."""
from __future__ import annotations

import os
import subprocess
import tarfile

from tests.helpers import ROOT, ansible_env, tool

LOCAL_STATE = (".venv/", ".ansible/", ".lab/", ".cache/", ".pytest_cache/", "tests/output/", ".git/")


def test_collection_tarball_has_no_local_state(tmp_path):
    # Make sure local state exists, so that leaving it out is really tested.
    os.makedirs(os.path.join(ROOT, "tests", "output"), exist_ok=True)
    with open(os.path.join(ROOT, "tests", "output", "marker.txt"), "w", encoding="utf-8") as fh:
        fh.write("local test output\n")
    proc = subprocess.run([tool("ansible-galaxy"), "collection", "build", "--force",
                           "--output-path", str(tmp_path), ROOT], cwd=ROOT, env=ansible_env(),
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tarball = tmp_path / "colab-cluster-0.1.0.tar.gz"
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    assert "galaxy.yml" not in names and "MANIFEST.json" in names
    assert any(n.startswith("plugins/") for n in names)
    assert any(n.startswith("roles/base/") for n in names)
    leaked = [n for n in names if n.startswith(LOCAL_STATE) or "__pycache__" in n
              or n.endswith((".pyc", ".retry"))]
    assert not leaked, f"local state in the tarball: {leaked[:20]}"

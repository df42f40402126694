"""Every role's argument validation (the always-tagged first task) passes on a run that
gathered no facts: `--limit cooperator --tags gitea` runs every play's validation so.
Recorded in the lab layer of `make test` on 2026-12-07: headscale's stopped with
"object of type 'dict' has no attribute 'architecture'" (its headscale_arch default read
ansible_facts['architecture']; ansible-core templates the defaults it validates)."""

import subprocess

from tests.helpers import ROOT, ansible_env, tool


def test_mesh_roles_validate_without_facts(tmp_path):
    play = tmp_path / "validate.yml"
    play.write_text("""
- name: Validate the mesh roles' arguments with no facts
  hosts: cooperator
  gather_facts: false
  roles:
    - role: colab.cluster.headscale
""", encoding="utf-8")
    proc = subprocess.run([tool("ansible-playbook"), "-i", "inventory/lab", "--tags", "none_such",
                           "-e", "ansible_connection=local", str(play)], cwd=ROOT,
                          env=ansible_env(), capture_output=True, text=True, timeout=300, check=False)
    out = proc.stdout + proc.stderr
    assert "Validating arguments against arg spec" in out, out[-3000:]
    assert proc.returncode == 0, out[-3000:]

"""An empty Pi-hole web password stops the edge role before anything is deployed, naming
the variable (issue 30): without one Pi-hole generates a password at first start and prints
it into the container log (pi-hole/docker-pi-hole README.md@2025.08.0, "a random password
will be assigned on startup. This will be printed to the log"). The role runs in check mode
on localhost with Caddy off; the assertion is its first task, so nothing is touched."""
from __future__ import annotations

import subprocess
import textwrap

from tests.helpers import ROOT, ansible_env, tool

PLAY = textwrap.dedent("""\
    - name: Edge with an empty Pi-hole password
      hosts: localhost
      connection: local
      gather_facts: false
      vars:
        edge_caddy_enabled: false
        edge_pihole_deploy: true
        edge_dns_server: pihole
        edge_pihole_web_password: ""
        edge_pihole_project_dir: {base}/pihole
      roles:
        - role: colab.cluster.edge
    """)


def test_empty_pihole_password_fails_early_naming_the_variable(tmp_path):
    play = tmp_path / "edge.yml"
    play.write_text(PLAY.format(base=tmp_path), encoding="utf-8")
    proc = subprocess.run([tool("ansible-playbook"), "-i", "localhost,", "--check", str(play)],
                          cwd=ROOT, env=ansible_env(), capture_output=True, text=True, timeout=300,
                          check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "edge_pihole_web_password is empty" in out, out[-3000:]
    assert not (tmp_path / "pihole").exists()

"""samba_client on Windows (issue 13.4): no Windows host exists here, so the role's own guard is
run with ansible-playbook against localhost, stopping before any Windows module could run.

Without a become password Windows runs a runas task in an S4U logon, which cannot reach
network resources (Ansible's become documentation; community.windows#81): the credential would
be stored and Z: mapped to nothing. The role must refuse that before its first Windows task.
"""
from __future__ import annotations

import os
import textwrap

from tests.helpers import ansible_env, run_logged, tail, tool

PLAY = textwrap.dedent("""\
    - name: The Windows tasks of samba_client, on a host that is not Windows
      hosts: localhost
      connection: local
      gather_facts: false
      vars:
        samba_client_password: pw
        samba_client_windows_user: crtr
      tasks:
        - name: Run the Windows tasks
          ansible.builtin.include_role:
            name: colab.cluster.samba_client
            tasks_from: windows.yml
    """)


def _run(tmp_path, *extra):
    play = tmp_path / "play.yml"
    play.write_text(PLAY)
    cmd = [tool("ansible-playbook"), "-i", "localhost,", str(play)] + list(extra)
    return run_logged(cmd, "samba-client-windows-%d.log" % len(extra), timeout=300, env=ansible_env())


def test_windows_without_become_password_fails_before_any_windows_task(tmp_path):
    rc, text = _run(tmp_path)
    assert rc != 0, tail(text)
    assert "ansible_become_password must hold that account's password" in text, tail(text)
    assert "S4U logon" in text
    assert "win_credential" not in text.split("S4U logon")[1].split("PLAY RECAP")[0], tail(text)


def test_windows_with_become_password_passes_the_guard(tmp_path):
    rc, text = _run(tmp_path, "-e", "ansible_become_password=secret-pw")
    # the guard passes; the next task (win_credential) is the first to fail on a Linux host
    assert "ansible_become_password must hold" not in text, tail(text)
    assert "Store the share's credential" in text, tail(text)
    assert "secret-pw" not in text
    assert os.path.exists(str(tmp_path / "play.yml")) and rc != 0

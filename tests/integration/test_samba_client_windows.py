"""samba_client on Windows (issue 13.4): no Windows host exists here, so the role's own guard is
run with ansible-playbook against localhost, stopping before any Windows module could run.

Without a become password Windows runs a runas task in an S4U logon, which cannot reach
network resources (Ansible's become documentation; community.windows#81): the credential would
be stored and Z: mapped to nothing. The role must refuse that before its first Windows task.
"""
from __future__ import annotations

import os
import textwrap

import yaml

from tests.helpers import ansible_env, parse_recap, run_logged, tail, tool
from tests.integration.test_workstations_contract import (  # noqa: F401 pylint: disable=unused-import
    WindowsRun, fresh_windows_host, win_specs)

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


CREDENTIAL_PLAY = [{
    "name": "samba_client's Windows tasks against the stand-ins",
    "hosts": "projector",
    "gather_facts": False,
    "vars": {"samba_client_password": "share-pw", "samba_client_windows_user": "crtr"},
    "tasks": [{"name": "Run the Windows tasks", "ansible.builtin.include_role": {
        "name": "colab.cluster.samba_client", "tasks_from": "windows.yml"}}],
}]


def test_windows_credential_is_idempotent_and_rotates_when_asked(tmp_path, win_specs):  # pylint: disable=redefined-outer-name
    """Issue 26 (c). Before: update_secret=always on a domain_password credential, whose secret Windows
    never reads back (win_credential.ps1@3.3.0 lines 678-684: Secret.Length -eq 0 -> changed), so
    every run rewrote it and reported changed. The stand-in decides as the .ps1 does."""
    run = WindowsRun(tmp_path, win_specs, fresh_windows_host())
    play = tmp_path / "samba.yml"
    play.write_text(yaml.safe_dump(CREDENTIAL_PLAY, sort_keys=False))

    def writes():
        return [e for e in run.state["events"] if e["kind"] == "credential-write"]

    rc, out = run.play(str(play))
    assert rc == 0, tail(out)
    assert len(writes()) == 1 and run.state["mapped_drives"] == {"Z": "\\\\cooperator\\fortress"}
    credential = run.state["credentials"]["domain_password|cooperator"]
    assert credential["secret"] == "share-pw" and credential["username"] == "crtr"

    rc, out = run.play(str(play))
    assert rc == 0 and parse_recap(out)["projector"]["changed"] == 0, tail(out)
    assert len(writes()) == 1

    rc, out = run.play(str(play), "-e", "samba_client_password=rotated-pw",
                       "-e", "samba_client_windows_rotate_password=true")
    assert rc == 0 and parse_recap(out)["projector"]["changed"] == 1, tail(out)
    assert run.state["credentials"]["domain_password|cooperator"]["secret"] == "rotated-pw"
    assert "share-pw" not in out and "rotated-pw" not in out

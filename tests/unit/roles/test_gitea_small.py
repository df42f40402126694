"""Two small Gitea fixes of issue 30.

- The one-time admin token (write:admin, never expires) is deleted in the block's
  ``always:``, so a failed password change does not leave it behind (read from the role's
  task file: the branch needs a Gitea that refuses the PATCH).
- gitea_db_user reaches ``ALTER ROLE "<user>"``: a name that is not a plain PostgreSQL
  identifier stops the role first, naming the field (the role runs in check mode on
  localhost; the check is its first task, so nothing is touched).
"""
from __future__ import annotations

import os
import subprocess
import textwrap

import pytest
import yaml

from tests.helpers import ROOT, ansible_env, tool


def _password_block():
    with open(os.path.join(ROOT, "roles", "gitea", "tasks", "admin.yml"), encoding="utf-8") as fh:
        tasks = yaml.safe_load(fh)
    (block,) = [t for t in tasks if t.get("name") == "Set the admin password through the API"]
    return block


def test_the_admin_token_is_deleted_in_always():
    block = _password_block()
    assert "Delete the one-time access token" not in [t["name"] for t in block["block"]]
    assert [t["name"] for t in block.get("always", [])][:1] == ["Delete the one-time access token"]
    # a refused deletion (the new password was not set) is named, not passed over
    delete = block["always"][0]
    assert 401 in delete["ansible.builtin.uri"]["status_code"]
    assert "could not be deleted" in block["always"][1]["ansible.builtin.fail"]["msg"]


PLAY = textwrap.dedent("""\
    - name: Gitea with a database user that is not an identifier
      hosts: localhost
      connection: local
      gather_facts: false
      vars:
        gitea_db_user: {user}
        gitea_secrets: {{}}
        gitea_project_dir: {base}/project
        gitea_fortress_root: {base}/fortress
      roles:
        - role: colab.cluster.gitea
    """)


@pytest.mark.parametrize("user", ['gitea"; DROP ROLE postgres; --', "Gitea", "1gitea", "g" * 64])
def test_a_bad_db_user_fails_first_naming_the_field(tmp_path, user):
    play = tmp_path / "gitea.yml"
    play.write_text(PLAY.format(user=yaml.safe_dump(user).strip().removesuffix("...").strip(),
                                base=tmp_path), encoding="utf-8")
    proc = subprocess.run([tool("ansible-playbook"), "-i", "localhost,", "--check", str(play)],
                          cwd=ROOT, env=ansible_env(), capture_output=True, text=True, timeout=300,
                          check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "gitea_db_user (" in out and "must be a plain PostgreSQL identifier" in out, out[-3000:]
    assert not (tmp_path / "project").exists()

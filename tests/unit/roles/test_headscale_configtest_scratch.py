"""headscale's configtest runs on copies of the database and the noise key (the server's
private key) in a scratch directory: the block's always: removes that directory, in check
mode too (check_mode: false), whatever configtest said (issue 30). Read from the role's task
file; molecule/mesh runs the block against the real headscale."""
from __future__ import annotations

import os

import yaml

from tests.helpers import ROOT


def test_the_configtest_scratch_directory_is_removed_in_always():
    with open(os.path.join(ROOT, "roles", "headscale", "tasks", "config.yml"), encoding="utf-8") as fh:
        tasks = yaml.safe_load(fh)
    (block,) = [t for t in tasks if "configtest" in t.get("name", "") and "block" in t]
    removals = [t for t in block.get("always", [])
                if t.get("ansible.builtin.file", {}).get("state") == "absent"]
    assert len(removals) == 1, block.get("always")
    task = removals[0]
    assert task["ansible.builtin.file"]["path"] == "{{ _headscale_configtest_dir }}"
    assert task["check_mode"] is False and task["changed_when"] is False

"""Issue 26 (d), macOS: Docker Desktop updates itself, and the role must never take it back.

homebrew_cask with ``state: present`` does nothing for an installed cask unless ``--force`` is an
install option (community.general 11.4.2 homebrew_cask.py, ``_install_current_cask`` lines 555-566);
``latest``/``upgraded``, ``greedy`` or ``upgrade_all`` would replace Docker.app. With ``--adopt``
brew takes over an app without a version check (brew cask/artifact/moved.rb@6.0.18, the docker-desktop
cask has ``auto_updates true``).
"""
from __future__ import annotations

import os

import yaml

from tests.helpers import ROOT


def test_the_macos_cask_task_never_replaces_an_installed_desktop():
    with open(os.path.join(ROOT, "roles", "docker", "tasks", "macos.yml"), encoding="utf-8") as handle:
        tasks = yaml.safe_load(handle)
    casks = [t["community.general.homebrew_cask"] for t in tasks if "community.general.homebrew_cask" in t]
    assert casks, "no homebrew_cask task"
    for args in casks:
        assert args["state"] == "{{ docker_state }}"
        assert not {"greedy", "upgrade_all", "update_homebrew"} & set(args), args
        assert "force" not in str(args.get("install_options", "")), args
    with open(os.path.join(ROOT, "roles", "docker", "meta", "argument_specs.yml"), encoding="utf-8") as handle:
        spec = yaml.safe_load(handle)["argument_specs"]["main"]["options"]
    assert spec["docker_state"]["choices"] == ["present", "absent"]

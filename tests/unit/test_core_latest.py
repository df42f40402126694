"""The ansible-core versions the collection claims are the ones it is tested on: the host's
pin (requirements.txt, `make test`) and the current line (tests/core_latest.py,
`make test-core-latest`), both inside meta/runtime.yml's requires_ansible (issue 29)."""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess

import pytest
import yaml
from ansible.module_utils.compat.version import LooseVersion

from tests.helpers import ROOT

_spec = importlib.util.spec_from_file_location("colab_core_latest", os.path.join(ROOT, "tests", "core_latest.py"))
core_latest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(core_latest)


def _pins(text):
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", text, re.M))


def _host_pins():
    with open(os.path.join(ROOT, "requirements.txt"), encoding="utf-8") as fh:
        return _pins(fh.read())


def test_current_line_replaces_only_the_ansible_pins():
    host, current = _host_pins(), _pins(core_latest.requirements())
    assert current["ansible-core"].startswith("2.21.") and current["ansible"].startswith("14.")
    assert {k: v for k, v in current.items() if k not in core_latest.CURRENT} == \
        {k: v for k, v in host.items() if k not in core_latest.CURRENT}


def test_image_tag_follows_the_requirements():
    assert core_latest.tag() == core_latest.tag(core_latest.requirements())
    assert core_latest.tag() != core_latest.tag(core_latest.requirements() + "extra==1\n")


def test_requires_ansible_is_the_tested_range():
    with open(os.path.join(ROOT, "meta", "runtime.yml"), encoding="utf-8") as fh:
        spec = yaml.safe_load(fh)["requires_ansible"]
    bounds = dict((op, LooseVersion(v)) for op, v in re.findall(r"(>=|<)\s*([0-9.]+)", spec))
    tested = [_host_pins()["ansible-core"], core_latest.CURRENT["ansible-core"]]
    oldest = min(LooseVersion(v) for v in tested)
    # the lower bound is the oldest tested minor: nothing older is claimed
    assert bounds[">="] == LooseVersion("%s.%s.0" % tuple(oldest.version[:2])), spec
    for version in tested:
        assert LooseVersion(version) >= bounds[">="] and ("<" not in bounds or LooseVersion(version) < bounds["<"])


def test_sanity_tree_export_is_the_collection_without_its_loop_link():
    if not shutil.which("git") or subprocess.run(["git", "-C", ROOT, "rev-parse"], capture_output=True,
                                                 check=False).returncode:
        pytest.skip("not a git checkout (tests/core_latest.py's container gets the exported tree)")
    names = subprocess.run([os.path.join(ROOT, "tests", "sanity", "run.sh"), "--export-tree"],
                           capture_output=True, check=True, timeout=120).stdout
    listed = subprocess.run(["tar", "-t"], input=names, capture_output=True, check=True).stdout.decode().split()
    assert "galaxy.yml" in listed and "meta/runtime.yml" in listed and "tests/core_latest.py" in listed
    assert not [n for n in listed if n.startswith("collections/ansible_collections")]
    assert not [n for n in listed if n == ".venv" or n.startswith(".venv/")]

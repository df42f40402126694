"""execution-environment.yml: ansible-builder accepts it, and its pins are the controller's.

Building the image and running site.yml in it is tests/lab/test_awx_runner.py.
"""
from __future__ import annotations

import os
import re
import subprocess

from tests import ee
from tests.helpers import ROOT, ansible_env, tool


def _pins(lines):
    return dict(m.groups() for m in (re.match(r"^([A-Za-z0-9_.\-\[\]]+)==(\S+)", ln.strip()) for ln in lines)
                if m)


def test_ee_pins_are_the_controllers():
    with open(os.path.join(ROOT, "requirements.txt"), encoding="utf-8") as fh:
        controller = _pins(fh)
    ee_pins = _pins(ee.pip_requirements())
    assert ee_pins, "the EE pins nothing"
    differ = {name: (version, controller.get(name)) for name, version in ee_pins.items()
              if name in controller and controller[name] != version}
    assert not differ, f"EE pin != requirements.txt pin: {differ}"
    missing = sorted(set(ee_pins) - set(controller) - {"dumb-init"})
    assert not missing, f"pinned in the EE only: {missing}"


def test_ansible_builder_create_accepts_the_file(tmp_path):
    proc = subprocess.run([tool("ansible-builder"), "create", "-f", ee.EE_FILE, "-c", str(tmp_path),
                           "--output-filename", "Containerfile"], cwd=ROOT, env=ansible_env(),
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(tmp_path / "Containerfile", encoding="utf-8") as fh:
        containerfile = fh.read()
    assert 'ARG EE_BASE_IMAGE="colab/ee-base:trixie"' in containerfile
    assert 'ARG PKGMGR="/usr/bin/apt-get"' in containerfile
    assert "ansible-core==2.19.14 ansible-runner==2.4.3" in containerfile
    with open(tmp_path / "_build" / "requirements.txt", encoding="utf-8") as fh:
        assert "ansible==12.3.0" in fh.read()
    with open(tmp_path / "_build" / "bindep.txt", encoding="utf-8") as fh:
        assert "openssh-client [platform:dpkg]" in fh.read()

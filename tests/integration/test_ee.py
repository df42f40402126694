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


def _stages(containerfile):
    """The generated Containerfile's stages by name (`FROM ... AS <name>`), as line lists."""
    stages, name = {}, None
    for line in containerfile.splitlines():
        match = re.match(r"FROM \S+ AS (\w+)", line)
        if match:
            name = match.group(1)
            stages[name] = []
        elif name:
            stages[name].append(line)
    return stages


def test_build_compiles_only_what_the_controller_imports(tmp_path):
    """The cost of the EE build was pip byte-compiling the `ansible` package (~15,000 .py)
    twice: in the builder stage's throwaway venv and in the final stage (~4/5 of its
    install time, measured: 12 s with --no-compile, 54 s without). The builder stage
    compiles nothing; the final stage compiles the collections' plugins but not the
    modules and module_utils, which the nodes receive as source."""
    subprocess.run([tool("ansible-builder"), "create", "-f", ee.EE_FILE, "-c", str(tmp_path),
                    "--output-filename", "Containerfile"], cwd=ROOT, env=ansible_env(),
                   capture_output=True, text=True, timeout=300, check=True)
    stages = _stages((tmp_path / "Containerfile").read_text(encoding="utf-8"))
    builder, final = stages["builder"], stages["final"]
    # pip reads PIP_COMPILE=0 as --no-compile; an ARG is seen by the stage's RUNs only.
    assert builder.index("ARG PIP_COMPILE=0") < builder.index("RUN /output/scripts/assemble")
    install = next(i for i, ln in enumerate(final) if "install-from-bindep" in ln)
    assert final.index("ARG PIP_COMPILE=0") < install
    assert not any(ln.startswith("ENV") and "COMPILE" in ln for ln in builder + final)
    compile_all = [ln for ln in final if "compileall" in ln]
    assert len(compile_all) == 1 and final.index(compile_all[0]) > install
    assert "-x '/plugins/(modules|module_utils)/|/tests/'" in compile_all[0]
    assert "ansible_collections.__path__" in compile_all[0]

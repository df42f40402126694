"""A fresh Debian 12 machine: the Makefile's setup target installs what it needs itself.

The machine is a bare Debian 12 (bookworm) rootfs made with debootstrap --variant=minbase
and only python3 and make (the command a user types) added, imported as the image
colab/debian-fresh:bookworm (built once, rebuilt only when missing). A container of it
gets a copy of this checkout and runs `make venv` as root, the setup step every `make lab`
and `make test` starts with. Debian's python3 cannot make a virtualenv with pip without
python3-venv, and the rootfs has no ssh, git or openssl: the target must install them
from Debian's archive (deb.debian.org, plain http), then create .venv and install the
requirements from PyPI.

Cost: the first build of the image ~90 s (debootstrap), then per run ~30-60 s for apt
and pip. To keep it cheap the container installs only the ansible-core pin taken from
requirements.txt (REQUIREMENTS=..., the same target and recipe; the full set is ~470 MB
and is what every other layer of `make test` already installs on the host).
PyPI is reached through this workplace's TLS interception: the host's CA bundle is
mounted read-only for pip (PIP_CERT), never copied into the image.
"""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess

import pytest

from tests.helpers import OUTPUT, ROOT, require_engine

IMAGE = "colab/debian-fresh:bookworm"
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"
# What a checkout copy leaves out: local state that a fresh clone does not have.
NOT_IN_A_CLONE = (".git", ".venv", ".lab", ".ansible", ".cache", ".pytest_cache",
                  "tests/output")

_spec = importlib.util.spec_from_file_location("colab_lab_tool_fresh",
                                               os.path.join(ROOT, "lab", "lab.py"))
lab = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lab)


def ansible_core_pin():
    with open(os.path.join(ROOT, "requirements.txt"), encoding="utf-8") as fh:
        pins = [ln.strip() for ln in fh if ln.startswith("ansible-core==")]
    assert len(pins) == 1, "requirements.txt pins ansible-core once"
    return pins[0]


@pytest.fixture(scope="module")
def fresh_image():
    require_engine("make test starts one: make engine")
    lab.debootstrap_image(IMAGE, "bookworm", "python3,make", command="/bin/bash")
    return IMAGE


def run_in_fresh_machine(image, script, log_name, timeout=900):
    excludes = " ".join(f"--exclude=./{path}" for path in NOT_IN_A_CLONE)
    name = f"colab-fresh-machine-{os.getpid()}"
    cmd = ["docker", "run", "--rm", "--name", name,
           "-v", f"{ROOT}:/src:ro", "-v", f"{HOST_CA}:/run/host-ca.crt:ro",
           "-e", "PIP_CERT=/run/host-ca.crt", "-e", "PIP_DISABLE_PIP_VERSION_CHECK=1",
           "-e", "PIP_DEFAULT_TIMEOUT=60",
           image, "bash", "-euo", "pipefail", "-c",
           f"mkdir /checkout && tar -C /src {excludes} -cf - . | tar -C /checkout -xf - "
           f"&& cd /checkout && {script}"]
    os.makedirs(OUTPUT, exist_ok=True)
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=timeout, check=False)
    finally:
        subprocess.run(["docker", "rm", "-f", name], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
    with open(os.path.join(OUTPUT, log_name), "w", encoding="utf-8") as fh:
        fh.write(proc.stdout)
    return proc.returncode, proc.stdout


def test_make_venv_on_a_bare_debian_12(fresh_image):
    pin = ansible_core_pin()
    script = (
        # what the bare machine lacks before the setup runs
        "echo \"before: $(python3 -m venv /tmp/probe >/dev/null 2>&1 && echo venv-ok || echo no-venv)"
        " $(command -v ssh git openssl | wc -l)-tools\"; rm -rf /tmp/probe; "
        f"echo '{pin}' > /tmp/requirements.txt; "
        "make venv REQUIREMENTS=/tmp/requirements.txt; "
        "echo '--- second run'; make venv REQUIREMENTS=/tmp/requirements.txt; "
        "echo '--- after'; "
        "dpkg-query -W -f='${Package} ${Status}\\n' python3-venv openssh-client git openssl; "
        ".venv/bin/python -m pip --version; .venv/bin/ansible --version | sed -n 1p; "
        "test -f .venv/.installed && echo stamp-ok"
    )
    rc, out = run_in_fresh_machine(fresh_image, script, "fresh-machine-make-venv.log")
    assert rc == 0, out[-4000:]
    before, _sep, rest = out.partition("--- second run")
    second, _sep, after = rest.partition("--- after")
    assert "before: no-venv 0-tools" in before, "the rootfs is not bare: " + before[:500]
    assert re.search(r"installing .*python3-venv", before), before[-3000:]
    for pkg in ("python3-venv", "openssh-client", "git", "openssl"):
        assert f"{pkg} install ok installed" in after, after
    assert re.search(r"ansible \[core 2\.19\.\d+\]", after), after
    assert "stamp-ok" in after
    # the second run installs nothing and leaves the venv as it is
    assert "installing" not in second and "pip install" not in second, second
    assert "host packages present" in second

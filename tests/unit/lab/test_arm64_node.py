"""The emulated arm64 cooperator is made like the native nodes: lab/images/node (sshd, the
admin user) on the arm64 base, reached over ssh; `make lab LAB_COOPERATOR_ARCH=arm64`
converges an inventory that exists, and emulated work yields the CPU."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys

from tests.helpers import ROOT

_spec = importlib.util.spec_from_file_location("colab_lab_tool_arm64", os.path.join(ROOT, "lab", "lab.py"))
lab = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lab)


def _python(code, **env):
    return subprocess.run([sys.executable, "-c", code], cwd=os.path.join(ROOT, "lab"), capture_output=True,
                          text=True, timeout=60, check=True, env={**os.environ, **env}).stdout


def test_node_image_dockerfile_takes_its_base_as_a_build_arg():
    with open(os.path.join(ROOT, "lab", "images", "node", "Dockerfile"), encoding="utf-8") as fh:
        lines = [ln.strip() for ln in fh if ln.strip() and not ln.startswith("#")]
    assert lines[0] == f"ARG BASE_IMAGE={lab.BASE_IMAGE}"
    assert lines[1] == "FROM ${BASE_IMAGE}"


def test_node_image_digest_follows_its_base():
    assert lab.node_image_digest() == lab.node_image_digest(lab.BASE_IMAGE)
    assert lab.node_image_digest("colab/debian-systemd:trixie-arm64") != lab.node_image_digest()


def test_arm64_builds_the_node_image_on_the_arm64_base(monkeypatch):
    spec = importlib.util.spec_from_file_location("colab_arm64_tool", os.path.join(ROOT, "lab", "arm64.py"))
    arm64 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(arm64)
    calls = []
    monkeypatch.setattr(arm64.lab, "ensure_engine", lambda: None)
    monkeypatch.setattr(arm64, "ensure_binfmt", lambda: None)
    monkeypatch.setattr(arm64, "check_image", lambda tag=None: calls.append(("check", tag)))
    monkeypatch.setattr(arm64.lab, "ensure_image", lambda tag, arch=None: calls.append(("base", tag, arch)))
    monkeypatch.setattr(arm64.lab, "ensure_node_image",
                        lambda tag, base, build_args=(): calls.append(("node", tag, base, list(build_args))))
    arm64.ensure_image()
    assert calls == [("base", arm64.IMAGE, "arm64"), ("check", arm64.IMAGE),
                     ("node", arm64.NODE_IMAGE, arm64.IMAGE, ["--cpu-shares", "15"]),
                     ("check", arm64.NODE_IMAGE)]
    # What the Makefile makes cooperator from (LAB_COOPERATOR_IMAGE): the node image.
    tag = _python("import arm64; arm64.main(['tag'])").strip()
    assert tag == arm64.NODE_IMAGE == "colab/debian-systemd:trixie-arm64-ssh"


def test_emulated_cooperator_gets_the_lowest_cpu_weight():
    code = "import json, lab; print(json.dumps(lab.NODES))"
    native = json.loads(_python(code, LAB_COOPERATOR_ARCH=""))
    emulated = json.loads(_python(code, LAB_COOPERATOR_ARCH="arm64"))
    assert "run_args" not in native["cooperator"]
    assert emulated["cooperator"]["run_args"] == ["--cpu-shares", "15"]
    assert emulated["director"] == native["director"]


def test_make_lab_arm64_converges_an_inventory_that_exists_under_nice():
    out = subprocess.run(["make", "-n", "lab-converge", "LAB_COOPERATOR_ARCH=arm64"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    match = re.search(r"(\S*)\s+ansible-playbook -i (\S+) site\.yml", out)
    assert match, out
    assert os.path.isdir(os.path.join(ROOT, match.group(2))), f"{match.group(2)} does not exist"
    assert match.group(2) == "inventory/lab-arm64"
    assert "nice -n 19 ansible-playbook" in out
    native = subprocess.run(["make", "-n", "lab-converge"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, check=True).stdout
    assert "ansible-playbook -i inventory/lab site.yml" in native
    assert "nice" not in native


def _arm64(monkeypatch, tmp_path):
    spec = importlib.util.spec_from_file_location("colab_arm64_binfmt", os.path.join(ROOT, "lab", "arm64.py"))
    arm64 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(arm64)
    binfmt = tmp_path / "binfmt_misc"
    binfmt.mkdir()
    (binfmt / "register").write_text("", encoding="utf-8")
    monkeypatch.setattr(arm64, "BINFMT_DIR", str(binfmt))
    monkeypatch.setattr(arm64, "ensure_qemu", lambda: arm64.QEMU)
    monkeypatch.setattr(arm64.lab, "apt_install", lambda _pkgs: None)
    return arm64, binfmt


def test_binfmt_registers_qemu_10_with_credentials_and_disables_the_hosts(monkeypatch, tmp_path):
    """Under the host's QEMU 7.2 (bookworm) systemd 257 started no service in the arm64
    node (Result=resources: no sshd, no smbd, molecule arm64's prepare failed at its
    transient unit); QEMU 10 starts them. Without flag C, sudo says its effective uid
    is not 0."""
    arm64, binfmt = _arm64(monkeypatch, tmp_path)
    (binfmt / "qemu-aarch64").write_text(
        "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POF\noffset 0\n", encoding="utf-8")
    arm64.ensure_binfmt()
    line = (binfmt / "register").read_text(encoding="utf-8")
    assert line == arm64.registration()
    name, kind, _offset, magic, mask, interpreter, flags = line.split(":")[1:]
    assert (name, kind, interpreter) == ("qemu-aarch64-colab", "M", "/usr/local/libexec/colab-lab/qemu-aarch64")
    assert set(flags) == set("OCPF")
    # aarch64 ELF: e_machine 0xb7 (EM_AARCH64), the magic and mask of QEMU's binfmt.d conf
    assert magic.endswith(r"\x02\x00\xb7\x00") and mask.endswith(r"\xfe\xff\xff\xff")
    assert (binfmt / "qemu-aarch64").read_text(encoding="utf-8") == "0"


def test_binfmt_registered_as_wanted_is_left_alone(monkeypatch, tmp_path):
    arm64, binfmt = _arm64(monkeypatch, tmp_path)
    (binfmt / "qemu-aarch64-colab").write_text(
        f"enabled\ninterpreter {arm64.QEMU}\nflags: POCF\noffset 0\n", encoding="utf-8")
    arm64.ensure_binfmt()
    assert (binfmt / "register").read_text(encoding="utf-8") == ""
    assert (binfmt / "qemu-aarch64-colab").read_text(encoding="utf-8").startswith("enabled")
    # registered with other flags (no C): removed and registered again
    (binfmt / "qemu-aarch64-colab").write_text(f"enabled\ninterpreter {arm64.QEMU}\nflags: POF\n", encoding="utf-8")
    arm64.ensure_binfmt()
    assert (binfmt / "qemu-aarch64-colab").read_text(encoding="utf-8") == "-1"
    assert (binfmt / "register").read_text(encoding="utf-8") == arm64.registration()

"""An emulated arm64 (aarch64) cooperator for the lab, opt-in.

cooperator is aarch64 in the real cluster; the lab runs on x86_64. This builds the lab's
Debian 13 systemd base image for arm64 with QEMU user-mode emulation (qemu-user from Debian 13) + binfmt_misc, so the
cooperator roles can be converged on the architecture they meet in production:

    python3 lab/arm64.py binfmt   # QEMU 10 aarch64 emulator registered (binfmt_misc)
    python3 lab/arm64.py image    # the arm64 base image (built once, ~6 min) and the
                                  # arm64 node image on it (lab/images/node: sshd, admin user)
    python3 lab/arm64.py check    # a container of each reports uname -m = aarch64
    python3 lab/arm64.py tag      # the node image's tag (cooperator's, LAB_COOPERATOR_IMAGE)

`make lab LAB_COOPERATOR_ARCH=arm64` and `make test-arm64` call it. Every step checks
first: a second call changes nothing. Standard library only (runs before the venv).
"""
# Run on the controller with python3; not shipped as a plugin.
from __future__ import annotations

import argparse
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def _lab_tool():
    """lab/lab.py, by its path: `import lab` can also find the lab/ directory as a namespace
    package (from the project root, e.g. after a test's `from lab import images`)."""
    loaded = sys.modules.get("lab")
    if loaded is not None and getattr(loaded, "__file__", None) == os.path.join(HERE, "lab.py"):
        return loaded
    spec = importlib.util.spec_from_file_location("colab_lab_tool_for_arm64", os.path.join(HERE, "lab.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lab = _lab_tool()

ARCH = "arm64"
# A tag of its own: the x86_64 base image (colab/debian-systemd:trixie) is never touched.
IMAGE = os.environ.get("LAB_ARM64_IMAGE", "colab/debian-systemd:trixie-arm64")
# The arm64 node image: lab/images/node on IMAGE, what the native nodes' image
# (colab/debian-systemd:trixie-ssh) is on the native base. cooperator is made from it, so
# the lab reaches it over ssh as the admin user with become, as on the native lab.
NODE_IMAGE = os.environ.get("LAB_ARM64_NODE_IMAGE", "colab/debian-systemd:trixie-arm64-ssh")
BINFMT_DIR = "/proc/sys/fs/binfmt_misc"
# QEMU's user-mode emulator from Debian 13 (QEMU 10.0), not the host's bookworm package
# (QEMU 7.2): under 7.2, systemd 257 (PID 1 of the trixie node) fails to start every
# service, Result=resources (dbus, journald, ssh, `systemd-run`: seen here), so no sshd
# and no smbd; under 10.0 services and transient units start (the units that import
# systemd credentials still fail, 243/CREDENTIALS: journald, logind, tmpfiles; no role
# needs them). qemu-user is statically linked: its binary is all we take from the .deb.
QEMU_SUITE = os.environ.get("LAB_QEMU_SUITE", "trixie")
QEMU_PACKAGE = "qemu-user"
QEMU = "/usr/local/libexec/colab-lab/qemu-aarch64"
# Our own entry, so the host's qemu-aarch64 (bookworm's qemu-user-static) is not replaced,
# only disabled while ours is registered (`echo 1 > .../qemu-aarch64` turns it back on).
BINFMT_NAME = "qemu-aarch64-colab"
HOST_BINFMT_NAME = "qemu-aarch64"
# O: the kernel opens the binary for qemu; C: credentials from the binary, not from qemu
# (setuid sudo works: without C, "sudo: effective uid is not 0"); P: argv[0] preserved;
# F: the kernel opens qemu now, so containers need no copy of it.
BINFMT_FLAGS = "OCPF"


def ensure_qemu():
    """The QEMU 10 aarch64 emulator at QEMU (fetched once from Debian QEMU_SUITE)."""
    if os.access(QEMU, os.X_OK):
        return QEMU
    lab.log(f"fetching {QEMU_PACKAGE} from Debian {QEMU_SUITE} (a private apt state; "
            "only its static qemu-aarch64 is kept)")
    return lab.install_deb_file(QEMU_SUITE, QEMU_PACKAGE, "usr/bin/qemu-aarch64", QEMU)


def registration(interpreter=QEMU):
    """The binfmt_misc line for aarch64 ELF executables (magic and mask of QEMU's own
    binfmt.d/qemu-aarch64.conf) run by `interpreter`."""
    magic = r"\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00"
    mask = r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"
    return f":{BINFMT_NAME}:M::{magic}:{mask}:{interpreter}:{BINFMT_FLAGS}"


def _entry(name):
    """binfmt_misc's view of an entry: {'enabled': bool, 'interpreter': ..., 'flags': ...}."""
    path = os.path.join(BINFMT_DIR, name)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    entry = {"enabled": bool(lines) and lines[0] == "enabled"}
    for line in lines[1:]:   # "interpreter /path", "flags: POCF", "offset 0", ...
        key, value = (line.split(" ", 1) + [""])[:2]
        entry[key.rstrip(":")] = value.strip()
    return entry


def _write(name, text):
    try:
        with open(os.path.join(BINFMT_DIR, name), "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise lab.LabError(f"the kernel refused binfmt_misc/{name} <- {text[:40]}...: {exc}") from exc


def ensure_binfmt():
    """QEMU 10's aarch64 emulator registered with the kernel as BINFMT_NAME (flags OCPF),
    and the host's own qemu-aarch64 entry (QEMU 7.2), if any, disabled."""
    lab.apt_install(["debootstrap"])
    if not os.path.exists(os.path.join(BINFMT_DIR, "register")):
        lab.run(["mount", "-t", "binfmt_misc", "binfmt_misc", BINFMT_DIR])
    interpreter = ensure_qemu()
    entry = _entry(BINFMT_NAME)
    want_flags = "".join(sorted(BINFMT_FLAGS))
    if entry and (entry.get("interpreter") != interpreter
                  or "".join(sorted(entry.get("flags", ""))) != want_flags):
        _write(BINFMT_NAME, "-1")   # registered otherwise: removed, then registered again
        entry = None
    if entry is None:
        _write("register", registration(interpreter))
    elif not entry["enabled"]:
        _write(BINFMT_NAME, "1")
    host = _entry(HOST_BINFMT_NAME)
    if host and host["enabled"]:
        _write(HOST_BINFMT_NAME, "0")
        lab.log(f"binfmt {HOST_BINFMT_NAME} ({host.get('interpreter')}) disabled in favour of {BINFMT_NAME}")
    lab.log(f"binfmt {BINFMT_NAME} registered ({interpreter}, flags {BINFMT_FLAGS})")


def check_image(tag=IMAGE):
    """The image runs emulated: a container of it reports aarch64. No --platform on run:
    the engine here (20.10) would then look for the image in a registry. (That engine also
    records the imported image as amd64 whatever `import --platform` says; its contents,
    and so what runs, are arm64.)"""
    proc = lab.run(["docker", "run", "--rm", "--entrypoint", "uname", tag, "-m"], check=False,
                   timeout=120)
    machine = proc.stdout.strip()
    if proc.returncode != 0 or machine != "aarch64":
        raise lab.LabError(f"{tag} does not run as aarch64 here (uname -m: {machine or proc.stderr.strip()})")
    lab.log(f"{tag} runs emulated: uname -m = {machine}")


def ensure_image(tag=IMAGE, node_tag=NODE_IMAGE):
    lab.ensure_engine()
    ensure_binfmt()
    lab.ensure_image(tag, arch=ARCH)
    check_image(tag)
    # apt-get inside runs emulated: the build's containers get nice 19's CPU weight.
    lab.ensure_node_image(node_tag, base=tag, build_args=lab.EMULATED_RUN_ARGS)
    check_image(node_tag)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="arm64", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("binfmt").set_defaults(func=lambda _a: ensure_binfmt())
    sub.add_parser("image").set_defaults(func=lambda _a: ensure_image())
    sub.add_parser("check").set_defaults(func=lambda _a: [check_image(t) for t in (IMAGE, NODE_IMAGE)])
    sub.add_parser("tag").set_defaults(func=lambda _a: print(NODE_IMAGE))
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except lab.LabError as exc:
        print(f"arm64: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""An emulated arm64 (aarch64) cooperator for the lab, opt-in.

cooperator is aarch64 in the real cluster; the lab runs on x86_64. This builds the lab's
Debian 13 systemd base image for arm64 with qemu-user-static + binfmt_misc, so the
cooperator roles can be converged on the architecture they meet in production:

    python3 lab/arm64.py binfmt   # qemu-user-static installed, aarch64 registered
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
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import lab  # noqa: E402  pylint: disable=wrong-import-position

ARCH = "arm64"
# A tag of its own: the x86_64 base image (colab/debian-systemd:trixie) is never touched.
IMAGE = os.environ.get("LAB_ARM64_IMAGE", "colab/debian-systemd:trixie-arm64")
# The arm64 node image: lab/images/node on IMAGE, what the native nodes' image
# (colab/debian-systemd:trixie-ssh) is on the native base. cooperator is made from it, so
# the lab reaches it over ssh as the admin user with become, as on the native lab.
NODE_IMAGE = os.environ.get("LAB_ARM64_NODE_IMAGE", "colab/debian-systemd:trixie-arm64-ssh")
BINFMT_DIR = "/proc/sys/fs/binfmt_misc"
BINFMT_CONF = "/usr/lib/binfmt.d/qemu-aarch64.conf"
BINFMT_NAME = "qemu-aarch64"


def ensure_binfmt():
    """qemu-user-static installed and its aarch64 interpreter registered with the kernel
    (flag F: the kernel opens the interpreter now, so containers need no copy of it)."""
    lab.apt_install(["qemu-user-static", "debootstrap"])
    if not os.path.exists(os.path.join(BINFMT_DIR, "register")):
        lab.run(["mount", "-t", "binfmt_misc", "binfmt_misc", BINFMT_DIR])
    entry = os.path.join(BINFMT_DIR, BINFMT_NAME)
    if os.path.exists(entry):
        lab.log(f"binfmt {BINFMT_NAME} registered")
        return
    if not os.path.exists(BINFMT_CONF):
        raise lab.LabError(f"{BINFMT_CONF} is missing: qemu-user-static did not install it")
    with open(BINFMT_CONF, encoding="utf-8") as fh:
        line = next((ln.strip() for ln in fh if ln.startswith(":")), "")
    if not line:
        raise lab.LabError(f"{BINFMT_CONF} holds no binfmt registration line")
    try:
        with open(os.path.join(BINFMT_DIR, "register"), "w", encoding="utf-8") as fh:
            fh.write(line)
    except OSError as exc:
        raise lab.LabError(f"the kernel refused the {BINFMT_NAME} registration: {exc}") from exc
    lab.log(f"binfmt {BINFMT_NAME} registered")


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

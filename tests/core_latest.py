"""The collection's sanity and unit layers on the current ansible-core line (issue 29).

    python3 tests/core_latest.py run     # build the image when missing, then run both layers
    python3 tests/core_latest.py tag     # the image tag the current pins would give
    python3 tests/core_latest.py requirements   # the pip requirements installed in it

The host's Python (3.11) cannot run ansible-core 2.20 or later, which need Python 3.12.
This runs them in a Debian 13 container (its python3.13), built here like the EE: no image
is pulled. The image is the lab's local base (``colab/debian-systemd:trixie``, debootstrap)
plus Debian's python3-venv and the tools the unit layer calls, and a virtualenv with the
project's requirements.txt in which only the ansible-core / ansible pins are replaced by
CURRENT. pip reaches PyPI through this workplace's TLS interception: the host's CA bundle is
mounted read-only into the build container and the run container only (``pip --cert`` /
``PIP_CERT``), never copied into the image. The image is tagged by a hash of what goes into
it, so a second run builds nothing; ansible-test's per-test virtualenvs persist in the
docker volume VENV_VOLUME.

The run prints the ansible-core version, then ansible-test sanity (tests/sanity/run.sh,
no ignore files) and the unit layer (pytest tests/unit) on the checkout's files
(``run.sh --export-tree``), each with its exit status and seconds; it fails when either does.
Standard library only.
"""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REQUIREMENTS = os.path.join(ROOT, "requirements.txt")
LOCAL_DEBIAN = os.environ.get("COLAB_CORE_LATEST_DEBIAN_IMAGE", "colab/debian-systemd:trixie")
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"
VENV_VOLUME = "colab-core-latest-ansible"
# The current line: ansible 14.x ships ansible-core 2.21.x (both served by PyPI for
# Python 3.13, 2026-12-07).
CURRENT = {"ansible-core": "2.21.5", "ansible": "14.5.0"}
# Debian packages the two layers call besides python: make, openssl and ssh-keygen (unit
# tests), git (ansible-test reads the tree's VCS state when there is one), shellcheck (its
# sanity test).
PACKAGES = ["python3-venv", "make", "openssl", "openssh-client", "git", "shellcheck"]
VENV = "/opt/venv"
COLLECTION = "/src/ansible_collections/colab/cluster"
# Bump when the way the image is built changes (the hash covers the inputs, not this code).
RECIPE = "1"


def requirements(path=REQUIREMENTS):
    """requirements.txt with the ansible-core and ansible pins replaced by CURRENT."""
    lines, seen = [], set()
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            match = re.match(r"^([A-Za-z0-9_.-]+)==", line)
            if match and match.group(1).lower() in CURRENT:
                name = match.group(1).lower()
                seen.add(name)
                line = f"{name}=={CURRENT[name]}\n"
            lines.append(line)
    missing = sorted(set(CURRENT) - seen)
    if missing:
        raise ValueError(f"{path} pins none of {', '.join(missing)}")
    return "".join(lines)


def tag(reqs=None):
    digest = hashlib.sha256()
    for part in (LOCAL_DEBIAN, " ".join(PACKAGES), reqs or requirements(), RECIPE):
        digest.update(part.encode())
        digest.update(b"\0")
    return f"colab/core-latest:test-{digest.hexdigest()[:12]}"


def image_exists(name):
    return subprocess.run(["docker", "image", "inspect", name], capture_output=True,
                          check=False, timeout=60).returncode == 0


def build_script():
    return (f"set -eu; apt-get update -qq; "
            f"DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends {' '.join(PACKAGES)}"
            f" >/dev/null; rm -rf /var/lib/apt/lists/*; python3 -m venv {VENV}; "
            f"{VENV}/bin/pip install --quiet --disable-pip-version-check --cert /run/host-ca.crt -r /dev/stdin")


def build(name):
    """Make the image: a container of the local Debian base installs the packages and the
    virtualenv (CA mounted read-only), then is committed. Returns the seconds it took."""
    if not image_exists(LOCAL_DEBIAN):
        raise RuntimeError(f"{LOCAL_DEBIAN} is missing: run `make image` first")
    start = time.monotonic()
    work = f"colab-core-latest-build-{os.getpid()}"
    try:
        subprocess.run(["docker", "run", "-i", "--name", work, "--network", "host",
                        "-v", f"{HOST_CA}:/run/host-ca.crt:ro", LOCAL_DEBIAN,
                        "sh", "-c", build_script()],
                       input=requirements(), text=True, check=True, timeout=1800)
        subprocess.run(["docker", "commit", "--change", 'CMD ["/bin/bash"]',
                        "--change", f"ENV PATH={VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                        work, name], check=True, capture_output=True, timeout=600)
    finally:
        subprocess.run(["docker", "rm", "-f", work], capture_output=True, check=False, timeout=120)
    return time.monotonic() - start


# Inside the container: the version, then each layer with its status and seconds.
RUN_SCRIPT = f"""\
set -u
mkdir -p {COLLECTION} && cd {COLLECTION} && tar -xf -
# ansible-test's pip runs get a filtered environment (no PIP_CERT): the CA for this run's
# pip, in this throwaway container only.
printf '[global]\\ncert = /run/host-ca.crt\\n' > /etc/pip.conf
python -c 'import ansible, sys; print("ansible-core", ansible.__version__, "on Python", sys.version.split()[0])'
python -m pip show ansible 2>/dev/null | sed -n 's/^Version: /ansible (the package) /p'
fail=0
layer() {{
  name=$1; shift
  start=$(date +%s)
  "$@"; rc=$?
  echo "core-latest: $name rc=$rc in $(( $(date +%s) - start )) s"
  [ "$rc" = 0 ] || fail=1
}}
layer sanity env COLAB_SANITY_IN_PLACE=1 PYTHON={VENV}/bin/python tests/sanity/run.sh
# ansible.cfg's collections_path finds this checkout through the link git keeps (the tree
# export leaves it out: it loops for ansible-test)
mkdir -p collections/ansible_collections/colab && ln -sfn ../../.. collections/ansible_collections/colab/cluster
layer unit python -m pytest -q -p no:cacheprovider tests/unit
exit $fail
"""


def run_layers(name):
    tree = subprocess.Popen([os.path.join(ROOT, "tests", "sanity", "run.sh"), "--export-tree"],
                            stdout=subprocess.PIPE)
    proc = subprocess.run(["docker", "run", "-i", "--rm", "--network", "host",
                           "-v", f"{HOST_CA}:/run/host-ca.crt:ro", "-e", "PIP_CERT=/run/host-ca.crt",
                           "-e", "PIP_DISABLE_PIP_VERSION_CHECK=1",
                           "-v", f"{VENV_VOLUME}:/root/.ansible", name, "bash", "-c", RUN_SCRIPT],
                          stdin=tree.stdout, check=False, timeout=5400)
    tree.stdout.close()
    if tree.wait() != 0:
        raise RuntimeError("tests/sanity/run.sh --export-tree failed")
    return proc.returncode


def main(argv):
    if argv[1:] == ["tag"]:
        print(tag())
        return 0
    if argv[1:] == ["requirements"]:
        sys.stdout.write(requirements())
        return 0
    if argv[1:] == ["run"]:
        name = tag()
        if image_exists(name):
            print(f"core-latest: image {name} present", flush=True)
        else:
            print(f"core-latest: building {name} (ansible-core {CURRENT['ansible-core']}, "
                  f"ansible {CURRENT['ansible']}) on {LOCAL_DEBIAN}", flush=True)
            print(f"core-latest: image built in {build(name):.0f} s", flush=True)
        start = time.monotonic()
        rc = run_layers(name)
        print(f"core-latest: {'passed' if rc == 0 else 'FAILED'} in {time.monotonic() - start:.0f} s", flush=True)
        return rc
    print(__doc__.split("\n\n", 1)[0], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

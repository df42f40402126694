"""Build the execution environment of execution-environment.yml here, offline, cached.

    python3 tests/ee.py build        # prints the image tag (builds only when missing)
    python3 tests/ee.py tag          # prints the tag the current files would give

No image registry is reachable on the machines this project is built on, and pip inside
a container reaches PyPI only through a TLS interception whose CA the host holds. So:

1. the EE's base (awx/ee-base/Containerfile) is built FROM the local Debian image
   (``colab/debian-systemd:trixie``) instead of Debian's official image;
2. the Python packages every ansible-builder stage installs are downloaded once into a
   wheelhouse by a throwaway container of that base that has the host's CA bundle
   *mounted read-only* (never copied into an image), with the same python and platform
   the image has;
3. a thin test layer on the base carries that wheelhouse and a pip.conf that makes pip
   use only it (no network, no CA at build time); it is passed to the generated build
   as ``EE_BASE_IMAGE`` (the ARG ansible-builder makes of ``images.base_image``);
4. ``ansible-builder create`` writes the build context from execution-environment.yml
   and ``docker build`` builds it.

Every image is tagged by a hash of what goes into it (the EE file, the base Containerfile,
the pip requirements, the test layer, RECIPE), so a second run finds the image and builds nothing. These images are local
test artifacts: tagged ``test-<hash>``, they are never pushed anywhere.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EE_FILE = os.path.join(ROOT, "execution-environment.yml")
BASE_DIR = os.path.join(ROOT, "awx", "ee-base")
LOCAL_DEBIAN = os.environ.get("COLAB_EE_DEBIAN_IMAGE", "colab/debian-systemd:trixie")
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"
CACHE = os.path.join(ROOT, ".cache", "ee")
BIN = os.path.dirname(sys.executable)
# What ansible-builder's generated stages install with pip besides the EE's own list:
# bindep/pyyaml/packaging (builder stage) and dumb-init (options.container_init default).
BUILDER_EXTRAS = ["bindep", "pyyaml", "packaging", "dumb-init==1.2.5", "setuptools", "wheel"]

# Bump when the way the images are built changes (the hash covers the inputs, not this code).
RECIPE = "1"

TEST_LAYER = """\
FROM {base}
COPY wheelhouse/ /opt/colab-wheelhouse/
RUN printf '[global]\\nno-index = true\\nfind-links = /opt/colab-wheelhouse\\n' > /etc/pip.conf
LABEL org.opencontainers.image.description="colab.cluster EE test base: pip resolves only from the local wheelhouse"
"""


def _hash(*parts):
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:12]


def _read(path):
    with open(path, "rb") as fh:
        return fh.read()


def ee_definition():
    with open(EE_FILE, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def pip_requirements(definition=None):
    """Every pip requirement the build installs, from the EE file itself."""
    deps = (definition or ee_definition())["dependencies"]
    reqs = [deps["ansible_core"]["package_pip"], deps["ansible_runner"]["package_pip"]]
    reqs += list(deps.get("python") or [])
    return reqs + BUILDER_EXTRAS


def tags():
    base_key = _hash(_read(os.path.join(BASE_DIR, "Containerfile")), LOCAL_DEBIAN)
    test_key = _hash(base_key, TEST_LAYER, "\n".join(pip_requirements()))
    ee_key = _hash(test_key, _read(EE_FILE), RECIPE)
    return {
        "base": f"colab/ee-base:test-{base_key}",
        "test_base": f"colab/ee-base:test-{test_key}-wheels",
        "ee": f"colab/cluster-ee:test-{ee_key}",
    }


def image_exists(tag):
    return subprocess.run(["docker", "image", "inspect", tag], capture_output=True,
                          check=False, timeout=60).returncode == 0


def _run(cmd, log, timeout, **kw):
    log.write(f"\n$ {' '.join(cmd)}\n")
    log.flush()
    start = time.monotonic()
    proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=timeout,
                          check=False, **kw)
    log.write(f"[rc={proc.returncode} in {time.monotonic() - start:.0f} s]\n")
    log.flush()
    if proc.returncode:
        raise RuntimeError(f"{cmd[0]} {cmd[1]} failed (rc={proc.returncode}); see {log.name}")


def build(log):
    """Build whatever is missing; return (tags, seconds spent, what was built).

    One build at a time per checkout (a lock file under .cache/ee): a second caller waits,
    then finds the image."""
    os.makedirs(CACHE, exist_ok=True)
    with open(os.path.join(CACHE, "build.lock"), "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build(log)


def _build(log):
    names = tags()
    built = []
    start = time.monotonic()
    if image_exists(names["ee"]):
        return names, 0.0, built
    if not image_exists(LOCAL_DEBIAN):
        raise RuntimeError(f"{LOCAL_DEBIAN} is missing: run `make image` first")
    if not image_exists(names["base"]):
        _run(["docker", "build", "-f", os.path.join(BASE_DIR, "Containerfile"),
              "--build-arg", f"DEBIAN_IMAGE={LOCAL_DEBIAN}", "-t", names["base"],
              BASE_DIR], log, timeout=900)
        built.append(names["base"])
    if not image_exists(names["test_base"]):
        work = tempfile.mkdtemp(prefix="colab-ee-base-")
        try:
            wheelhouse = os.path.join(work, "wheelhouse")
            os.makedirs(wheelhouse)
            # The CA is mounted read-only into this throwaway container only; the wheels
            # it downloads are plain files and are all the image layer below receives.
            _run(["docker", "run", "--rm", "--network", "host",
                  "-v", f"{HOST_CA}:/run/host-ca.crt:ro", "-e", "PIP_CERT=/run/host-ca.crt",
                  "-e", "PIP_BREAK_SYSTEM_PACKAGES=1", "-e", "PIP_DISABLE_PIP_VERSION_CHECK=1",
                  "-v", f"{wheelhouse}:/wheelhouse", names["base"],
                  "python3", "-m", "pip", "download", "--quiet", "--dest", "/wheelhouse",
                  *pip_requirements()], log, timeout=1200)
            with open(os.path.join(work, "Dockerfile"), "w", encoding="utf-8") as fh:
                fh.write(TEST_LAYER.format(base=names["base"]))
            _run(["docker", "build", "-t", names["test_base"], work], log, timeout=900)
            built.append(names["test_base"])
        finally:
            shutil.rmtree(work, ignore_errors=True)
    context = tempfile.mkdtemp(prefix="colab-ee-context-")
    try:
        _run([os.path.join(BIN, "ansible-builder"), "create", "-f", EE_FILE, "-c", context,
              "--output-filename", "Containerfile"], log, timeout=300, cwd=ROOT)
        _run(["docker", "build", "-f", os.path.join(context, "Containerfile"),
              "--build-arg", f"EE_BASE_IMAGE={names['test_base']}", "-t", names["ee"], context],
             log, timeout=5400)
        built.append(names["ee"])
    finally:
        shutil.rmtree(context, ignore_errors=True)
    return names, time.monotonic() - start, built


def main(argv):
    if argv[1:] == ["tag"]:
        print(tags()["ee"])
        return 0
    if argv[1:] == ["build"]:
        os.makedirs(CACHE, exist_ok=True)
        with open(os.path.join(CACHE, "build.log"), "a", encoding="utf-8") as log:
            names, seconds, built = build(log)
        print(names["ee"])
        print(f"built {', '.join(built) or 'nothing (cached)'} in {seconds:.0f} s", file=sys.stderr)
        return 0
    print(__doc__.split("\n\n", 1)[0], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

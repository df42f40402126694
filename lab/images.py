"""Build the lab's locally made service images and save them for the nodes' engines.

No image registry is reachable here, so every service image the lab needs is built on
the host from ``lab/images/<name>/Dockerfile`` (FROM colab/debian-systemd:trixie, with
apt-get inside) and saved to ``.lab/images/<name>.tar``. The docker role loads those
archives into a node's nested engine (``docker_image_archives``) when missing.

    python3 lab/images.py          # build what is missing, save what is not saved yet

Every step checks first: a second call builds and saves nothing. Standard library only.
"""
# Run on the controller with python3; not shipped as a plugin.
from __future__ import annotations

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
IMAGES_DIR = os.path.join(ROOT, ".lab", "images")

# name (directory under lab/images/) -> tag. The tags say what the images are:
# colab/postgres:17 is Debian 13's real PostgreSQL 17; colab/gitea-standin:3 is NOT Gitea;
# colab/s3-standin:2 is NOT MinIO (moto's S3 server from Debian's python3-moto);
# colab/registry:2.8 IS the CNCF distribution registry (Debian's docker-registry 2.8.3);
# colab/mcp-standin:1 is NOT Ollama nor Open WebUI.
IMAGES = {
    "postgres": "colab/postgres:17",
    "gitea-standin": "colab/gitea-standin:3",
    "s3-standin": "colab/s3-standin:2",
    "registry": "colab/registry:2.8",
    "mcp-standin": "colab/mcp-standin:1",
}
BUILD_TIMEOUT = 900
SAVE_TIMEOUT = 300


class ImageError(Exception):
    """A build problem, reported as one line."""


def log(msg):
    print(f"lab images: {msg}", flush=True)


def image_id(tag):
    proc = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", tag],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                          check=False, timeout=30)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def build(name, tag):
    context = os.path.join(HERE, "images", name)
    log(f"building {tag} from lab/images/{name} (apt-get inside; done once)")
    try:
        proc = subprocess.run(["docker", "build", "-q", "-t", tag, context],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              check=False, timeout=BUILD_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise ImageError(f"building {tag} took longer than {BUILD_TIMEOUT}s") from exc
    if proc.returncode != 0:
        tail = [ln for ln in proc.stderr.splitlines() if ln.strip()][-1:]
        raise ImageError(f"docker build {tag} failed: {tail[0] if tail else proc.returncode}")


def save(name, tag, ident):
    """Save the image when its archive is missing or holds another build."""
    os.makedirs(IMAGES_DIR, exist_ok=True)
    archive = os.path.join(IMAGES_DIR, f"{name}.tar")
    stamp = archive + ".id"
    if os.path.exists(archive) and os.path.exists(stamp):
        with open(stamp, encoding="utf-8") as fh:
            if fh.read().strip() == ident:
                return False
    try:
        subprocess.run(["docker", "save", "-o", archive + ".new", tag], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=SAVE_TIMEOUT)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise ImageError(f"docker save {tag} failed: {exc}") from exc
    os.replace(archive + ".new", archive)
    with open(stamp, "w", encoding="utf-8") as fh:
        fh.write(ident + "\n")
    log(f"saved {tag} to {os.path.relpath(archive, ROOT)}")
    return True


def ensure_images(images=None):
    for name, tag in (images or IMAGES).items():
        ident = image_id(tag)
        if ident:
            log(f"{tag} present")
        else:
            build(name, tag)
            ident = image_id(tag)
            if not ident:
                raise ImageError(f"{tag} is missing after its build")
        save(name, tag, ident)


def main():
    try:
        ensure_images()
    except ImageError as exc:
        print(f"lab images: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""colab.cluster.serves on recorded `docker ps` rows (modules/fixtures/preflight/README.md)."""
from __future__ import annotations

import os

from ansible_collections.colab.cluster.plugins.test.docker import serves

ROWS = os.path.join(os.path.dirname(__file__), "..", "modules", "fixtures", "preflight",
                    "docker_ps_rows.dockerd-20.10.24.txt")


def rows():
    with open(ROWS, encoding="utf-8") as fh:
        return [line.split("|") for line in fh.read().splitlines() if line]


def test_by_service_image_or_port():
    hand, compose = rows()
    assert serves(compose, "gitea")                       # Compose service name
    assert not serves(hand, "gitea", "gitea/gitea", [3300])
    assert serves(hand, "caddy", "caddy", [80, 443, 39997])  # the published host port
    assert serves(hand, "x", "colab/debian-systemd")       # the image, any tag
    assert not serves(compose, "caddy", "caddy", [80, 443])  # 39999->80 is host port 39999

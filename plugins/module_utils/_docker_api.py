# -*- coding: utf-8 -*-
# Copyright: colab.cluster developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A tiny read-only Docker Engine API client over a unix socket (no dependencies).

compose_stack reads the project's containers, the local images and the networks through it when
the engine is a local unix socket: three HTTP requests in one process instead of three docker CLI
processes. Anything else (tcp://, ssh://, a docker context) goes through the docker CLI.
Endpoints used (Engine API, stable since v1.25): GET /containers/json, /images/json, /networks,
/volumes, /images/{name}/json; and GET /distribution/{name}/json (v1.30), which asks the image's
registry for its current manifest digest without pulling anything.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from urllib.parse import quote

DEFAULT_SOCKET = "/var/run/docker.sock"


class DockerAPIError(Exception):
    pass


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._socket_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def local_socket(env) -> str | None:
    """The unix socket path when the CLI would talk to one without a context, else None."""
    if env.get("DOCKER_CONTEXT") and env["DOCKER_CONTEXT"] != "default":
        return None
    host = env.get("DOCKER_HOST")
    if host:
        return host[len("unix://"):] if host.startswith("unix://") else None
    config_dir = env.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    try:
        with open(os.path.join(config_dir, "config.json"), encoding="utf-8") as handle:
            context = json.load(handle).get("currentContext")
    except (OSError, ValueError):
        context = None
    if context and context != "default":
        return None
    return DEFAULT_SOCKET


class DockerAPI:
    def __init__(self, path: str, timeout: float) -> None:
        self.path = path
        self.timeout = timeout

    def get(self, url: str, timeout: float | None = None):
        conn = _UnixConnection(self.path, timeout or self.timeout)
        try:
            conn.request("GET", url, headers={"Host": "docker"})
            resp = conn.getresponse()
            body = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise DockerAPIError(str(exc) or exc.__class__.__name__) from exc
        finally:
            conn.close()
        if resp.status != 200:
            raise DockerAPIError("HTTP %s on %s: %s" % (resp.status, url, body[:500].decode("utf-8", "replace")))
        return json.loads(body)

    def containers(self, *labels: str):
        """Containers carrying every one of ``labels`` (``key=value`` or a bare ``key``: present)."""
        filters = quote(json.dumps({"label": list(labels)}))
        return self.get("/containers/json?all=1&filters=" + filters)

    def images(self):
        return self.get("/images/json")

    def networks(self):
        return self.get("/networks")

    def volumes(self, label: str):
        filters = quote(json.dumps({"label": [label]}))
        return self.get("/volumes?filters=" + filters)

    def image(self, name: str):
        return self.get("/images/%s/json" % quote(name, safe="/:@"))

    def distribution(self, name: str, timeout: float | None = None):
        """The registry's descriptor of an image reference ({"Descriptor": {"digest": ...}})."""
        return self.get("/distribution/%s/json" % quote(name, safe="/:@"), timeout)

"""compose_stack and the rules Compose v5 changed (issue 29), read in github.com/docker/compose/v5@v5.6.0
(the module zip the Go proxy serves; lab/gobuild.py builds the plugin from it).

- Containers: Compose lists a project's containers with a config-hash label at all
  (pkg/compose/containers.go getDefaultFilters, hasConfigHashLabel, @v2.26.1, @v2.40.3, @v5.6.0).
  5.6.0's pre_start hook runners carry the project and service labels and no config hash
  (create.go NoConfigHash, pre_start.go createPreStartContainer); a failed one is kept for its logs.
  The module asks the engine with the same two labels, so a runner is never read as a replica.
"""
from __future__ import annotations

import http.server
import json
import os
import socketserver
import threading
from urllib.parse import parse_qs, urlparse

from ansible_collections.colab.cluster.plugins.module_utils import _compose as c
from ansible_collections.colab.cluster.plugins.module_utils._docker_api import DockerAPI


def stack(project="cstv5"):
    st = object.__new__(c.ComposeStack)
    st.project, st.docker = project, "/usr/bin/docker"
    return st


def test_ps_lists_only_containers_with_a_config_hash_label():
    argv = stack().ps_args()
    filters = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--filter"]
    assert filters == ["label=com.docker.compose.project=cstv5", "label=com.docker.compose.config-hash"]


class _Recorder(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    seen = []


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        self.server.seen.append(self.path)
        body = b"[]"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_the_api_asks_for_the_same_two_labels(tmp_path):
    """The module's own Engine API client on a real unix socket: the filters of GET /containers/json."""
    path = str(tmp_path / "engine.sock")
    server = _Recorder(path, _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        st = stack()
        assert DockerAPI(path, 5).containers(*st.container_labels()) == []
    finally:
        server.shutdown()
        server.server_close()
    query = parse_qs(urlparse(server.seen[0]).query)
    assert query["all"] == ["1"]
    assert json.loads(query["filters"][0]) == {"label": ["com.docker.compose.project=cstv5",
                                                         "com.docker.compose.config-hash"]}
    assert os.path.basename(urlparse(server.seen[0]).path) == "json"

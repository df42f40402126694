"""A Semaphore UI API double: the part of /api/project/{id}/ semaphore/configure.yml uses.

Transcribed from semaphoreui/semaphore (no Semaphore can run here):
- routes and status codes from api/router.go and api/projects/templates.go @ v2.10.32:
  GET repositories|inventory|environment|templates -> 200 + JSON list; POST templates ->
  201 + the new template; PUT templates/{id} -> 204; a missing or wrong bearer token -> 401;
- the template's JSON fields from db/Template.go @ 87db92151cdde5f160b44e1ade736975761db267:
  ``task_params`` holds the ansible template's launch prompts (AnsibleTemplateParams:
  allow_debug, allow_override_inventory, allow_override_limit, allow_override_tags,
  allow_override_skip_tags, limit, tags, skip_tags); the server returns every field of
  AnsibleTemplateParams once task_params is set (the double fills the missing ones
  with their zero values, the way Go's json encoding of the struct does).
Every request is recorded (method, path) so a test can count writes.
"""
from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSIBLE_TEMPLATE_PARAMS = {"allow_debug": False, "allow_override_inventory": False,
                           "allow_override_limit": False, "allow_override_tags": False,
                           "allow_override_skip_tags": False, "limit": [], "tags": [],
                           "skip_tags": []}


class SemaphoreDouble:
    def __init__(self, token, project_id=1):
        self.token = token
        self.project_id = project_id
        self.requests = []
        self.templates = {}
        self.lists = {
            "repositories": [{"id": 11, "name": "colab.cluster", "project_id": project_id}],
            "inventory": [{"id": 12, "name": "colab production", "project_id": project_id}],
            "environment": [{"id": 13, "name": "colab", "project_id": project_id}],
        }
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    def writes(self):
        return [r for r in self.requests if r[0] in ("POST", "PUT")]

    def _store(self, body, template_id):
        template = dict(body, id=template_id)
        if "task_params" in template:
            template["task_params"] = {**ANSIBLE_TEMPLATE_PARAMS, **template["task_params"]}
        self.templates[template_id] = template

    def _handler(self):
        double = self
        prefix = re.compile(rf"^/api/project/{double.project_id}/(?P<rest>.*)$")

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, status, data=None):
                payload = b"" if data is None else json.dumps(data).encode()
                self.send_response(status)
                if data is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _route(self, method):
                double.requests.append((method, self.path))
                if self.headers.get("Authorization") != f"Bearer {double.token}":
                    return self._reply(401, {"error": "not authenticated"})
                match = prefix.match(self.path)
                if not match:
                    return self._reply(404, {"error": "not found"})
                rest = match["rest"].rstrip("/")
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                if method == "GET" and rest in double.lists:
                    return self._reply(200, double.lists[rest])
                if method == "GET" and rest == "templates":
                    return self._reply(200, list(double.templates.values()))
                if method == "POST" and rest == "templates":
                    new_id = 100 + len(double.templates)
                    double._store(body, new_id)
                    return self._reply(201, double.templates[new_id])
                put = re.fullmatch(r"templates/(\d+)", rest)
                if method == "PUT" and put and int(put[1]) in double.templates:
                    double._store(body, int(put[1]))
                    return self._reply(204)
                return self._reply(404, {"error": "not found"})

            def do_GET(self):  # noqa: N802 - http.server's naming
                self._route("GET")

            def do_POST(self):  # noqa: N802
                self._route("POST")

            def do_PUT(self):  # noqa: N802
                self._route("PUT")

        return Handler

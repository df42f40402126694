"""Lab stand-in for Ollama (:11434) and Open WebUI (:8080): NOT them, see the Dockerfile."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWERS = {
    "/api/version": {"version": "0.0.0-lab-standin"},
    "/api/tags": {"models": []},
    "/health": {"status": True},
}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        body = ANSWERS.get(self.path.split("?", 1)[0])
        data = json.dumps(body if body is not None else {"detail": "Not Found"}).encode()
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args):
        pass


def main():
    servers = [ThreadingHTTPServer(("", port), Handler) for port in (11434, 8080)]
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        servers[0].serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

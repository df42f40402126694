#!/bin/sh
# Stand-in for the `minio` binary (colab/s3-standin, NOT MinIO): accepts
# `minio server DIR [--console-address ADDR] [--address ADDR]` and serves moto's S3 API.
set -eu
if [ "${1:-}" != server ]; then
    echo "s3-standin: only 'minio server' is supported" >&2
    exit 2
fi
shift
api=9000
console=9001
while [ $# -gt 0 ]; do
    case "$1" in
        --console-address) console="${2##*:}"; shift 2 ;;
        --address) api="${2##*:}"; shift 2 ;;
        *) shift ;;  # the data directory: moto keeps its state in memory
    esac
done
# A placeholder where MinIO's console would be, so the published port answers.
python3 -c '
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"s3-standin: no MinIO console here (moto S3 on the API port)\n"
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), H).serve_forever()
' "$console" &
exec python3 -m moto.server -H 0.0.0.0 -p "$api"

#!/bin/sh
# Stand-in for the `minio` binary (colab/s3-standin, NOT MinIO): accepts
# `minio server DIR [--console-address ADDR] [--address ADDR]` and serves moto's S3 API
# through standin.py (root credentials checked, buckets kept as directories of DIR).
set -eu
if [ "${1:-}" != server ]; then
    echo "s3-standin: only 'minio server' is supported" >&2
    exit 2
fi
shift
api=9000
console=9001
data=/data
while [ $# -gt 0 ]; do
    case "$1" in
        --console-address) console="${2##*:}"; shift 2 ;;
        --address) api="${2##*:}"; shift 2 ;;
        *) data="$1"; shift ;;
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
exec python3 /usr/local/lib/s3-standin/standin.py "$data" "$api"

#!/bin/sh
# Stand-in for MinIO's client (colab/s3-standin, NOT mc): only `mc ready ALIAS`, the
# image's health check, which succeeds once the S3 API on :9000 answers HTTP.
if [ "${1:-}" != ready ]; then
    echo "s3-standin: only 'mc ready' is supported" >&2
    exit 2
fi
exec python3 -c '
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen("http://127.0.0.1:9000/", timeout=4)
except urllib.error.HTTPError:
    pass  # any HTTP answer means the server is up
except Exception as exc:
    print("s3-standin: not ready:", exc, file=sys.stderr)
    sys.exit(1)
print("The cluster is ready")
'

#!/bin/sh
# Build colab/debian-systemd:trixie-mesh once (molecule mesh's dependency step).
set -eu
here=$(dirname "$0")
docker image inspect colab/debian-systemd:trixie-mesh >/dev/null 2>&1 && exit 0
exec docker build -q -t colab/debian-systemd:trixie-mesh "$here"

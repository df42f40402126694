#!/bin/sh
# Build colab/debian-systemd:trixie-mesh (molecule mesh's dependency step): once, and again
# when the Dockerfile changed (its sha256 is the image's colab.dockerfile label).
set -eu
here=$(dirname "$0")
want=$(sha256sum "$here/Dockerfile" | cut -d' ' -f1)
have=$(docker image inspect -f '{{ index .Config.Labels "colab.dockerfile" }}' \
  colab/debian-systemd:trixie-mesh 2>/dev/null || true)
[ "$have" = "$want" ] && exit 0
exec docker build -q --label "colab.dockerfile=$want" -t colab/debian-systemd:trixie-mesh "$here"

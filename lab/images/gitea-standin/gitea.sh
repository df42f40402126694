#!/bin/sh
# The stand-in's `gitea` command: runs as the git user (uid 1000), like the rootless image.
if [ "$(id -u)" = 0 ]; then
    exec setpriv --reuid=git --regid=git --init-groups env HOME=/var/lib/gitea \
        python3 /usr/local/lib/gitea_standin.py "$@"
fi
exec python3 /usr/local/lib/gitea_standin.py "$@"

"""Package the mesh double as .deb files, the way the real releases ship:
headscale_<version>_linux_<arch>.deb (goreleaser/nfpm name) and tailscale_<version>_<arch>.deb.

Usage: python3 build_debs.py OUTDIR [--headscale 0.25.1,0.26.1,0.28.0] [--tailscale 1.82.5]
Needs dpkg-deb. The packages hold the Python double (tests/doubles/mesh/*.py), a wrapper
in /usr/bin and a systemd unit, so the roles' local-package install path runs unchanged.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

HEADSCALE_UNIT = """[Unit]
Description=headscale coordination server (colab mesh double)
After=network-online.target

[Service]
Type=simple
ExecStart=/usr/bin/headscale serve
ExecReload=/bin/kill -HUP $MAINPID
RuntimeDirectory=headscale
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""

TAILSCALED_UNIT = """[Unit]
Description=Tailscale node agent (colab mesh double)
After=network-online.target

[Service]
ExecStart=/usr/sbin/tailscaled
RuntimeDirectory=tailscale
StateDirectory=tailscale
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""


def _write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, mode)


# The user and group the real package's postinst makes (transcribed from
# packaging/deb/postinst@v0.29.3 of juanfont/headscale): the role sets the data
# directory to headscale:headscale 0750 as the real unit's StateDirectory does.
HEADSCALE_POSTINST = """#!/bin/sh
set -e
if [ "$1" = configure ]; then
  groupadd --force --system headscale
  if ! id -u headscale >/dev/null 2>&1; then
    useradd --system --shell /usr/sbin/nologin --gid headscale \\
      --home-dir /var/lib/headscale --comment "headscale default user" headscale
  fi
fi
"""


def _build(root, name, version, arch, outfile, description, postinst=None):
    if postinst:
        _write(os.path.join(root, "DEBIAN", "postinst"), postinst, 0o755)
    _write(os.path.join(root, "DEBIAN", "control"),
           f"Package: {name}\nVersion: {version}\nArchitecture: {arch}\n"
           "Maintainer: colab.cluster tests <noreply@example.org>\nDepends: python3\n"
           f"Description: {description}\n")
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", root, outfile],
                   check=True, stdout=subprocess.DEVNULL)


def _lib(root, program, version):
    lib = os.path.join(root, "usr", "lib", "mesh-double")
    os.makedirs(lib)
    for name in (program + ".py", "meshcommon.py"):
        shutil.copy(os.path.join(HERE, name), lib)
    _write(os.path.join(lib, program + ".version"), version + "\n")


def headscale(outdir, version, arch):
    with tempfile.TemporaryDirectory() as root:
        _lib(root, "headscale", version)
        _write(os.path.join(root, "usr", "bin", "headscale"),
               "#!/bin/sh\nexec /usr/bin/python3 /usr/lib/mesh-double/headscale.py \"$@\"\n", 0o755)
        _write(os.path.join(root, "lib", "systemd", "system", "headscale.service"), HEADSCALE_UNIT)
        out = os.path.join(outdir, f"headscale_{version}_linux_{arch}.deb")
        _build(root, "headscale", version, arch, out, "headscale double (tests only, not headscale)",
               postinst=HEADSCALE_POSTINST)
        return out


def tailscale(outdir, version, arch):
    with tempfile.TemporaryDirectory() as root:
        _lib(root, "tailscale", version)
        _write(os.path.join(root, "usr", "bin", "tailscale"),
               "#!/bin/sh\nexec /usr/bin/python3 /usr/lib/mesh-double/tailscale.py \"$@\"\n", 0o755)
        _write(os.path.join(root, "usr", "sbin", "tailscaled"),
               "#!/bin/sh\nexec /usr/bin/python3 /usr/lib/mesh-double/tailscale.py __daemon__ \"$@\"\n", 0o755)
        _write(os.path.join(root, "lib", "systemd", "system", "tailscaled.service"), TAILSCALED_UNIT)
        out = os.path.join(outdir, f"tailscale_{version}_{arch}.deb")
        _build(root, "tailscale", version, arch, out, "tailscale double (tests only, not tailscale)")
        return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("outdir")
    parser.add_argument("--headscale", default="0.25.1,0.26.1,0.28.0")
    parser.add_argument("--tailscale", default="1.82.5")
    parser.add_argument("--arch", default="amd64")
    args = parser.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    for version in filter(None, args.headscale.split(",")):
        print(headscale(args.outdir, version, args.arch))
    for version in filter(None, args.tailscale.split(",")):
        print(tailscale(args.outdir, version, args.arch))


if __name__ == "__main__":
    main()

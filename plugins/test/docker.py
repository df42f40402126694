# Copyright: (c) 2026, colab.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests on what `docker ps` reports (one place for the rule the service roles share)."""
from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

# "0.0.0.0:3300->3000/tcp, [::]:3300->3000/tcp"
_HOST_PORT = re.compile(r":(\d+)(?:-(\d+))?->")


def _host_ports(text):
    ports = set()
    for match in _HOST_PORT.finditer(text or ""):
        first = int(match.group(1))
        ports.update(range(first, int(match.group(2) or first) + 1))
    return ports


def serves(row, service, image_repository="", host_ports=None):
    """True when a container row serves ``service``.

    ``row`` is ``[project, service, name, image, ports]`` (a ``docker ps --format``
    line split on ``|``). It serves when its Compose service is named ``service``, its
    image is ``image_repository`` (any tag), or it publishes one of ``host_ports``.
    """
    if not isinstance(row, (list, tuple)) or len(row) < 5:
        raise AnsibleFilterError(f"serves: expected [project, service, name, image, ports], got {row!r}")
    _project, svc, _name, image, ports = row[:5]
    if svc == service:
        return True
    repo = image.rsplit(":", 1)[0] if ":" in image.split("/")[-1] else image
    if image_repository and repo == image_repository:
        return True
    wanted = {int(p) for p in (host_ports or [])}
    return bool(wanted & _host_ports(ports))


class TestModule:
    def tests(self):
        return {"serves": serves}

# -*- coding: utf-8 -*-
# Copyright: colab.cluster developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a host's connection is a Windows one (the one place the roles decide it)."""

from __future__ import annotations

# The connection plugins ansible-core ships that talk to Windows (PowerShell) hosts.
_WINDOWS_CONNECTIONS = frozenset({"winrm", "psrp"})
# Prefixes under which ansible-core resolves its own plugins: `ansible.builtin.winrm`
# and `ansible.legacy.winrm` are the same plugin as `winrm`.
_CORE_PREFIXES = ("ansible.builtin.", "ansible.legacy.")


def windows_connection(name):
    """True when ``name`` (an ``ansible_connection`` value) is winrm or psrp, in any spelling."""
    text = str(name or "ssh").strip()
    for prefix in _CORE_PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix):]
            break
    return text in _WINDOWS_CONNECTIONS


class TestModule:
    def tests(self):
        return {"windows_connection": windows_connection}

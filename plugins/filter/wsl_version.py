# Copyright: (c) 2026, colab.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The WSL package version from the answer of ``wsl.exe --version``."""
from __future__ import annotations

DOCUMENTATION = r"""
name: wsl_version
short_description: The WSL package version reported by C(wsl.exe --version)
version_added: 1.0.0
description:
  - Reads the first line of C(wsl.exe --version) (for example C(WSL version 2.6.1.0) after the
    label's colon; localised labels included) and returns the version, or an empty string
    when there is none.
  - An empty string means the inbox WSL (it has no C(--version)), a failed command or a
    skipped task; callers treat it as "needs C(wsl --update)".
  - wsl.exe writes UTF-16LE unless C(WSL_UTF8=1). Output read with the wrong code page
    arrives with a NUL after each character; the NULs and a byte-order mark are dropped.
options:
  _input:
    description: The registered result of the command, or its stdout.
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Note the WSL version
  ansible.builtin.set_fact:
    wsl_running: "{{ wsl_version_result | colab.cluster.wsl_version }}"
"""

RETURN = r"""
_value:
  description: The version (C(2.1.5.0)), or an empty string.
  type: str
"""

import re
from collections.abc import Mapping

_VERSION_LINE = re.compile(r"^[^:\uff1a]*[:\uff1a]\s*(\d+(?:\.\d+){1,3})\s*$")


def wsl_version(result):
    if isinstance(result, Mapping):
        if result.get("skipped") or result.get("rc", 1) != 0:
            return ""
        text = result.get("stdout") or ""
    else:
        text = result or ""
    text = str(text).replace("\x00", "").lstrip("\ufeff")
    for line in text.splitlines():
        line = line.strip()
        if line:
            match = _VERSION_LINE.match(line)
            return match.group(1) if match else ""
    return ""


class FilterModule:
    def filters(self):
        return {"wsl_version": wsl_version}

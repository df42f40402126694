# Copyright: (c) 2026, colab.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A release version in the four-part form Windows gives a file's version."""
from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: windows_file_version
short_description: A version as the four-part System.Version Windows reports for a file
version_added: 0.1.0
description:
  - Pads a dotted release version (C(1.82.5), a leading C(v) allowed) with zeros to four
    parts (C(1.82.5.0)).
  - C(ansible.windows.win_package) compares C(creates_version) with the file's version as a
    four-part System.Version (C($CreatesVersion -eq $existingVersion) in win_package.ps1),
    so a three-part value never matches and the package reinstalls on every run.
  - Fails, naming the value, on anything that is not one to four dot-separated numbers.
options:
  _input:
    description: The version.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Install once
  ansible.windows.win_package:
    path: C:\Windows\Temp\app.msi
    creates_path: C:\Program Files\App\app.exe
    creates_version: "{{ '1.82.5' | colab.cluster.windows_file_version }}"
"""

RETURN = r"""
_value:
  description: The four-part version, for example C(1.82.5.0).
  type: str
"""

_VERSION = re.compile(r"^v?(\d+(?:\.\d+){0,3})$")


def windows_file_version(version):
    text = str(version).strip()
    match = _VERSION.match(text)
    if not match:
        raise AnsibleFilterError("windows_file_version: %r is not 1 to 4 dot-separated numbers" % (version,))
    parts = match.group(1).split(".")
    return ".".join(str(int(p)) for p in parts + ["0"] * (4 - len(parts)))


class FilterModule:
    def filters(self):
        return {"windows_file_version": windows_file_version}

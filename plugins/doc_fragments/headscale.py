# Copyright: colab.cluster developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options every headscale_* module shares: how the headscale CLI is found and run."""
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  binary:
    description: The headscale CLI (a name looked up on C(PATH), or a path).
    type: str
    default: headscale
  config_path:
    description: The server's configuration file (C(headscale --config)); the CLI's default search path when unset.
    type: path
  version:
    description: The headscale version (C(0.26.1)); read from C(headscale version) when unset.
    type: str
  timeout:
    description: Seconds each CLI call may take.
    type: int
    default: 30
"""

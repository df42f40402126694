# -*- coding: utf-8 -*-
# Copyright: colab.cluster developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mesh value rules for the roles, from plugins/module_utils/_headscale.py (one copy)."""

from __future__ import annotations

from ansible_collections.colab.cluster.plugins.module_utils._headscale import is_duration, is_tag


class TestModule:
    def tests(self):
        return {"mesh_tag": is_tag, "headscale_duration": is_duration}

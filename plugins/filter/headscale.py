# -*- coding: utf-8 -*-
# Copyright: colab.cluster developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mesh rules the roles need, from plugins/module_utils/_headscale.py (one copy)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.colab.cluster.plugins.module_utils._headscale import (
    HeadscaleError,
    extra_records,
    min_client_version,
    renamed_keys_in,
    upgrade_problem,
    validate_config,
)


def _wrap(function):
    def wrapped(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except HeadscaleError as exc:
            raise AnsibleFilterError(str(exc)) from exc
    wrapped.__doc__ = function.__doc__
    return wrapped


class FilterModule:
    def filters(self):
        return {
            "headscale_renamed_keys": _wrap(renamed_keys_in),
            "headscale_config_problems": _wrap(validate_config),
            "headscale_upgrade_problem": _wrap(upgrade_problem),
            "headscale_min_client": _wrap(min_client_version),
            "headscale_extra_records": _wrap(extra_records),
        }

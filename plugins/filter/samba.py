# -*- coding: utf-8 -*-
# Copyright: colab.cluster developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The samba_server role's smb.conf rules, written once in module_utils/_samba.py."""

from __future__ import annotations

# Documentation: one sidecar file per filter (samba_share_section.yml, samba_conf_problems.yml,
# samba_restart_parameters.yml, samba_same_share.yml) beside this file.

from ansible.errors import AnsibleFilterError
from ansible_collections.colab.cluster.plugins.module_utils._samba import (
    conf_problems,
    restart_parameters,
    same_section,
    share_section,
)


def samba_share_section(share, fruit_options=None, indent="   "):
    if not isinstance(share, dict) or "name" not in share or "path" not in share:
        raise AnsibleFilterError("samba_share_section needs a share with name and path")
    return share_section(share, fruit_options or {}, indent)


def samba_conf_problems(shares, global_options=None, users=None, username_map=None, interfaces=None,
                        hosts_allow=None, workgroup=None, netbios_name=None, server_string=None):
    return conf_problems(shares, global_options, users, username_map, interfaces, hosts_allow, workgroup,
                         netbios_name, server_string)


def samba_restart_parameters(old_text, new_text):
    return restart_parameters(old_text, new_text)


def samba_same_share(showshare_text, share, fruit_options=None):
    return same_section(showshare_text, share, fruit_options or {})


class FilterModule:
    def filters(self):
        return {
            "samba_share_section": samba_share_section,
            "samba_conf_problems": samba_conf_problems,
            "samba_restart_parameters": samba_restart_parameters,
            "samba_same_share": samba_same_share,
        }

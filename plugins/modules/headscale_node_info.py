#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: colab.cluster developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: headscale_node_info
short_description: Read the nodes registered with headscale
version_added: 0.1.0
description:
  - Runs C(headscale nodes list -o json) and returns every node normalised to one shape for
    headscale 0.23 to 0.28 (ids as numbers, timestamps as ISO 8601, the effective tags in
    one C(tags) list whether the version reports C(forced_tags)/C(valid_tags) or C(tags)).
  - Optionally filtered by node name and user.
author:
  - colab.cluster developers (@colab)
requirements:
  - The C(headscale) CLI on the target, able to reach the server.
extends_documentation_fragment:
  - colab.cluster.headscale
attributes:
  check_mode:
    support: full
    description: Read-only; runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes.
  idempotent:
    support: full
    description: Read-only.
options:
  name:
    description: Only the node with this host name or given name.
    type: str
  user:
    description: Only nodes of this user.
    type: str
"""

EXAMPLES = r"""
- name: Where is everyone on the mesh
  colab.cluster.headscale_node_info:
  register: _mesh

- name: Show director's mesh addresses
  ansible.builtin.debug:
    msg: "{{ (_mesh.nodes | selectattr('name', 'equalto', 'director') | first).ip_addresses }}"
"""

RETURN = r"""
nodes:
  description: The registered nodes.
  returned: always
  type: list
  elements: dict
  sample:
    - id: 2
      name: director
      given_name: director
      user: colab
      user_id: 1
      ip_addresses: [100.64.0.2, "fd7a:115c:a1e0::2"]
      ipv4: [100.64.0.2]
      ipv6: ["fd7a:115c:a1e0::2"]
      online: true
      tags: [tag:server]
      register_method: authkey
      expiry: null
      last_seen: "2025-05-20T08:01:12Z"
      created_at: "2025-05-14T09:15:40Z"
version:
  description: The headscale version the output was read as.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.colab.cluster.plugins.module_utils._headscale import (
    CLI_ARGUMENT_SPEC,
    HeadscaleCLI,
    HeadscaleError,
    version_string,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            **CLI_ARGUMENT_SPEC,
            name=dict(type="str"),
            user=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        if params["timeout"] <= 0:
            raise HeadscaleError("timeout: must be a positive number of seconds")
        cli = HeadscaleCLI.from_module(module)
        caps = cli.caps
        nodes = cli.nodes()
    except HeadscaleError as exc:
        module.fail_json(msg=str(exc))
    if params["name"]:
        wanted = params["name"].lower()
        nodes = [n for n in nodes if wanted in (n["name"].lower(), n["given_name"].lower())]
    if params["user"]:
        nodes = [n for n in nodes if n["user"] == params["user"]]
    module.exit_json(changed=False, nodes=nodes, version=version_string(caps.version))


if __name__ == "__main__":
    main()

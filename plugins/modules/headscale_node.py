#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: colab.cluster developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: headscale_node
short_description: Keep one headscale node per host name, named after the host
version_added: 0.2.0
description:
  - "Run on the coordinator after a client joined (the tailscale role delegates it there).
    O(node_key) is the client's live node key (C(Self.PublicKey) of C(tailscale status --json));
    the node holding it is the live node."
  - Every other node registered under O(name) is deleted (C(headscale nodes delete)). Such a
    node is left behind when the client's machine key changed (a reinstall wiped its state);
    headscale registers a new machine key as a new node and gives it the name with a random
    suffix when the name is taken.
  - The live node is then renamed to O(name) (C(headscale nodes rename)) when its given name
    differs, so its MagicDNS name is the host's again.
  - Nothing happens when no node holds O(node_key) (the client has not joined).
author:
  - colab.cluster developers (@colab)
requirements:
  - The C(headscale) CLI on the target, able to reach the server.
extends_documentation_fragment:
  - colab.cluster.headscale
attributes:
  check_mode:
    support: full
    description: Reports what would be deleted and renamed; changes nothing.
  diff_mode:
    support: full
    description: The node ids under the name, and the live node's given name, before and after.
  idempotent:
    support: full
    description: Once only the live node is left and carries the name, nothing changes.
options:
  name:
    description: The client's host name (what it registers with).
    type: str
    required: true
  node_key:
    description: The client's live node key (C(nodekey:...)), a public key.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Remove the node a reinstall left behind and give the live one its name back
  colab.cluster.headscale_node:
    name: director
    node_key: "{{ tailscale_mesh.node_key }}"
  delegate_to: cooperator
"""

RETURN = r"""
deleted:
  description: The ids of the nodes deleted.
  returned: always
  type: list
  elements: int
renamed:
  description: The live node's given name before and after, when it was renamed.
  returned: when renamed
  type: list
  elements: str
node:
  description: The live node after the run (as colab.cluster.headscale_node_info returns nodes).
  returned: when the live node is registered
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.colab.cluster.plugins.module_utils._argv import refuse_option_like
from ansible_collections.colab.cluster.plugins.module_utils._headscale import (
    CLI_ARGUMENT_SPEC,
    HeadscaleCLI,
    HeadscaleError,
    node_delete_argv,
    node_rename_argv,
    stale_nodes,
)


class Node:
    def __init__(self, module):
        self.module = module
        self.cli = HeadscaleCLI.from_module(module)

    def run(self):
        params = self.module.params
        nodes = self.cli.nodes()
        live = next((n for n in nodes if n.get("node_key") == params["node_key"]), None)
        result = {"changed": False, "deleted": []}
        if live is None:
            return result
        stale = [n for n in stale_nodes(nodes, params["name"], params["node_key"]) if n["id"] != live["id"]]
        wanted_name = params["name"].lower()
        for node in stale:
            result["deleted"].append(node["id"])
            if not self.module.check_mode:
                self.cli.run(node_delete_argv(self.cli.binary, node["id"], self.cli.config_path), "nodes delete")
        if live["given_name"] != wanted_name:
            result["renamed"] = [live["given_name"], wanted_name]
            if not self.module.check_mode:
                self.cli.run(node_rename_argv(self.cli.binary, live["id"], wanted_name, self.cli.config_path),
                             "nodes rename")
        result["changed"] = bool(result["deleted"] or result.get("renamed"))
        if not self.module.check_mode and result["changed"]:
            live = next((n for n in self.cli.nodes() if n["id"] == live["id"]), live)
        result["node"] = live
        if self.module._diff:
            result["diff"] = {
                "before": {"nodes": sorted([live["id"]] + result["deleted"]),
                           "given_name": (result.get("renamed") or [live["given_name"]])[0]},
                "after": {"nodes": [live["id"]], "given_name": wanted_name if result.get("renamed") else live["given_name"]},
            }
        return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            **CLI_ARGUMENT_SPEC,
            name=dict(type="str", required=True),
            node_key=dict(type="str", required=True, no_log=False),  # a public key
        ),
        supports_check_mode=True,
    )
    refuse_option_like(module, ("name",))
    try:
        if not module.params["name"].strip():
            raise HeadscaleError("name: must not be empty")
        if not module.params["node_key"].startswith("nodekey:"):
            raise HeadscaleError("node_key: must be a node key (nodekey:...)")
        module.exit_json(**Node(module).run())
    except HeadscaleError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: colab.cluster developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: headscale_preauth_key
short_description: Create a pre-auth key for a node only while that node is not registered
version_added: 0.1.0
description:
  - Reads the registered nodes (C(headscale nodes list -o json)). When O(node) is already
    registered (by host name or given name) and its expiry has not passed, nothing is
    created and no key is returned. An expired node (logged out; headscale only expires a
    node on logout) needs a new login, so it gets a key.
  - With O(force) a key is created whatever headscale holds, because the client itself said it needs
    a login (the tailscale role asks this way, delegated to the coordinator).
  - "Otherwise creates one key with C(headscale preauthkeys create) (non-reusable and
    short-lived by default) and returns it in RV(key), for the node's first
    C(tailscale up). Run the task with C(no_log: true) and hand the key on the same way."
  - "Version-aware: up to 0.25 C(--user) takes the user's name, from 0.26 its numeric id
    (resolved from C(headscale users list -o json)); from 0.28 the user may be left out for
    a tag-only key (O(tags) then required). The version is read from C(headscale version)
    unless O(version) gives it."
  - Every CLI call is bounded by O(timeout).
author:
  - colab.cluster developers (@colab)
requirements:
  - The C(headscale) CLI on the target, able to reach the server.
extends_documentation_fragment:
  - colab.cluster.headscale
attributes:
  check_mode:
    support: full
    description: Predicts whether a key would be created (the node is not registered); creates none and returns no key.
  diff_mode:
    support: full
    description: Whether the node is registered, and the created key's id and expiry (never the key itself).
  idempotent:
    support: partial
    description: >-
      Once the node has registered no key is created. Until then every run creates a fresh
      short-lived key (an unused one cannot be read back: from 0.28 headscale stores only its hash).
options:
  node:
    description: The host name the node registers with (C(tailscale up --hostname), else the machine's host name).
    type: str
    required: true
  user:
    description:
      - The headscale user the key (and the node) belongs to.
      - Required before headscale 0.28; from 0.28 it may be left out when O(tags) is given (a tag-only key).
    type: str
  tags:
    description: ACL tags the node gets when it registers with the key (C(tag:server)).
    type: list
    elements: str
    default: []
  force:
    description: Create a key even when the node is registered and unexpired (the client reported it needs a login).
    type: bool
    default: false
  expiration:
    description: How long the key stays valid, as headscale reads it (C(30m), C(1h), C(2d)).
    type: str
    default: 1h
  reusable:
    description: Whether more than one node may register with the key.
    type: bool
    default: false
  ephemeral:
    description: Whether nodes registered with the key are removed when they go offline.
    type: bool
    default: false
notes:
  - The returned RV(key) is a secret. It is not in argv of anything this module runs, and the
    module never logs it, but Ansible prints module results unless the task has C(no_log).
"""

EXAMPLES = r"""
- name: A key for director, unless director already joined
  colab.cluster.headscale_preauth_key:
    node: director
    user: colab
    tags: [tag:server]
  register: _key
  no_log: true

- name: Hand the key to the client play
  ansible.builtin.set_fact:
    tailscale_auth_key: "{{ _key.key }}"
  delegate_to: director
  delegate_facts: true
  when: _key.key is not none
  no_log: true
"""

RETURN = r"""
registered:
  description: Whether the node was already registered and unexpired (then no key was created).
  returned: always
  type: bool
expired:
  description: The node is registered but expired (logged out), so a key was created for its new login.
  returned: when the node is expired
  type: bool
node:
  description: The registered node (normalised C(nodes list) entry), or empty.
  returned: always
  type: dict
key:
  description: The new pre-auth key; null when the node is registered or in check mode.
  returned: always
  type: str
key_id:
  description: The new key's numeric id.
  returned: when a key was created
  type: int
expiration:
  description: When the new key expires (UTC, ISO 8601).
  returned: when a key was created
  type: str
version:
  description: The headscale version the commands were chosen for.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.colab.cluster.plugins.module_utils._argv import refuse_option_like
from ansible_collections.colab.cluster.plugins.module_utils._headscale import (
    CLI_ARGUMENT_SPEC,
    HeadscaleCLI,
    HeadscaleError,
    check_duration,
    check_tags,
    find_node,
    find_user,
    node_expired,
    parse_preauthkey,
    preauthkey_create_argv,
    redact_key,
    version_string,
)


class PreAuthKey:
    def __init__(self, module):
        self.module = module
        params = module.params
        self.cli = HeadscaleCLI.from_module(module)
        self.params = params

    def run(self):
        caps = self.cli.caps
        params = self.params
        result = {"changed": False, "registered": False, "node": {}, "key": None,
                  "version": version_string(caps.version)}
        if params["user"] is None and not caps.preauthkey_user_optional:
            raise HeadscaleError(
                f"user: required with headscale {version_string(caps.version)}"
                " (tag-only keys exist from 0.28)")
        if params["user"] is None and not params["tags"]:
            raise HeadscaleError("tags: a key without a user needs at least one tag")

        node = find_node(self.cli.nodes(), params["node"])
        if node is not None and node_expired(node):
            result["expired"] = True
        elif node is not None and not params["force"]:
            result.update(registered=True, node=node)
            if self.module._diff:
                result["diff"] = {"before": {"registered": True}, "after": {"registered": True}}
            return result

        user = None
        if params["user"] is not None:
            user = find_user(self.cli.users(), params["user"])
            if user is None:
                if not self.module.check_mode:
                    raise HeadscaleError(f"user: no headscale user named {params['user']!r}")
                user = {"id": 0, "name": params["user"]}  # created by an earlier task in a real run
        argv = preauthkey_create_argv(caps, self.cli.binary, user, params["expiration"],
                                      params["reusable"], params["ephemeral"], params["tags"],
                                      self.cli.config_path)
        result["changed"] = True
        after = {"registered": False, "key": "(new key)"}
        if not self.module.check_mode:
            _rc, out, _err = self.cli.run(argv, "preauthkeys create")
            key = parse_preauthkey(out)
            result.update(key=key["key"], key_id=key["id"], expiration=key["expiration"])
            after = {"registered": False, "key": redact_key(key["key"]), "key_id": key["id"],
                     "expiration": key["expiration"]}
        if self.module._diff:
            result["diff"] = {"before": {"registered": False, "key": None}, "after": after}
        return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            **CLI_ARGUMENT_SPEC,
            node=dict(type="str", required=True),
            user=dict(type="str"),
            tags=dict(type="list", elements="str", default=[]),
            expiration=dict(type="str", default="1h"),
            reusable=dict(type="bool", default=False),
            ephemeral=dict(type="bool", default=False),
            force=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    refuse_option_like(module, ("user", "tags", "expiration"))
    try:
        if not module.params["node"].strip():
            raise HeadscaleError("node: must not be empty")
        check_duration(module.params["expiration"], "expiration")
        check_tags(module.params["tags"], "tags")
        if module.params["timeout"] <= 0:
            raise HeadscaleError("timeout: must be a positive number of seconds")
        module.exit_json(**PreAuthKey(module).run())
    except HeadscaleError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()

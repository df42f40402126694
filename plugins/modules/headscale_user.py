#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: colab.cluster developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: headscale_user
short_description: Ensure a headscale user exists or is absent
version_added: 0.1.0
description:
  - Reads the users from C(headscale users list -o json) and creates
    (C(headscale users create)) or destroys (C(headscale users destroy --force)) one only
    when the list says it must.
  - Works with headscale 0.23 to 0.28. The version is read from C(headscale version) unless
    O(version) gives it; it decides how the user is named to C(users destroy) (by name up to
    0.23, by C(--identifier) from 0.24) and how the numeric id is read (a string in 0.23,
    a number later).
  - Every CLI call is bounded by O(timeout) (coreutils C(timeout), or the module itself where
    the target has none, and the CLI's own C(HEADSCALE_CLI_TIMEOUT)).
author:
  - colab.cluster developers (@colab)
requirements:
  - The C(headscale) CLI on the target, able to reach the server (the local unix socket on
    the headscale host).
extends_documentation_fragment:
  - colab.cluster.headscale
attributes:
  check_mode:
    support: full
    description: The change is predicted from the user list; nothing is created or destroyed.
  diff_mode:
    support: full
    description: The user (name and id) before and after.
  idempotent:
    support: full
    description: A second run finds the user in the list and changes nothing.
options:
  name:
    description: The user's name (C(users create NAME)).
    type: str
    required: true
  state:
    description: Whether the user must exist.
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: The user the cluster's nodes register under
  colab.cluster.headscale_user:
    name: colab

- name: Remove a user that is no longer used
  colab.cluster.headscale_user:
    name: old-lab
    state: absent
"""

RETURN = r"""
user:
  description: The user after the run (empty when absent).
  returned: always
  type: dict
  sample: {"id": 1, "name": "colab", "display_name": "", "email": "", "provider": "", "created_at": "2025-05-14T09:12:03Z"}
version:
  description: The headscale version the commands were chosen for.
  returned: always
  type: str
  sample: "0.26.1"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.colab.cluster.plugins.module_utils._argv import refuse_option_like
from ansible_collections.colab.cluster.plugins.module_utils._headscale import (
    CLI_ARGUMENT_SPEC,
    HeadscaleCLI,
    HeadscaleError,
    find_user,
    parse_user,
    user_create_argv,
    user_destroy_argv,
    version_string,
)


class HeadscaleUser:
    def __init__(self, module):
        self.module = module
        params = module.params
        self.cli = HeadscaleCLI.from_module(module)
        self.name = params["name"]

    def run(self):
        caps = self.cli.caps
        before = find_user(self.cli.users(), self.name)
        after = before
        changed = False
        if self.module.params["state"] == "present" and before is None:
            changed = True
            after = {"id": None, "name": self.name}
            if not self.module.check_mode:
                _rc, out, _err = self.cli.run(
                    user_create_argv(self.cli.binary, self.name, self.cli.config_path), "users create")
                after = parse_user(out)
        elif self.module.params["state"] == "absent" and before is not None:
            changed = True
            after = None
            if not self.module.check_mode:
                self.cli.run(user_destroy_argv(caps, self.cli.binary, before, self.cli.config_path),
                             "users destroy")
        result = {"changed": changed, "user": after or {}, "version": version_string(caps.version)}
        if self.module._diff:
            result["diff"] = {"before": _short(before), "after": _short(after)}
        return result


def _short(user):
    return {"name": user["name"], "id": user["id"]} if user else {}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            **CLI_ARGUMENT_SPEC,
            name=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
        ),
        supports_check_mode=True,
    )
    refuse_option_like(module, ("name",))
    if not module.params["name"].strip():
        module.fail_json(msg="name: must not be empty")
    if module.params["timeout"] <= 0:
        module.fail_json(msg="timeout: must be a positive number of seconds")
    try:
        module.exit_json(**HeadscaleUser(module).run())
    except HeadscaleError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()

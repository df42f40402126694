#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: colab.cluster developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: samba_user
short_description: Create, update the password of, enable or remove a Samba (passdb) user
version_added: 0.1.0
description:
  - Reads the passdb once with C(pdbedit -L -w) and compares the stored NT hash with the NT hash
    (MD4 of the UTF-16LE password, computed in pure Python because OpenSSL 3 dropped MD4) of the
    wanted password. Only a differing hash changes the password, so the module is idempotent
    without ever putting the password in argv, a file or the logs.
  - The password reaches C(smbpasswd -s -a) on stdin only.
  - A disabled account (flag C(D)) is enabled when O(state=present).
  - The Unix account must exist (Samba maps every passdb user to one); the module says so if not.
author:
  - colab.cluster developers (@colab)
requirements:
  - C(pdbedit) and C(smbpasswd) (Debian packages C(samba) and C(samba-common-bin)), coreutils C(timeout).
attributes:
  check_mode:
    support: full
    description: The change is predicted from the passdb; nothing is written in check mode.
  diff_mode:
    support: full
    description: Before/after of the account's existence, enabled flag and a password marker (redacted).
  idempotent:
    support: full
    description: The same password twice changes nothing (hashes are compared).
  platform:
    support: full
    platforms: [posix]
    description: Linux (Debian) hosts running Samba.
options:
  name:
    description: The user name (a Unix account of the same name must exist).
    type: str
    required: true
  password:
    description: The wanted password. Required when O(state=present). Never logged or returned.
    type: str
  state:
    description: V(present) creates or updates the user, V(absent) removes it from the passdb.
    type: str
    choices: [present, absent]
    default: present
  update_password:
    description: V(always) sets the password whenever its hash differs, V(on_create) only when the user is created.
    type: str
    choices: [always, on_create]
    default: always
  timeout:
    description: Seconds allowed for each pdbedit/smbpasswd call.
    type: int
    default: 30
seealso:
  - module: colab.cluster.samba_mount
"""

EXAMPLES = r"""
- name: The fortress user, with its password from Infisical
  colab.cluster.samba_user:
    name: crtr
    password: "{{ lookup('colab.cluster.infisical_secret', 'COLAB_NAS_SAMBA_PASSWORD', path='/samba') }}"
  no_log: true

- name: Remove a former user
  colab.cluster.samba_user:
    name: olduser
    state: absent
"""

RETURN = r"""
name:
  description: The user name.
  returned: always
  type: str
  sample: crtr
actions:
  description: What was done (or would be done in check mode).
  returned: always
  type: list
  elements: str
  sample: [create, set password]
"""

import pwd

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.colab.cluster.plugins.module_utils._argv import refuse_option_like
from ansible_collections.colab.cluster.plugins.module_utils._bounded import run_bounded
from ansible_collections.colab.cluster.plugins.module_utils._samba import (
    REDACTED,
    nt_hash,
    parse_pdbedit_w,
)


class SambaUser:
    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.actions = []

    def run(self, argv, what, data=None):
        rc, out, err, timed_out = run_bounded(self.module, argv, self.p["timeout"], data=data,
                                              binary_data=data is not None)
        if timed_out:
            self.module.fail_json(msg="%s did not finish within %ss" % (what, self.p["timeout"]))
        if rc != 0:
            self.module.fail_json(msg="%s failed (rc=%s): %s" % (what, rc, (err or out).strip()), rc=rc)
        return out

    def current(self):
        binary = self.module.get_bin_path("pdbedit", required=True)
        out = self.run([binary, "-L", "-w"], "pdbedit -L -w")
        return parse_pdbedit_w(out).get(self.p["name"])

    def set_password(self):
        binary = self.module.get_bin_path("smbpasswd", required=True)
        pw = self.p["password"]
        # -s: read the new password (twice) from stdin; -a: add or update
        self.run([binary, "-s", "-a", self.p["name"]], "smbpasswd -s -a %s" % self.p["name"],
                 data="%s\n%s\n" % (pw, pw))

    def apply(self):
        name = self.p["name"]
        user = self.current()
        before = self.describe(user)
        if self.p["state"] == "present":
            try:
                pwd.getpwnam(name)
            except KeyError:
                self.module.fail_json(msg="name: the Unix account %r does not exist; Samba users map to Unix "
                                          "accounts, create it first (ansible.builtin.user)" % name)
            if user is None:
                self.actions += ["create", "set password"]
                if not self.module.check_mode:
                    self.set_password()
            else:
                if self.p["update_password"] == "always" and user["nt_hash"] != nt_hash(self.p["password"]):
                    self.actions.append("set password")
                    if not self.module.check_mode:
                        self.set_password()
                if "D" in user["flags"]:
                    self.actions.append("enable")
                    if not self.module.check_mode:
                        binary = self.module.get_bin_path("smbpasswd", required=True)
                        self.run([binary, "-e", name], "smbpasswd -e %s" % name)
            after = {"exists": True, "enabled": True,
                     "password": REDACTED + (" (new)" if "set password" in self.actions else "")}
        else:
            if user is not None:
                self.actions.append("remove")
                if not self.module.check_mode:
                    binary = self.module.get_bin_path("smbpasswd", required=True)
                    self.run([binary, "-x", name], "smbpasswd -x %s" % name)
            after = {"exists": False}
        result = {"changed": bool(self.actions), "name": name, "actions": self.actions}
        if self.module._diff:
            result["diff"] = {"before": before, "after": after}
        return result

    @staticmethod
    def describe(user):
        if user is None:
            return {"exists": False}
        return {"exists": True, "enabled": "D" not in user["flags"], "password": REDACTED}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            password=dict(type="str", no_log=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            update_password=dict(type="str", default="always", choices=["always", "on_create"]),
            timeout=dict(type="int", default=30),
        ),
        required_if=[("state", "present", ("password",))],
        supports_check_mode=True,
    )
    refuse_option_like(module, ("name",))
    p = module.params
    if not p["name"] or ":" in p["name"] or p["name"] != p["name"].strip():
        module.fail_json(msg="name must be a non-empty user name without ':' or surrounding spaces")
    if p["password"] is not None and ("\n" in p["password"] or "\r" in p["password"]):
        module.fail_json(msg="password must not contain a line break (smbpasswd -s reads it line by line)")
    if p["state"] == "present" and p["password"] == "":
        module.fail_json(msg="password must not be empty")
    if p["timeout"] <= 0:
        module.fail_json(msg="timeout must be a positive number of seconds")
    module.exit_json(**SambaUser(module).apply())


if __name__ == "__main__":
    main()

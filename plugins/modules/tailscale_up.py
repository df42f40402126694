#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: colab.cluster developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: tailscale_up
short_description: Join a node to a tailnet (headscale) and keep its preferences, from the live state
version_added: 0.1.0
description:
  - Reads the live state with C(tailscale status --json) (backend state, the node's mesh
    addresses and MagicDNS name) and C(tailscale debug prefs) (control URL, advertised tags,
    DNS/route/exit-node preferences), then runs the least that makes the node match.
  - "C(tailscale up) only when a login is needed: the node is not logged in, it is logged in
    to another control server (O(login_server)), its advertised O(tags) differ, or
    O(force_reauth). Only then is O(auth_key) used; it reaches C(tailscale) as
    C(--auth-key=file:PATH), a 0600 file in the module's private temporary directory removed
    right after, never in argv."
  - C(tailscale up) (no key) when the node is logged in but stopped.
  - C(tailscale set) with only the preferences that differ when the node is up.
  - Nothing when everything matches. No state or hash file is kept anywhere.
  - Returns the node's mesh facts (addresses, MagicDNS name) for other roles.
author:
  - colab.cluster developers (@colab)
requirements:
  - The C(tailscale) CLI and a running C(tailscaled) on the target (Linux or macOS; Windows
    hosts use the role's PowerShell path).
attributes:
  check_mode:
    support: full
    description: The plan is computed from the live state and reported; nothing is run.
  diff_mode:
    support: full
    description: The preferences and login state that would change, before and after (no key).
  idempotent:
    support: full
    description: A second run reads the state the first one produced and plans nothing.
options:
  state:
    description: C(up) joins and keeps the node up; C(down) runs C(tailscale down) (stays logged in).
    type: str
    choices: [up, down]
    default: up
  login_server:
    description: The control server URL (the headscale C(server_url)).
    type: str
  auth_key:
    description:
      - A pre-auth key, used only when a login is needed (see description).
      - When a login is needed and none is given, the module fails saying so (in check mode it warns).
    type: str
  tags:
    description: ACL tags to advertise (C(--advertise-tags)); not managed when unset.
    type: list
    elements: str
  hostname:
    description: The node's name on the tailnet (C(--hostname)); not managed when unset.
    type: str
  accept_dns:
    description: Use the tailnet's DNS (MagicDNS) (C(--accept-dns)); not managed when unset.
    type: bool
  accept_routes:
    description: Accept subnet routes other nodes advertise (C(--accept-routes)); not managed when unset.
    type: bool
  advertise_routes:
    description: Subnets this node routes into the tailnet (C(--advertise-routes)); not managed when unset.
    type: list
    elements: str
  advertise_exit_node:
    description: Offer this node as an exit node (C(--advertise-exit-node)); not managed when unset.
    type: bool
  exit_node:
    description: Route internet traffic through this peer (IP or name); empty string for none; not managed when unset.
    type: str
  ssh:
    description: Run Tailscale SSH (C(--ssh)); not managed when unset.
    type: bool
  force_reauth:
    description: Log in again even when nothing else requires it (needs O(auth_key)).
    type: bool
    default: false
  binary:
    description: The tailscale CLI (a name looked up on C(PATH), or a path).
    type: str
    default: tailscale
  timeout:
    description: Seconds each CLI call may take (also C(tailscale up --timeout)).
    type: int
    default: 60
"""

EXAMPLES = r"""
- name: Join the colab mesh (a key only if this node is not logged in yet)
  colab.cluster.tailscale_up:
    login_server: https://headscale.example.org
    auth_key: "{{ tailscale_auth_key | default(omit) }}"
    hostname: director
    accept_dns: true
    accept_routes: false
    tags: [tag:server]
  register: _ts
  no_log: true

- name: Stop the tunnel, stay logged in
  colab.cluster.tailscale_up:
    state: down
"""

RETURN = r"""
action:
  description: What ran (none, set, up, down).
  returned: always
  type: str
  sample: set
reason:
  description: Why.
  returned: always
  type: str
  sample: preferences differ
needs_auth_key:
  description: Whether the planned C(tailscale up) is a login, which needs O(auth_key) (useful in check mode, to fetch a key first).
  returned: always
  type: bool
changes:
  description: Each preference that differs, as [before, after].
  returned: always
  type: dict
  sample: {"accept_routes": [false, true]}
commands:
  description: The commands run (or that would run), auth key redacted.
  returned: always
  type: list
  elements: list
mesh:
  description: The node's mesh facts after the run (also set as the C(tailscale_mesh) fact).
  returned: always
  type: dict
  sample:
    backend_state: Running
    ips: [100.64.0.2, "fd7a:115c:a1e0::2"]
    ipv4: 100.64.0.2
    ipv6: "fd7a:115c:a1e0::2"
    dns_name: director.colab
    short_name: director
    magic_dns_suffix: colab
    tags: []
    online: true
    control_url: https://headscale.example.org
    node_key: "nodekey:7b0c..."
    version: 1.82.5-t1234abcd-g1234abcd
"""

import ipaddress
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.colab.cluster.plugins.module_utils._argv import refuse_option_like
from ansible_collections.colab.cluster.plugins.module_utils._bounded import run_bounded
from ansible_collections.colab.cluster.plugins.module_utils._headscale import is_tag
from ansible_collections.colab.cluster.plugins.module_utils._tailscale import (
    TailscaleError,
    facts,
    load,
    plan,
    redact_argv,
    set_argv,
    up_argv,
)

_PREFS = ("hostname", "accept_dns", "accept_routes", "advertise_routes",
          "advertise_exit_node", "exit_node", "ssh")


class TailscaleUp:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        binary = self.params["binary"]
        if "/" not in binary and "\\" not in binary:
            binary = module.get_bin_path(binary, required=True)
        self.binary = binary
        self.timeout = self.params["timeout"]

    def _run(self, argv, what, check=True):
        rc, out, err, timed_out = run_bounded(self.module, argv, self.timeout)
        if timed_out:
            raise TailscaleError(f"tailscale {what} did not answer within {self.timeout}s")
        if check and rc != 0:
            raise TailscaleError(f"tailscale {what} failed (rc={rc}): {(err or out).strip()}")
        return rc, out, err

    def read(self):
        _rc, out, err = self._run([self.binary, "status", "--json"], "status --json", check=False)
        if not out.strip():
            raise TailscaleError(f"tailscale status --json answered nothing (is tailscaled running?): {err.strip()}")
        status = load(out, "status --json")
        prefs = load(self._run([self.binary, "debug", "prefs"], "debug prefs")[1], "debug prefs")
        return status, prefs

    def desired(self):
        wanted = {name: self.params[name] for name in _PREFS}
        wanted.update(state=self.params["state"], login_server=self.params["login_server"],
                      tags=self.params["tags"], force_reauth=self.params["force_reauth"])
        return wanted

    def run(self):
        status, prefs = self.read()
        desired = self.desired()
        decision = plan(status, prefs, desired)
        result = {"changed": decision["action"] != "none", "action": decision["action"],
                  "reason": decision["reason"], "needs_auth_key": decision["needs_auth_key"],
                  "changes": {k: list(v) for k, v in decision["changes"].items()},
                  "commands": []}
        argv = None
        key_needed = decision["action"] == "up" and decision["needs_auth_key"]
        if key_needed and not self.params["auth_key"]:
            message = (f"auth_key: a login is needed ({decision['reason']}) and no auth key was"
                       " given; create one with colab.cluster.headscale_preauth_key")
            if not self.module.check_mode:
                raise TailscaleError(message)
            self.module.warn(message)
        if decision["action"] == "up":
            argv = up_argv(self.binary, desired, "KEYFILE" if key_needed else None,
                           f"{self.timeout}s")
        elif decision["action"] == "set":
            argv = set_argv(self.binary, decision["set_flags"])
        elif decision["action"] == "down":
            argv = [self.binary, "down"]
        if argv:
            result["commands"].append(redact_argv(argv))
        if argv and not self.module.check_mode:
            self._execute(argv, key_needed)
            status, prefs = self.read()
        result["mesh"] = facts(status, prefs)
        result["ansible_facts"] = {"tailscale_mesh": result["mesh"]}
        if self.module._diff:
            result["diff"] = {
                "before": {k: v[0] for k, v in decision["changes"].items()},
                "after": {k: v[1] for k, v in decision["changes"].items()},
            }
        return result

    def _execute(self, argv, key_needed):
        key_file = None
        try:
            if key_needed:
                key_file = os.path.join(self.module.tmpdir, "tailscale-auth-key")
                fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write(self.params["auth_key"].strip())
                argv = [part.replace("file:KEYFILE", f"file:{key_file}") for part in argv]
            what = " ".join(argv[1:2])
            self._run(argv, what)
        finally:
            if key_file and os.path.exists(key_file):
                os.unlink(key_file)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", default="up", choices=["up", "down"]),
            login_server=dict(type="str"),
            auth_key=dict(type="str", no_log=True),
            tags=dict(type="list", elements="str"),
            hostname=dict(type="str"),
            accept_dns=dict(type="bool"),
            accept_routes=dict(type="bool"),
            advertise_routes=dict(type="list", elements="str"),
            advertise_exit_node=dict(type="bool"),
            exit_node=dict(type="str"),
            ssh=dict(type="bool"),
            force_reauth=dict(type="bool", default=False),
            binary=dict(type="str", default="tailscale"),
            timeout=dict(type="int", default=60),
        ),
        required_if=[("force_reauth", True, ("auth_key",))],
        supports_check_mode=True,
    )
    refuse_option_like(module, ("login_server", "hostname", "exit_node", "tags", "advertise_routes"))
    params = module.params
    try:
        if params["timeout"] <= 0:
            raise TailscaleError("timeout: must be a positive number of seconds")
        login = params["login_server"]
        if login and not login.startswith(("http://", "https://")):
            raise TailscaleError(f"login_server: {login!r} must start with https:// or http://")
        for tag in params["tags"] or []:
            if not is_tag(tag):
                raise TailscaleError(f"tags: {tag!r} is not a tag (tag:<name>)")
        if params["hostname"] is not None and not params["hostname"].strip():
            raise TailscaleError("hostname: must not be empty")
        for route in params["advertise_routes"] or []:
            try:
                ipaddress.ip_network(route, strict=True)
            except ValueError as exc:
                raise TailscaleError(f"advertise_routes: {route!r}: {exc}") from exc
        module.exit_json(**TailscaleUp(module).run())
    except TailscaleError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()

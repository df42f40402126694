# Copyright: colab.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Records what a lab converge did per host, for `lab/lab.py summary`.

Not part of the collection's public plugins: `make lab-converge` enables it with
ANSIBLE_CALLBACK_PLUGINS/ANSIBLE_CALLBACKS_ENABLED. It writes .lab/last-run.json with,
per host, the ok/changed/failed counts, the roles that ran tasks there, and the
host's `colab_lab_endpoints` (how to reach its services), templated.
"""
from __future__ import annotations

DOCUMENTATION = r"""
name: colab_lab_summary
type: aggregate
short_description: Record per-host results of a lab converge
description:
  - Writes C(.lab/last-run.json) at the end of a playbook run, for C(lab/lab.py summary).
requirements:
  - enabled in the callbacks list
"""

import json
import os

from ansible.plugins.callback import CallbackBase

STATE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", ".lab")


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "colab_lab_summary"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._roles = {}
        self._play = None

    def v2_playbook_on_play_start(self, play):
        self._play = play

    def _record(self, result):
        task = result._task
        role = getattr(task, "_role", None)
        # Every role's argument-spec check runs even when the role then does nothing.
        if role is None or task.action in ("validate_argument_spec",
                                           "ansible.builtin.validate_argument_spec"):
            return
        name = role.get_name()
        roles = self._roles.setdefault(result._host.get_name(), [])
        if name not in roles:
            roles.append(name)

    def v2_runner_on_ok(self, result):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result)

    def _endpoints(self, host):
        if self._play is None:
            return []
        try:
            from ansible.template import Templar

            vm = self._play.get_variable_manager()
            inv_host = vm._inventory.get_host(host)
            hostvars = vm.get_vars(play=self._play, host=inv_host)
            raw = hostvars.get("colab_lab_endpoints", [])
            value = Templar(loader=vm._loader, variables=hostvars).template(raw)
            return [str(item) for item in value or []]
        except Exception as exc:  # the summary must never fail the run
            return [f"(endpoints unavailable: {exc})"]

    def v2_playbook_on_stats(self, stats):
        data = {"hosts": {}}
        for host in sorted(stats.processed):
            summary = stats.summarize(host)
            data["hosts"][host] = {
                "ok": summary["ok"],
                "changed": summary["changed"],
                "failed": summary["failures"],
                "unreachable": summary["unreachable"],
                "roles": self._roles.get(host, []),
                "endpoints": self._endpoints(host),
            }
        os.makedirs(STATE, exist_ok=True)
        with open(os.path.join(STATE, "last-run.json"), "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)

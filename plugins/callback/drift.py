# Copyright: colab.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: drift
type: aggregate
short_description: Summarise a check-mode run as what would change, per host and role
version_added: 1.1.0
description:
  - Meant for C(ansible-playbook site.yml --check --diff) (C(make drift)). At the end of the
    run it prints, per host and role, every task that would change something and, for
    file-like diffs, the paths and line counts involved.
  - Tasks under C(no_log) are listed by name only, as C((secret, not shown)); Ansible
    already withholds their results and diffs. Nothing is written to disk.
  - Enable it with C(ANSIBLE_CALLBACKS_ENABLED=colab.cluster.drift); the normal output
    (with its diffs) is unchanged.
requirements:
  - enabled in the callbacks list
"""

from ansible.plugins.callback import CallbackBase


def _diff_summary(diff):
    """'path: +a -b' for each diff of a result (a dict or a list of dicts)."""
    parts = []
    for item in diff if isinstance(diff, list) else [diff]:
        if not isinstance(item, dict):
            continue
        where = item.get("after_header") or item.get("before_header") or ""
        before, after = item.get("before"), item.get("after")
        if isinstance(before, str) and isinstance(after, str):
            old, new = set(before.splitlines()), set(after.splitlines())
            parts.append(f"{where}: +{len(new - old)} -{len(old - new)} lines".strip())
        elif where:
            parts.append(where)
    return "; ".join(p for p in parts if p)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "colab.cluster.drift"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._changes = {}
        self._failures = {}

    def _where(self, result):
        task = result._task
        role = getattr(task, "_role", None)
        return result._host.get_name(), role.get_name() if role else "(play)"

    def v2_runner_on_ok(self, result):
        res = result._result
        if not res.get("changed"):
            return
        host, role = self._where(result)
        name = result._task.get_name()
        if result._task.no_log or res.get("censored"):
            detail = "(secret, not shown)"
        else:
            detail = _diff_summary(res.get("diff", []))
        self._changes.setdefault(host, {}).setdefault(role, []).append((name, detail))

    def v2_runner_item_on_ok(self, result):
        self.v2_runner_on_ok(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if ignore_errors:
            return
        host, role = self._where(result)
        self._failures.setdefault(host, []).append(f"{role}: {result._task.get_name()}")

    def v2_playbook_on_stats(self, stats):
        self._display.banner("DRIFT (what a converge would change)")
        hosts = sorted(set(stats.processed) | set(self._changes))
        for host in hosts:
            roles = self._changes.get(host, {})
            count = sum(len(v) for v in roles.values())
            self._display.display(f"{host}: {count} change(s)" if count else f"{host}: no drift")
            for role, tasks in roles.items():
                self._display.display(f"  {role}")
                seen = set()
                for name, detail in tasks:
                    if (name, detail) in seen:
                        continue
                    seen.add((name, detail))
                    self._display.display(f"    - {name}" + (f"  [{detail}]" if detail else ""))
            for failure in self._failures.get(host, []):
                self._display.display(f"  FAILED {failure} (the prediction stops here for this host)")

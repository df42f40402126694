# Copyright: colab.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Records, per play and host, the task results of a run, for bench/site/run.py.

Not part of the collection's public plugins: bench/site/run.py enables it with
ANSIBLE_CALLBACK_PLUGINS/ANSIBLE_CALLBACKS_ENABLED and reads the file it writes.
"""
from __future__ import annotations

DOCUMENTATION = r"""
name: colab_bench_site
type: aggregate
short_description: Count the task results of a run per play and host
description:
  - Writes, at the end of the run, a JSON file (path in E(COLAB_BENCH_SITE_OUT)) with one
    entry per play (its name and, per host, the number of task results that were not
    skipped, counted the way PLAY RECAP counts C(ok) and C(failed)) and, per action, how
    many results it produced.
requirements:
  - enabled in the callbacks list
options:
  output:
    description: Where to write the JSON file.
    env:
      - name: COLAB_BENCH_SITE_OUT
    required: true
"""

import json
from collections import Counter

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "colab_bench_site"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._plays = []
        self._actions = Counter()

    def v2_playbook_on_play_start(self, play):
        self._plays.append({"name": play.get_name(), "hosts": {}})

    def _count(self, result):
        if not self._plays:
            return
        host = result._host.get_name()
        counts = self._plays[-1]["hosts"]
        counts[host] = counts.get(host, 0) + 1
        self._actions[result._task.action] += 1

    def v2_runner_on_ok(self, result):
        # include_tasks / include_role count once per included file, below (as the recap does)
        if result._task.action not in ("include_tasks", "ansible.builtin.include_tasks",
                                       "include_role", "ansible.builtin.include_role"):
            self._count(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._count(result)

    def v2_playbook_on_include(self, included_file):
        if not self._plays:
            return
        counts = self._plays[-1]["hosts"]
        for host in included_file._hosts:
            name = host.get_name()
            counts[name] = counts.get(name, 0) + 1
        self._actions[included_file._task.action] += len(included_file._hosts)

    def v2_playbook_on_stats(self, stats):
        data = {
            "plays": [p for p in self._plays if p["hosts"]],
            "actions": dict(self._actions.most_common()),
            "recap": {h: stats.summarize(h) for h in sorted(stats.processed)},
        }
        with open(self.get_option("output"), "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)

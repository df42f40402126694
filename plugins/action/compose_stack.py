# -*- coding: utf-8 -*-
# Copyright: colab.cluster developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for colab.cluster.compose_stack: templates O(src) on the controller.

The rendered file is parsed as YAML here and handed to the module as O(definition), so the
module (and the target) only ever sees a dictionary; nothing is written to the target except
the definition itself (with its ``${VAR}`` references, never the values from O(env)).
"""

from __future__ import annotations

import os

import yaml

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.action import ActionBase

try:  # ansible-core >= 2.19 only templates trusted strings
    from ansible.template import trust_as_template
except ImportError:  # pragma: no cover - older ansible-core
    def trust_as_template(value):
        return value


class ActionModule(ActionBase):

    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        src = args.pop("src", None)
        if src is not None:
            if args.get("definition") is not None or args.get("files"):
                raise AnsibleActionFail("parameters are mutually exclusive: definition|src|files")
            try:
                path = self._find_needle("templates", src)
                data = trust_as_template(self._loader.get_text_file_contents(path))
                searchpath = [os.path.dirname(path)] + list(task_vars.get("ansible_search_path", []))
                templar = self._templar.copy_with_new_env(searchpath=searchpath, available_variables=task_vars)
                rendered = templar.template(data, escape_backslashes=False)
            except AnsibleError as exc:
                raise AnsibleActionFail("src: cannot template %s: %s" % (src, to_native(exc))) from exc
            try:
                definition = yaml.safe_load(to_native(rendered))
            except yaml.YAMLError as exc:
                raise AnsibleActionFail("src: %s is not valid YAML after templating: %s" % (src, exc)) from exc
            if not isinstance(definition, dict):
                raise AnsibleActionFail("src: %s must hold a Compose mapping (services: ...), got %s"
                                        % (src, type(definition).__name__))
            args["definition"] = definition
        result.update(self._execute_module(module_name="colab.cluster.compose_stack", module_args=args,
                                           task_vars=task_vars))
        return result

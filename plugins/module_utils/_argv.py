# -*- coding: utf-8 -*-
# Copyright: colab.cluster developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one rule for values that reach a command line: none may start with ``-``.

A user name like ``--help`` or ``-x`` placed as a positional argument is read by the
program as an option (``smbpasswd -x`` deletes, ``headscale users create --help`` prints
help and exits 0). Every module that wraps a CLI checks the fields it places on a command
line with ``option_like_problems`` before it runs anything, and fails naming the field.
"""
from __future__ import annotations


def option_like_problems(params, fields):
    """One message per value of ``params[field]`` (a string or a list of strings) that
    starts with ``-``, naming the field (``field[i]`` for a list element)."""
    problems = []
    for field in fields:
        value = params.get(field)
        if isinstance(value, (list, tuple)):
            values = [("%s[%d]" % (field, index), item) for index, item in enumerate(value)]
        else:
            values = [(field, value)]
        for where, item in values:
            if isinstance(item, str) and item.startswith("-"):
                problems.append("%s must not start with '-' (the command line would read %r as an option)"
                                % (where, item))
    return problems


def refuse_option_like(module, fields):
    """Fail the module (before anything runs) when a field in ``fields`` starts with ``-``."""
    problems = option_like_problems(module.params, fields)
    if problems:
        module.fail_json(msg="; ".join(problems), problems=problems)

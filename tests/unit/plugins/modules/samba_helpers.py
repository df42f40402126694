"""Helpers shared by the samba_mount and samba_user unit tests.

``run_module`` drives a module's ``main()`` the way ansible does (arguments through
``patch_module_args``, result as the JSON the module prints) and records every command
the module asked ``run_command`` for, answering from a table of recorded outputs. Where the
table's ``bin_path`` finds no ``timeout`` (macOS), the modules' commands reach
``_bounded.run_direct`` instead, which is answered from the same table.
"""
from __future__ import annotations

import json

import pytest

from ansible.module_utils import _internal, basic
from ansible.module_utils.testing import patch_module_args
from ansible_collections.colab.cluster.plugins.module_utils import _bounded

TIMEOUT = "/usr/bin/timeout"  # where run_module's get_bin_path finds coreutils timeout(1)


def timeout_prefix(seconds):
    """The prefix _bounded.run_bounded puts before a command where timeout(1) exists."""
    return [TIMEOUT, "--kill-after=5", "%ds" % seconds]


class CommandTable:
    """A run_command double: answers (rc, out, err) by the first matching argv prefix."""

    def __init__(self, answers=None):
        self.answers = list(answers or [])
        self.calls = []

    def add(self, match, rc=0, out="", err=""):
        self.answers.append((match, (rc, out, err)))

    def __call__(self, module, args, data=None, **kwargs):
        argv = list(args)
        self.calls.append({"argv": argv, "data": data, "timeout": kwargs.get("timeout")})
        # strip the timeout(1) prefix the modules put in front of everything
        core = argv[3:] if argv[:1] == [TIMEOUT] else argv
        for match, answer in self.answers:
            if callable(match):
                if match(core):
                    return answer
            elif core[:len(match)] == list(match):
                return answer
        raise AssertionError("unexpected command: %r" % (argv,))

    def argvs(self):
        return [c["argv"] for c in self.calls]


def run_module(main, args, monkeypatch, capsys, commands=None, check_mode=False, diff=False):
    table = commands if commands is not None else CommandTable()

    def fake_run_command(self, args, **kwargs):
        return table(self, args, **kwargs)

    def fake_run_direct(module, argv, timeout, data=None, binary_data=False, environ_update=None):
        # the bounded run without timeout(1): the table answers it too (timeout= tells it apart)
        rc, out, err = table(module, list(argv), data=data, binary_data=binary_data, timeout=timeout)
        return rc, out, err, rc in _bounded.TIMED_OUT

    monkeypatch.setattr(basic.AnsibleModule, "run_command", fake_run_command)
    monkeypatch.setattr(_bounded, "run_direct", fake_run_direct)
    # A module's warnings go into its result only on the target side: once controller code
    # has been imported by another test of the session, warn() would print them instead.
    monkeypatch.setattr(_internal, "is_controller", False)
    # every program is found in /usr/bin, unless the table answers the lookup (bin_path)
    lookup = getattr(table, "bin_path", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path",
                        lambda self, name, required=False, opt_dirs=None: lookup(name))
    full = dict(args)
    full["_ansible_check_mode"] = check_mode
    full["_ansible_diff"] = diff
    with patch_module_args(full):
        with pytest.raises(SystemExit):
            main()
    out = capsys.readouterr().out
    result = json.loads(out)
    return result, table

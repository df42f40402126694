"""_bounded.run_bounded, the one time-bounded command runner of the modules.

Without coreutils timeout(1) (macOS: get_bin_path finds none) real processes run here, through
subprocess: one that sleeps past its timeout is ended within seconds, also when it ignores
TERM or leaves a child of its own behind. With timeout(1) the argv goes to run_command behind
`timeout --kill-after=5 Ns`, checked both against a recording double and, where this machine
has timeout(1), for real.
"""
from __future__ import annotations

import shutil
import sys
import time

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args
from ansible_collections.colab.cluster.plugins.module_utils import _bounded

SLEEP = [sys.executable, "-c", "import time; time.sleep(30)"]


@pytest.fixture
def module():
    with patch_module_args({}):
        return basic.AnsibleModule(argument_spec={})


@pytest.fixture
def no_timeout(module, monkeypatch):
    """The module on a machine without timeout(1), as macOS's base system is."""
    looked = []

    def get_bin_path(name, required=False, opt_dirs=None):
        looked.append(name)
        return None if name == "timeout" else shutil.which(name)

    monkeypatch.setattr(module, "get_bin_path", get_bin_path)
    return looked


def timed(function, *args, **kwargs):
    start = time.monotonic()
    answer = function(*args, **kwargs)
    return answer, time.monotonic() - start


# --- no timeout(1): the runner ends the command itself -----------------------------------
def test_sleeper_past_its_timeout_is_ended(module, no_timeout):
    (rc, _out, _err, timed_out), took = timed(_bounded.run_bounded, module, SLEEP, 1)
    assert "timeout" in no_timeout
    assert timed_out and rc == 124
    assert took < 5


def test_a_normal_command_answers_rc_and_output(module, no_timeout):
    argv = [sys.executable, "-c", "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"]
    assert _bounded.run_bounded(module, argv, 10) == (3, "out\n", "err\n", False)


def test_stdin_text_gets_a_newline_binary_does_not(module, no_timeout):
    echo = [sys.executable, "-c", "import sys; sys.stdout.write(repr(sys.stdin.buffer.read()))"]
    assert _bounded.run_bounded(module, echo, 10, data="pw")[1] == "b'pw\\n'"
    assert _bounded.run_bounded(module, echo, 10, data=b"\x00pw", binary_data=True)[1] == "b'\\x00pw'"


def test_environment_is_run_commands(module, no_timeout, monkeypatch):
    monkeypatch.setattr(module, "run_command_environ_update", {"LANG": "C"}, raising=False)
    argv = [sys.executable, "-c", "import os; print(os.environ['LANG'], os.environ['X'])"]
    assert _bounded.run_bounded(module, argv, 10, environ_update={"X": "y"})[1] == "C y\n"


def test_term_ignored_gets_kill(module, no_timeout, monkeypatch):
    monkeypatch.setattr(_bounded, "KILL_AFTER", 1)
    stubborn = [sys.executable, "-c",
                "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('armed', flush=True); "
                "time.sleep(30)"]
    (rc, out, _err, timed_out), took = timed(_bounded.run_bounded, module, stubborn, 2)
    assert timed_out and rc == 137 and took < 8
    assert out == "armed\n"


def test_a_child_holding_the_pipes_is_ended_too(module, no_timeout):
    """The whole process group is signalled, as timeout(1) does: a grandchild sharing stdout
    would otherwise keep communicate() waiting for its 30 s."""
    parent = [sys.executable, "-c", "import subprocess, sys; subprocess.run(%r)" % (SLEEP,)]
    (_rc, _out, _err, timed_out), took = timed(_bounded.run_bounded, module, parent, 1)
    assert timed_out and took < 5


def test_no_shell(module, no_timeout):
    argv = [sys.executable, "-c", "import sys; print(sys.argv[1:])", "a; echo b", "$(id)"]
    assert _bounded.run_bounded(module, argv, 10)[1] == "['a; echo b', '$(id)']\n"


def test_missing_program_fails_the_module(module, no_timeout, monkeypatch):
    failed = []

    def fail_json(**kwargs):
        failed.append(kwargs)
        raise SystemExit(1)

    monkeypatch.setattr(module, "fail_json", fail_json)
    with pytest.raises(SystemExit):
        _bounded.run_bounded(module, ["/nonexistent/program"], 5)
    assert failed[0]["msg"].startswith("cannot run /nonexistent/program: ") and failed[0]["rc"] == 2


# --- timeout(1) present: the argv is prefixed and run_command runs it ----------------------
@pytest.fixture
def recorded(module, monkeypatch):
    calls = []
    answer = [(0, "ok", "")]

    def run_command(args, **kwargs):
        calls.append((list(args), kwargs))
        return answer[0]

    monkeypatch.setattr(module, "get_bin_path", lambda name, required=False, opt_dirs=None: "/usr/bin/" + name)
    monkeypatch.setattr(module, "run_command", run_command)
    return calls, answer


def test_timeout_present_prefixes_the_argv(module, recorded):
    calls, _answer = recorded
    assert _bounded.run_bounded(module, ["mount", "/mnt/x"], 30, data="pw", environ_update={"X": "y"}) == (0, "ok", "", False)
    assert calls == [(["/usr/bin/timeout", "--kill-after=5", "30s", "mount", "/mnt/x"],
                      {"data": "pw", "binary_data": False, "environ_update": {"X": "y"}})]
    assert _bounded.timeout_argv(module, ["mount"], 7.9) == ["/usr/bin/timeout", "--kill-after=5", "7s", "mount"]


@pytest.mark.parametrize("rc, timed_out", [(124, True), (137, True), (1, False), (0, False)])
def test_timeout_exit_codes_mean_timed_out(module, recorded, rc, timed_out):
    _calls, answer = recorded
    answer[0] = (rc, "", "")
    assert _bounded.run_bounded(module, ["x"], 5)[3] is timed_out


def test_no_timeout_value_runs_unbounded(module, recorded):
    calls, answer = recorded
    answer[0] = (124, "", "")
    assert _bounded.run_bounded(module, ["x"], 0) == (124, "", "", False)
    assert calls[0][0] == ["x"]
    assert _bounded.timeout_argv(module, ["x"], None) == ["x"]


def test_without_timeout_the_argv_is_not_prefixed(module, no_timeout):
    assert _bounded.timeout_argv(module, ["mount"], 5) == ["mount"]


@pytest.mark.skipif(shutil.which("timeout") is None, reason="this machine has no coreutils timeout(1)")
def test_real_timeout_ends_the_sleeper(module):
    (rc, _out, _err, timed_out), took = timed(_bounded.run_bounded, module, SLEEP, 1)
    assert timed_out and rc == 124 and took < 5

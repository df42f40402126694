# -*- coding: utf-8 -*-
# Copyright: colab.cluster developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one time-bounded command runner of the collection's modules.

``run_bounded(module, argv, timeout, ...)`` answers ``(rc, out, err, timed_out)`` and never
uses a shell:

* where the target has coreutils timeout(1) (every Linux host), argv runs through
  ``module.run_command`` as ``<timeout> --kill-after=5 <N>s argv``: TERM after N seconds,
  KILL 5 s later; timeout(1) then exits 124 (TERM sufficed) or 137 (KILL was needed);
* where it has none (macOS ships no timeout(1) in its base system), argv runs through
  ``subprocess.Popen`` in a session of its own and ``communicate(timeout=N)``; on expiry its
  process group gets TERM, 5 s later KILL, as timeout(1) does, and rc is 124 or 137 likewise.
  The environment, the expansion of ``~``/``$VAR`` in argv, stdin (``data``, a newline added
  unless ``binary_data``) and the decoding of the output follow ``run_command``.

A timeout of 0 or None runs argv unbounded (timeout(1) reads 0 the same way).
"""

from __future__ import annotations

import os
import signal
import subprocess

from ansible.module_utils.common.text.converters import to_bytes, to_native

KILL_AFTER = 5
TIMED_OUT = (124, 137)


def _behind(wrapper, argv, timeout):
    return [wrapper, "--kill-after=%d" % KILL_AFTER, "%ds" % int(timeout)] + list(argv)


def timeout_argv(module, argv, timeout):
    """argv behind coreutils timeout(1) where the target has it; argv itself where not (macOS)."""
    wrapper = module.get_bin_path("timeout")
    if wrapper and timeout:
        return _behind(wrapper, argv, timeout)
    return list(argv)


def run_bounded(module, argv, timeout, data=None, binary_data=False, environ_update=None):
    """Run argv, ended after ``timeout`` seconds: (rc, out, err, timed_out)."""
    if not timeout:
        rc, out, err = module.run_command(list(argv), data=data, binary_data=binary_data, environ_update=environ_update)
        return rc, out, err, False
    wrapper = module.get_bin_path("timeout")
    if not wrapper:
        return run_direct(module, argv, timeout, data=data, binary_data=binary_data, environ_update=environ_update)
    rc, out, err = module.run_command(_behind(wrapper, argv, timeout), data=data, binary_data=binary_data,
                                      environ_update=environ_update)
    return rc, out, err, rc in TIMED_OUT


def _signal_group(proc, sig):
    try:
        os.killpg(proc.pid, sig)
    except OSError:  # the group is gone already
        pass


def run_direct(module, argv, timeout, data=None, binary_data=False, environ_update=None):
    """argv bounded without timeout(1): its own process group, TERM on expiry, KILL 5 s later."""
    env = os.environ.copy()
    env.update(getattr(module, "run_command_environ_update", None) or {})
    env.update(environ_update or {})
    args = [to_bytes(os.path.expanduser(os.path.expandvars(x)), errors="surrogate_or_strict") for x in argv if x is not None]
    stdin = None
    if data:
        data = data if binary_data else data + "\n"
        data = to_bytes(data, errors="surrogate_or_strict")
        stdin = subprocess.PIPE
    try:
        proc = subprocess.Popen(args, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                close_fds=True, start_new_session=True)
    except OSError as ex:
        module.fail_json(msg="cannot run %s: %s" % (argv[0], ex), rc=ex.errno, stdout="", stderr="")
        raise  # fail_json does not return
    timed_out, rc = False, None
    try:
        out, err = proc.communicate(input=data or None, timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        timed_out, out, err = True, b"", b""
        for sig, code in ((signal.SIGTERM, 124), (signal.SIGKILL, 137)):
            _signal_group(proc, sig)
            try:
                out, err = proc.communicate(timeout=KILL_AFTER)
                rc = code
                break
            except subprocess.TimeoutExpired:
                continue
        if rc is None:
            # the group is dead; a process that left it (a daemon it started) holds the pipes
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
            proc.wait()
            rc = 137
    return rc, to_native(out or b"", errors="surrogate_or_strict"), to_native(err or b"", errors="surrogate_or_strict"), timed_out

"""Small helpers the pytest layers share: where things are, how to run a tool."""
from __future__ import annotations

import functools
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
OUTPUT = os.path.join(ROOT, "tests", "output")


def tool(name):
    """Path of a console script installed beside the running interpreter (the .venv)."""
    path = os.path.join(BIN, name)
    return path if os.path.exists(path) else name


def ansible_env(**extra):
    env = dict(os.environ)
    env.setdefault("ANSIBLE_CONFIG", os.path.join(ROOT, "ansible.cfg"))
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env["PY_COLORS"] = "0"
    env["NO_COLOR"] = "1"
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
    env.update(extra)
    return env


def run_logged(cmd, log_name, timeout, env=None, cwd=ROOT):
    """Run a command, keep its whole output in tests/output/<log_name>, return (rc, text)."""
    os.makedirs(OUTPUT, exist_ok=True)
    log_path = os.path.join(OUTPUT, log_name)
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.run(cmd, cwd=cwd, env=env or ansible_env(), stdout=log,
                              stderr=subprocess.STDOUT, timeout=timeout, check=False)
    with open(log_path, encoding="utf-8", errors="replace") as log:
        text = log.read()
    return proc.returncode, text


def tail(text, lines=60):
    return "\n".join(text.splitlines()[-lines:])


# --- playbook output ----------------------------------------------------------------
# The one parser of ansible-playbook's output (the default stdout callback, which the
# project's ansible.cfg keeps): the PLAY RECAP totals per host and the tasks that
# reported `changed`. Tests assert on these numbers, never on text found anywhere.
_RECAP_HEADER = re.compile(r"^PLAY RECAP \*+\s*$", re.M)
_RECAP_LINE = re.compile(r"^(?P<host>\S+)\s+:\s+(?P<totals>(?:\w+=\d+\s*)+)$")
_TASK_HEADER = re.compile(r"^(?P<kind>TASK|RUNNING HANDLER) \[(?P<name>.*)\] \*+\s*$")
_CHANGED = re.compile(r"^changed: \[(?P<host>[^\]\s]+)(?: -> [^\]]+)?\]")
RECAP_KEYS = ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored")


class RecapError(AssertionError):
    """The output holds no PLAY RECAP, or one this parser does not understand."""


def parse_recap(text):
    """{host: {ok, changed, unreachable, failed, skipped, rescued, ignored}} from the last
    PLAY RECAP of an ansible-playbook run. No recap (the run died before it) is an error,
    not an empty result, so an assertion can never pass on nothing."""
    headers = list(_RECAP_HEADER.finditer(text))
    if not headers:
        raise RecapError("no PLAY RECAP in the output")
    recap = {}
    for line in text[headers[-1].end():].splitlines():
        if not line.strip():
            if recap:
                break
            continue
        match = _RECAP_LINE.match(line.strip())
        if not match:
            break
        totals = dict(item.split("=") for item in match["totals"].split())
        if set(totals) != set(RECAP_KEYS):
            raise RecapError(f"unexpected recap fields for {match['host']}: {sorted(totals)}")
        recap[match["host"]] = {key: int(totals[key]) for key in RECAP_KEYS}
    if not recap:
        raise RecapError("the PLAY RECAP lists no host")
    return recap


def assert_recap(recap, hosts, changed=None):
    """Every host in `hosts` ran tasks (ok>0), none failed or was unreachable, no other
    host took part; with `changed`, each host's changed count equals it."""
    assert set(recap) == set(hosts), f"recap hosts {sorted(recap)} != {sorted(hosts)}"
    for host in hosts:
        totals = recap[host]
        assert totals["ok"] > 0, f"{host} ran no task: {totals}"
        assert totals["failed"] == 0 and totals["unreachable"] == 0, f"{host}: {totals}"
        if changed is not None:
            assert totals["changed"] == changed, f"{host} changed {totals['changed']}: {totals}"


_FATAL = re.compile(r"^fatal: \[(?P<host>[^\]\s]+)(?: -> (?P<via>[^\]]+))?\]: (?P<kind>UNREACHABLE|FAILED)!")


def fatal_results(text):
    """[(task name as printed, host, "UNREACHABLE" or "FAILED")] for every `fatal:` result
    that the run did not ignore (`...ignoring` after it), in order: which host a failure
    was reported against, read from the result lines rather than from words anywhere."""
    found, current, last = [], None, None
    for line in text.splitlines():
        header = _TASK_HEADER.match(line)
        if header:
            current, last = header["name"], None
            continue
        if line.startswith("...ignoring") and last is not None:
            found.remove(last)
            last = None
            continue
        match = _FATAL.match(line)
        if match:
            last = (current, match["host"], match["kind"])
            found.append(last)
    return found


def changed_tasks(text):
    """[(task or handler name as printed, host)] for every `changed:` result, in order
    (a loop's items count once per task and host)."""
    found, current = [], None
    for line in text.splitlines():
        header = _TASK_HEADER.match(line)
        if header:
            current = header["name"]
            continue
        match = _CHANGED.match(line)
        if match and current is not None and (current, match["host"]) not in found:
            found.append((current, match["host"]))
    return found


# The lab secret store's seed (lab/secret_store.py writes it at `lab.py up`): the one reader
# of .lab/infisical/seed.json for every test layer.
LAB_SEED = os.path.join(ROOT, ".lab", "infisical", "seed.json")


def lab_seed():
    """The lab secret store's seed: projects, environments, folders, identities."""
    import json  # pylint: disable=import-outside-toplevel

    with open(LAB_SEED, encoding="utf-8") as fh:
        return json.load(fh)


def lab_secrets(path, env="prod"):
    """{name: value} of one folder of the lab's single project."""
    (project,) = lab_seed()["projects"].values()
    return dict(project["environments"][env]["folders"][path]["secrets"])


# --- the host ------------------------------------------------------------------------
# lab/hostprobe.py measures what this machine can do (`make test` runs it first and prints
# its table); this is the one reader of its .cache/hostprobe.json for every test layer. A
# file from another kernel, or none (pytest run alone), is probed again here.
HOST_PROBE = os.path.join(ROOT, ".cache", "hostprobe.json")
_PROBE = {}


def _lab_module(name):
    import importlib.util  # pylint: disable=import-outside-toplevel

    # by its path: importing `lab` would make lab/ a namespace package for the session
    spec = importlib.util.spec_from_file_location("colab_" + name, os.path.join(ROOT, "lab", name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _hostprobe_module():
    return _lab_module("hostprobe")


@functools.lru_cache(maxsize=None)
def gobuild():
    """lab/gobuild.py: the upstream Go programs the lab runs, built from their modules."""
    return _lab_module("gobuild")


def go_program(name, version, binary=None):
    """The path of upstream `binary` (default `name`) at `version` for this machine, built by
    lab/gobuild.py build_binaries when its cache (per version and architecture) lacks it: the
    binary the lab packages, so a cold build here (headscale ~157 s) is spent once, not added.
    A build that cannot run (no Go, the proxy refusing) fails the test with gobuild's message."""
    import pytest  # pylint: disable=import-outside-toplevel

    module = gobuild()
    try:
        bindir, _src = module.build_binaries(name, version, module.host_arch())
    except SystemExit as exc:
        pytest.fail(str(exc), pytrace=False)
    return os.path.join(bindir, binary or name)


def host_probe():
    """{kernel, time, features: {name: {ok, detail, ...}}} of this machine (lab/hostprobe.py)."""
    import json  # pylint: disable=import-outside-toplevel

    if "result" not in _PROBE:
        result = None
        try:
            with open(HOST_PROBE, encoding="utf-8") as fh:
                result = json.load(fh)
        except (OSError, ValueError):
            pass
        if not result or result.get("kernel") != os.uname().release:
            module = _hostprobe_module()
            result = module.probe()
            module.write(result, HOST_PROBE)
        _PROBE["result"] = result
    return _PROBE["result"]


def host_has(feature):
    """Whether this machine offers `feature` (a key of lab/hostprobe.py's table)."""
    return host_probe()["features"][feature]["ok"]


def molecule_env(**extra):
    """ansible_env for `molecule test`, with what molecule.yml files interpolate from the host
    probe: COLAB_MOLECULE_AUTOFS_DEVICES, the devices list of a node that runs systemd
    automounts ([/dev/autofs] only where the host has it)."""
    devices = "[/dev/autofs]" if host_has("autofs") else "[]"
    return ansible_env(COLAB_MOLECULE_AUTOFS_DEVICES=devices, **extra)


# What a test could not do on this machine (a host feature it lacks) is an outcome of its
# own, reported, never a silent skip: a scenario prints NOT_DONE_MARK lines, the test records
# them with record_property(NOT_DONE, ...), and tests/conftest.py lists them at the end of
# the run ("what this machine could not do"); the junit xml carries them as properties.
NOT_DONE = "could_not_do"
NOT_DONE_MARK = "COLAB-NOT-DONE:"


def not_done_lines(text):
    """The distinct NOT_DONE_MARK messages in a tool's output, in order."""
    found = []
    for line in text.splitlines():
        if NOT_DONE_MARK in line:
            message = line.split(NOT_DONE_MARK, 1)[1].strip().strip("\"',")
            if message and message not in found:
                found.append(message)
    return found


def render_debug_play(play, inventories, *extra_args, task="Show them"):
    """Run a play of debug tasks (no host contacted) over the given inventory sources and
    return {host: msg} of its task named ``task``. The Windows/macOS hosts' connection
    passwords come from the secret store: never contacted here, so never looked up."""
    import json  # pylint: disable=import-outside-toplevel

    args = [arg for inv in inventories for arg in ("-i", str(inv))]
    proc = subprocess.run([tool("ansible-playbook"), *args,
                           "-e", "ansible_password=unused", "-e", "ansible_become_password=unused",
                           *extra_args, str(play)], cwd=ROOT,
                          env=ansible_env(ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json"),
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(proc.stdout)
    (show,) = [t for t in data["plays"][0]["tasks"] if t["task"]["name"] == task]
    return {host: res["msg"] for host, res in show["hosts"].items()}


# --- what a test cannot do without ---------------------------------------------------
# A test whose proof needs the Docker engine or a locally built image FAILS when it is
# missing: a skip would hide that the only proof of a role did not run. On a machine that
# knowingly lacks them, ALLOW_MISSING (a comma list of the kinds below, or `all`) turns that
# failure into a skip, which pytest's -ra summary then lists with its reason.
ALLOW_MISSING = "COLAB_TESTS_ALLOW_MISSING"
MISSING_KINDS = ("engine", "image")


def require(kind, present, message):
    """Fail with `message` unless `present`; skip instead when ALLOW_MISSING names `kind`."""
    import pytest  # pylint: disable=import-outside-toplevel

    assert kind in MISSING_KINDS, kind
    if present:
        return
    allowed = {word.strip() for word in os.environ.get(ALLOW_MISSING, "").split(",") if word.strip()}
    if kind in allowed or "all" in allowed:
        pytest.skip(f"{message} ({ALLOW_MISSING}={os.environ[ALLOW_MISSING]})")
    pytest.fail(f"{message} (on a machine without one, {ALLOW_MISSING}={kind} skips this instead)",
                pytrace=False)


def require_engine(how="python3 lab/lab.py engine"):
    """The local Docker engine answers (lab/lab.py docker_answers), or the test fails (require)."""
    require("engine", _lab_module("lab").docker_answers(), f"no Docker engine answers ({how})")


def require_image(image, how):
    """`image` is in the local engine, or the test fails (require)."""
    require_engine()
    proc = subprocess.run(["docker", "image", "inspect", image], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, timeout=60, check=False)
    require("image", proc.returncode == 0, f"{image} is missing: {how}")

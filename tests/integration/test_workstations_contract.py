"""Contract tests for projector (Windows + WSL 2 + GPU) and terminator (macOS).

No Windows or macOS host exists here, so these run the real playbooks against stand-ins
(tests/integration/standins/README.md says what each answer is transcribed from):

- Windows: `playbooks/docker.yml` and the gpu play of `playbooks/workstations.yml` on
  localhost, with `ansible.windows` shadowed by a test-only collection whose modules take
  the real argument specs (from `ansible-doc -j`) and answer from a simulated host.
- macOS: `playbooks/docker.yml` and the workstation play in a Debian container (made from
  colab/debian-systemd:trixie and removed by the test) where brew, open, osascript, plutil,
  mise, chezmoi and Docker.app's executables are stand-ins; the real homebrew modules and the
  real sudo (with a password) run.

Each scenario runs check mode on the fresh host (nothing changes, nothing is downloaded),
applies, applies again (changed=0) and checks again (changed=0). These are contract tests,
not runs on real hosts.
"""
from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
import uuid

import pytest
import yaml

from tests.helpers import ROOT, RecapError, ansible_env, parse_recap, require_image, run_logged, tail, tool

STANDINS = os.path.join(ROOT, "tests", "integration", "standins")
STANDIN_COLLECTIONS = os.path.join(STANDINS, "collections")
REAL_WINDOWS = None  # resolved lazily: the installed ansible.windows

WIN_MODULES = [
    "win_command", "win_copy", "win_credential", "win_file", "win_get_url", "win_group_membership", "win_hosts",
    "win_mapped_drive", "win_optional_feature", "win_package", "win_reboot", "win_reg_stat", "win_regedit", "win_stat",
    "win_user",
]
PIN = {"version": "4.43.1", "build": "198352"}
INSTALLER_SHA = hashlib.sha256(b"Docker Desktop Installer.exe 4.43.1").hexdigest()
INSTALLER_URL = "https://desktop.docker.com/win/main/amd64/198352/Docker%20Desktop%20Installer.exe"
UNINSTALL = "HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\Docker Desktop"
RUN_KEY = "HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run"
# The whole file runs in `make test` (about 5 min on an idle 2-core machine: some 25
# playbook runs); `make test-workstations` runs it alone.
# The cluster's names as the wiring gives them (inventory/common/wiring.yml), on TEST-NET
# addresses: nothing is ever sent to them.
HOSTS_ENTRIES = [{"name": "cooperator", "ip": "192.0.2.10", "aliases": ["cooperator.colab"]},
                 {"name": "director", "ip": "192.0.2.30", "aliases": ["director.colab"]},
                 {"name": "projector", "ip": "192.0.2.20"}, {"name": "terminator", "ip": "192.0.2.40"}]


def recap(text, host):
    """The host's totals from the one recap parser (tests/helpers.py)."""
    try:
        return parse_recap(text)[host]
    except (RecapError, KeyError) as exc:
        raise AssertionError("no PLAY RECAP line for %s (%s):\n%s" % (host, exc, tail(text))) from exc


def _windows_collection_path():
    import ansible_collections.ansible.windows as real  # pylint: disable=import-outside-toplevel

    return os.path.dirname(real.__file__)


@pytest.fixture(scope="module")
def win_specs(tmp_path_factory):
    """The real argument specs of the ansible.windows modules used, and their check-mode support."""
    names = ["ansible.windows." + m for m in WIN_MODULES]
    proc = subprocess.run([tool("ansible-doc"), "-j"] + names, env=ansible_env(), capture_output=True,
                          text=True, check=True, timeout=120)
    docs = {name: entry["doc"] for name, entry in json.loads(proc.stdout).items()}
    real = _windows_collection_path()
    for name in names:
        short = name.rsplit(".", 1)[1]
        ps1 = os.path.join(real, "plugins", "modules", short + ".ps1")
        if os.path.exists(ps1):
            with open(ps1, encoding="utf-8") as handle:
                match = re.search(r"supports_check_mode\s*=?\s*\$(true|false)", handle.read())
            docs[name]["_check_mode"] = bool(match and match.group(1) == "true")
        else:  # an action plugin (win_reboot)
            with open(os.path.join(real, "plugins", "action", short + ".py"), encoding="utf-8") as handle:
                docs[name]["_check_mode"] = "_supports_check_mode = True" in handle.read()
    path = tmp_path_factory.mktemp("win-specs") / "specs.json"
    path.write_text(json.dumps(docs))
    return str(path)


def fresh_windows_host(**overrides):
    state = {
        "features": {"Microsoft-Windows-Subsystem-Linux": False, "VirtualMachinePlatform": False},
        "wsl": {"store_version": None, "latest": "2.6.1.0", "distributions": []},
        "users": ["crtr", "Administrator"],
        "groups": {},
        "files": {"C:\\Users\\crtr": {"kind": "dir"}},
        "registry": {},
        "remote": {INSTALLER_URL: {"sha256": INSTALLER_SHA, "version": PIN["version"]}},
        "desktop": {"running": False, "starts": 0, "restarts": 0},
        "images": ["nvcr.io/nvidia/k8s/cuda-sample:nbody"],
        "gpu": {"name": "NVIDIA GeForce RTX 2060 with Max-Q Design", "driver": "581.57"},
        # The hosts file: Windows' stock comment header (illustrative) and a line written by
        # hand with an old address for cooperator, which the base layer must replace.
        "hosts_file": ["# Copyright (c) 1993-2009 Microsoft Corp.", "#",
                       "# This is a sample HOSTS file used by Microsoft TCP/IP for Windows.",
                       "192.0.2.99 cooperator  # old address, by hand"],
        "events": [],
    }
    state.update(overrides)
    return state


class WindowsRun:
    """One simulated projector: state, call log, inventory, and playbook runs."""

    def __init__(self, tmp_path, specs, state, host_vars=None):
        self.dir = tmp_path
        self.state_path = tmp_path / "state.json"
        self.log_path = tmp_path / "calls.jsonl"
        self.state_path.write_text(json.dumps(state))
        self.log_path.write_text("")
        # Named as setup returns them (ansible_ prefix): ansible_facts['os_family'] and ansible_user_id.
        facts = {"ansible_os_family": "Windows", "ansible_system": "Win32NT",
                 "ansible_distribution": "Microsoft Windows 11 Pro", "ansible_user_id": "crtr",
                 "ansible_hostname": "projector"}
        (tmp_path / "facts.json").write_text(json.dumps(facts))
        hostvars = {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "ansible_facts_modules": ["colab_test.standins.seed_facts"],
            "ansible_user": "crtr",
            "ansible_become_password": "stand-in-password",
            "docker_windows_desktop_version": PIN["version"],
            "docker_windows_desktop_build": PIN["build"],
            "docker_windows_installer_checksum": INSTALLER_SHA,
            "docker_users": ["crtr", "ghost"],
            "docker_registry": "registry.invalid:5000",
            "docker_compose_version": "2.40.3",
            "base_hosts_entries": HOSTS_ENTRIES,
        }
        hostvars.update(host_vars or {})
        inventory = {"all": {"children": {
            "windows": {"hosts": {"projector": hostvars}},
            "docker_hosts": {"hosts": {"projector": None}},
            "gpu": {"hosts": {"projector": None}},
            "workstations": {"hosts": {}},
        }}}
        self.inventory = tmp_path / "hosts.yml"
        self.inventory.write_text(yaml.safe_dump(inventory))
        self.env = ansible_env(
            ANSIBLE_COLLECTIONS_PATH=STANDIN_COLLECTIONS + os.pathsep + os.path.join(ROOT, ".ansible", "collections"),
            COLAB_STANDIN_SPECS=specs, COLAB_STANDIN_STATE=str(self.state_path),
            COLAB_STANDIN_LOG=str(self.log_path), COLAB_STANDIN_FACTS=str(tmp_path / "facts.json"),
            ANSIBLE_HOST_KEY_CHECKING="False")
        self.runs = 0

    def play(self, playbook, *args):
        self.runs += 1
        cmd = [tool("ansible-playbook"), "-i", str(self.inventory), os.path.join(ROOT, "playbooks", playbook)]
        return run_logged(cmd + list(args), "workstations-windows-%s-%d.log" % (self.dir.name, self.runs),
                          timeout=300, env=self.env)

    @property
    def state(self):
        return json.loads(self.state_path.read_text())

    def calls(self):
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line]

    def events(self, kind):
        return [e for e in self.state.get("events", []) if e["kind"] == kind]


@pytest.fixture(scope="module")
def projector(tmp_path_factory, win_specs):
    """One simulated fresh projector taken through the whole story, each step's output kept."""
    run = WindowsRun(tmp_path_factory.mktemp("projector"), win_specs, fresh_windows_host())
    run.steps = {}

    def step(name, playbook, *args):
        before = run.state
        rc, out = run.play(playbook, *args)
        run.steps[name] = {"rc": rc, "out": out, "before": before, "after": run.state, "calls": run.calls()}

    step("base-check", "base.yml", "--check", "--diff")
    step("base", "base.yml")
    step("base-again", "base.yml")
    step("check-fresh", "docker.yml", "--check")
    step("apply", "docker.yml")
    step("apply-again", "docker.yml")
    step("check-again", "docker.yml", "--check")
    step("registry-changed", "docker.yml", "-e", "docker_registry=other.invalid:5000")
    step("gpu", "workstations.yml", "--tags", "gpu", "-e", "docker_registry=other.invalid:5000")
    return run


def _step(run, name):
    result = run.steps[name]
    assert result["rc"] == 0, tail(result["out"], 80)
    return result


def _without_events(state):
    return {k: v for k, v in state.items() if k != "events"}


def _events(state, kind):
    return [e for e in state.get("events", []) if e["kind"] == kind]


def test_windows_base_layer_writes_the_cluster_names_into_the_hosts_file(projector):
    check = _step(projector, "base-check")
    assert recap(check["out"], "projector")["changed"] > 0, "check mode predicted nothing on a fresh host"
    assert check["after"]["hosts_file"] == check["before"]["hosts_file"], "check mode changed the hosts file"
    assert "+192.0.2.10 cooperator cooperator.colab" in check["out"], "the diff does not show the new line"
    applied = _step(projector, "base")["after"]["hosts_file"]
    assert applied[:3] == check["before"]["hosts_file"][:3], "the stock comments were not kept"
    entries = [line.split("#")[0].split() for line in applied if not line.startswith("#")]
    assert entries == [["192.0.2.10", "cooperator", "cooperator.colab"], ["192.0.2.30", "director", "director.colab"],
                       ["192.0.2.20", "projector"], ["192.0.2.40", "terminator"]], applied
    again = _step(projector, "base-again")
    assert recap(again["out"], "projector")["changed"] == 0, tail(again["out"], 80)
    hosts_calls = [c for c in again["calls"] if c["module"] == "ansible.windows.win_hosts"]
    assert {c["args"]["action"] for c in hosts_calls} == {"set"}


def test_windows_check_mode_on_a_fresh_host_predicts_and_changes_nothing(projector):
    result = _step(projector, "check-fresh")
    assert recap(result["out"], "projector")["changed"] > 0, "check mode predicted nothing on a fresh host"
    assert _without_events(result["after"]) == _without_events(result["before"]), "check mode changed the host"
    # win_get_url downloads even in check mode: the role must not call it then.
    assert _events(result["after"], "download") == [], "check mode downloaded the installer"
    # docker-users does not exist before the installer: predicted, not asked for.
    assert "would add crtr to docker-users once Docker Desktop is installed" in result["out"]
    assert "would run `wsl --update --web-download` as crtr" in result["out"]


def test_windows_apply_gives_projector_what_the_seed_gives_it(projector):
    result = _step(projector, "apply")
    out, state, calls = result["out"], result["after"], result["calls"]
    assert recap(out, "projector")["changed"] > 0
    # WSL installed/updated past 2.1.5, then verified; Desktop at the pin, downloaded once.
    assert state["wsl"]["store_version"] == "2.6.1.0"
    assert len(_events(state, "wsl-update")) == 1
    assert len(_events(state, "download")) == 1
    assert [e["version"] for e in _events(state, "desktop-install")] == [PIN["version"]]
    assert state["registry"][UNINSTALL]["DisplayVersion"] == PIN["version"]
    assert len(_events(state, "reboot")) == 1
    # docker-users: only the account that exists; ghost is named and skipped.
    assert state["groups"]["docker-users"] == ["crtr"]
    assert "docker_users ghost do not exist on projector" in out
    # daemon.json where Desktop reads it, for the desktop user.
    daemon = json.loads(state["files"]["C:\\Users\\crtr\\.docker\\daemon.json"]["content"])
    assert daemon["insecure-registries"] == ["registry.invalid:5000"]
    # autostart, started once, the Compose minimum checked, cluster-local created.
    assert state["registry"][RUN_KEY]["Docker Desktop"] == '"C:\\Program Files\\Docker\\Docker\\Docker Desktop.exe"'
    assert state["desktop"]["running"] and state["desktop"]["starts"] == 1
    assert state["desktop"]["restarts"] == 0
    assert "Compose 2.40.3-desktop.1" in out
    assert "cluster-local" in state["networks"]
    # The download was pinned and verified, and is kept (force: false).
    get_url = [c for c in calls if c["module"] == "ansible.windows.win_get_url"]
    assert get_url and all(c["args"]["force"] is False and c["args"]["checksum"] == INSTALLER_SHA
                           and c["args"]["checksum_algorithm"] == "sha256" for c in get_url)
    # wsl.exe is always read as UTF-16.
    wsl = [c for c in calls if c["module"] == "ansible.windows.win_command"
           and c["args"]["argv"][0].lower().endswith("wsl.exe")]
    assert wsl and all(c["args"].get("output_encoding_override") == "utf-16" for c in wsl)


def test_windows_second_apply_and_check_change_nothing(projector):
    again = _step(projector, "apply-again")
    assert recap(again["out"], "projector")["changed"] == 0, tail(again["out"], 80)
    assert len(_events(again["after"], "download")) == 1, "the installer was downloaded again"
    assert again["after"]["desktop"]["restarts"] == 0
    check = _step(projector, "check-again")
    assert recap(check["out"], "projector")["changed"] == 0, tail(check["out"], 80)


def test_windows_daemon_json_change_restarts_desktop_once(projector):
    result = _step(projector, "registry-changed")
    assert result["after"]["desktop"]["restarts"] == 1
    daemon = json.loads(result["after"]["files"]["C:\\Users\\crtr\\.docker\\daemon.json"]["content"])
    # docker_registry is the push registry: insecure-registries only (roles/registry/README.md)
    assert daemon["insecure-registries"] == ["other.invalid:5000"]
    assert "registry-mirrors" not in daemon


def test_gpu_smoke_test_runs_gpus_all_with_a_local_image(projector):
    result = _step(projector, "gpu")
    assert recap(result["out"], "projector")["changed"] == 0
    runs = [c["args"]["argv"] for c in result["calls"] if c["module"] == "ansible.windows.win_command"
            and c["args"]["argv"][1:2] == ["run"]]
    assert runs == [["C:\\Program Files\\Docker\\Docker\\resources\\bin\\docker.exe", "run", "--rm", "--gpus=all",
                     "--pull=never", "nvcr.io/nvidia/k8s/cuda-sample:nbody", "nbody", "-gpu", "-benchmark"]]
    assert "GPU Device 0" in result["out"]


def test_gpu_smoke_test_names_a_missing_image_and_a_missing_driver(tmp_path, win_specs):
    desktop_up = fresh_windows_host(
        images=[], desktop={"running": True, "starts": 1, "restarts": 0},
        files={"C:\\Program Files\\Docker\\Docker\\resources\\bin\\docker.exe": {"kind": "file"}})
    run = WindowsRun(tmp_path, win_specs, desktop_up)
    rc, out = run.play("workstations.yml", "--tags", "gpu")
    assert rc != 0 and "nvcr.io/nvidia/k8s/cuda-sample:nbody is not on projector" in out
    state = run.state
    state["gpu"] = None
    run.state_path.write_text(json.dumps(state))
    rc, out = run.play("workstations.yml", "--tags", "gpu")
    assert rc != 0 and "nvidia-smi on projector failed" in out


def test_windows_old_wsl_is_updated_without_a_reboot(tmp_path, win_specs):
    old = WindowsRun(tmp_path, win_specs, fresh_windows_host(
        wsl={"store_version": "2.0.9.0", "latest": "2.6.1.0", "distributions": []},
        features={"Microsoft-Windows-Subsystem-Linux": True, "VirtualMachinePlatform": True},
        files={"C:\\Users\\crtr": {"kind": "dir"}, "C:\\Program Files\\WSL\\wsl.exe": {"kind": "file"}}))
    rc, out = old.play("docker.yml")
    assert rc == 0, tail(out, 80)
    assert [e["to"] for e in old.events("wsl-update")] == ["2.6.1.0"]
    # issue 26 (d): from GitHub, not through the Microsoft Store a runas logon may not reach
    assert [e["web_download"] for e in old.events("wsl-update")] == [True]
    assert old.events("reboot") == []


def _desktop_at(version):
    """A host where Desktop `version` is installed (its installer made the docker-users group)."""
    return fresh_windows_host(
        groups={"docker-users": []},
        registry={"HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\Docker Desktop":
                  {"DisplayVersion": version}},
        files={"C:\\Users\\crtr": {"kind": "dir"},
               "C:\\Program Files\\Docker\\Docker\\resources\\bin\\docker.exe": {"kind": "file"},
               "C:\\Program Files\\Docker\\Docker\\Docker Desktop.exe": {"kind": "file"}})


def test_windows_desktop_newer_than_the_pin_is_left_and_reported(tmp_path, win_specs):
    """Issue 26 (d). Before: any version other than the pin was reinstalled, so a Desktop that had
    updated itself (4.50.0) was downgraded to the pin (4.43.1)."""
    run = WindowsRun(tmp_path, win_specs, _desktop_at("4.50.0"))
    rc, out = run.play("docker.yml")
    assert rc == 0, tail(out, 80)
    assert run.events("desktop-install") == [], "a Desktop newer than the pin was downgraded"
    assert "Docker Desktop 4.50.0 on projector is newer than the pin 4.43.1" in out, tail(out, 80)

    (tmp_path / "asked").mkdir()
    asked = WindowsRun(tmp_path / "asked", win_specs, _desktop_at("4.50.0"),
                       host_vars={"docker_desktop_allow_downgrade": True})
    rc, out = asked.play("docker.yml")
    assert rc == 0, tail(out, 80)
    assert [e["version"] for e in asked.events("desktop-install")] == [PIN["version"]]


def test_windows_desktop_older_than_the_pin_is_upgraded(tmp_path, win_specs):
    run = WindowsRun(tmp_path, win_specs, _desktop_at("4.40.0"))
    rc, out = run.play("docker.yml")
    assert rc == 0, tail(out, 80)
    assert [e["version"] for e in run.events("desktop-install")] == [PIN["version"]]


def test_windows_without_a_pinned_checksum_fails_early_naming_the_field(tmp_path, win_specs):
    run = WindowsRun(tmp_path, win_specs, fresh_windows_host(),
                     host_vars={"docker_windows_installer_checksum": ""})
    rc, out = run.play("docker.yml")
    assert rc != 0
    assert "docker_windows_installer_checksum" in out
    assert run.calls() == [], "the host was touched before the input check"


def test_windows_wsl_engine_mode_is_refused_with_the_reason(tmp_path, win_specs):
    run = WindowsRun(tmp_path, win_specs, fresh_windows_host(), host_vars={"docker_windows_mode": "wsl_engine"})
    rc, out = run.play("docker.yml")
    assert rc != 0
    assert "docker_windows_mode" in out and "wsl_engine" in out
    assert run.calls() == []


def _tasks(node):
    """Every task dict under a task list (blocks included)."""
    for task in node or []:
        yield task
        for key in ("block", "rescue", "always"):
            yield from _tasks(task.get(key))


def test_every_wsl_and_docker_cli_call_on_windows_runs_through_runas():
    """wsl.exe and Desktop's CLI fail in the WinRM network logon (microsoft/WSL#9231, #9620)."""
    files = sorted(glob.glob(os.path.join(ROOT, "roles", "docker", "tasks", "windows*.yml"))
                   + glob.glob(os.path.join(ROOT, "roles", "*", "handlers", "main.yml"))
                   + glob.glob(os.path.join(ROOT, "roles", "gpu", "tasks", "*.yml")))
    checked = 0
    for rel in files:
        with open(os.path.join(ROOT, rel), encoding="utf-8") as handle:
            tasks = list(_tasks(yaml.safe_load(handle)))
        for task in tasks:
            cmd = task.get("ansible.windows.win_command")
            if not isinstance(cmd, dict):
                continue
            argv0 = str(cmd.get("argv", [""])[0] if isinstance(cmd.get("argv"), list) else cmd.get("argv"))
            if "wsl" in argv0 or "_docker_win_cli" in argv0 or "docker_cli" in argv0:
                checked += 1
                assert task.get("become") is True, (rel, task["name"])
                assert task.get("become_method") == "ansible.builtin.runas", (rel, task["name"])
                assert "user" in str(task.get("become_user")), (rel, task["name"])
    assert checked >= 10


# --- macOS, in a container ---------------------------------------------------------------
MAC_IMAGE = "colab/debian-systemd:trixie"


def _docker(*args, check=True, timeout=120, **kw):
    return subprocess.run(["docker"] + list(args), capture_output=True, text=True, check=check,
                          timeout=timeout, **kw)


@contextlib.contextmanager
def mac_container(tmp_path):
    """A Debian container standing in for terminator: user crtr with a sudo password, the stand-ins."""
    name = "colab-workstations-mac-%s" % uuid.uuid4().hex[:8]
    password = secrets.token_urlsafe(12)
    # Ansible runs inside the container (this checkout and its Python mounted read-only at the
    # same paths), as crtr over the local connection: one docker exec per run, not per task.
    mounts = ["-v", "%s:%s:ro" % (ROOT, ROOT), "-v", "%s:%s:ro" % (sys.base_prefix, sys.base_prefix)]
    _docker("run", "-d", "--name", name, "--network", "none", *mounts, MAC_IMAGE, "sleep", "infinity")
    try:
        setup = """
set -eu
chmod 755 /root
useradd -m -s /bin/bash crtr
echo "crtr:$PW" | chpasswd
echo 'crtr ALL=(ALL) ALL' > /etc/sudoers.d/crtr
chmod 0440 /etc/sudoers.d/crtr
mkdir -p /opt/colab-standin /opt/homebrew/bin /Applications /var/lib/colab-standin /usr/local/bin
cp /tmp/standin.py /opt/colab-standin/standin.py
chmod 644 /opt/colab-standin/standin.py
for p in brew mise chezmoi; do python3 /opt/colab-standin/standin.py --wrapper $p /opt/homebrew/bin/$p; done
for p in open osascript plutil; do python3 /opt/colab-standin/standin.py --wrapper $p /usr/bin/$p; done
chown -R crtr /opt/homebrew /Applications
cp /tmp/state.json /var/lib/colab-standin/state.json
cp /tmp/facts.json /etc/colab-standin-facts.json
touch /var/lib/colab-standin/calls.jsonl
chmod 666 /var/lib/colab-standin/state.json /var/lib/colab-standin/calls.jsonl
# A Docker.app installed by hand (same version as the cask), and an old privileged helper.
mkdir -p /Library/PrivilegedHelperTools && touch /Library/PrivilegedHelperTools/com.docker.vmnetd
su crtr -c "python3 /opt/colab-standin/standin.py --write-app /Applications/Docker.app 4.43.1 198352"
"""
        state = {"casks": {}, "formulae": {}, "events": [],
                 "cask_catalog": {"docker-desktop": {
                     "version": "4.43.1", "build": "198352",
                     "binaries": {"docker": "Contents/Resources/bin/docker",
                                  "docker-credential-desktop": "Contents/Resources/bin/docker-credential-desktop"}}}}
        facts = {"ansible_os_family": "Darwin", "ansible_system": "Darwin", "ansible_distribution": "MacOSX",
                 "ansible_user_id": "crtr", "ansible_hostname": "terminator"}
        for fname, content in (("state.json", json.dumps(state)), ("facts.json", json.dumps(facts))):
            (tmp_path / fname).write_text(content)
            _docker("cp", str(tmp_path / fname), "%s:/tmp/%s" % (name, fname))
        _docker("cp", os.path.join(STANDINS, "macos", "standin.py"), "%s:/tmp/standin.py" % name)
        proc = _docker("exec", "-e", "PW=" + password, name, "sh", "-c", setup, check=False)
        assert proc.returncode == 0, proc.stderr
        yield MacRun(tmp_path, name, password)
    finally:
        _docker("rm", "-f", name, check=False)


@pytest.fixture(scope="module")
def terminator(tmp_path_factory):
    require_image(MAC_IMAGE, "run `make image`")
    with mac_container(tmp_path_factory.mktemp("terminator")) as run:
        run.steps = {}
        for step, playbook, args in (
                ("base-check", "base.yml", ["--check", "--diff"]),
                ("base", "base.yml", []),
                ("base-again", "base.yml", []),
                ("check-fresh", "docker.yml", ["--check"]),
                ("apply", "docker.yml", []),
                ("apply-again", "docker.yml", []),
                ("check-again", "docker.yml", ["--check"]),
                ("workstation", "workstations.yml", ["--tags", "workstation"]),
                ("workstation-again", "workstations.yml", ["--tags", "workstation"])):
            before, hosts = run.state, run.sh("cat /etc/hosts")
            rc, out = run.play(playbook, *args)
            run.steps[step] = {"rc": rc, "out": out, "before": before, "after": run.state, "calls": run.calls(),
                               "hosts_before": hosts, "hosts_after": run.sh("cat /etc/hosts")}
        yield run


class MacRun:
    def __init__(self, tmp_path, container, password, host_vars=None, label="story"):
        self.dir = tmp_path
        self.label = label
        self.container = container
        hostvars = {
            "ansible_connection": "local",
            "ansible_user": "crtr",
            "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_facts_modules": ["colab_test.standins.seed_facts"],
            "ansible_become_method": "ansible.builtin.sudo",
            "ansible_become_password": password,
            "docker_registry": "registry.invalid:5000",
            "docker_compose_version": "2.40.3",
            "base_hosts_entries": HOSTS_ENTRIES,
            # /etc/hosts is a bind mount in the container standing in for the Mac.
            "base_hosts_unsafe_writes": True,
        }
        hostvars.update(host_vars or {})
        inventory = {"all": {"children": {
            "macos": {"hosts": {"terminator": hostvars}},
            "docker_hosts": {"hosts": {"terminator": None}},
            "workstations": {"hosts": {"terminator": None}},
            "gpu": {"hosts": {}},
        }}}
        local = tmp_path / ("hosts-%s.yml" % label)
        local.write_text(yaml.safe_dump(inventory))
        self.inventory = "/tmp/colab-hosts-%s.yml" % label
        _docker("cp", str(local), "%s:%s" % (container, self.inventory))
        _docker("exec", container, "chmod", "644", self.inventory)
        self.env = ["-e", "HOME=/home/crtr", "-e", "ANSIBLE_CONFIG=" + os.path.join(ROOT, "ansible.cfg"),
                    "-e", "ANSIBLE_COLLECTIONS_PATH=%s:%s" % (STANDIN_COLLECTIONS, os.path.join(ROOT, ".ansible", "collections")),
                    "-e", "ANSIBLE_FORCE_COLOR=0", "-e", "ANSIBLE_LOCAL_TEMP=/home/crtr/.ansible/tmp"]
        self.runs = 0

    def play(self, playbook, *args):
        self.runs += 1
        cmd = ["docker", "exec", "-u", "crtr", "-w", "/home/crtr"] + self.env + [
            self.container, os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i", self.inventory,
            os.path.join(ROOT, "playbooks", playbook)]
        return run_logged(cmd + list(args), "workstations-macos-%s-%d.log" % (self.label, self.runs), timeout=600)

    def sh(self, script, user="root"):
        return _docker("exec", "-u", user, self.container, "sh", "-c", script).stdout

    @property
    def state(self):
        return json.loads(self.sh("cat /var/lib/colab-standin/state.json"))

    def calls(self):
        return [json.loads(line) for line in self.sh("cat /var/lib/colab-standin/calls.jsonl").splitlines() if line]


def test_macos_base_layer_writes_the_cluster_names_with_sudo(terminator):
    check = _step(terminator, "base-check")
    assert recap(check["out"], "terminator")["changed"] == 1, tail(check["out"], 80)
    assert "+192.0.2.40 terminator" in check["out"], "the diff does not show the block"
    assert "colab.cluster nodes" not in check["hosts_before"]
    assert check["hosts_after"] == check["hosts_before"], "check mode changed /etc/hosts"
    applied = _step(terminator, "base")
    assert recap(applied["out"], "terminator")["changed"] == 1
    hosts = applied["hosts_after"]
    assert "192.0.2.10 cooperator cooperator.colab\n" in hosts and hosts.startswith(check["hosts_before"])
    # /etc/hosts belongs to root: the write went through sudo with the password.
    assert terminator.sh("stat -c %U /etc/hosts").strip() == "root"
    again = _step(terminator, "base-again")
    assert recap(again["out"], "terminator")["changed"] == 0, tail(again["out"], 80)
    assert again["hosts_after"] == hosts


def test_macos_check_mode_on_a_fresh_host_predicts_and_changes_nothing(terminator):
    result = _step(terminator, "check-fresh")
    assert recap(result["out"], "terminator")["changed"] > 0
    assert [c for c in result["calls"] if c["prog"] not in ("brew", "plutil", "docker")] == [], \
        "check mode ran a program that changes the host"
    assert result["after"] == result["before"]


def test_macos_apply_adopts_the_app_with_sudo_and_sets_desktop_up(terminator):
    result = _step(terminator, "apply")
    state, calls, out = result["after"], result["calls"], result["out"]
    assert state["casks"] == {"docker-desktop": "4.43.1"}
    installs = _events(state, "cask-install")
    assert installs and installs[0]["options"] == ["--adopt"], "the hand-installed Docker.app was not adopted"
    # brew's sudo -A got the password through the module's SUDO_ASKPASS: the links exist.
    assert terminator.sh("readlink /usr/local/bin/docker").strip() == \
        "/Applications/Docker.app/Contents/Resources/bin/docker"
    assert [c["askpass"] for c in calls if c["prog"] == "brew" and c["args"][:2] == ["install", "--cask"]] == [True]
    assert [e["user"] for e in _events(state, "install-user")] == ["crtr"]
    assert terminator.sh("test -e /Library/PrivilegedHelperTools/com.docker.vmnetd || echo gone").strip() == "gone"
    daemon = json.loads(terminator.sh("cat /home/crtr/.docker/daemon.json"))
    assert daemon["insecure-registries"] == ["registry.invalid:5000"]
    assert "registry-mirrors" not in daemon
    agent = terminator.sh("cat /home/crtr/Library/LaunchAgents/la.ism.colab.docker-desktop.plist")
    assert "<string>/Applications/Docker.app</string>" in agent and "<key>RunAtLoad</key>" in agent
    assert state["desktop"]["running"] and state["desktop"]["starts"] == 1
    assert "cluster-local" in state["networks"]
    assert "Compose 2.40.3-desktop.1" in out


def test_macos_second_apply_and_check_change_nothing(terminator):
    again = _step(terminator, "apply-again")
    assert recap(again["out"], "terminator")["changed"] == 0, tail(again["out"], 80)
    assert len(_events(again["after"], "install-user")) == 1, "install --user ran again"
    assert again["after"]["desktop"]["restarts"] == 0
    check = _step(terminator, "check-again")
    assert recap(check["out"], "terminator")["changed"] == 0, tail(check["out"], 80)


def test_macos_workstation_role_installs_the_seed_tooling_once(terminator):
    first = _step(terminator, "workstation")
    assert recap(first["out"], "terminator")["changed"] > 0
    again = _step(terminator, "workstation-again")
    assert recap(again["out"], "terminator")["changed"] == 0, tail(again["out"], 80)
    assert 'docker-compose = "2.40.3"' in terminator.sh("cat /home/crtr/.config/mise/config.toml")
    assert sorted(again["after"]["formulae"]) == ["chezmoi", "mise"]
    assert [e["tool"] for e in _events(again["after"], "mise-install")] == ["docker-compose@2.40.3"]


def test_macos_without_a_sudo_password_fails_early(terminator):
    run = MacRun(terminator.dir, terminator.container, "", host_vars={"ansible_become_password": ""},
                 label="no-sudo")
    before = terminator.state
    rc, out = run.play("docker.yml")
    assert rc != 0 and "docker_macos_sudo_password" in out
    assert terminator.state == before


# --- the production inventory ------------------------------------------------------------
def _production_vars():
    from ansible.inventory.manager import InventoryManager  # pylint: disable=import-outside-toplevel
    from ansible.parsing.dataloader import DataLoader  # pylint: disable=import-outside-toplevel
    from ansible.vars.manager import VariableManager  # pylint: disable=import-outside-toplevel

    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[os.path.join(ROOT, "inventory", "production")])
    manager = VariableManager(loader=loader, inventory=inventory)
    hosts = {}
    for group in ("windows", "macos"):
        for host in inventory.get_groups_dict()[group]:
            hosts[host] = (group, manager.get_vars(host=inventory.get_host(host)), loader)
    return hosts


def test_every_windows_and_macos_host_has_a_user_and_a_become_password_source():
    hosts = _production_vars()
    assert {"projector", "terminator"} <= set(hosts)
    for host, (group, hostvars, _loader) in hosts.items():
        assert str(hostvars.get("ansible_user") or "").strip(), "%s has no ansible_user" % host
        become = str(hostvars.get("ansible_become_password") or "")
        assert "{{" in become, "%s: ansible_become_password must name a source (a lookup or a vault variable)" % host
        if group == "windows":
            assert "{{" in str(hostvars.get("ansible_password") or ""), host
            assert hostvars.get("ansible_become_method") == "ansible.builtin.runas", host


def test_winrm_validates_certificates_unless_explicitly_opted_out():
    from ansible.template import Templar  # pylint: disable=import-outside-toplevel

    group, hostvars, loader = _production_vars()["projector"]
    assert group == "windows"

    def render(name, **extra):
        return Templar(loader=loader, variables=dict(hostvars, **extra)).template(hostvars[name])

    assert render("ansible_winrm_server_cert_validation") == "validate"
    assert render("ansible_winrm_ca_trust_path")
    assert render("ansible_winrm_server_cert_validation", colab_winrm_insecure_skip_verify=True) == "ignore"


def test_the_base_layer_gives_windows_and_macos_hosts_the_cluster_names():
    """playbooks/base.yml runs on every host, and the wiring gives every host the entries."""
    # pylint: disable=import-outside-toplevel
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar
    from ansible.vars.hostvars import HostVars
    from ansible.vars.manager import VariableManager

    with open(os.path.join(ROOT, "playbooks", "base.yml"), encoding="utf-8") as handle:
        plays = yaml.safe_load(handle)
    targeted = {group for play in plays for group in play["hosts"].split(":")}
    assert {"linux", "macos", "windows"} <= targeted, plays[0]["hosts"]
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[os.path.join(ROOT, "inventory", "production")])
    manager = VariableManager(loader=loader, inventory=inventory)
    manager._hostvars = HostVars(inventory=inventory, variable_manager=manager, loader=loader)  # as the executor does
    for host in ("projector", "terminator"):
        hostvars = manager.get_vars(host=inventory.get_host(host))
        entries = Templar(loader=loader, variables=hostvars).template(hostvars["base_hosts_entries"])
        assert sorted(entry["name"] for entry in entries) == ["cooperator", "director", "projector", "terminator"], \
            (host, entries)

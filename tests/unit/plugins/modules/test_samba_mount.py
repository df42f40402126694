"""samba_mount: Linux fstab/credentials/mount/automount logic and the macOS LaunchAgent/Keychain path.

Linux: the module runs for real against files in tmp_path (fstab, credentials dir, a copy of
/proc/filesystems); every kernel call (findmnt, mount, umount, systemctl, modprobe) goes through
its LinuxHost seam, i.e. run_command, answered here by `Kernel` with the outputs recorded from the
real programs (fixtures/samba_mount/recorded/debian13-systemd257.txt, see SOURCES.md). The only
constructed output is the cifs entry of a live mount (no CIFS mount can exist on this kernel).

macOS: no Mac exists here. `security`, `launchctl`, `mount` and `osascript` are a double that follows
their documented CLI contract (Apple's security(1)/launchctl(1) man pages and SecurityTool's
source); the test checks the commands the module issues, that the password only travels on
stdin, and the plist it writes.
"""
from __future__ import annotations

import json
import os
import plistlib
import pwd
import re
import socket
import stat
import sys

import pytest

from ansible_collections.colab.cluster.plugins.modules import samba_mount
from tests.unit.plugins.modules.samba_helpers import CommandTable, run_module, timeout_prefix

SECRET = "Sup3r s\"ecret"
FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "samba_mount")
FS_LOADED = "nodev\tsysfs\n\text4\nnodev\tautofs\nnodev\tcifs\n"
FS_NOT_LOADED = "nodev\tsysfs\n\text4\nnodev\tautofs\n"


def recorded(name="debian13-systemd257.txt"):
    """{section: {"rc", "out", "err"}} of a recorded capture."""
    with open(os.path.join(FIXTURES, "recorded", name), encoding="utf-8") as handle:
        text = handle.read()
    sections = {}
    for chunk in text.split("=== ")[1:]:
        name, rest = chunk.split("\n", 1)
        _cmd, rest = rest.split("\n", 1)
        head, rest = rest.split("\n", 1)
        out, err = rest.split("--- stderr\n", 1)
        sections[name] = {"rc": int(head.split("=", 1)[1]), "out": out, "err": err}
    return sections


REC = recorded()
NO_AUTOFS_REC = recorded("debian13-systemd257-no-autofs.txt")


class Kernel:
    """run_command double for the LinuxHost seam, answering with recorded outputs.

    cifs: "missing" (this machine: modprobe finds no module), "loadable" (a stock Debian kernel
    before the first mount), "loaded". busy: umount of the top mount says "target is busy".
    """

    def __init__(self, env, cifs="loaded", systemd=True):
        self.env = env
        self.cifs = cifs
        self.busy = False
        self.entries = []          # bottom first, like findmnt
        self.unit_state = "inactive"
        self.unit_known = True
        self.calls = []
        self.modprobe_answer = None  # set: answer modprobe with it (read from the machine)
        self.bin_paths = {}          # get_bin_path answers other than /usr/bin/<name>
        self.set_cifs(cifs)
        if systemd:
            os.makedirs(env["systemd_dir"], exist_ok=True)

    def set_cifs(self, cifs):
        self.cifs = cifs
        self.env["proc_fs"].write_text(FS_LOADED if cifs == "loaded" else FS_NOT_LOADED)

    # the filesystems as findmnt prints them
    def autofs_entry(self):
        entry = json.loads(REC["findmnt_autofs"]["out"])["filesystems"][0]
        return dict(entry, target=self.env["args"]["path"])

    def cifs_entry(self, src=None):
        # constructed (no CIFS mount can exist here): the fields of a /proc/mounts cifs line
        return {"target": self.env["args"]["path"], "source": src or self.env["args"]["src"], "fstype": "cifs",
                "options": "rw,relatime,vers=3.1.1,cache=strict,username=crtr,uid=1000,gid=1000,soft"}

    def start_automount(self):
        self.unit_state = "active"
        if not any(e["fstype"] == "autofs" for e in self.entries):
            self.entries.insert(0, self.autofs_entry())

    @staticmethod
    def answer(section, **changes):
        rec = dict(REC[section], **changes)
        return rec["rc"], rec["out"], rec["err"]

    def show(self, unit):
        if not self.unit_known:
            section = "show_automount_not_found"
        elif self.unit_state == "active":
            triggered = any(e["fstype"] != "autofs" for e in self.entries)
            section = "show_automount_running" if triggered else "show_automount_waiting"
        else:
            section = "show_automount_inactive"
        out = re.sub(r"^Id=.*$", lambda _m: "Id=" + unit, REC[section]["out"], flags=re.M)
        return 0, out, ""

    def __call__(self, module, args, data=None, **_kwargs):
        argv = list(args)
        self.calls.append({"argv": argv, "data": data})
        assert argv[:3] == timeout_prefix(self.env["args"]["timeout"]), "every kernel call is bounded"
        core = argv[3:]
        path = self.env["args"]["path"]
        if core[0] == "findmnt":
            assert core[-1] == path
            if not self.entries:
                return self.answer("findmnt_not_mounted")
            return 0, json.dumps({"filesystems": self.entries}, indent=3), ""
        if core[:2] == ["systemctl", "show"]:
            return self.show(core[-1])
        if core[0] == "systemctl":
            verb = core[1]
            if verb == "daemon-reload":
                return self.answer("daemon_reload")
            if verb == "start":
                self.start_automount()
                return self.answer("start_automount")
            if verb == "restart":
                self.start_automount()
                return self.answer("restart_automount")
            if verb == "stop":
                self.unit_state = "inactive"
                self.entries = [e for e in self.entries if e["fstype"] != "autofs"]
                return self.answer("stop_automount")
        if core[0].endswith("modprobe"):
            if self.modprobe_answer is not None:  # the real `modprobe -n cifs` of this machine
                rc = 0 if self.cifs == "loadable" else 1
                if rc == 0 and "-n" not in core:
                    self.set_cifs("loaded")
                return rc, "", self.modprobe_answer
            if self.cifs == "missing":
                return self.answer("modprobe_dry_run" if "-n" in core else "modprobe")
            if "-n" not in core:
                self.set_cifs("loaded")
            return 0, "", ""  # transcribed from kmod tools/modprobe.c: silent on success
        if core[0] == "mount":
            assert core == ["mount", path], "mount by mount point only (fstab carries the rest)"
            if self.cifs == "missing":
                return self.answer("mount_cifs_enodev")
            self.set_cifs("loaded")
            self.entries.append(self.cifs_entry())
            return 0, "", ""
        if core[0] == "umount":
            lazy = "-l" in core
            if not self.entries:
                return self.answer("umount_not_mounted", err=REC["umount_not_mounted"]["err"].replace(
                    "/mnt/fortress", path))
            if self.busy and not lazy:
                return self.answer("umount_busy", err=REC["umount_busy"]["err"].replace("/mnt/t", path))
            self.entries.pop()
            return self.answer("umount_lazy" if lazy else "daemon_reload")
        raise AssertionError("unexpected command: %r" % argv)

    def bin_path(self, name):
        return self.bin_paths.get(name, "/usr/bin/" + name)

    def cores(self):
        return [c["argv"][3:] for c in self.calls]

    def verbs(self):
        """The calls that change something (reads left out)."""
        return [" ".join(c) for c in self.cores() if c[0] != "findmnt" and c[:2] != ["systemctl", "show"]]


def record_chown(monkeypatch, real):
    """The module's own os.chown calls, recorded as [(path, uid, gid)]; with `real` every chown
    also happens. The owner the module asks for is then checked itself, not read off the file
    (a file root writes is root's whether or not the module chowns it; ansible's atomic_move,
    whose own chowns are not recorded, gives a new file the writer's owner)."""
    calls = []
    original = os.chown
    module_file = samba_mount.__file__.rstrip("c")

    def chown(path, uid, gid, *args, **kwargs):
        if sys._getframe(1).f_code.co_filename == module_file:  # pylint: disable=protected-access
            calls.append((os.fspath(path), uid, gid))
        if real:
            original(path, uid, gid, *args, **kwargs)

    monkeypatch.setattr(samba_mount.os, "chown", chown)
    return calls


@pytest.fixture
def linux(tmp_path, monkeypatch):
    monkeypatch.setattr(samba_mount.platform, "system", lambda: "Linux")
    proc_fs = tmp_path / "filesystems"
    proc_fs.write_text(FS_LOADED)
    systemd_dir = tmp_path / "run-systemd-system"
    monkeypatch.setattr(samba_mount, "PROC_FILESYSTEMS", str(proc_fs))
    monkeypatch.setattr(samba_mount, "SYSTEMD_RUNTIME", str(systemd_dir), raising=False)
    dev_autofs = tmp_path / "dev-autofs"
    dev_autofs.write_text("")
    monkeypatch.setattr(samba_mount, "DEV_AUTOFS", str(dev_autofs), raising=False)
    fstab = tmp_path / "fstab"
    fstab.write_text("UUID=abc / ext4 defaults 0 1\n")
    # the module runs as root (become), and so do these tests: chown to root is real here (a
    # run as another user fails on it, loudly) and recorded
    chowns = record_chown(monkeypatch, real=True)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    env = {
        "tmp": tmp_path, "fstab": fstab, "proc_fs": proc_fs, "systemd_dir": str(systemd_dir), "chowns": chowns,
        "args": {
            "path": str(tmp_path / "mnt" / "fortress"),
            "src": "//127.0.0.1/fortress",
            "username": "crtr",
            "password": SECRET,
            "uid": "1000",
            "gid": "1000",
            "fstab": str(fstab),
            "credentials_dir": str(tmp_path / "credentials"),
            "port": listener.getsockname()[1],
            "timeout": 5,
        },
    }
    yield env
    listener.close()


def direct(env):
    """Arguments of a plain (no automount) mount."""
    return dict(env["args"], automount=False)


def written(env):
    return os.path.exists(env["args"]["credentials_dir"]) or "cifs" in env["fstab"].read_text()


def test_present_writes_fstab_and_private_credentials_then_is_idempotent(linux, monkeypatch, capsys):
    args = dict(linux["args"], state="present")
    kernel = Kernel(linux)
    check, _unused = run_module(samba_mount.main, args, monkeypatch, capsys, commands=kernel, check_mode=True,
                                diff=True)
    assert check["changed"] and check["actions"] == ["write credentials", "write fstab line",
                                                     "systemctl daemon-reload"]
    assert not (linux["tmp"] / "credentials").exists(), "check mode wrote something"
    assert linux["fstab"].read_text() == "UUID=abc / ext4 defaults 0 1\n"
    assert kernel.verbs() == []

    result, _unused = run_module(samba_mount.main, args, monkeypatch, capsys, commands=kernel, diff=True)
    assert result["changed"] and result["fstab_changed"] and result["credentials_changed"]
    assert kernel.verbs() == ["systemctl daemon-reload"]  # present never mounts
    cred = linux["tmp"] / "credentials" / (args["path"].strip("/").replace("/", "-") + ".cred")
    assert result["credentials_file"] == str(cred)
    assert cred.read_text() == "username=crtr\npassword=%s\n" % SECRET
    st = cred.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert linux["chowns"] == [(str(cred), 0, 0)]
    assert st.st_uid == 0 and st.st_gid == 0
    lines = linux["fstab"].read_text().splitlines()
    assert lines[0] == "UUID=abc / ext4 defaults 0 1"
    src, path, fstype, opts, dump, passno = lines[1].split()
    assert (src, path, fstype, dump, passno) == ("//127.0.0.1/fortress", args["path"], "cifs", "0", "0")
    assert set(opts.split(",")) == {"credentials=%s" % cred, "uid=1000", "gid=1000", "vers=3.1.1", "_netdev",
                                    "nofail", "x-systemd.automount", "x-systemd.idle-timeout=600"}
    # the secret appears nowhere in what the module returned, diff included
    assert SECRET not in str(result) and SECRET not in str(check)
    assert "********" in str(result["diff"])

    kernel.calls.clear()
    again, _unused = run_module(samba_mount.main, args, monkeypatch, capsys, commands=kernel)
    assert not again["changed"] and again["actions"] == [] and kernel.verbs() == []


FSTAB_GENERATOR = "/lib/systemd/system-generators/systemd-fstab-generator"


def generated_automount(fstab, tmp_path):
    """The .automount unit the real systemd-fstab-generator makes of ``fstab`` (systemd.generator(7):
    three output directories; $SYSTEMD_FSTAB and $SYSTEMD_PROC_CMDLINE point it at our files)."""
    import subprocess
    out = tmp_path / "generated"
    out.mkdir()
    env = dict(os.environ, SYSTEMD_FSTAB=str(fstab), SYSTEMD_PROC_CMDLINE="")
    subprocess.run([FSTAB_GENERATOR, str(out), str(out), str(out)], env=env, check=True, timeout=30)
    units = sorted(out.glob("*.automount"))
    return units[0].read_text() if units else None


@pytest.mark.skipif(not os.access(FSTAB_GENERATOR, os.X_OK), reason="systemd-fstab-generator is not installed")
@pytest.mark.parametrize("idle_timeout,wanted", [(None, "TimeoutIdleSec=10min"), (90, "TimeoutIdleSec=1min 30s"),
                                                 (0, None)])
def test_automount_unit_has_an_idle_timeout(linux, monkeypatch, capsys, idle_timeout, wanted):
    """Issue 26 (b). Before: no x-systemd.idle-timeout, so an automounted share was never unmounted when
    idle and on_busy=next_automount never got its next mount (until a reboot). The unit is the one the
    host's real systemd-fstab-generator (Debian 12, systemd 252) makes of the fstab the module wrote."""
    args = dict(linux["args"], state="present")
    if idle_timeout is not None:
        args["idle_timeout"] = idle_timeout
    result, _unused = run_module(samba_mount.main, args, monkeypatch, capsys, commands=Kernel(linux))
    assert not result.get("failed"), result.get("msg")
    unit = generated_automount(linux["fstab"], linux["tmp"])
    assert unit is not None and "Where=%s" % args["path"] in unit
    idle = [line for line in unit.splitlines() if line.startswith("TimeoutIdleSec=")]
    assert idle == ([wanted] if wanted else [])
    # without an automount there is nothing to time out: the option is not written
    plain, _unused = run_module(samba_mount.main, dict(args, automount=False), monkeypatch, capsys,
                                commands=Kernel(linux))
    assert "idle-timeout" not in plain["fstab_line"]


def test_option_order_does_not_matter(linux, monkeypatch, capsys):
    args = dict(linux["args"], state="present")
    run_module(samba_mount.main, args, monkeypatch, capsys, commands=Kernel(linux))
    line = linux["fstab"].read_text().splitlines()[1].split()
    line[3] = ",".join(reversed(line[3].split(",")))
    linux["fstab"].write_text("UUID=abc / ext4 defaults 0 1\n" + " ".join(line) + "\n")
    result, _unused = run_module(samba_mount.main, args, monkeypatch, capsys, commands=Kernel(linux))
    assert not result["changed"]


def test_wrong_credentials_mode_is_fixed(linux, monkeypatch, capsys):
    args = dict(linux["args"], state="present")
    result, _unused = run_module(samba_mount.main, args, monkeypatch, capsys, commands=Kernel(linux))
    os.chmod(result["credentials_file"], 0o644)
    fixed, _unused = run_module(samba_mount.main, args, monkeypatch, capsys, commands=Kernel(linux))
    assert fixed["changed"] and fixed["actions"] == ["fix credentials owner/mode"]
    assert stat.S_IMODE(os.stat(result["credentials_file"]).st_mode) == 0o600


# --- 1. CIFS that autoloads --------------------------------------------------------------
def test_first_mount_on_a_kernel_that_loads_cifs_on_demand(linux, monkeypatch, capsys):
    """Issue 13.1: a fresh Debian boot has no 'cifs' line in /proc/filesystems until the first mount."""
    kernel = Kernel(linux, cifs="loadable")
    result, _unused = run_module(samba_mount.main, direct(linux), monkeypatch, capsys, commands=kernel)
    assert not result.get("failed"), result.get("msg")
    # modprobe first: whether CIFS can be had is known before anything is written
    assert result["mounted"] and kernel.verbs() == ["/usr/bin/modprobe cifs", "systemctl daemon-reload",
                                                    "mount " + linux["args"]["path"]]


def test_kernel_without_cifs_fails_clearly_before_anything_changes(linux, monkeypatch, capsys):
    """This machine's kernel (recorded modprobe answer): the clear error, nothing written or unmounted."""
    kernel = Kernel(linux, cifs="missing")
    result, _unused = run_module(samba_mount.main, direct(linux), monkeypatch, capsys, commands=kernel)
    assert result["failed"] and result["msg"].startswith("the kernel cannot mount CIFS: 'cifs' is not loaded and "
                                                         "modprobe cannot find it (modprobe: FATAL: Module cifs")
    assert kernel.verbs() == ["/usr/bin/modprobe cifs"] and not written(linux)


def test_without_modprobe_the_mounts_own_enodev_is_the_answer(linux, monkeypatch, capsys):
    kernel = Kernel(linux, cifs="missing")
    monkeypatch.setattr(samba_mount.LinuxHost, "modprobe", lambda self, dry_run: (None, "modprobe is not installed"))
    result, _unused = run_module(samba_mount.main, direct(linux), monkeypatch, capsys, commands=kernel)
    assert result["failed"] and result["msg"].startswith(
        "the kernel cannot mount CIFS: mount %s said: mount error: cifs filesystem not supported by the system"
        % linux["args"]["path"])
    assert "mount error(19): No such device" in result["msg"]


def real_cifs_state():
    """What the machine running the tests offers, read for real: ("loaded", None) when
    /proc/filesystems lists cifs; ("no-modprobe", None) without modprobe (then the kernel cannot
    load a module either: request_module runs /sbin/modprobe); else ("loadable"|"missing"|"other",
    modprobe -n's answer). `-n`: nothing is ever loaded on this machine."""
    import shutil  # pylint: disable=import-outside-toplevel
    import subprocess  # pylint: disable=import-outside-toplevel

    # the dirs get_bin_path searches (PATH, then the module's opt_dirs)
    binary = shutil.which("modprobe", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
    with open("/proc/filesystems", encoding="utf-8") as handle:
        if "cifs" in handle.read().split():
            return "loaded", None, binary
    if binary is None:
        return "no-modprobe", None, None
    proc = subprocess.run([binary, "-n", "cifs"], capture_output=True, text=True, timeout=10, check=False)
    answer = (proc.stderr or proc.stdout).strip()
    if proc.returncode == 0:
        return "loadable", answer, binary
    return ("missing" if samba_mount.says_module_missing(answer) else "other"), answer, binary


def test_this_machine_kernel_verdict(linux, monkeypatch, capsys, record_property):
    """The real /proc/filesystems, the real modprobe lookup and the real `modprobe -n cifs` of the
    machine running the tests (the mount itself is the double's recorded answer for the state
    found): the module's verdict matches this kernel on every machine, none is skipped.
    The project's build machines: no cifs, no modprobe (the mount's ENODEV is the answer);
    a stock Debian kernel: cifs loadable (the mount goes ahead)."""
    state, answer, binary = real_cifs_state()
    record_property("kernel_cifs", "%s %s" % (state, answer or ""))
    assert state != "other", "modprobe -n cifs answered %r: neither loadable nor missing" % answer
    monkeypatch.setattr(samba_mount, "PROC_FILESYSTEMS", "/proc/filesystems")
    kernel = Kernel(linux, cifs={"loaded": "loaded", "loadable": "loadable"}.get(state, "missing"))
    kernel.set_cifs = lambda cifs: setattr(kernel, "cifs", cifs)  # /proc/filesystems is the real one
    kernel.modprobe_answer = answer
    kernel.bin_paths["modprobe"] = binary
    result, _unused = run_module(samba_mount.main, direct(linux), monkeypatch, capsys, commands=kernel)
    modprobes = [v for v in kernel.verbs() if v.endswith("modprobe cifs")]
    if state in ("loaded", "loadable"):
        assert not result.get("failed"), result.get("msg")
        assert result["mounted"] and kernel.verbs()[-1] == "mount " + linux["args"]["path"]
        assert len(modprobes) == (1 if state == "loadable" else 0), kernel.verbs()
    elif state == "no-modprobe":
        assert result["failed"] and result["msg"].startswith(
            "the kernel cannot mount CIFS: mount %s said:" % linux["args"]["path"]), result["msg"]
        assert modprobes == [], kernel.verbs()
    else:
        assert result["failed"] and result["msg"].startswith(
            "the kernel cannot mount CIFS: 'cifs' is not loaded and modprobe cannot find it (%s" % answer[:20])
        assert not written(linux)


# --- 2. systemd automount is the desired state ---------------------------------------------
def automount_ready(linux, monkeypatch, capsys, kernel):
    run_module(samba_mount.main, dict(linux["args"], state="present"), monkeypatch, capsys, commands=kernel)
    kernel.start_automount()
    kernel.calls.clear()


def test_untriggered_automount_of_the_right_source_is_left_alone(linux, monkeypatch, capsys):
    """Issue 13.2: after a reboot /mnt/fortress is an autofs mount (recorded findmnt): nothing to do."""
    kernel = Kernel(linux, cifs="loadable")
    automount_ready(linux, monkeypatch, capsys, kernel)
    result, _unused = run_module(samba_mount.main, linux["args"], monkeypatch, capsys, commands=kernel)
    assert not result.get("failed"), result.get("msg")
    assert not result["changed"] and kernel.verbs() == ["/usr/bin/modprobe -n cifs"]
    assert result["automount"] and result["automount_unit"] == samba_mount.systemd_escape_path(
        linux["args"]["path"]) + ".automount"


def test_triggered_automount_is_left_alone(linux, monkeypatch, capsys):
    kernel = Kernel(linux)
    automount_ready(linux, monkeypatch, capsys, kernel)
    kernel.entries.append(kernel.cifs_entry())
    result, _unused = run_module(samba_mount.main, linux["args"], monkeypatch, capsys, commands=kernel)
    assert not result["changed"] and kernel.verbs() == [] and result["mounted"]


def test_mounted_starts_the_automount_and_never_mounts_directly(linux, monkeypatch, capsys):
    kernel = Kernel(linux, cifs="loadable")
    result, _unused = run_module(samba_mount.main, linux["args"], monkeypatch, capsys, commands=kernel)
    unit = result["automount_unit"]
    assert kernel.verbs() == ["/usr/bin/modprobe -n cifs", "systemctl daemon-reload", "systemctl start " + unit]
    assert result["automount"] and kernel.unit_state == "active"
    again, _unused = run_module(samba_mount.main, linux["args"], monkeypatch, capsys, commands=kernel)
    assert not again["changed"]


def test_fstab_change_reloads_systemd_and_restarts_the_automount(linux, monkeypatch, capsys):
    kernel = Kernel(linux)
    automount_ready(linux, monkeypatch, capsys, kernel)
    result, _unused = run_module(samba_mount.main, dict(linux["args"], opts=["soft"]), monkeypatch, capsys,
                                 commands=kernel)
    assert kernel.verbs() == ["systemctl daemon-reload", "systemctl restart " + result["automount_unit"]]


def test_automount_on_a_kernel_without_cifs_fails_before_writing(linux, monkeypatch, capsys):
    kernel = Kernel(linux, cifs="missing")
    result, _unused = run_module(samba_mount.main, linux["args"], monkeypatch, capsys, commands=kernel)
    assert result["failed"] and "the kernel cannot mount CIFS" in result["msg"]
    assert kernel.verbs() == ["/usr/bin/modprobe -n cifs"] and not written(linux)


def test_automount_without_dev_autofs_fails_before_writing(linux, monkeypatch, capsys):
    """systemd refuses to start an automount without /dev/autofs (recorded:
    fixtures/samba_mount/recorded/debian13-systemd257-no-autofs.txt); the module says so first."""
    answer = NO_AUTOFS_REC["start_automount_no_autofs"]
    assert answer["rc"] == 1 and "not supported on this system" in answer["err"]
    assert NO_AUTOFS_REC["dev_autofs"]["rc"] != 0
    monkeypatch.setattr(samba_mount, "DEV_AUTOFS", str(linux["tmp"] / "no-such-dev-autofs"))
    kernel = Kernel(linux)
    result, _unused = run_module(samba_mount.main, linux["args"], monkeypatch, capsys, commands=kernel)
    assert result["failed"] and result["msg"].startswith("systemd cannot start %s here: %s does not exist"
                                                         % (result["automount_unit"], linux["tmp"] / "no-such-dev-autofs"))
    assert "state=present" in result["msg"]
    assert kernel.verbs() == [] and not written(linux)
    # present still writes the fstab line and the credentials file
    present, _unused = run_module(samba_mount.main, dict(linux["args"], state="present"), monkeypatch, capsys,
                                  commands=kernel)
    assert present["changed"] and present["fstab_changed"] and written(linux)


def test_unmounted_and_absent_stop_the_automount(linux, monkeypatch, capsys):
    kernel = Kernel(linux)
    automount_ready(linux, monkeypatch, capsys, kernel)
    kernel.entries.append(kernel.cifs_entry())
    unit = samba_mount.systemd_escape_path(linux["args"]["path"]) + ".automount"
    result, _unused = run_module(samba_mount.main, dict(linux["args"], state="unmounted"), monkeypatch, capsys,
                                 commands=kernel)
    assert kernel.verbs() == ["umount " + linux["args"]["path"], "systemctl stop " + unit]
    assert not result["mounted"] and not result["automount"] and kernel.entries == []
    assert "cifs" in linux["fstab"].read_text()
    kernel.start_automount()
    kernel.calls.clear()
    result, _unused = run_module(samba_mount.main, dict(linux["args"], state="absent"), monkeypatch, capsys,
                                 commands=kernel)
    assert kernel.verbs() == ["systemctl stop " + unit, "systemctl daemon-reload"]
    assert result["actions"][-3:] == ["remove fstab line", "systemctl daemon-reload", "remove credentials"]
    assert linux["fstab"].read_text() == "UUID=abc / ext4 defaults 0 1\n"
    again, _unused = run_module(samba_mount.main, dict(linux["args"], state="absent"), monkeypatch, capsys,
                                commands=kernel)
    assert not again["changed"]


def test_no_systemd_means_a_direct_mount(linux, monkeypatch, capsys):
    kernel = Kernel(linux, systemd=False)
    result, _unused = run_module(samba_mount.main, linux["args"], monkeypatch, capsys, commands=kernel)
    assert kernel.verbs() == ["mount " + linux["args"]["path"]] and result["mounted"]


# --- 3. rotation while the share is busy --------------------------------------------------
def busy_mount(linux, monkeypatch, capsys, automount=True):
    kernel = Kernel(linux)
    args = dict(linux["args"], automount=automount)
    run_module(samba_mount.main, dict(args, state="present"), monkeypatch, capsys, commands=kernel)
    if automount:
        kernel.start_automount()
    kernel.entries.append(kernel.cifs_entry())
    kernel.busy = True
    kernel.calls.clear()
    return kernel, dict(args, password="rotated-pw")


def test_busy_rotation_defers_to_the_next_automount(linux, monkeypatch, capsys):
    kernel, args = busy_mount(linux, monkeypatch, capsys)
    result, _unused = run_module(samba_mount.main, args, monkeypatch, capsys, commands=kernel)
    assert not result.get("failed"), result.get("msg")
    assert result["pending_remount"] and result["credentials_changed"]
    assert result["actions"] == ["write credentials", "remount deferred (busy)"]
    assert kernel.verbs() == ["umount " + args["path"]] and any("is busy" in str(w) for w in result["warnings"])
    assert "rotated-pw" in open(result["credentials_file"], encoding="utf-8").read()


def test_busy_rotation_lazy_detaches_and_lets_the_automount_remount(linux, monkeypatch, capsys):
    kernel, args = busy_mount(linux, monkeypatch, capsys)
    result, _unused = run_module(samba_mount.main, dict(args, on_busy="lazy"), monkeypatch, capsys, commands=kernel)
    assert kernel.verbs() == ["umount " + args["path"], "umount -l " + args["path"]]
    assert [e["fstype"] for e in kernel.entries] == ["autofs"] and not result["pending_remount"]


def test_busy_rotation_lazy_without_automount_mounts_again(linux, monkeypatch, capsys):
    kernel, args = busy_mount(linux, monkeypatch, capsys, automount=False)
    result, _unused = run_module(samba_mount.main, dict(args, on_busy="lazy"), monkeypatch, capsys, commands=kernel)
    assert kernel.verbs() == ["umount " + args["path"], "umount -l " + args["path"], "mount " + args["path"]]
    assert result["mounted"]


def test_busy_rotation_fail_names_the_busy_mount(linux, monkeypatch, capsys):
    kernel, args = busy_mount(linux, monkeypatch, capsys)
    result, _unused = run_module(samba_mount.main, dict(args, on_busy="fail"), monkeypatch, capsys, commands=kernel)
    assert result["failed"] and result["msg"].startswith("%s is busy (umount: %s: target is busy.)"
                                                         % (args["path"], args["path"]))


def test_rotation_of_an_idle_mount_remounts(linux, monkeypatch, capsys):
    kernel, args = busy_mount(linux, monkeypatch, capsys, automount=False)
    kernel.busy = False
    result, _unused = run_module(samba_mount.main, args, monkeypatch, capsys, commands=kernel)
    assert result["actions"] == ["write credentials", "unmount", "mount"]
    assert kernel.verbs() == ["umount " + args["path"], "mount " + args["path"]]
    assert all("rotated-pw" not in " ".join(c["argv"]) for c in kernel.calls)


def test_mounted_replaces_a_foreign_mount(linux, monkeypatch, capsys):
    kernel = Kernel(linux)
    kernel.entries.append(kernel.cifs_entry(src="//elsewhere/x"))
    result, _unused = run_module(samba_mount.main, direct(linux), monkeypatch, capsys, commands=kernel)
    assert result["actions"][-2:] == ["unmount", "mount"]


def test_check_mode_predicts_mount_without_running_it(linux, monkeypatch, capsys):
    kernel = Kernel(linux, cifs="loadable")
    result, _unused = run_module(samba_mount.main, direct(linux), monkeypatch, capsys, commands=kernel,
                                 check_mode=True)
    assert result["changed"] and result["mounted"] and "mount" in result["actions"]
    assert kernel.verbs() == ["/usr/bin/modprobe -n cifs"] and not os.path.exists(linux["args"]["path"])


def test_unreachable_server_fails_before_mount(linux, monkeypatch, capsys):
    port = closed_port()
    kernel = Kernel(linux)
    result, _unused = run_module(samba_mount.main, dict(direct(linux), port=port), monkeypatch, capsys,
                                 commands=kernel)
    assert result["failed"]
    assert result["msg"].startswith("the SMB server 127.0.0.1 (smbd) does not answer on TCP %d:" % port)
    assert not any(v.startswith("mount") for v in kernel.verbs())


def test_mount_timeout_is_reported(linux, monkeypatch, capsys):
    table = CommandTable()
    table.add(["findmnt"], rc=1)
    table.add(["systemctl", "show"], out=REC["show_automount_not_found"]["out"])
    table.add(["systemctl", "daemon-reload"])
    table.add(["mount"], rc=124)
    result, _unused = run_module(samba_mount.main, direct(linux), monkeypatch, capsys, commands=table)
    assert result["failed"] and result["msg"] == "mount %s did not finish within 5s" % linux["args"]["path"]


# --- 7. injection: refused before anything is written -------------------------------------
@pytest.mark.parametrize("bad, message", [
    # the five inputs measured in issue 13.7
    ({"opts": ["soft\n//evil/x /etc cifs rw 0 0"]}, "opts[0] must not contain a line break"),
    ({"uid": "1000 x"}, "uid must be a number or an account name"),
    ({"username": "crtr\ndomain=EVIL"}, "username must not contain a line break"),
    ({"domain": "COLAB\npassword=x"}, "domain must not contain a line break"),
    ({"opts": ["credentials=/tmp/other.cred"]}, "opts[0]: credentials= is written by the module"),
    # and the rest of the fields
    ({"opts": ["soft,ro"]}, "opts[0] must not contain a comma"),
    ({"opts": ["soft ro"]}, "opts[0] must not contain whitespace"),
    ({"opts": ["username=bob"]}, "opts[0]: username= is written by the module"),
    ({"opts": ["password=oops"]}, "opts must not carry a password"),
    ({"gid": "1000,ro"}, "gid must be a number or an account name"),
    ({"file_mode": "0664,rw"}, "file_mode must be an octal mode"),
    ({"vers": "3.1.1,sec=none"}, "vers must be one of mount.cifs' dialects"),
    ({"credentials_file": "/etc/samba/my cred"}, "credentials_file must not contain whitespace"),
    ({"path": "/mnt/fortress\nx"}, "path must not contain a line break"),
    ({"src": "//cooperator/fortress\n"}, "src must not contain a line break"),
    ({"src": "cooperator/fortress"}, "src must look like //server/share"),
    ({"src": "//cooperator"}, "src must name a server and a share"),
    ({"timeout": 0}, "timeout must be a positive"),
    ({"idle_timeout": -1}, "idle_timeout must be 0 (none) or a positive"),
    ({"password": "two\nlines"}, "password must not contain a line break"),
])
def test_bad_input_fails_early_naming_the_field(linux, monkeypatch, capsys, bad, message):
    kernel = Kernel(linux)
    result, _unused = run_module(samba_mount.main, dict(linux["args"], state="present", **bad), monkeypatch, capsys,
                                 commands=kernel)
    assert result["failed"] and message in result["msg"], result["msg"]
    assert kernel.calls == [] and not written(linux)


def test_a_space_in_the_mount_path_is_escaped_everywhere(linux, monkeypatch, capsys):
    path = str(linux["tmp"] / "mnt" / "my share")
    result, _unused = run_module(samba_mount.main, dict(linux["args"], path=path, state="present"), monkeypatch,
                                 capsys, commands=Kernel(dict(linux, args=dict(linux["args"], path=path))))
    line = linux["fstab"].read_text().splitlines()[1]
    fields = line.split()
    assert len(fields) == 6, line
    assert fields[1] == path.replace(" ", "\\040")
    assert result["credentials_file"].endswith("my_share.cred") and " " not in fields[3]
    # and it reads back as the same entry (idempotent)
    again, _unused = run_module(samba_mount.main, dict(linux["args"], path=path, state="present"), monkeypatch,
                                capsys, commands=Kernel(dict(linux, args=dict(linux["args"], path=path))))
    assert not again["changed"]


def test_missing_fstab_directory_fails_before_the_credentials_are_written(linux, monkeypatch, capsys):
    args = dict(linux["args"], state="present", fstab=str(linux["tmp"] / "nowhere" / "fstab"))
    kernel = Kernel(linux)
    result, _unused = run_module(samba_mount.main, args, monkeypatch, capsys, commands=kernel)
    assert result["failed"] and result["msg"].startswith("fstab: the directory")
    assert not os.path.exists(linux["args"]["credentials_dir"]) and kernel.calls == []


def test_missing_password_for_present(linux, monkeypatch, capsys):
    args = dict(linux["args"], state="present")
    del args["password"]
    result, _unused = run_module(samba_mount.main, args, monkeypatch, capsys, commands=Kernel(linux))
    assert result["failed"] and "password" in result["msg"]


def test_unit_names_match_the_real_systemd_escape():
    assert samba_mount.systemd_escape_path("/mnt/fortress") == REC["systemd_escape_plain"]["out"].strip()
    assert samba_mount.systemd_escape_path("/mnt/my share/for-tress") == REC["systemd_escape_special"]["out"].strip()


# --- macOS ----------------------------------------------------------------------------
AS_CRTR = ["/bin/launchctl", "asuser", "501", "/usr/bin/sudo", "-n", "-u", "crtr", "-H"]


class FakeMac:
    """security / launchctl / mount as documented: find-internet-password -w prints the
    password and exits 44 when there is no item; launchctl print exits 113 for an unknown
    service; bootstrap loads, bootout unloads. Like macOS's base system it has no coreutils
    timeout(1) (get_bin_path finds none): the module's commands reach it through
    _bounded.run_direct, each call recording the timeout it was given."""

    def __init__(self):
        self.keychain = None
        self.loaded = False
        self.locked = False
        # what the LaunchAgent's `mount volume` achieves once loaded (RunAtLoad): False = the
        # server refused or is down, and `mount` shows no smbfs at the mount point
        self.agent_mounts = True
        self.mounted = False
        # launchd finishes a bootout asynchronously: a bootstrap right after it answers
        # "Bootstrap failed: 5: Input/output error" this many times
        self.busy_after_bootout = 0
        self.busy = 0
        self.hung = None  # a command (argv prefix) that does not finish: run_direct ended it, rc 124
        self.table = CommandTable()

    @staticmethod
    def bin_path(name):
        return None if name == "timeout" else "/usr/bin/" + name

    def __call__(self, module, args, data=None, **kwargs):
        self.table.calls.append({"argv": list(args), "data": data, "timeout": kwargs.get("timeout")})
        argv = list(args)
        if os.path.basename(argv[0]) == "timeout":
            # what run_command does on a Mac: the program is not there (ENOENT), the module fails
            module.fail_json(msg="Error executing command.", rc=2, cmd=" ".join(argv),
                             exception="[Errno 2] No such file or directory: %r" % argv[0])
        # as root the module runs these in the GUI user's session and as that user (launchctl(1) asuser
        # changes the bootstrap context only, not the credentials): launchctl asuser 501 sudo -n -u crtr -H <argv>
        assert argv[:8] == AS_CRTR or os.geteuid() != 0
        core = argv[8:] if argv[:8] == AS_CRTR else argv
        if self.hung and core[:len(self.hung)] == self.hung:
            return 124, "", ""
        if core[:2] == ["/usr/bin/security", "find-internet-password"]:
            return (0, self.keychain + "\n", "") if self.keychain is not None else (44, "", "not found")
        if core == ["/usr/bin/security", "show-keychain-info"]:
            # security(1): exits non-zero (errSecInteractionNotAllowed) when the keychain is locked
            return (0, "", "") if not self.locked else (36, "", "User interaction is not allowed.")
        if core == ["/usr/bin/security", "-i"]:
            line = data.decode() if isinstance(data, bytes) else data
            # the last quoted word before the newline is the password (see keychain_script)
            self.keychain = line.rsplit('"-w" ', 1)[1].rstrip("\n")[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            return 0, "", ""
        if core[:2] == ["/usr/bin/security", "delete-internet-password"]:
            self.keychain = None
            return 0, "", ""
        if core[:2] == ["/bin/launchctl", "print"]:
            return (0, "state = running", "") if self.loaded else (113, "", "Could not find service")
        if core[:2] == ["/bin/launchctl", "bootstrap"]:
            if self.busy:
                self.busy -= 1
                return 5, "", "Bootstrap failed: 5: Input/output error\n"
            self.loaded = True
            self.mounted = self.mounted or self.agent_mounts
            return 0, "", ""
        if core[:2] == ["/bin/launchctl", "bootout"]:
            self.loaded = False
            self.busy = self.busy_after_bootout
            return 0, "", ""
        if core == ["/sbin/mount"]:
            # mount(8) on macOS: "<src> on <mount point> (<fstype>, <flags>)"
            table = "/dev/disk3s1 on / (apfs, sealed, local, read-only, journaled)\n"
            if self.mounted:
                table += "//crtr@cooperator/fortress on /Volumes/fortress (smbfs, nodev, nosuid, mounted by crtr)\n"
            return 0, table, ""
        if core[:1] == ["/sbin/umount"]:
            self.mounted = False
            return 0, "", ""
        raise AssertionError("unexpected command %r" % argv)


@pytest.fixture
def mac(tmp_path, monkeypatch):
    monkeypatch.setattr(samba_mount.platform, "system", lambda: "Darwin")
    home = tmp_path / "Users" / "crtr"
    home.mkdir(parents=True)
    user = pwd.struct_passwd(("crtr", "*", 501, 20, "", str(home), "/bin/zsh"))
    monkeypatch.setattr(samba_mount.pwd, "getpwnam", lambda name: user if name == "crtr" else {}[name])
    # the GUI user crtr (501:20) exists only in the double: recorded, not performed
    args = {"path": "/Volumes/fortress", "src": "//cooperator/fortress", "username": "crtr",
            "password": SECRET, "macos_user": "crtr", "timeout": 20}
    return {"home": home, "chowns": record_chown(monkeypatch, real=False), "args": args}


def test_macos_keychain_plist_and_bootstrap(mac, monkeypatch, capsys):
    fake = FakeMac()
    result, _unused = run_module(samba_mount.main, mac["args"], monkeypatch, capsys, commands=fake, diff=True)
    assert result["actions"] == ["store password in the login Keychain", "write LaunchAgent", "launchctl bootstrap"]
    assert fake.keychain == SECRET
    for call in fake.table.calls:
        assert SECRET not in " ".join(call["argv"]), "password on a command line"
        assert call["timeout"] == 20, "every call is bounded by the module's timeout"
    stdin_calls = [c for c in fake.table.calls if c["data"]]
    assert len(stdin_calls) == 1 and stdin_calls[0]["argv"][-2:] == ["/usr/bin/security", "-i"]
    plist_path = mac["home"] / "Library" / "LaunchAgents" / "la.colab.cluster.samba.fortress.plist"
    assert result["plist"] == str(plist_path)
    # the LaunchAgent (and the folder the module made for it) belong to the GUI user
    assert mac["chowns"] == [(str(plist_path.parent), 501, 20), (str(plist_path), 501, 20)]
    plist = plistlib.loads(plist_path.read_bytes())
    assert SECRET not in plist_path.read_text()
    # issue 13.5: Apple's `mount volume` (Keychain), no mount_smbfs -N, no mkdir under the root-owned /Volumes
    script = plist["ProgramArguments"][2]
    assert "exec /usr/bin/osascript -e 'mount volume \"smb://crtr@cooperator/fortress\"'" in script
    assert "mount_smbfs" not in script and "mkdir" not in script
    boot = [c["argv"] for c in fake.table.calls if "bootstrap" in c["argv"]][0]
    assert boot[-3:] == ["bootstrap", "gui/501", str(plist_path)]
    assert SECRET not in str(result)

    again, _unused = run_module(samba_mount.main, mac["args"], monkeypatch, capsys, commands=fake)
    assert not again["changed"]

    rotated, _unused = run_module(samba_mount.main, dict(mac["args"], password="n3w"), monkeypatch, capsys, commands=fake)
    assert rotated["actions"] == ["store password in the login Keychain", "launchctl bootout", "launchctl bootstrap"]
    assert fake.keychain == "n3w"


@pytest.mark.parametrize("root", [False, True])
def test_macos_runs_no_timeout_command(mac, monkeypatch, capsys, root):
    """macOS's base system has no coreutils timeout(1). Before: every macOS command ran as
    `timeout -k 5 N argv` (_samba.bounded), so on a real Mac none of them started (No such file).
    Now none starts with timeout, and each is still bounded by O(timeout) (run_direct)."""
    if root:
        monkeypatch.setattr(samba_mount.os, "geteuid", lambda: 0)
    fake = FakeMac()
    results = [run_module(samba_mount.main, dict(mac["args"], state=state), monkeypatch, capsys, commands=fake)[0]
               for state in ("mounted", "unmounted", "absent")]
    argvs = [c["argv"] for c in fake.table.calls]
    assert argvs, "the module ran no command"
    assert not [a for a in argvs if os.path.basename(a[0]) == "timeout"], argvs
    assert not [r["msg"] for r in results if r.get("failed")]
    assert all(c["timeout"] == 20 for c in fake.table.calls), fake.table.calls


def test_macos_command_timeout_is_reported(mac, monkeypatch, capsys):
    """A macOS command that run_direct had to end (rc 124, timed out) is reported as such."""
    fake = FakeMac()
    fake.hung = ["/usr/bin/security", "show-keychain-info"]
    result, _unused = run_module(samba_mount.main, mac["args"], monkeypatch, capsys, commands=fake)
    assert result["failed"] and result["msg"] == "security show-keychain-info did not finish within 20s", result


def test_macos_mounted_is_what_mount_shows(mac, monkeypatch, capsys):
    """Issue 26 (a). Before: `mounted` was `state == "mounted"`, true whatever `mount` showed."""
    clock = [0.0]
    monkeypatch.setattr(samba_mount.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(samba_mount.time, "sleep", lambda seconds: clock.__setitem__(0, clock[0] + seconds))
    fake = FakeMac()
    fake.agent_mounts = False  # the agent is loaded but `mount volume` does not get the share
    result, _unused = run_module(samba_mount.main, mac["args"], monkeypatch, capsys, commands=fake)
    assert result["actions"][-1] == "launchctl bootstrap" and fake.loaded
    assert result["mounted"] is False, result
    assert any("mount shows no smbfs at /Volumes/fortress" in str(w) for w in result.get("warnings", [])), result
    # the module looked, and kept looking for a bounded time (timeout=20 s, once a second)
    looks = [c for c in fake.table.calls if c["argv"][-1:] == ["/sbin/mount"]]
    assert 1 < len(looks) <= 21

    fake.agent_mounts = True
    fake.loaded = False
    ok, _unused = run_module(samba_mount.main, mac["args"], monkeypatch, capsys, commands=fake)
    assert ok["mounted"] is True

    gone, _unused = run_module(samba_mount.main, dict(mac["args"], state="unmounted"), monkeypatch, capsys,
                               commands=fake)
    assert gone["actions"] == ["launchctl bootout", "unmount"] and gone["mounted"] is False


def test_macos_per_user_commands_run_in_the_users_session(mac, monkeypatch, capsys):
    """Issue 26 (e). Before: `sudo -n -u crtr -H <argv>` from the ssh session, outside the user's
    bootstrap (security found no login Keychain of the GUI session, launchctl no gui/501 context)."""
    # the module switches user only as root: be root in the module's eyes, on any machine
    monkeypatch.setattr(samba_mount.os, "geteuid", lambda: 0)
    fake = FakeMac()
    run_module(samba_mount.main, mac["args"], monkeypatch, capsys, commands=fake)
    per_user = [c["argv"] for c in fake.table.calls]
    assert per_user and all(argv[:8] == AS_CRTR for argv in per_user), per_user
    keychain = [argv[8:] for argv in per_user if argv[8] == "/usr/bin/security"]
    assert ["/usr/bin/security", "-i"] in keychain and ["/usr/bin/security", "show-keychain-info"] in keychain
    boot = [argv[8:] for argv in per_user if argv[8:10] == ["/bin/launchctl", "bootstrap"]]
    assert boot == [["/bin/launchctl", "bootstrap", "gui/501", result_plist(mac)]]


def result_plist(mac):
    return str(mac["home"] / "Library" / "LaunchAgents" / "la.colab.cluster.samba.fortress.plist")


def test_macos_bootstrap_error_5_after_bootout_is_retried(mac, monkeypatch, capsys):
    """Issue 26 (e). Before: a bootstrap answering 5 (Input/output error) right after the bootout of a
    rotated password failed the run; now it is tried again, a bounded number of times."""
    sleeps = []
    monkeypatch.setattr(samba_mount.time, "sleep", sleeps.append)
    fake = FakeMac()
    run_module(samba_mount.main, mac["args"], monkeypatch, capsys, commands=fake)
    fake.busy_after_bootout = 2
    rotated, _unused = run_module(samba_mount.main, dict(mac["args"], password="n3w"), monkeypatch, capsys,
                                  commands=fake)
    assert not rotated.get("failed"), rotated.get("msg")
    assert rotated["actions"][-2:] == ["launchctl bootout", "launchctl bootstrap"] and fake.loaded
    boots = [c for c in fake.table.calls if c["argv"][-3:-1] == ["bootstrap", "gui/501"]]
    assert len(boots) == 1 + 3  # first run, then 5, 5, 0
    assert sleeps[:2] == [samba_mount.BOOTSTRAP_DELAY] * 2

    fake.busy_after_bootout = 99
    stuck, _unused = run_module(samba_mount.main, dict(mac["args"], password="n3w2"), monkeypatch, capsys,
                                commands=fake)
    assert stuck["failed"] and "launchctl bootstrap failed (rc=5)" in stuck["msg"]
    assert "%d attempts" % samba_mount.BOOTSTRAP_ATTEMPTS in stuck["msg"]
    assert len([c for c in fake.table.calls if c["argv"][-3:-1] == ["bootstrap", "gui/501"]]) == 4 + samba_mount.BOOTSTRAP_ATTEMPTS


def test_macos_absent_removes_everything(mac, monkeypatch, capsys):
    fake = FakeMac()
    run_module(samba_mount.main, mac["args"], monkeypatch, capsys, commands=fake)
    result, _unused = run_module(samba_mount.main, dict(mac["args"], state="absent"), monkeypatch, capsys, commands=fake)
    assert result["actions"] == ["launchctl bootout", "unmount", "remove LaunchAgent", "delete Keychain item"]
    assert fake.keychain is None and not fake.loaded and not fake.mounted and result["mounted"] is False
    assert not (mac["home"] / "Library" / "LaunchAgents" / "la.colab.cluster.samba.fortress.plist").exists()


def test_macos_check_mode_changes_nothing(mac, monkeypatch, capsys):
    fake = FakeMac()
    result, _unused = run_module(samba_mount.main, mac["args"], monkeypatch, capsys, commands=fake, check_mode=True)
    assert result["changed"] and fake.keychain is None and not fake.loaded
    assert not (mac["home"] / "Library").exists()


def test_macos_requires_macos_user(mac, monkeypatch, capsys):
    args = dict(mac["args"])
    del args["macos_user"]
    result, _unused = run_module(samba_mount.main, args, monkeypatch, capsys, commands=FakeMac())
    assert result["failed"] and "macos_user is required" in result["msg"]


def test_macos_locked_keychain_fails_before_anything_is_written(mac, monkeypatch, capsys):
    """Issue 13.5: over ssh the login Keychain is usually locked; say so instead of failing in security."""
    fake = FakeMac()
    fake.locked = True
    result, _unused = run_module(samba_mount.main, mac["args"], monkeypatch, capsys, commands=fake)
    assert result["failed"] and "login Keychain of crtr is locked" in result["msg"]
    assert fake.keychain is None and not (mac["home"] / "Library").exists()
    assert not any(c["data"] for c in fake.table.calls), "nothing was fed to security -i"


def test_macos_mount_point_is_where_mount_volume_puts_it(mac, monkeypatch, capsys):
    result, _unused = run_module(samba_mount.main, dict(mac["args"], path="/Volumes/other"), monkeypatch, capsys,
                                 commands=FakeMac())
    assert result["failed"] and result["msg"].startswith("path must be /Volumes/fortress on macOS")


# --- 8. a server that does not answer (issue 17.1: smbd stopped) ---------------------------
def closed_port():
    """A loopback port nothing listens on: connect() is refused, as with smbd stopped."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("state,automount", [("present", False), ("present", True), ("mounted", True)])
def test_server_not_answering_fails_before_anything_is_written(linux, monkeypatch, capsys, state, automount):
    """Before: state=present and the automount path never probed, so a stopped smbd went unnoticed."""
    args = dict(linux["args"], state=state, automount=automount, port=closed_port())
    kernel = Kernel(linux)
    result, _unused = run_module(samba_mount.main, args, monkeypatch, capsys, commands=kernel)
    assert result.get("failed"), result
    assert result["msg"].startswith("the SMB server 127.0.0.1 (smbd) does not answer on TCP %s: " % args["port"])
    assert "Nothing was written" in result["msg"] and SECRET not in str(result)
    assert not written(linux) and [v for v in kernel.verbs() if "modprobe" not in v] == []


def test_probe_false_writes_the_files_for_a_server_that_is_down(linux, monkeypatch, capsys):
    args = dict(linux["args"], state="present", probe=False, port=closed_port())
    result, _unused = run_module(samba_mount.main, args, monkeypatch, capsys, commands=Kernel(linux))
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] and written(linux)

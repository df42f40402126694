"""samba_mount: Linux fstab/credentials/mount logic and the macOS LaunchAgent/Keychain path.

Linux: the module runs for real against files in tmp_path (fstab, credentials dir, a copy
of /proc/mounts and /proc/filesystems); only mount/umount go through a run_command double,
because this kernel has no CIFS. One test runs against the machine's real /proc/filesystems
and proves the module's "kernel cannot mount CIFS" error.

macOS: no Mac exists here. `security`, `launchctl` and `mount` are a double that follows
their documented CLI contract (Apple's security(1)/launchctl(1) man pages and SecurityTool's
source); the test checks the commands the module issues, that the password only travels on
stdin, and the plist it writes.
"""
from __future__ import annotations

import os
import plistlib
import pwd
import socket
import stat

import pytest

from ansible_collections.colab.cluster.plugins.modules import samba_mount
from tests.unit.plugins.modules.samba_helpers import CommandTable, run_module

SECRET = "Sup3r s\"ecret"
FS_WITH_CIFS = "nodev\tsysfs\n\text4\nnodev\tcifs\n"
FS_WITHOUT_CIFS = "nodev\tsysfs\n\text4\n"


@pytest.fixture
def linux(tmp_path, monkeypatch):
    monkeypatch.setattr(samba_mount.platform, "system", lambda: "Linux")
    proc_mounts = tmp_path / "mounts"
    proc_mounts.write_text("proc /proc proc rw 0 0\n")
    proc_fs = tmp_path / "filesystems"
    proc_fs.write_text(FS_WITH_CIFS)
    monkeypatch.setattr(samba_mount, "PROC_MOUNTS", str(proc_mounts))
    monkeypatch.setattr(samba_mount, "PROC_FILESYSTEMS", str(proc_fs))
    fstab = tmp_path / "fstab"
    fstab.write_text("UUID=abc / ext4 defaults 0 1\n")
    if os.geteuid() != 0:  # chown to root needs root; the checks on owner are skipped then
        monkeypatch.setattr(samba_mount.os, "chown", lambda *a: None)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    env = {
        "tmp": tmp_path, "fstab": fstab, "proc_mounts": proc_mounts, "proc_fs": proc_fs,
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


def mount_commands(env, mounted_after=True):
    """mount/umount double: updates the fake /proc/mounts like the kernel would."""
    table = CommandTable()
    path = env["args"]["path"]

    def do_mount(argv):
        if argv[:1] == ["mount"]:
            env["proc_mounts"].write_text("proc /proc proc rw 0 0\n%s %s cifs rw,vers=3.1.1 0 0\n"
                                          % (env["args"]["src"], path))
            return True
        return False

    def do_umount(argv):
        if argv[:1] == ["umount"]:
            env["proc_mounts"].write_text("proc /proc proc rw 0 0\n")
            return True
        return False

    table.add(do_mount)
    table.add(do_umount)
    return table


def test_present_writes_fstab_and_private_credentials_then_is_idempotent(linux, monkeypatch, capsys):
    args = dict(linux["args"], state="present")
    check, _unused = run_module(samba_mount.main, args, monkeypatch, capsys, check_mode=True, diff=True)
    assert check["changed"] and check["actions"] == ["write credentials", "write fstab line"]
    assert not (linux["tmp"] / "credentials").exists(), "check mode wrote something"
    assert linux["fstab"].read_text() == "UUID=abc / ext4 defaults 0 1\n"

    result, table = run_module(samba_mount.main, args, monkeypatch, capsys, diff=True)
    assert result["changed"] and result["fstab_changed"] and result["credentials_changed"]
    assert table.calls == []  # present never mounts
    cred = linux["tmp"] / "credentials" / (args["path"].strip("/").replace("/", "-") + ".cred")
    assert result["credentials_file"] == str(cred)
    assert cred.read_text() == "username=crtr\npassword=%s\n" % SECRET
    st = cred.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600
    if os.geteuid() == 0:
        assert st.st_uid == 0 and st.st_gid == 0
    lines = linux["fstab"].read_text().splitlines()
    assert lines[0] == "UUID=abc / ext4 defaults 0 1"
    src, path, fstype, opts, dump, passno = lines[1].split()
    assert (src, path, fstype, dump, passno) == ("//127.0.0.1/fortress", args["path"], "cifs", "0", "0")
    assert set(opts.split(",")) == {"credentials=%s" % cred, "uid=1000", "gid=1000", "vers=3.1.1", "_netdev",
                                    "nofail", "x-systemd.automount"}
    # the secret appears nowhere in what the module returned, diff included
    assert SECRET not in str(result) and SECRET not in str(check)
    assert "********" in str(result["diff"])

    again, table = run_module(samba_mount.main, args, monkeypatch, capsys)
    assert not again["changed"] and again["actions"] == [] and table.calls == []


def test_option_order_does_not_matter(linux, monkeypatch, capsys):
    args = dict(linux["args"], state="present")
    run_module(samba_mount.main, args, monkeypatch, capsys)
    line = linux["fstab"].read_text().splitlines()[1].split()
    line[3] = ",".join(reversed(line[3].split(",")))
    linux["fstab"].write_text("UUID=abc / ext4 defaults 0 1\n" + " ".join(line) + "\n")
    result, _unused = run_module(samba_mount.main, args, monkeypatch, capsys)
    assert not result["changed"]


def test_wrong_credentials_mode_is_fixed(linux, monkeypatch, capsys):
    args = dict(linux["args"], state="present")
    result, _unused = run_module(samba_mount.main, args, monkeypatch, capsys)
    os.chmod(result["credentials_file"], 0o644)
    fixed, _unused = run_module(samba_mount.main, args, monkeypatch, capsys)
    assert fixed["changed"] and fixed["actions"] == ["fix credentials owner/mode"]
    assert stat.S_IMODE(os.stat(result["credentials_file"]).st_mode) == 0o600


def test_mounted_mounts_then_remounts_only_on_credentials_change(linux, monkeypatch, capsys):
    args = dict(linux["args"], state="mounted")
    table = mount_commands(linux)
    result, table = run_module(samba_mount.main, args, monkeypatch, capsys, commands=table)
    assert result["changed"] and result["mounted"]
    assert table.argvs() == [["timeout", "-k", "5", "5", "mount", args["path"]]]
    assert os.path.isdir(args["path"])

    same, table = run_module(samba_mount.main, args, monkeypatch, capsys, commands=mount_commands(linux))
    assert not same["changed"] and table.calls == []

    new_pw = dict(args, password="another one")
    changed, table = run_module(samba_mount.main, new_pw, monkeypatch, capsys, commands=mount_commands(linux),
                                diff=True)
    assert changed["actions"] == ["write credentials", "unmount", "mount"]
    assert [c["argv"][4] for c in table.calls] == ["umount", "mount"]
    assert "another one" not in str(changed) and SECRET not in str(changed)
    # no command line ever carried a password
    assert all("another one" not in " ".join(c["argv"]) for c in table.calls)


def test_mounted_replaces_a_foreign_mount(linux, monkeypatch, capsys):
    args = dict(linux["args"], state="mounted")
    linux["proc_mounts"].write_text("//elsewhere/x %s cifs rw 0 0\n" % args["path"])
    result, table = run_module(samba_mount.main, args, monkeypatch, capsys, commands=mount_commands(linux))
    assert result["actions"][-2:] == ["unmount", "mount"]


def test_check_mode_predicts_mount_without_running_it(linux, monkeypatch, capsys):
    args = dict(linux["args"], state="mounted")
    result, table = run_module(samba_mount.main, args, monkeypatch, capsys, check_mode=True)
    assert result["changed"] and result["mounted"] and "mount" in result["actions"]
    assert table.calls == [] and not os.path.exists(args["path"])


def test_no_kernel_cifs_fails_clearly(linux, monkeypatch, capsys):
    linux["proc_fs"].write_text(FS_WITHOUT_CIFS)
    result, table = run_module(samba_mount.main, dict(linux["args"], state="mounted"), monkeypatch, capsys,
                               commands=mount_commands(linux))
    assert result["failed"]
    assert result["msg"].startswith("the kernel cannot mount CIFS: 'cifs' is not listed in /proc/filesystems")
    assert table.calls == []


def test_this_machine_kernel_cannot_mount_cifs(linux, monkeypatch, capsys):
    """The real /proc/filesystems of the machine running the tests."""
    with open("/proc/filesystems", encoding="utf-8") as handle:
        if "cifs" in handle.read().split():
            pytest.skip("this kernel has CIFS")
    monkeypatch.setattr(samba_mount, "PROC_FILESYSTEMS", "/proc/filesystems")
    result, table = run_module(samba_mount.main, dict(linux["args"], state="mounted"), monkeypatch, capsys,
                               commands=mount_commands(linux))
    assert result["failed"] and "the kernel cannot mount CIFS" in result["msg"]
    assert table.calls == []


def test_unreachable_server_fails_before_mount(linux, monkeypatch, capsys):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    result, table = run_module(samba_mount.main, dict(linux["args"], state="mounted", port=port), monkeypatch,
                               capsys, commands=mount_commands(linux))
    assert result["failed"]
    assert result["msg"].startswith("the SMB server 127.0.0.1 does not answer on TCP %d:" % port)
    assert table.calls == []


def test_mount_timeout_is_reported(linux, monkeypatch, capsys):
    table = CommandTable()
    table.add(["mount"], rc=124)
    result, _unused = run_module(samba_mount.main, dict(linux["args"], state="mounted"), monkeypatch, capsys,
                                 commands=table)
    assert result["failed"] and result["msg"] == "mount %s did not finish within 5s" % linux["args"]["path"]


def test_unmounted_then_absent(linux, monkeypatch, capsys):
    args = dict(linux["args"], state="mounted")
    run_module(samba_mount.main, args, monkeypatch, capsys, commands=mount_commands(linux))
    result, table = run_module(samba_mount.main, dict(args, state="unmounted"), monkeypatch, capsys,
                               commands=mount_commands(linux))
    assert result["actions"] == ["unmount"] and not result["mounted"]
    assert "cifs" in linux["fstab"].read_text()
    result, table = run_module(samba_mount.main, dict(args, state="absent"), monkeypatch, capsys,
                               commands=mount_commands(linux))
    assert result["actions"] == ["remove fstab line", "remove credentials", "remove mount point"]
    assert linux["fstab"].read_text() == "UUID=abc / ext4 defaults 0 1\n"
    assert not os.path.exists(result["credentials_file"]) and not os.path.exists(args["path"])
    again, _unused = run_module(samba_mount.main, dict(args, state="absent"), monkeypatch, capsys)
    assert not again["changed"]


@pytest.mark.parametrize("bad, message", [
    ({"src": "cooperator/fortress"}, "src must look like //server/share"),
    ({"src": "//cooperator"}, "src must name a server and a share"),
    ({"opts": ["password=oops"]}, "opts must not carry a password"),
    ({"timeout": 0}, "timeout must be a positive"),
    ({"password": "two\nlines"}, "password must not contain a line break"),
])
def test_bad_input_fails_early_naming_the_field(linux, monkeypatch, capsys, bad, message):
    result, table = run_module(samba_mount.main, dict(linux["args"], **bad), monkeypatch, capsys)
    assert result["failed"] and result["msg"].startswith(message)
    assert table.calls == [] and "cifs" not in linux["fstab"].read_text()


def test_missing_password_for_present(linux, monkeypatch, capsys):
    args = dict(linux["args"], state="present")
    del args["password"]
    result, _unused = run_module(samba_mount.main, args, monkeypatch, capsys)
    assert result["failed"] and "password" in result["msg"]


# --- macOS ----------------------------------------------------------------------------
class FakeMac:
    """security / launchctl / mount as documented: find-internet-password -w prints the
    password and exits 44 when there is no item; launchctl print exits 113 for an unknown
    service; bootstrap loads, bootout unloads."""

    def __init__(self):
        self.keychain = None
        self.loaded = False
        self.table = CommandTable()

    def __call__(self, module, args, data=None, **kwargs):
        self.table.calls.append({"argv": list(args), "data": data})
        argv = list(args)[4:]
        # as root the module runs these as the GUI user: sudo -n -u crtr -H <argv>
        assert argv[:5] == ["/usr/bin/sudo", "-n", "-u", "crtr", "-H"] or os.geteuid() != 0
        core = argv[5:] if argv[:1] == ["/usr/bin/sudo"] else argv
        if core[:2] == ["/usr/bin/security", "find-internet-password"]:
            return (0, self.keychain + "\n", "") if self.keychain is not None else (44, "", "not found")
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
            self.loaded = True
            return 0, "", ""
        if core[:2] == ["/bin/launchctl", "bootout"]:
            self.loaded = False
            return 0, "", ""
        if core == ["/sbin/mount"]:
            return 0, "/dev/disk3s1 on / (apfs)\n", ""
        raise AssertionError("unexpected command %r" % argv)


@pytest.fixture
def mac(tmp_path, monkeypatch):
    monkeypatch.setattr(samba_mount.platform, "system", lambda: "Darwin")
    home = tmp_path / "Users" / "crtr"
    home.mkdir(parents=True)
    user = pwd.struct_passwd(("crtr", "*", 501, 20, "", str(home), "/bin/zsh"))
    monkeypatch.setattr(samba_mount.pwd, "getpwnam", lambda name: user if name == "crtr" else {}[name])
    monkeypatch.setattr(samba_mount.os, "chown", lambda *a: None)
    return {"home": home, "args": {"path": "/Volumes/fortress", "src": "//cooperator/fortress", "username": "crtr",
                                   "password": SECRET, "macos_user": "crtr", "timeout": 20}}


def test_macos_keychain_plist_and_bootstrap(mac, monkeypatch, capsys):
    fake = FakeMac()
    result, _unused = run_module(samba_mount.main, mac["args"], monkeypatch, capsys, commands=fake, diff=True)
    assert result["actions"] == ["store password in the login Keychain", "write LaunchAgent", "launchctl bootstrap"]
    assert fake.keychain == SECRET
    for call in fake.table.calls:
        assert SECRET not in " ".join(call["argv"]), "password on a command line"
        assert call["argv"][:4] == ["timeout", "-k", "5", "20"]
    stdin_calls = [c for c in fake.table.calls if c["data"]]
    assert len(stdin_calls) == 1 and stdin_calls[0]["argv"][-2:] == ["/usr/bin/security", "-i"]
    plist_path = mac["home"] / "Library" / "LaunchAgents" / "la.colab.cluster.samba.fortress.plist"
    assert result["plist"] == str(plist_path)
    plist = plistlib.loads(plist_path.read_bytes())
    assert SECRET not in plist_path.read_text()
    assert "/sbin/mount_smbfs -N //crtr@cooperator/fortress /Volumes/fortress" in plist["ProgramArguments"][2]
    boot = [c["argv"] for c in fake.table.calls if "bootstrap" in c["argv"]][0]
    assert boot[-3:] == ["bootstrap", "gui/501", str(plist_path)]
    assert SECRET not in str(result)

    again, _unused = run_module(samba_mount.main, mac["args"], monkeypatch, capsys, commands=fake)
    assert not again["changed"]

    rotated, _unused = run_module(samba_mount.main, dict(mac["args"], password="n3w"), monkeypatch, capsys, commands=fake)
    assert rotated["actions"] == ["store password in the login Keychain", "launchctl bootout", "launchctl bootstrap"]
    assert fake.keychain == "n3w"


def test_macos_absent_removes_everything(mac, monkeypatch, capsys):
    fake = FakeMac()
    run_module(samba_mount.main, mac["args"], monkeypatch, capsys, commands=fake)
    result, _unused = run_module(samba_mount.main, dict(mac["args"], state="absent"), monkeypatch, capsys, commands=fake)
    assert result["actions"] == ["launchctl bootout", "remove LaunchAgent", "delete Keychain item"]
    assert fake.keychain is None and not fake.loaded
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

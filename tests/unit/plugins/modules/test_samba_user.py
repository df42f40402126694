"""samba_user against a passdb double fed with real `pdbedit -L -w` output.

fixtures/pdbedit_L_w.samba-4.22.11.txt was recorded from samba 4.22.11 (Debian 13): crtr has
the password "password", bob "S3cr\u00e9t!" and is disabled. The double answers pdbedit from that
text and applies smbpasswd -s -a / -e / -x to it the way smbpasswd(8) documents. The molecule
scenarios `samba_server` and `samba_client` run the module against the real smbd.
"""
from __future__ import annotations

import os
import pwd

import pytest

from ansible_collections.colab.cluster.plugins.module_utils._samba import nt_hash
from ansible_collections.colab.cluster.plugins.modules import samba_user
from tests.unit.plugins.modules.samba_helpers import CommandTable, run_module, timeout_prefix

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "pdbedit_L_w.samba-4.22.11.txt")


class PassDb(CommandTable):
    def __init__(self):
        super().__init__()
        with open(FIXTURE, encoding="utf-8") as handle:
            self.lines = {line.split(":")[0]: line for line in handle.read().splitlines() if line}

    def __call__(self, module, args, data=None, **kwargs):
        self.calls.append({"argv": list(args), "data": data})
        assert list(args)[:3] == timeout_prefix(30)
        argv = list(args)[3:]
        if argv == ["/usr/bin/pdbedit", "-L", "-w"]:
            return 0, "\n".join(self.lines.values()) + "\n", ""
        if argv[:3] == ["/usr/bin/smbpasswd", "-s", "-a"]:
            text = data.decode() if isinstance(data, bytes) else data
            first, second = text.split("\n")[:2]
            assert first == second, "smbpasswd -s wants the new password twice"
            name = argv[3]
            flags = "[U          ]"
            if name in self.lines:
                flags = self.lines[name].split(":")[4]
            self.lines[name] = "%s:1000:%s:%s:%s:LCT-6B0763C1:" % (name, "X" * 32, nt_hash(first), flags)
            return 0, "Added user %s.\n" % name, ""
        if argv[:2] == ["/usr/bin/smbpasswd", "-e"]:
            fields = self.lines[argv[2]].split(":")
            fields[4] = "[U          ]"
            self.lines[argv[2]] = ":".join(fields)
            return 0, "Enabled user %s.\n" % argv[2], ""
        if argv[:2] == ["/usr/bin/smbpasswd", "-x"]:
            del self.lines[argv[2]]
            return 0, "Deleted user %s.\n" % argv[2], ""
        raise AssertionError("unexpected command %r" % argv)


@pytest.fixture(autouse=True)
def unix_users(monkeypatch):
    known = {"crtr", "bob", "alice"}

    def getpwnam(name):
        if name not in known:
            raise KeyError(name)
        return pwd.struct_passwd((name, "x", 1000, 1000, "", "/home/" + name, "/bin/sh"))

    monkeypatch.setattr(samba_user.pwd, "getpwnam", getpwnam)


def test_same_password_is_no_change(monkeypatch, capsys):
    db = PassDb()
    result, _unused = run_module(samba_user.main, {"name": "crtr", "password": "password"}, monkeypatch, capsys,
                                 commands=db)
    assert not result["changed"] and result["actions"] == []
    assert [c["argv"][3:] for c in db.calls] == [["/usr/bin/pdbedit", "-L", "-w"]]


def test_changed_password_goes_through_stdin_only(monkeypatch, capsys):
    db = PassDb()
    check, _unused = run_module(samba_user.main, {"name": "crtr", "password": "n3w pass"}, monkeypatch, capsys,
                                commands=db, check_mode=True, diff=True)
    assert check["changed"] and check["actions"] == ["set password"] and len(db.calls) == 1
    result, _unused = run_module(samba_user.main, {"name": "crtr", "password": "n3w pass"}, monkeypatch, capsys,
                                 commands=db, diff=True)
    assert result["actions"] == ["set password"]
    assert all("n3w pass" not in " ".join(c["argv"]) for c in db.calls)
    assert db.calls[-1]["argv"][3:] == ["/usr/bin/smbpasswd", "-s", "-a", "crtr"]
    assert "n3w pass" not in str(result)
    again, _unused = run_module(samba_user.main, {"name": "crtr", "password": "n3w pass"}, monkeypatch, capsys,
                                commands=db)
    assert not again["changed"]


def test_create_new_user(monkeypatch, capsys):
    db = PassDb()
    result, _unused = run_module(samba_user.main, {"name": "alice", "password": "pw"}, monkeypatch, capsys, commands=db)
    assert result["actions"] == ["create", "set password"]
    assert nt_hash("pw") in db.lines["alice"]


def test_update_password_on_create_leaves_existing_password(monkeypatch, capsys):
    result, _unused = run_module(samba_user.main, {"name": "crtr", "password": "other", "update_password": "on_create"},
                                 monkeypatch, capsys, commands=PassDb())
    assert not result["changed"]


def test_disabled_user_is_enabled(monkeypatch, capsys):
    db = PassDb()
    result, _unused = run_module(samba_user.main, {"name": "bob", "password": "S3cr\u00e9t!"}, monkeypatch, capsys,
                                 commands=db)
    assert result["actions"] == ["enable"]
    assert "[U " in db.lines["bob"]


def test_absent_removes_then_is_idempotent(monkeypatch, capsys):
    db = PassDb()
    result, _unused = run_module(samba_user.main, {"name": "bob", "state": "absent"}, monkeypatch, capsys, commands=db)
    assert result["actions"] == ["remove"] and "bob" not in db.lines
    again, _unused = run_module(samba_user.main, {"name": "bob", "state": "absent"}, monkeypatch, capsys, commands=db)
    assert not again["changed"]


def test_missing_unix_account_is_reported(monkeypatch, capsys):
    result, _unused = run_module(samba_user.main, {"name": "nobody2", "password": "long-enough-pw"}, monkeypatch, capsys,
                                 commands=PassDb())
    assert result["failed"] and "the Unix account 'nobody2' does not exist" in result["msg"]


@pytest.mark.parametrize("args, message", [
    ({"name": "a:b", "password": "x"}, "name must be"),
    ({"name": "crtr", "password": "a\nb"}, "password must not contain a line break"),
    ({"name": "crtr", "password": ""}, "password must not be empty"),
    ({"name": "crtr"}, "state is present but all of the following are missing: password"),
])
def test_bad_input(monkeypatch, capsys, args, message):
    db = PassDb()
    result, _unused = run_module(samba_user.main, args, monkeypatch, capsys, commands=db)
    assert result["failed"] and message in result["msg"] and db.calls == []


def test_timeout_is_reported(monkeypatch, capsys):
    table = CommandTable()
    table.add(["/usr/bin/pdbedit"], rc=124)
    result, _unused = run_module(samba_user.main, {"name": "crtr", "password": "x"}, monkeypatch, capsys, commands=table)
    assert result["failed"] and result["msg"] == "pdbedit -L -w did not finish within 30s"

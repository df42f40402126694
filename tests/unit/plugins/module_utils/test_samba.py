"""Pure logic of plugins/module_utils/_samba.py: MD4/NT hash, parsers, renderers, probe."""
from __future__ import annotations

import os
import plistlib
import socket

import pytest

from ansible_collections.colab.cluster.plugins.module_utils import _samba

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "modules", "fixtures")


# RFC 1320, appendix A.5 test suite
@pytest.mark.parametrize("message, digest", [
    (b"", "31d6cfe0d16ae931b73c59d7e0c089c0"),
    (b"a", "bde52cb31de33e46245e05fbdbd6fb24"),
    (b"abc", "a448017aaf21d8525fc10ae87aa6729d"),
    (b"message digest", "d9130a8164549fe818874806e1c7014b"),
    (b"abcdefghijklmnopqrstuvwxyz", "d79e1c308aa5bbcdeea8ed63df412da9"),
    (b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "043f8582f241db351ce627e153e7f0e4"),
    (b"1234567890" * 8, "e33b4ddc9c38f2199c3e7b164fcc0536"),
])
def test_md4_rfc1320_vectors(message, digest):
    assert _samba.md4(message).hex() == digest


def test_nt_hash_matches_real_samba_passdb():
    # fixtures/pdbedit_L_w.samba-4.22.11.txt was recorded from Debian 13's samba 4.22.11
    # (`smbpasswd -s -a` with the passwords below, then `pdbedit -L -w`)
    with open(os.path.join(FIXTURES, "pdbedit_L_w.samba-4.22.11.txt"), encoding="utf-8") as handle:
        users = _samba.parse_pdbedit_w(handle.read())
    assert users["crtr"]["nt_hash"] == _samba.nt_hash("password")
    assert users["bob"]["nt_hash"] == _samba.nt_hash("S3cr\u00e9t!")
    assert users["bob"]["nt_hash"] != _samba.nt_hash("S3cret!")
    assert users["crtr"]["flags"] == "U"
    assert users["bob"]["flags"] == "DU"
    assert users["crtr"]["uid"] == 1000


def test_parse_pdbedit_unset_hash():
    users = _samba.parse_pdbedit_w("nopw:1002:" + "X" * 32 + ":" + "X" * 32 + ":[NU         ]:LCT-00000000:\n")
    assert users["nopw"]["nt_hash"] is None


def test_options_compare_as_a_set():
    opts = _samba.build_cifs_options("/etc/samba/credentials/mnt-fortress.cred", uid="1000", gid="1000")
    assert opts == ["credentials=/etc/samba/credentials/mnt-fortress.cred", "uid=1000", "gid=1000",
                    "vers=3.1.1", "_netdev", "nofail", "x-systemd.automount"]
    entry = _samba.parse_mount_table(
        "//srv/fortress /mnt/fortress cifs nofail,_netdev,x-systemd.automount,vers=3.1.1,gid=1000,uid=1000,"
        "credentials=/etc/samba/credentials/mnt-fortress.cred 0 0\n")[0]
    assert _samba.fstab_entry_matches(entry, "//srv/fortress", "cifs", opts)
    assert not _samba.fstab_entry_matches(entry, "//srv/fortress", "cifs", opts + ["ro"])
    assert not _samba.fstab_entry_matches(entry, "//other/fortress", "cifs", opts)


def test_password_options_are_refused():
    assert _samba.forbidden_options(["ro", "password=x", "PASS=y"]) == ["password", "pass"]
    assert _samba.forbidden_options(["credentials=/x", "uid=1"]) == []


def test_set_fstab_entry_replaces_duplicates_and_keeps_the_rest():
    text = ("# comment /mnt/fortress\nUUID=1 / ext4 defaults 0 1\n"
            "//a/b /mnt/fortress cifs old 0 0\n//a/c /mnt/fortress/ cifs older 0 0\n")
    new = _samba.set_fstab_entry(text, "/mnt/fortress", "//s/f /mnt/fortress cifs new 0 0")
    assert new == "# comment /mnt/fortress\nUUID=1 / ext4 defaults 0 1\n//s/f /mnt/fortress cifs new 0 0\n"
    assert _samba.set_fstab_entry(new, "/mnt/fortress", None) == "# comment /mnt/fortress\nUUID=1 / ext4 defaults 0 1\n"
    assert _samba.set_fstab_entry("", "/mnt/x", "l") == "l\n"


def test_spaces_are_escaped_in_fstab():
    line = _samba.render_fstab_line("//srv/my share", "/mnt/my share", "cifs", ["ro"])
    assert line == "//srv/my\\040share /mnt/my\\040share cifs ro 0 0"
    entry = _samba.parse_mount_table(line)[0]
    assert entry["src"] == "//srv/my share" and entry["path"] == "/mnt/my share"


def test_live_mount_comparison():
    mounts = _samba.parse_mount_table(
        "//cooperator/fortress /mnt/fortress cifs rw,relatime,vers=3.1.1,cache=strict 0 0\n")
    entry = _samba.find_entry(mounts, "/mnt/fortress")
    assert _samba.live_mount_matches(entry, "//COOPERATOR/fortress", "cifs")
    assert not _samba.live_mount_matches(entry, "//cooperator/other", "cifs")
    assert not _samba.live_mount_matches(entry, "//cooperator/fortress", "smb3")
    assert not _samba.live_mount_matches(None, "//cooperator/fortress", "cifs")


def test_kernel_supports_reads_proc_filesystems_format():
    text = "nodev\tsysfs\nnodev\ttmpfs\n\text4\nnodev\tcifs\n"
    assert _samba.kernel_supports("cifs", text)
    assert _samba.kernel_supports("ext4", text)
    assert not _samba.kernel_supports("xfs", text)


def test_this_machine_has_no_kernel_cifs():
    """The build machines have no CIFS (ENVIRONMENT.md); the detection must see it."""
    with open("/proc/filesystems", encoding="utf-8") as handle:
        text = handle.read()
    if "cifs" in text.split():
        pytest.skip("this kernel lists cifs")
    assert not _samba.kernel_supports("cifs", text)


def test_credentials_render_and_redact():
    text = _samba.render_credentials("crtr", "s3cret", "COLAB")
    assert text == "username=crtr\npassword=s3cret\ndomain=COLAB\n"
    red = _samba.redact_credentials(text)
    assert "s3cret" not in red and "password=" + _samba.REDACTED in red
    assert _samba.credentials_path("/etc/samba/credentials", "/mnt/fortress") == "/etc/samba/credentials/mnt-fortress.cred"


def test_probe_tcp_against_real_loopback_sockets():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        assert _samba.probe_tcp("127.0.0.1", port, 2) is None
    finally:
        server.close()
    # the same port, now closed: refused, quickly, with a reason
    reason = _samba.probe_tcp("127.0.0.1", port, 2)
    assert reason and "refused" in reason.lower()


def test_launch_agent_plist_has_no_password():
    data = _samba.render_launch_agent("la.colab.cluster.samba.fortress", "//cooperator/fortress", "crtr",
                                      "/Volumes/fortress", 120)
    plist = plistlib.loads(data)
    assert plist["Label"] == "la.colab.cluster.samba.fortress"
    assert plist["RunAtLoad"] is True and plist["StartInterval"] == 120
    script = plist["ProgramArguments"][2]
    assert "/usr/bin/osascript -e 'mount volume \"smb://crtr@cooperator/fortress\"'" in script
    assert "password" not in data.decode().lower()


def test_smb_url_percent_encodes_user_and_share():
    assert _samba.smb_url("//cooperator/my share", "a b") == "smb://a%20b@cooperator/my%20share"


@pytest.mark.parametrize("path, stem", [
    ("/mnt/fortress", "mnt-fortress"), ("/", "-"), ("//mnt//a-b/", "mnt-a\\x2db"), ("/.hidden/x", "\\x2ehidden-x"),
    ("/mnt/é", "mnt-\\xc3\\xa9"),
])
def test_systemd_escape_path(path, stem):
    # transcribed from systemd src/basic/unit-name.c (unit_name_path_escape) at v257
    assert _samba.systemd_escape_path(path) == stem


def test_credentials_path_never_carries_a_space_or_comma():
    assert _samba.credentials_path("/etc/samba/credentials", "/mnt/my share,x") == \
        "/etc/samba/credentials/mnt-my_share_x.cred"


def _split_line(line):
    """Python port of SecurityTool's split_line() (apple-open-source/macos
    SecurityTool/security.c), the tokenizer of ``security -i``: whitespace separates,
    single or double quotes group, a backslash escapes the next character."""
    args, cur, state, quote = [], [], "ws", None
    for ch in line:
        if state == "ws":
            if ch.isspace():
                continue
            if ch in "\"'":
                quote, state = ch, "q"
                continue
            state = "arg"
        if state == "arg":
            if ch == "\\":
                state = "arg_esc"
                continue
            if ch.isspace():
                args.append("".join(cur))
                cur, state = [], "ws"
            else:
                cur.append(ch)
            continue
        if state == "q":
            if ch == "\\":
                state = "q_esc"
                continue
            if ch == quote:
                args.append("".join(cur))
                cur, state = [], "ws"
            else:
                cur.append(ch)
            continue
        if state == "arg_esc":
            cur.append(ch)
            state = "arg"
            continue
        if state == "q_esc":
            cur.append(ch)
            state = "q"
    if state != "ws":
        args.append("".join(cur))
    return args


@pytest.mark.parametrize("password", ["simple", "with space", 'quo"te', "back\\slash", "it's", "\\\"'\\"])
def test_keychain_script_round_trips_through_security_tokenizer(password):
    script = _samba.keychain_script("cooperator", "crtr", password)
    assert script.endswith("\n") and script.count("\n") == 1
    words = _split_line(script.rstrip("\n"))
    assert words[0] == "add-internet-password"
    assert words[words.index("-w") + 1] == password
    assert words[words.index("-r") + 1] == "smb "
    assert words[words.index("-a") + 1] == "crtr"
    assert "-U" in words
    assert len(words) <= 32  # MAX_ARGS in security.c


# --- smb.conf rules (samba_server, through plugins/filter/samba.py) -----------------------
SERVER_FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "samba_server", "recorded")
SHARE = {"name": "fortress", "path": "/srv/a", "comment": "colab fortress", "valid_users": ["crtr"],
         "force_create_mode": "0660"}
FRUIT = {"vfs objects": "catia fruit streams_xattr", "fruit:metadata": "stream", "fruit:posix_rename": "yes"}


def test_share_section_round_trips_through_the_real_registry():
    """recorded: the section imported with `net conf import` (samba 4.22.11), then `net conf showshare`."""
    with open(os.path.join(SERVER_FIXTURES, "net_conf_showshare.txt"), encoding="utf-8") as handle:
        shown = handle.read().split("=== ")[1].split("\n", 1)[1]
    assert _samba.share_section(SHARE, FRUIT, "\t") == shown
    assert _samba.same_section(shown, SHARE, FRUIT)
    assert not _samba.same_section(shown, dict(SHARE, comment="other"), FRUIT)
    assert not _samba.same_section("", SHARE, FRUIT)  # not in the registry yet


def test_restart_only_for_start_only_parameters():
    old = "[global]\n   interfaces = lo\n   server string = a\n[fortress]\n   path = /x\n"
    assert _samba.restart_parameters(old, old.replace("server string = a", "server string = b")) == []
    assert _samba.restart_parameters(old, old.replace("path = /x", "path = /y")) == []
    assert _samba.restart_parameters(old, old.replace("interfaces = lo", "interfaces = lo eth0")) == ["interfaces"]
    assert _samba.restart_parameters(old, old + "") == []
    assert _samba.restart_parameters(old, "[global]\n   interfaces = lo\n   smb ports = 445\n") == ["smb ports"]


@pytest.mark.parametrize("kwargs, message", [
    ({"shares": [{"name": "bad]\n[evil", "path": "/tmp"}]}, "samba_server_shares[0].name"),
    ({"shares": [{"name": "x", "path": "/tmp\n[evil]"}]}, "samba_server_shares[0].path must not contain a line break"),
    ({"shares": [{"name": "x", "path": "/t", "options": {"comment": "a\nb"}}]}, "samba_server_shares[0].options"),
    ({"shares": [{"name": "x", "path": "/t", "force_create_mode": "0660 x"}]}, "force_create_mode must be an octal"),
    ({"global_options": {"log level": "1\ninclude = /tmp/x"}}, "samba_server_global_options['log level']"),
    ({"global_options": {"a\nb": "1"}}, "is not a parameter name"),
    ({"interfaces": ["lo eth0"]}, "samba_server_interfaces[0] must be one interface"),
    ({"hosts_allow": ["10.0.0.0/8,0.0.0.0/0"]}, "samba_server_hosts_allow[0] must be one address"),
    ({"username_map": {"crtr": ["a=b"]}}, "samba_server_username_map['crtr']"),
    ({"users": ["bad name"]}, "samba_server_users[0].name"),
    ({"workgroup": "COLAB\n[evil]"}, "samba_server_workgroup must not contain a line break"),
])
def test_conf_problems_name_the_variable(kwargs, message):
    problems = _samba.conf_problems(**kwargs)
    assert any(message in p for p in problems), problems


def test_conf_problems_accept_the_defaults():
    assert _samba.conf_problems(shares=[dict(SHARE, options={"veto files": "/._*/"})], global_options={"log level": 1},
                                users=[{"name": "crtr"}], username_map={"crtr": ["creator"]},
                                interfaces=["lo", "192.168.254.0/24"], hosts_allow=["127.0.0.1", "::1"],
                                workgroup="COLAB", netbios_name="COOPERATOR", server_string="colab fortress") == []

# -*- coding: utf-8 -*-
# Copyright: colab.cluster developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared, side-effect free helpers for the Samba modules (samba_mount, samba_user).

Everything here is pure logic on strings and paths so that unit tests can drive it
without root, without a kernel CIFS module and without a Mac:

* a pure-Python MD4 (hashlib's md4 is gone with OpenSSL 3) and the NT hash built on it;
* the parser of ``pdbedit -L -w`` (smbpasswd format);
* fstab / ``/proc/mounts`` parsing and rendering, options compared as a set;
* the mount.cifs credentials file;
* the macOS LaunchAgent plist and the ``security -i`` script for the login Keychain;
* a TCP reachability probe (commands run through _bounded.run_bounded);
* the input rules of every field that reaches fstab, a credentials file or smb.conf
  (the roles use the same rules through plugins/filter/samba.py);
* the parsers of findmnt/systemctl/mount outputs the Linux mount paths depend on;
* the smb.conf share section renderer shared by the file and the registry (net conf) modes.
"""

from __future__ import annotations

import json
import os
import plistlib
import re
import shlex
import socket
import struct
import tempfile

from ansible_collections.colab.cluster.plugins.module_utils._argv import option_like_problems

REDACTED = "********"


# --- MD4 / NT hash ----------------------------------------------------------------------
def _rotl(value, count):
    value &= 0xFFFFFFFF
    return ((value << count) | (value >> (32 - count))) & 0xFFFFFFFF


def md4(data):
    """MD4 digest (RFC 1320) of ``data`` (bytes), in pure Python."""
    message = bytearray(data)
    bit_length = (8 * len(message)) & 0xFFFFFFFFFFFFFFFF
    message.append(0x80)
    while len(message) % 64 != 56:
        message.append(0)
    message += struct.pack("<Q", bit_length)

    a, b, c, d = 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476
    for offset in range(0, len(message), 64):
        x = struct.unpack("<16I", bytes(message[offset:offset + 64]))
        aa, bb, cc, dd = a, b, c, d

        def f(x_, y_, z_):
            return (x_ & y_) | (~x_ & z_)

        def g(x_, y_, z_):
            return (x_ & y_) | (x_ & z_) | (y_ & z_)

        def h(x_, y_, z_):
            return x_ ^ y_ ^ z_

        for i in (0, 4, 8, 12):
            a = _rotl(a + f(b, c, d) + x[i], 3)
            d = _rotl(d + f(a, b, c) + x[i + 1], 7)
            c = _rotl(c + f(d, a, b) + x[i + 2], 11)
            b = _rotl(b + f(c, d, a) + x[i + 3], 19)
        for i in (0, 1, 2, 3):
            a = _rotl(a + g(b, c, d) + x[i] + 0x5A827999, 3)
            d = _rotl(d + g(a, b, c) + x[i + 4] + 0x5A827999, 5)
            c = _rotl(c + g(d, a, b) + x[i + 8] + 0x5A827999, 9)
            b = _rotl(b + g(c, d, a) + x[i + 12] + 0x5A827999, 13)
        for i in (0, 2, 1, 3):
            a = _rotl(a + h(b, c, d) + x[i] + 0x6ED9EBA1, 3)
            d = _rotl(d + h(a, b, c) + x[i + 8] + 0x6ED9EBA1, 9)
            c = _rotl(c + h(d, a, b) + x[i + 4] + 0x6ED9EBA1, 11)
            b = _rotl(b + h(c, d, a) + x[i + 12] + 0x6ED9EBA1, 15)

        a = (a + aa) & 0xFFFFFFFF
        b = (b + bb) & 0xFFFFFFFF
        c = (c + cc) & 0xFFFFFFFF
        d = (d + dd) & 0xFFFFFFFF
    return struct.pack("<4I", a, b, c, d)


def nt_hash(password):
    """The NT hash Samba stores for ``password``: MD4 of its UTF-16LE form, upper-case hex."""
    return md4(password.encode("utf-16-le")).hex().upper()


# --- pdbedit ----------------------------------------------------------------------------
def parse_pdbedit_w(text):
    """Parse ``pdbedit -L -w`` output (smbpasswd format) into {name: {uid, nt_hash, flags}}.

    A line reads ``name:uid:LMHASH:NTHASH:[flags]:LCT-hex:``; an unset hash is 32 ``X``.
    """
    users = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(":")
        if len(fields) < 5:
            continue
        name, uid, _lm, nt, flags = fields[:5]
        users[name] = {
            "uid": int(uid) if uid.isdigit() else None,
            "nt_hash": None if set(nt) <= {"X"} else nt.upper(),
            "flags": flags.strip("[]").replace(" ", ""),
        }
    return users


# --- fstab / mounts ---------------------------------------------------------------------
def _unescape(field):
    """fstab and /proc/mounts escape space, tab, newline and backslash as octal."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def _escape(field):
    return field.replace("\\", "\\134").replace(" ", "\\040").replace("\t", "\\011").replace("\n", "\\012")


def parse_mount_table(text):
    """Entries of an fstab or /proc/mounts text: dicts with src, path, fstype, opts, dump, passno."""
    entries = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        fields = stripped.split()
        if len(fields) < 4:
            continue
        entries.append({
            "src": _unescape(fields[0]),
            "path": _unescape(fields[1]),
            "fstype": fields[2],
            "opts": fields[3],
            "dump": fields[4] if len(fields) > 4 else "0",
            "passno": fields[5] if len(fields) > 5 else "0",
        })
    return entries


def find_entry(entries, path):
    """The last entry mounted at ``path`` (the one that wins), or None."""
    path = path.rstrip("/") or "/"
    found = None
    for entry in entries:
        if (entry["path"].rstrip("/") or "/") == path:
            found = entry
    return found


def split_opts(opts):
    """Options string -> frozenset (order does not matter, duplicates collapse)."""
    if isinstance(opts, str):
        opts = opts.split(",")
    return frozenset(o.strip() for o in opts if o and o.strip())


def build_cifs_options(credentials, uid=None, gid=None, vers="3.1.1", file_mode=None,
                       dir_mode=None, extra=None, automount=True, idle_timeout=None):
    """The fstab options of a CIFS mount, in a stable order. Never carries a password.

    ``idle_timeout`` (seconds, with an automount only; 0 or None: none) becomes
    ``x-systemd.idle-timeout=``, the automount unit's ``TimeoutIdleSec=`` (systemd.mount(5),
    systemd.automount(5)): systemd unmounts the share once it has been idle that long."""
    opts = ["credentials=%s" % credentials]
    if uid not in (None, ""):
        opts.append("uid=%s" % uid)
    if gid not in (None, ""):
        opts.append("gid=%s" % gid)
    if file_mode:
        opts.append("file_mode=%s" % file_mode)
    if dir_mode:
        opts.append("dir_mode=%s" % dir_mode)
    if vers:
        opts.append("vers=%s" % vers)
    opts += ["_netdev", "nofail"]
    if automount:
        opts.append("x-systemd.automount")
        if idle_timeout:
            opts.append("x-systemd.idle-timeout=%d" % int(idle_timeout))
    for opt in extra or []:
        if opt not in opts:
            opts.append(opt)
    return opts


def forbidden_options(opts):
    """Options that would put a secret into fstab (readable by everyone)."""
    bad = []
    for opt in opts:
        key = opt.split("=", 1)[0].strip().lower()
        if key in ("password", "pass", "password2"):
            bad.append(key)
    return bad


def render_fstab_line(src, path, fstype, opts, dump="0", passno="0"):
    return "%s %s %s %s %s %s" % (_escape(src), _escape(path), fstype, ",".join(opts), dump, passno)


def fstab_entry_matches(entry, src, fstype, opts, dump="0", passno="0"):
    return (entry is not None and entry["src"] == src and entry["fstype"] == fstype
            and split_opts(entry["opts"]) == split_opts(opts)
            and str(entry["dump"]) == str(dump) and str(entry["passno"]) == str(passno))


def set_fstab_entry(text, path, line):
    """Replace every active line mounted at ``path`` by ``line`` (one copy), or append it."""
    out, placed = [], False
    norm = path.rstrip("/") or "/"
    for raw in text.splitlines():
        fields = raw.split()
        if fields and not raw.lstrip().startswith("#") and len(fields) >= 2 \
                and (_unescape(fields[1]).rstrip("/") or "/") == norm:
            if line is not None and not placed:
                out.append(line)
                placed = True
            continue
        out.append(raw)
    if line is not None and not placed:
        out.append(line)
    return "\n".join(out) + "\n" if out else ""


def live_mount_matches(entry, src, fstype):
    """Compare a /proc/mounts entry with the wanted source and type.

    The kernel reports CIFS sources with forward slashes and the share as given; the
    comparison ignores case in the server part (hosts are case-insensitive).
    """
    if entry is None:
        return False
    if entry["fstype"] != fstype:
        return False
    return entry["src"].replace("\\", "/").lower() == src.replace("\\", "/").lower()


def kernel_supports(fstype, proc_filesystems_text):
    """True when ``fstype`` is listed in /proc/filesystems (``nodev<TAB>name`` or ``<TAB>name``)."""
    for line in proc_filesystems_text.splitlines():
        fields = line.split()
        if fields and fields[-1] == fstype:
            return True
    return False


# --- credentials file -------------------------------------------------------------------
def render_credentials(username, password, domain=None):
    text = "username=%s\npassword=%s\n" % (username, password)
    if domain:
        text += "domain=%s\n" % domain
    return text


def redact_credentials(text):
    """A credentials file's text with the password replaced, for diffs and results."""
    if text is None:
        return None
    out = []
    for line in text.splitlines():
        if line.split("=", 1)[0].strip().lower() in ("password", "pass"):
            out.append("password=" + REDACTED)
        else:
            out.append(line)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def credentials_path(directory, mount_path):
    """Default credentials file for a mount point: /mnt/fortress -> <dir>/mnt-fortress.cred.

    The name goes into the fstab options field (``credentials=<file>``), where a space or a
    comma would end it: every character outside ``[A-Za-z0-9._-]`` becomes ``_``.
    """
    name = mount_path.strip("/").replace("/", "-") or "root"
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return os.path.join(directory, name + ".cred")


def write_private_file(module, dest, content):
    """Write ``content`` to ``dest`` atomically, root-only 0600 from the first byte."""
    directory = os.path.dirname(dest) or "."
    fd, tmp = tempfile.mkstemp(prefix=".colab-", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        module.atomic_move(tmp, dest)
        # atomic_move gives a new file the umask's default mode: back to 0600 at once
        os.chmod(dest, 0o600)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_file(module, dest, content, mode=0o644):
    directory = os.path.dirname(dest) or "."
    fd, tmp = tempfile.mkstemp(prefix=".colab-", dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
        module.atomic_move(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_text(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


# --- network / commands -----------------------------------------------------------------
def probe_tcp(host, port=445, timeout=5.0):
    """Return None when ``host:port`` accepts a TCP connection within ``timeout``, else the reason."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except socket.timeout:
        return "no answer within %ss" % timeout
    except OSError as exc:
        return exc.strerror or str(exc)


def server_of(src):
    """//server/share (or \\\\server\\share) -> server."""
    return src.replace("\\", "/").lstrip("/").split("/", 1)[0]


# --- macOS ------------------------------------------------------------------------------
def launchd_label(mount_path):
    name = mount_path.strip("/").split("/")[-1] or "root"
    return "la.colab.cluster.samba.%s" % name


def smb_url(src, username):
    """//server/share -> smb://user@server/share (each part percent-encoded, RFC 3986)."""
    from urllib.parse import quote
    server, _sep, share = src.replace("\\", "/").lstrip("/").partition("/")
    return "smb://%s@%s/%s" % (quote(username, safe=""), server, quote(share, safe="/"))


def render_launch_agent(label, src, username, mount_path, retry_interval=300):
    """The LaunchAgent plist that keeps ``src`` mounted (bytes).

    It runs AppleScript's ``mount volume "smb://user@server/share"`` through osascript (Apple,
    AppleScript Standard Additions "mount volume"; launchd.plist(5) for the keys). ``mount
    volume`` takes the password from the user's login Keychain (an internet password for the
    server, protocol smb), so neither the plist nor any command line carries it. macOS picks
    the mount point itself, ``/Volumes/<share>`` (created and owned by the user's session,
    no mkdir, no root), which is why ``mount_path`` must be ``/Volumes/<share>``.
    """
    url = smb_url(src, username)
    applescript = 'mount volume "%s"' % url.replace("\\", "\\\\").replace('"', '\\"')
    script = (
        "/sbin/mount | /usr/bin/grep -q ' on %(mp)s (smbfs' && exit 0; "
        "exec /usr/bin/osascript -e %(as)s"
    ) % {"mp": mount_path, "as": shlex.quote(applescript)}
    plist = {
        "Label": label,
        "ProgramArguments": ["/bin/sh", "-c", script],
        "RunAtLoad": True,
        "StartInterval": int(retry_interval),
        "StandardErrorPath": "/tmp/%s.err" % label,
        "StandardOutPath": "/tmp/%s.out" % label,
    }
    return plistlib.dumps(plist, fmt=plistlib.FMT_XML, sort_keys=True)


def keychain_locked_argv():
    """``security show-keychain-info`` exits non-zero (errSecInteractionNotAllowed, 36) when the
    default keychain is locked, the usual case over ssh (security(1))."""
    return ["/usr/bin/security", "show-keychain-info"]


def keychain_lookup_argv(server, username):
    """Read the stored SMB password (printed on stdout, never in argv)."""
    return ["/usr/bin/security", "find-internet-password", "-a", username, "-s", server,
            "-r", "smb ", "-w"]


def keychain_script(server, username, password, keychain=None):
    """The stdin of ``security -i`` that stores the SMB password in the login Keychain.

    ``security add-internet-password -w <password>`` would put the secret in argv (visible
    in ``ps``); ``-w`` as the last option prompts, but only on a terminal. ``security -i``
    reads its commands from stdin instead, so the password only ever travels through the
    pipe. ``-U`` updates an existing item; ``-T`` lets the listed programs (osascript and
    NetAuthAgent, which performs ``mount volume``) read it without a confirmation dialog.
    """
    words = ["add-internet-password", "-U", "-a", username, "-s", server, "-r", "smb ",
             "-l", server, "-D", "network password", "-T", "/usr/bin/osascript",
             "-T", "/System/Library/CoreServices/NetAuthAgent.app", "-w", password]
    if keychain:
        words.append(keychain)
    return " ".join(_security_quote(w) for w in words) + "\n"


def _security_quote(word):
    # security -i splits like a shell on double quotes and backslashes.
    return '"%s"' % word.replace("\\", "\\\\").replace('"', '\\"')


# --- input rules ------------------------------------------------------------------------
# Every field below ends up in a line-based file (fstab, the credentials file, smb.conf, a
# `security -i` script): a line break would add a line of the attacker's choosing, a space
# or a comma would end an fstab field or a mount option. Each rule names the field.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ACCOUNT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]*$")
_MODE = re.compile(r"^0?[0-7]{3,4}$")
_VERS = re.compile(r"^(default|1\.0|2\.0|2\.1|3|3\.0|3\.02|3\.0\.2|3\.1\.1)$")
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# options the module itself writes from its own fields, or that would carry a secret
SECRET_OPTIONS = ("password", "pass", "password2")
OWNED_OPTIONS = ("credentials", "cred", "user", "username", "domain", "dom", "workgroup")


def _has_control(value):
    return bool(_CONTROL.search(value))


def text_problem(field, value, spaces=True, commas=True):
    """The reason ``value`` cannot go into a line-based file, or None."""
    if value is None:
        return None
    if _has_control(value):
        return "%s must not contain a line break or another control character" % field
    if value != value.strip():
        return "%s must not start or end with whitespace" % field
    if not spaces and re.search(r"\s", value):
        return "%s must not contain whitespace" % field
    if not commas and "," in value:
        return "%s must not contain a comma (it would end the mount option)" % field
    return None


def mount_input_problems(p):
    """Every problem of samba_mount's parameters ``p`` (a dict), each naming its field.

    Checked before anything is read from or written to the host.
    """
    problems = []

    def add(reason):
        if reason:
            problems.append(reason)

    src = p.get("src")
    if src is not None:
        add(text_problem("src", src))
        norm = src.replace("\\", "/")
        if not norm.startswith("//"):
            add("src must look like //server/share, got %r" % src)
        elif len([x for x in norm.split("/") if x]) < 2:
            add("src must name a server and a share (//server/share), got %r" % src)
    path = p.get("path") or ""
    add(text_problem("path", path))
    if not path.startswith("/"):
        add("path must be absolute, got %r" % path)
    for field in ("credentials_dir", "credentials_file"):
        add(text_problem(field, p.get(field), spaces=False, commas=False))
    add(text_problem("username", p.get("username"), commas=True))
    add(text_problem("domain", p.get("domain"), spaces=False))
    # values a command line receives (security -a, sudo -u / launchctl asuser)
    problems.extend(option_like_problems(p, ("username", "domain", "macos_user")))
    password = p.get("password")
    if password is not None and re.search(r"[\r\n\x00]", password):
        problems.append("password must not contain a line break or NUL (credentials files and security -i "
                        "are line based)")
    for field in ("uid", "gid"):
        value = p.get(field)
        if value not in (None, "") and not _ACCOUNT.match(str(value)):
            problems.append("%s must be a number or an account name (letters, digits, _ . @ -), got %r"
                            % (field, value))
    for field in ("file_mode", "dir_mode"):
        value = p.get(field)
        if value not in (None, "") and not _MODE.match(str(value)):
            problems.append("%s must be an octal mode such as 0664, got %r" % (field, value))
    vers = p.get("vers")
    if vers not in (None, "") and not _VERS.match(vers):
        problems.append("vers must be one of mount.cifs' dialects (1.0, 2.0, 2.1, 3, 3.0, 3.02, 3.1.1, default), "
                        "got %r" % vers)
    for index, opt in enumerate(p.get("opts") or []):
        field = "opts[%d]" % index
        reason = text_problem(field, opt, spaces=False, commas=False)
        if reason:
            problems.append(reason)
            continue
        if not opt:
            problems.append("%s must not be empty" % field)
            continue
        key = opt.split("=", 1)[0].strip().lower()
        if key in SECRET_OPTIONS:
            problems.append("opts must not carry a password (%s): it belongs in the credentials file" % key)
        elif key in OWNED_OPTIONS:
            problems.append("%s: %s= is written by the module (from username, domain and the credentials file); "
                            "remove it from opts" % (field, key))
    if p.get("label") is not None and not _LABEL.match(p["label"]):
        problems.append("label must be letters, digits, '.', '_' or '-', got %r" % p["label"])
    add(text_problem("macos_user", p.get("macos_user"), spaces=False))
    for field in ("timeout", "retry_interval"):
        if p.get(field) is not None and p[field] <= 0:
            problems.append("%s must be a positive number of seconds" % field)
    if p.get("idle_timeout") is not None and p["idle_timeout"] < 0:
        problems.append("idle_timeout must be 0 (none) or a positive number of seconds")
    return problems


# --- systemd / findmnt / mount outputs ----------------------------------------------------
def systemd_escape_path(path):
    """The unit name stem of a path, as ``systemd-escape -p`` prints it.

    Transcribed from systemd src/basic/unit-name.c (unit_name_path_escape, do_escape) at
    v257: slashes collapse, the outer ones go, '/' becomes '-', every byte outside
    [A-Za-z0-9:_.] (and a leading '.') becomes \\xNN; the root is '-'.
    Checked against the real systemd-escape 257 (fixtures/samba_mount/recorded).
    """
    parts = [x for x in path.split("/") if x]
    if not parts:
        return "-"
    out = []
    for part_index, part in enumerate(parts):
        chunk = []
        for index, byte in enumerate(part.encode("utf-8")):
            char = chr(byte)
            leading_dot = char == "." and index == 0 and part_index == 0
            if char.isascii() and (char.isalnum() or char in ":_.") and not leading_dot:
                chunk.append(char)
            else:
                chunk.append("\\x%02x" % byte)
        out.append("".join(chunk))
    return "-".join(out)


def parse_findmnt_json(text):
    """``findmnt -J -l -o TARGET,SOURCE,FSTYPE,OPTIONS`` -> list of {path, src, fstype, opts}.

    findmnt prints nothing and exits 1 when nothing is mounted there (recorded).
    """
    if not text or not text.strip():
        return []
    data = json.loads(text)
    return [{"path": fs.get("target"), "src": fs.get("source"), "fstype": fs.get("fstype"),
             "opts": fs.get("options") or ""} for fs in data.get("filesystems", [])]


def parse_systemctl_show(text):
    """``systemctl show -p A,B unit`` -> {A: value, B: value}."""
    props = {}
    for line in (text or "").splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            props[key.strip()] = value.strip()
    return props


# mount.cifs on ENODEV (cifs-utils 7.4: "mount error(19): No such device", recorded) and
# mount(8) without the helper ("unknown filesystem type 'cifs'", recorded).
_NO_CIFS_MARKERS = ("mount error(19)", "cifs filesystem not supported", "unknown filesystem type 'cifs'",
                    "no such device")


def says_no_cifs(text):
    low = (text or "").lower()
    return any(marker in low for marker in _NO_CIFS_MARKERS)


def says_busy(text):
    """umount(8) of a mount in use: "umount: /mnt/t: target is busy." (recorded), exit 32."""
    return "target is busy" in (text or "").lower() or "device or resource busy" in (text or "").lower()


def says_module_missing(text):
    """modprobe of a module the kernel does not have (recorded: "modprobe: FATAL: Module cifs not found
    in directory /lib/modules/<release>")."""
    return "not found in directory" in (text or "") or "module cifs not found" in (text or "").lower()


# --- smb.conf -----------------------------------------------------------------------------
# Parameters smbd reads only when it starts: changing them needs a restart, every other change
# is picked up by a reload (SIGHUP, smbd.service's ExecReload). Samba 4.22.11
# source3/smbd/server.c main(): open_sockets_smbd() binds the listening sockets from
# `smb ports`, `interfaces` and `bind interfaces only` once (line 2333), and
# initialize_password_db() opens the `passdb backend` once (line 2154); reload_services()
# on SIGHUP re-reads the rest (shares, masks, users, protocol limits for new connections).
RESTART_PARAMETERS = ("smb ports", "interfaces", "bind interfaces only", "passdb backend", "server role")


def conf_value(value):
    """A role value as smb.conf spells it: booleans yes/no, lists space-joined."""
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return str(value)


def _key(name):
    return " ".join(str(name).lower().split())


def parse_conf(text):
    """smb.conf text -> {section: {parameter: value}} (keys normalised, comments and blanks dropped)."""
    sections, current = {}, None
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(_key(line[1:-1]), {})
            continue
        if "=" in line and current is not None:
            key, value = line.split("=", 1)
            current[_key(key)] = value.strip()
    return sections


def restart_parameters(old_text, new_text):
    """The start-only [global] parameters whose value differs between two smb.conf texts."""
    if old_text is None:
        return []
    old = parse_conf(old_text).get("global", {})
    new = parse_conf(new_text).get("global", {})
    return [p for p in RESTART_PARAMETERS if old.get(p) != new.get(p)]


def share_parameters(share, fruit_options=None):
    """The ordered (parameter, value) list of one share of samba_server_shares."""
    params = [("path", share["path"])]
    if share.get("comment"):
        params.append(("comment", share["comment"]))
    params += [("browseable", conf_value(share.get("browseable", True))),
               ("read only", conf_value(share.get("read_only", False))),
               ("guest ok", "no")]
    if share.get("valid_users"):
        params.append(("valid users", conf_value(share["valid_users"])))
    if share.get("write_list"):
        params.append(("write list", conf_value(share["write_list"])))
    params += [("create mask", str(share.get("create_mask") or "0664")),
               ("directory mask", str(share.get("directory_mask") or "0775"))]
    for key, name in (("force_create_mode", "force create mode"), ("force_directory_mode", "force directory mode"),
                      ("force_user", "force user"), ("force_group", "force group")):
        if share.get(key):
            params.append((name, str(share[key])))
    if share.get("fruit", True):
        params += [(k, conf_value(v)) for k, v in sorted((fruit_options or {}).items())]
    params += [(k, conf_value(v)) for k, v in sorted((share.get("options") or {}).items())]
    return params


def share_section(share, fruit_options=None, indent="   "):
    """The share's smb.conf section text; with indent "\\t" exactly as `net conf showshare` prints it."""
    lines = ["[%s]" % share["name"]]
    lines += ["%s%s = %s" % (indent, k, v) for k, v in share_parameters(share, fruit_options)]
    return "\n".join(lines) + "\n"


def same_section(showshare_text, share, fruit_options=None):
    """Whether `net conf showshare` output holds exactly the share's parameters, in any order."""
    got = parse_conf(showshare_text).get(_key(share["name"]))
    want = {_key(k): v for k, v in share_parameters(share, fruit_options)}
    return got == want


_SHARE_NAME = re.compile(r"^[^\[\]\x00-\x1f\x7f\\/:*?\"<>|+=;,]{1,80}$")
_CONF_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 :_.-]*$")


def conf_problems(shares=None, global_options=None, users=None, username_map=None, interfaces=None,
                  hosts_allow=None, workgroup=None, netbios_name=None, server_string=None):
    """Every value of samba_server's input that cannot go into smb.conf as one line.

    A line break in a value would add a parameter (or a whole share) of the writer's choosing;
    ']' in a share name would end the section header. Each problem names its variable.
    """
    problems = []

    def value_problem(field, value):
        text = conf_value(value)
        if _has_control(text):
            problems.append("%s must not contain a line break or another control character" % field)

    for field, value in (("samba_server_workgroup", workgroup), ("samba_server_netbios_name", netbios_name),
                         ("samba_server_server_string", server_string)):
        if value is not None:
            value_problem(field, value)
    for index, value in enumerate(hosts_allow or []):
        value_problem("samba_server_hosts_allow[%d]" % index, value)
        if re.search(r"[\s,]", str(value)):
            problems.append("samba_server_hosts_allow[%d] must be one address or network, got %r" % (index, value))
    for index, value in enumerate(interfaces or []):
        value_problem("samba_server_interfaces[%d]" % index, value)
        if re.search(r"[\s,]", str(value)):
            problems.append("samba_server_interfaces[%d] must be one interface, address or network, got %r"
                            % (index, value))

    def options_problems(field, options):
        for key, value in (options or {}).items():
            if not _CONF_KEY.match(str(key)):
                problems.append("%s: %r is not a parameter name" % (field, key))
            value_problem("%s[%r]" % (field, key), value)

    options_problems("samba_server_global_options", global_options)
    for index, share in enumerate(shares or []):
        field = "samba_server_shares[%d]" % index
        name = str(share.get("name", ""))
        if not _SHARE_NAME.match(name):
            problems.append("%s.name must be 1-80 characters without brackets, control characters or "
                            "\\/:*?\"<>|+=;, got %r" % (field, name))
        for key in ("path", "comment", "force_user", "force_group", "create_mask", "directory_mask",
                    "force_create_mode", "force_directory_mode", "valid_users", "write_list"):
            if share.get(key) is not None:
                value_problem("%s.%s" % (field, key), share[key])
        for key in ("create_mask", "directory_mask", "force_create_mode", "force_directory_mode"):
            if share.get(key) not in (None, "") and not _MODE.match(str(share[key])):
                problems.append("%s.%s must be an octal mode such as 0664, got %r" % (field, key, share[key]))
        options_problems("%s.options" % field, share.get("options"))
    for index, user in enumerate(users or []):
        name = str(user.get("name", "") if isinstance(user, dict) else user)
        if not name or _has_control(name) or re.search(r"[\s:]", name):
            problems.append("samba_server_users[%d].name must be a user name without whitespace or ':', got %r"
                            % (index, name))
    for unix_name, smb_names in (username_map or {}).items():
        if not re.match(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", str(unix_name)):
            problems.append("samba_server_username_map: %r is not a Unix user name" % unix_name)
        for smb_name in smb_names if isinstance(smb_names, list) else [smb_names]:
            if _has_control(str(smb_name)) or "=" in str(smb_name):
                problems.append("samba_server_username_map[%r]: %r must not contain '=' or a line break"
                                % (unix_name, smb_name))
    return problems

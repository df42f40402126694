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
* a TCP reachability probe and a timeout-bounded command runner.
"""

from __future__ import annotations

import os
import plistlib
import shlex
import socket
import struct
import tempfile

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
                       dir_mode=None, extra=None, automount=True):
    """The fstab options of a CIFS mount, in a stable order. Never carries a password."""
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
    """Default credentials file for a mount point: /mnt/fortress -> <dir>/mnt-fortress.cred."""
    name = mount_path.strip("/").replace("/", "-") or "root"
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


def bounded(argv, timeout):
    """Prefix argv with coreutils timeout(1): TERM at ``timeout`` s, KILL 5 s later."""
    return ["timeout", "-k", "5", str(int(timeout))] + list(argv)


TIMED_OUT = (124, 137)


# --- macOS ------------------------------------------------------------------------------
def launchd_label(mount_path):
    name = mount_path.strip("/").split("/")[-1] or "root"
    return "la.colab.cluster.samba.%s" % name


def render_launch_agent(label, src, username, mount_path, retry_interval=300):
    """The LaunchAgent plist that keeps ``src`` mounted at ``mount_path`` (bytes).

    mount_smbfs gets ``//user@server/share`` and ``-N``: it never prompts and never sees a
    password on its command line; the password comes from the login Keychain.
    """
    server_share = src.replace("\\", "/").lstrip("/")
    url = "//%s@%s" % (username, server_share)
    script = (
        "/sbin/mount | /usr/bin/grep -q ' on %(mp)s ' && exit 0; "
        "/bin/mkdir -p %(mp)s && exec /sbin/mount_smbfs -N %(url)s %(mp)s"
    ) % {"mp": shlex.quote(mount_path), "url": shlex.quote(url)}
    plist = {
        "Label": label,
        "ProgramArguments": ["/bin/sh", "-c", script],
        "RunAtLoad": True,
        "StartInterval": int(retry_interval),
        "StandardErrorPath": "/tmp/%s.err" % label,
        "StandardOutPath": "/tmp/%s.out" % label,
    }
    return plistlib.dumps(plist, fmt=plistlib.FMT_XML, sort_keys=True)


def keychain_lookup_argv(server, username):
    """Read the stored SMB password (printed on stdout, never in argv)."""
    return ["/usr/bin/security", "find-internet-password", "-a", username, "-s", server,
            "-r", "smb ", "-w"]


def keychain_script(server, username, password, keychain=None):
    """The stdin of ``security -i`` that stores the SMB password in the login Keychain.

    ``security add-internet-password -w <password>`` would put the secret in argv (visible
    in ``ps``); ``-w`` as the last option prompts, but only on a terminal. ``security -i``
    reads its commands from stdin instead, so the password only ever travels through the
    pipe. ``-U`` updates an existing item; ``-T /sbin/mount_smbfs`` lets mount_smbfs read
    it without a confirmation dialog.
    """
    words = ["add-internet-password", "-U", "-a", username, "-s", server, "-r", "smb ",
             "-l", server, "-D", "network password", "-T", "/sbin/mount_smbfs",
             "-w", password]
    if keychain:
        words.append(keychain)
    return " ".join(_security_quote(w) for w in words) + "\n"


def _security_quote(word):
    # security -i splits like a shell on double quotes and backslashes.
    return '"%s"' % word.replace("\\", "\\\\").replace('"', '\\"')

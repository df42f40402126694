#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: colab.cluster developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: samba_mount
short_description: Mount an SMB3 share on Linux (fstab + credentials file) or macOS (LaunchAgent + Keychain)
version_added: 0.1.0
description:
  - "B(Linux): keeps one C(cifs) line in C(/etc/fstab) whose options carry C(credentials=)
    (never the password), C(uid)/C(gid), C(vers=3.1.1), C(_netdev), C(nofail) and
    C(x-systemd.automount) with C(x-systemd.idle-timeout=) (O(idle_timeout)). Options are compared as a set, so their order never causes a change.
    The password lives only in a per-mount credentials file, root-only C(0600), written atomically.
    Paths are octal-escaped in fstab (a space is C(\\040)); every field is checked before anything
    is written (see O(opts), O(username), O(uid))."
  - "B(Linux), CIFS detection: C(/proc/filesystems) lists C(cifs) only once the module is loaded, and
    the kernel loads it on the first CIFS mount. So the module asks C(modprobe) (C(modprobe -n) in
    check mode and for automounts) and reads the mount's own error; only C(modprobe)'s I(not found) or
    the mount's C(ENODEV) (C(mount error(19))) give the error I(the kernel cannot mount CIFS), and that
    check happens before anything is unmounted."
  - "B(Linux), systemd automount (O(automount=true) on a systemd host): the desired state of
    O(state=mounted) is the C(.automount) unit of the mount point active (C(findmnt) shows its
    C(autofs) mount; the share itself is mounted by systemd on first access). When the fstab line
    changes the module runs C(systemctl daemon-reload) and restarts the C(.automount) unit. An
    untriggered automount is never unmounted. O(state=unmounted) and O(state=absent) stop the unit;
    C(systemctl disable) has no effect on units generated from fstab (systemd says so), so the unit
    returns at the next boot while the fstab line asks for it: O(state=absent) removes the line."
  - "B(Linux), changed credentials or options while mounted: the live mount keeps the old ones until it
    is mounted again, so the module unmounts it. When it is busy (for example docker volumes on it)
    O(on_busy) decides."
  - "B(macOS): writes a LaunchAgent for the GUI user O(macos_user) that runs
    C(osascript -e 'mount volume \"smb://user@server/share\"') (AppleScript Standard Additions), which
    takes the password from the user's login Keychain and mounts at C(/Volumes/<share>) as that user (no
    root-owned directory is created). The password is stored in the login Keychain by C(security -i) fed
    on stdin (never argv); a locked login Keychain (the usual case over ssh) fails the run before
    anything is written. The agent is loaded with C(launchctl bootstrap gui/<uid>); a bootstrap that answers
    error 5 (I(Input/output error), launchd still removing the job a C(bootout) just asked to remove) is tried
    again, 5 times at most, 2 seconds apart. Run as root (become), every C(security) and C(launchctl) call
    runs in the user's login session and as the user, C(launchctl asuser <uid> sudo -u <user> ...)
    (launchctl(1): C(asuser) changes the bootstrap context, not the credentials). V(mounted) and
    V(present) write the Keychain item and the plist, V(mounted) also loads the agent; V(unmounted)
    unloads it and unmounts; V(absent) also removes the plist and the Keychain item."
  - The password is never returned and is redacted in diffs.
author:
  - colab.cluster developers (@colab)
requirements:
  - "Linux: C(mount.cifs) (package C(cifs-utils)) for O(state=mounted), util-linux C(findmnt), coreutils
    C(timeout); C(modprobe) (kmod) is used when present."
  - "macOS: C(/usr/bin/security), C(/bin/launchctl), C(/usr/bin/osascript) (all part of the OS; coreutils C(timeout) is not needed)."
attributes:
  check_mode:
    support: full
    description: Every change is computed from the files and mount table first; nothing is written or run in check mode.
  diff_mode:
    support: full
    description: fstab line, credentials file (password redacted), plist and mount state before and after.
  idempotent:
    support: full
    description: A second run with the same input reports no change and runs no mount command.
  platform:
    support: full
    platforms: [posix]
    description: Linux and macOS (Darwin).
options:
  path:
    description:
      - Mount point, for example C(/mnt/fortress). On macOS it must be C(/Volumes/<share>), where
        C(mount volume) puts the share.
    type: path
    required: true
  src:
    description: The share, C(//server/share).
    type: str
  state:
    description:
      - V(mounted) configures and mounts (and remounts on a credentials change).
      - V(present) only configures (fstab line + credentials file, or plist + Keychain item).
      - V(unmounted) unmounts but keeps the configuration.
      - V(absent) unmounts and removes the configuration and the stored password.
    type: str
    choices: [mounted, present, unmounted, absent]
    default: mounted
  username:
    description: The Samba user.
    type: str
  password:
    description: The Samba user's password. Never logged, never returned, never put in argv.
    type: str
  domain:
    description: Workgroup or domain of the user (Linux credentials file only).
    type: str
  credentials_dir:
    description: Directory of the per-mount credentials files (Linux). Created root-only C(0700).
    type: path
    default: /etc/samba/credentials
  credentials_file:
    description: Credentials file for this mount (Linux). Default is O(credentials_dir)/<mount point with dashes>.cred.
    type: path
  uid:
    description: Owner of the files as seen through the mount (Linux C(uid=)).
    type: str
  gid:
    description: Group of the files as seen through the mount (Linux C(gid=)).
    type: str
  file_mode:
    description: C(file_mode=) of the mount (Linux), for example C(0664).
    type: str
  dir_mode:
    description: C(dir_mode=) of the mount (Linux), for example C(0775).
    type: str
  vers:
    description: SMB dialect (Linux C(vers=)).
    type: str
    default: "3.1.1"
  automount:
    description: Add C(x-systemd.automount) (Linux).
    type: bool
    default: true
  idle_timeout:
    description:
      - "With O(automount=true) (Linux), seconds the share may stay idle before systemd unmounts it:
        C(x-systemd.idle-timeout=), the automount unit's C(TimeoutIdleSec=) (systemd.mount(5),
        systemd.automount(5)). The next access mounts it again, with the credentials and options then in
        fstab; this is how O(on_busy=next_automount) reaches a busy mount once it is no longer used."
      - "V(0) writes no idle timeout (systemd's default): the share stays mounted until shutdown."
    type: int
    default: 600
  opts:
    description:
      - More mount options (Linux), one option per element. An element with whitespace, a comma, a line
        break, a password (C(password=), C(pass=), C(password2=)) or an option the module writes itself
        (C(credentials=), C(user=), C(username=), C(domain=)) is refused before anything is written.
    type: list
    elements: str
    default: []
  fstab:
    description: The fstab file (Linux). Only tests should change it.
    type: path
    default: /etc/fstab
  timeout:
    description:
      - Seconds allowed for each mount, umount, launchctl or security call, and for the TCP probe.
      - A call runs behind coreutils C(timeout) where the target has it; where not (macOS has none in its
        base system) the module ends it itself (TERM, then KILL 5 seconds later).
    type: int
    default: 30
  probe:
    description:
      - With O(state=mounted) or O(state=present) (Linux), check first that the server accepts TCP
        connections on O(port) within O(timeout). A server that does not answer (smbd stopped, host down)
        fails the task before anything is written, mounted or unmounted, naming the server and the reason.
      - V(false) writes the fstab line and the credentials file for a server that is down.
    type: bool
    default: true
  port:
    description: The SMB port probed.
    type: int
    default: 445
  macos_user:
    description: The macOS GUI user who owns the LaunchAgent and the login Keychain (macOS, required there).
    type: str
  label:
    description: The LaunchAgent label (macOS). Default C(la.colab.cluster.samba.<last path element>).
    type: str
  retry_interval:
    description: Seconds between the LaunchAgent's attempts to (re)mount (macOS C(StartInterval)).
    type: int
    default: 300
  on_busy:
    description:
      - What a credentials or options change does when the live mount is busy (C(umount) says
        I(target is busy)). A mount that is not busy is always unmounted and mounted again.
      - V(next_automount) leaves the live mount alone, with a warning and RV(pending_remount); the new
        credentials take effect at its next mount (the automount's next trigger once it is unmounted,
        for example after O(idle_timeout), or the next boot). Open files stay open. Until then the
        kernel keeps the old session; if the server drops it after the password changed, the kernel's
        reconnect with the old password fails and those files return errors.
      - V(lazy) detaches the mount now (C(umount -l)) and mounts again (or lets the automount do it).
        Programs that hold files or directories open keep using the detached old mount, with the old
        session, until they close them; everything opened afterwards goes to the new mount. Docker
        containers with a volume on it keep the old mount until they are restarted.
      - V(fail) stops the run with a message naming the busy mount; the new credentials are already on
        disk.
      - For O(state=unmounted) and O(state=absent), V(lazy) detaches a busy mount and the others fail.
    type: str
    choices: [next_automount, lazy, fail]
    default: next_automount
notes:
  - "The project's build machines have no kernel CIFS (C(modprobe cifs) finds no module): there the
    module fails O(state=mounted) with exactly that reason before changing anything, and
    O(state=present) is what works. Where the machine has C(/dev/autofs), systemd automount units run
    for real in the project's tests; where it does not (some kernels of the same kind), systemd
    cannot start them, and O(state=mounted) with an automount fails before writing anything, naming
    C(/dev/autofs), while O(state=present) still works. A stock Debian kernel lists C(autofs) in
    C(/proc/filesystems) only once the module is loaded (systemd loads it at boot), so the module
    never decides on that list."
  - "The macOS branch is covered by unit tests only (no Mac is available to the project's tests).
    References: Apple, AppleScript Language Guide and Standard Additions (C(mount volume)); launchd.plist(5);
    security(1) (C(-i), C(show-keychain-info), C(add-internet-password -T)).
    C(security -i) reads its commands from stdin and splits them on double quotes with backslash
    escapes (SecurityTool C(split_line)); that is how the password stays out of argv."
seealso:
  - module: ansible.posix.mount
  - module: colab.cluster.samba_user
"""

EXAMPLES = r"""
- name: Mount the fortress share on director
  colab.cluster.samba_mount:
    path: /mnt/fortress
    src: //cooperator/fortress
    username: crtr
    password: "{{ lookup('colab.cluster.infisical_secret', 'COLAB_NAS_SAMBA_PASSWORD', path='/samba') }}"
    uid: "1000"
    gid: "1000"
    state: mounted

- name: Only write the fstab line and credentials file (a kernel without CIFS)
  colab.cluster.samba_mount:
    path: /mnt/fortress
    src: //cooperator/fortress
    username: crtr
    password: "{{ samba_password }}"
    state: present

- name: Keep /Volumes/fortress mounted on a Mac
  colab.cluster.samba_mount:
    path: /Volumes/fortress
    src: //cooperator/fortress
    username: crtr
    password: "{{ samba_password }}"
    macos_user: crtr
"""

RETURN = r"""
fstab_line:
  description: The wanted fstab line (Linux), without any secret.
  returned: on Linux when O(state) is not V(absent)
  type: str
  sample: >-
    //cooperator/fortress /mnt/fortress cifs
    credentials=/etc/samba/credentials/mnt-fortress.cred,uid=1000,gid=1000,vers=3.1.1,_netdev,nofail,x-systemd.automount,x-systemd.idle-timeout=600 0 0
credentials_file:
  description: The credentials file (Linux).
  returned: on Linux
  type: str
  sample: /etc/samba/credentials/mnt-fortress.cred
fstab_changed:
  description: Whether the fstab line was added, changed or removed (the module then ran C(systemctl daemon-reload)).
  returned: on Linux
  type: bool
credentials_changed:
  description: Whether the credentials (file or Keychain item) were written or removed.
  returned: always
  type: bool
mounted:
  description:
    - Whether the share is mounted at O(path) after the run (predicted in check mode on Linux).
    - On macOS, what C(mount) shows after the run (an C(smbfs) filesystem at O(path)). The LaunchAgent
      mounts in the background, so after loading it the module looks once a second for up to O(timeout)
      seconds and warns when the share did not appear. In check mode, what C(mount) shows now.
  returned: always
  type: bool
actions:
  description: What was done (or would be done in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: [write credentials, write fstab line, mount]
automount:
  description: Whether the systemd automount of the mount point is active after the run (Linux).
  returned: on Linux
  type: bool
automount_unit:
  description: The C(.automount) unit systemd generates for the mount point.
  returned: on Linux
  type: str
  sample: mnt-fortress.automount
pending_remount:
  description: The mount was busy and O(on_busy=next_automount) left it with the old credentials/options.
  returned: on Linux
  type: bool
plist:
  description: The LaunchAgent file (macOS).
  returned: on macOS
  type: str
  sample: /Users/crtr/Library/LaunchAgents/la.colab.cluster.samba.fortress.plist
"""

import os
import platform
import pwd
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.colab.cluster.plugins.module_utils._bounded import run_bounded
from ansible_collections.colab.cluster.plugins.module_utils._samba import (
    REDACTED,
    build_cifs_options,
    credentials_path,
    find_entry,
    fstab_entry_matches,
    kernel_supports,
    keychain_locked_argv,
    keychain_lookup_argv,
    keychain_script,
    launchd_label,
    live_mount_matches,
    mount_input_problems,
    parse_findmnt_json,
    parse_mount_table,
    parse_systemctl_show,
    probe_tcp,
    read_text,
    redact_credentials,
    render_credentials,
    render_fstab_line,
    render_launch_agent,
    says_busy,
    says_module_missing,
    says_no_cifs,
    server_of,
    set_fstab_entry,
    systemd_escape_path,
    write_file,
    write_private_file,
)

PROC_FILESYSTEMS = "/proc/filesystems"
SYSTEMD_RUNTIME = "/run/systemd/system"
# systemd starts .automount units only where this node exists (recorded without it: "Operation on
# or unit type of ... not supported on this system"); /proc/filesystems is no answer, since a
# stock Debian kernel lists autofs only once the module is loaded.
DEV_AUTOFS = "/dev/autofs"

# launchctl bootstrap right after a bootout: "Bootstrap failed: 5: Input/output error" while launchd
# still tears the old job down; tried again this many times, this many seconds apart
BOOTSTRAP_BUSY = 5
BOOTSTRAP_ATTEMPTS = 5
BOOTSTRAP_DELAY = 2

NO_CIFS = ("the kernel cannot mount CIFS: %s. Nothing was unmounted. Use state=present to write the fstab "
           "line and the credentials file only, or run on a kernel with CIFS (Debian's kernels load the cifs "
           "module on first use)")


NO_AUTOFS = ("systemd cannot start %s here: %s does not exist, and systemd runs automount units only where "
             "it does (the kernel offers no autofs to this system; a container gets it only from a host that "
             "has it, with --device /dev/autofs). Nothing was written. Use state=present to write the fstab line "
             "and the credentials file only, or automount=false to mount without an automount")


class LinuxHost:
    """The seam between the module and the kernel: every mount, umount, findmnt, systemctl and
    modprobe call goes through here, each bounded by run_bounded (timeout(1)). Unit tests answer these calls
    with outputs recorded from the real programs (tests/unit/plugins/fixtures/samba_mount)."""

    def __init__(self, module, fail):
        self.module = module
        self.timeout = module.params["timeout"]
        self.fail = fail

    def run(self, argv, what, check=True):
        rc, out, err, timed_out = run_bounded(self.module, argv, self.timeout)
        if timed_out:
            self.fail("%s did not finish within %ss" % (what, self.timeout))
        if check and rc != 0:
            self.fail("%s failed (rc=%s): %s" % (what, rc, (err or out).strip()), rc=rc)
        return rc, out, err

    def systemd(self):
        return os.path.isdir(SYSTEMD_RUNTIME)

    def mounts(self, path):
        """Every filesystem mounted at ``path``, bottom first (an automount's autofs, then the mount)."""
        rc, out, err = self.run(["findmnt", "-J", "-l", "-o", "TARGET,SOURCE,FSTYPE,OPTIONS", "--mountpoint", path],
                                "findmnt", check=False)
        if rc not in (0, 1):
            self.fail("findmnt --mountpoint %s failed (rc=%s): %s" % (path, rc, (err or out).strip()), rc=rc)
        return parse_findmnt_json(out)

    def unit(self, name):
        _rc, out, _err = self.run(["systemctl", "show", "-p", "Id,LoadState,ActiveState,SubState,UnitFileState",
                                   name], "systemctl show %s" % name)
        return parse_systemctl_show(out)

    def systemctl(self, *args):
        self.run(["systemctl"] + list(args), "systemctl %s" % " ".join(args))

    def filesystems(self):
        return read_text(PROC_FILESYSTEMS) or ""

    def modprobe(self, dry_run):
        """(loadable, message): try to load (or, in check mode, resolve) the cifs module."""
        binary = self.module.get_bin_path("modprobe", opt_dirs=["/usr/sbin", "/sbin"])
        if binary is None:
            return None, "modprobe is not installed"
        rc, out, err = self.run([binary] + (["-n"] if dry_run else []) + ["cifs"], "modprobe cifs", check=False)
        return rc == 0, (err or out).strip()

    def mount(self, path):
        # mount by mount point: mount(8) takes source, type and options from fstab
        return self.run(["mount", path], "mount %s" % path, check=False)

    def umount(self, path, lazy=False):
        return self.run(["umount"] + (["-l"] if lazy else []) + [path], "umount %s" % path, check=False)


class LinuxMount:
    """fstab line + credentials file + live mount (or systemd automount) for one mount point."""

    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.path = os.path.normpath(self.p["path"])
        self.cred = self.p["credentials_file"] or credentials_path(self.p["credentials_dir"], self.path)
        self.actions = []
        self.diff_before = {}
        self.diff_after = {}
        self.result = {"changed": False, "credentials_file": self.cred, "fstab_changed": False,
                       "credentials_changed": False, "pending_remount": False}
        self.host = LinuxHost(module, self.fail)
        self.unit = systemd_escape_path(self.path) + ".automount"
        self.result["automount_unit"] = self.unit
        self._cifs_checked = False
        self.use_automount = False

    def fail(self, msg, **extra):
        self.result.update(actions=self.actions)
        self.module.fail_json(msg=msg, **dict(self.result, **extra))

    # -- reading ------------------------------------------------------------------------
    def wanted_opts(self):
        return build_cifs_options(self.cred, uid=self.p["uid"], gid=self.p["gid"], vers=self.p["vers"],
                                  file_mode=self.p["file_mode"], dir_mode=self.p["dir_mode"],
                                  extra=self.p["opts"], automount=self.p["automount"],
                                  idle_timeout=self.p["idle_timeout"])

    # -- pieces -------------------------------------------------------------------------
    def ensure_credentials(self):
        wanted = render_credentials(self.p["username"], self.p["password"], self.p["domain"])
        current = read_text(self.cred)
        st = os.stat(self.cred) if current is not None else None
        content_differs = current != wanted
        perms_differ = st is not None and ((st.st_mode & 0o7777) != 0o600 or st.st_uid != 0 or st.st_gid != 0)
        if content_differs:
            self.diff_before["credentials"] = redact_credentials(current) if current is not None else ""
            self.diff_after["credentials"] = redact_credentials(wanted)
            if current is not None and redact_credentials(current) == redact_credentials(wanted):
                # only the password differs: show that it changes without showing it
                self.diff_before["credentials"] = self.diff_before["credentials"].replace(REDACTED, REDACTED + " (old)")
            self.actions.append("write credentials")
            self.result["credentials_changed"] = True
            if not self.module.check_mode:
                directory = os.path.dirname(self.cred)
                if not os.path.isdir(directory):
                    os.makedirs(directory, 0o700)
                write_private_file(self.module, self.cred, wanted)
        if (content_differs or perms_differ) and not self.module.check_mode:
            os.chown(self.cred, 0, 0)
            os.chmod(self.cred, 0o600)
        if perms_differ and not content_differs:
            self.actions.append("fix credentials owner/mode")
        return content_differs

    def remove_credentials(self):
        if os.path.exists(self.cred):
            self.actions.append("remove credentials")
            self.result["credentials_changed"] = True
            self.diff_before["credentials"] = redact_credentials(read_text(self.cred))
            self.diff_after["credentials"] = ""
            if not self.module.check_mode:
                os.unlink(self.cred)

    def ensure_fstab(self, remove=False):
        fstab = self.p["fstab"]
        text = read_text(fstab) or ""
        entry = find_entry(parse_mount_table(text), self.path)
        if remove:
            line = None
            if entry is None:
                return False
        else:
            opts = self.wanted_opts()
            line = render_fstab_line(self.p["src"], self.path, "cifs", opts)
            self.result["fstab_line"] = line
            if fstab_entry_matches(entry, self.p["src"], "cifs", opts):
                return False
        new_text = set_fstab_entry(text, self.path, line)
        self.diff_before["fstab"] = text
        self.diff_after["fstab"] = new_text
        self.actions.append("remove fstab line" if remove else "write fstab line")
        self.result["fstab_changed"] = True
        if not self.module.check_mode:
            mode = os.stat(fstab).st_mode & 0o7777 if os.path.exists(fstab) else 0o644
            write_file(self.module, fstab, new_text, mode)
        return True

    def act(self, action, *systemctl_args):
        self.actions.append(action)
        if not self.module.check_mode and systemctl_args:
            self.host.systemctl(*systemctl_args)

    def check_cifs(self):
        """Fail with NO_CIFS, before anything is unmounted, only when the kernel truly lacks CIFS.

        /proc/filesystems lists cifs only once the module is loaded; Debian's kernels load it on the
        first mount (request_module("fs-cifs")). So an absent line is not an answer: modprobe is
        asked (``-n`` in check mode and for automounts, which mount later), and only its "not
        found" is taken as the kernel lacking CIFS. Without modprobe, the mount's own error says it.
        """
        if self._cifs_checked or kernel_supports("cifs", self.host.filesystems()):
            return
        self._cifs_checked = True
        loadable, message = self.host.modprobe(dry_run=self.module.check_mode or self.use_automount)
        if loadable is False and says_module_missing(message):
            self.fail(NO_CIFS % ("'cifs' is not loaded and modprobe cannot find it (%s)" % message))

    def check_autofs(self):
        """Fail with NO_AUTOFS, before anything is written, when systemd could not start the automount."""
        if not os.path.exists(DEV_AUTOFS):
            self.fail(NO_AUTOFS % (self.unit, DEV_AUTOFS))

    def unmount(self, entry, on_busy):
        """Unmount ``entry``; on a busy mount follow ``on_busy``. True when it is gone (or will be)."""
        self.actions.append("unmount")
        if self.module.check_mode:
            return True
        rc, out, err = self.host.umount(self.path)
        if rc == 0:
            return True
        text = (err or out).strip()
        if not says_busy(text):
            self.fail("umount %s failed (rc=%s): %s" % (self.path, rc, text), rc=rc)
        if on_busy == "lazy":
            self.actions.append("lazy unmount (busy)")
            rc, out, err = self.host.umount(self.path, lazy=True)
            if rc != 0:
                self.fail("umount -l %s failed (rc=%s): %s" % (self.path, rc, (err or out).strip()), rc=rc)
            return True
        if on_busy == "next_automount":
            self.actions.remove("unmount")
            self.actions.append("remount deferred (busy)")
            self.result["pending_remount"] = True
            self.module.warn(
                "%s is busy: the new credentials/options are written and take effect at its next mount (the "
                "automount's next trigger after it is unmounted, or the next boot). Until then the live mount "
                "keeps its SMB session and the old credentials. on_busy=lazy detaches it now." % self.path)
            return False
        self.fail("%s is busy (%s): the new credentials/options are written but the live mount still uses "
                  "the old ones. Close what uses it, or choose on_busy=lazy or on_busy=next_automount"
                  % (self.path, text))

    def probe_server(self):
        """The server answers on its SMB port, or the run stops here, before anything is written:
        an fstab line and credentials for a share that does not answer are not a converged client."""
        server = server_of(self.p["src"])
        reason = probe_tcp(server, self.p["port"], self.p["timeout"])
        if reason is not None:
            self.fail("the SMB server %s (smbd) does not answer on TCP %s: %s. Nothing was written, mounted or "
                      "unmounted. Start smbd on %s, or set probe=false to write the fstab line and the "
                      "credentials file for a server that is down" % (server, self.p["port"], reason, server))

    def mount_now(self):
        self.check_cifs()
        self.actions.append("mount")
        if self.module.check_mode:
            return
        if not os.path.isdir(self.path):
            os.makedirs(self.path, 0o755)
        rc, out, err = self.host.mount(self.path)
        text = (err or out).strip()
        if rc != 0 and says_no_cifs(text):
            self.fail(NO_CIFS % ("mount %s said: %s" % (self.path, text)), rc=rc)
        if rc != 0:
            self.fail("mount %s failed (rc=%s): %s" % (self.path, rc, text), rc=rc)

    # -- states -------------------------------------------------------------------------
    def apply(self):
        state = self.p["state"]
        systemd = self.host.systemd()
        self.use_automount = bool(self.p["automount"] and systemd)
        entries = self.host.mounts(self.path)
        autofs = [e for e in entries if e["fstype"] == "autofs"]
        live = [e for e in entries if e["fstype"] != "autofs"]
        top = live[-1] if live else None
        unit = self.host.unit(self.unit) if systemd else {}
        unit_active = unit.get("ActiveState") == "active"
        self.result["automount"] = bool(autofs) or unit_active
        self.diff_before["mounted"] = top is not None
        self.diff_before["automount"] = self.result["automount"]
        mounted = top is not None
        if state in ("mounted", "present"):
            if state == "mounted":
                self.check_cifs()
                if self.use_automount and not unit_active:
                    self.check_autofs()
            if self.p["probe"]:
                self.probe_server()
            cred_changed = self.ensure_credentials()
            fstab_changed = self.ensure_fstab()
            if fstab_changed and systemd:
                # fstab is what systemd-fstab-generator turns into the .mount/.automount units
                self.act("systemctl daemon-reload", "daemon-reload")
            pending = False
            if top is not None and not live_mount_matches(top, self.p["src"], "cifs"):
                if state == "mounted":
                    # another filesystem at our mount point: never lazily detach what is not ours
                    self.unmount(top, "fail")
                    mounted = False
            elif top is not None and (cred_changed or fstab_changed):
                # new credentials or options only reach the kernel on a fresh mount
                if self.unmount(top, self.p["on_busy"]):
                    mounted = False
                else:
                    pending = True
            if self.use_automount and state == "mounted":
                if not unit_active:
                    self.act("start %s" % self.unit, "start", self.unit)
                elif fstab_changed and not pending:
                    self.act("restart %s" % self.unit, "restart", self.unit)
                self.result["automount"] = True
            elif self.use_automount and unit_active and fstab_changed and not pending:
                self.act("restart %s" % self.unit, "restart", self.unit)
            elif state == "mounted" and not mounted:
                self.mount_now()
                mounted = True
            if not self.p["automount"] and unit_active:
                # the fstab line no longer asks for an automount: its unit goes with the reload
                self.act("stop %s" % self.unit, "stop", self.unit)
                self.result["automount"] = False
        else:  # unmounted, absent
            if top is not None:
                if self.unmount(top, "lazy" if self.p["on_busy"] == "lazy" else "fail"):
                    mounted = False
            if unit_active or autofs:
                # systemctl disable has no effect on units generated from fstab (recorded): stopping
                # the unit removes the autofs mount now; absent removes the fstab line it comes from
                if systemd:
                    self.act("stop %s" % self.unit, "stop", self.unit)
                else:
                    self.unmount(autofs[-1], "fail")
                self.result["automount"] = False
            if state == "absent":
                if self.ensure_fstab(remove=True) and systemd:
                    self.act("systemctl daemon-reload", "daemon-reload")
                self.remove_credentials()
                if os.path.isdir(self.path) and not os.path.ismount(self.path) and not os.listdir(self.path):
                    self.actions.append("remove mount point")
                    if not self.module.check_mode:
                        os.rmdir(self.path)
        self.diff_after["mounted"] = mounted
        self.diff_after["automount"] = self.result["automount"]
        self.result.update(changed=bool(self.actions), mounted=mounted, actions=self.actions)
        if self.module._diff:
            self.result["diff"] = {"before": self.diff_before, "after": self.diff_after}
        return self.result


class MacMount:
    """LaunchAgent + login Keychain item for one mount point."""

    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.path = os.path.normpath(self.p["path"])
        self.label = self.p["label"] or launchd_label(self.path)
        self.actions = []
        try:
            self.user = pwd.getpwnam(self.p["macos_user"])
        except KeyError:
            module.fail_json(msg="macos_user %r does not exist on this Mac" % self.p["macos_user"])
        self.plist = os.path.join(self.user.pw_dir, "Library", "LaunchAgents", self.label + ".plist")
        self.domain = "gui/%d" % self.user.pw_uid
        self.last_err = ""
        self.server = server_of(self.p["src"] or "")
        self.result = {"changed": False, "plist": self.plist, "credentials_changed": False}
        self.check_path()

    def check_path(self):
        share = self.p["src"].replace("\\", "/").strip("/").split("/", 1)[1] if self.p["src"] else None
        if share is not None and self.path != "/Volumes/" + share:
            self.module.fail_json(msg="path must be /Volumes/%s on macOS: `mount volume` mounts a share at "
                                      "/Volumes/<share name> itself, got %r" % (share, self.path))
        if "'" in self.path:
            self.module.fail_json(msg="path must not contain a single quote on macOS")

    def as_user(self, argv):
        """The login Keychain and the gui/<uid> domain belong to the user's login session. As root
        (become over ssh), run in that session's bootstrap context and as the user: launchctl(1)
        ``asuser UID command``: "It does not modify the process' credentials (UID, GID, etc.)", hence
        the sudo inside it."""
        if os.geteuid() == 0 and self.user.pw_uid != 0:
            return (["/bin/launchctl", "asuser", str(self.user.pw_uid), "/usr/bin/sudo", "-n", "-u",
                     self.user.pw_name, "-H"] + argv)
        return argv

    def run(self, argv, what, data=None, check=True):
        # macOS has no timeout(1): run_bounded ends the command itself there
        rc, out, err, timed_out = run_bounded(self.module, self.as_user(argv), self.p["timeout"], data=data,
                                              binary_data=data is not None)
        if timed_out:
            self.module.fail_json(msg="%s did not finish within %ss" % (what, self.p["timeout"]), **self.result)
        if check and rc != 0:
            self.module.fail_json(msg="%s failed (rc=%s): %s" % (what, rc, (err or out).strip()), rc=rc, **self.result)
        self.last_err = err
        return rc, out

    def bootstrap(self):
        """launchd finishes a bootout asynchronously: a bootstrap right after it can answer
        "Bootstrap failed: 5: Input/output error". Try again, BOOTSTRAP_ATTEMPTS times at most."""
        argv = ["/bin/launchctl", "bootstrap", self.domain, self.plist]
        for attempt in range(1, BOOTSTRAP_ATTEMPTS + 1):
            rc, out = self.run(argv, "launchctl bootstrap", check=False)
            if rc != BOOTSTRAP_BUSY:
                break
            if attempt < BOOTSTRAP_ATTEMPTS:
                time.sleep(BOOTSTRAP_DELAY)
        if rc == BOOTSTRAP_BUSY:
            self.module.fail_json(msg="launchctl bootstrap failed (rc=5) %d attempts, %ss apart: %s"
                                      % (BOOTSTRAP_ATTEMPTS, BOOTSTRAP_DELAY, self.last_err.strip()),
                                  rc=rc, **self.result)
        if rc != 0:
            self.module.fail_json(msg="launchctl bootstrap failed (rc=%s): %s" % (rc, (self.last_err or out).strip()),
                                  rc=rc, **self.result)

    def keychain_password(self):
        rc, out = self.run(keychain_lookup_argv(self.server, self.p["username"]), "security find-internet-password",
                           check=False)
        return out.rstrip("\n") if rc == 0 else None

    def loaded(self):
        rc, _out = self.run(["/bin/launchctl", "print", "%s/%s" % (self.domain, self.label)], "launchctl print",
                            check=False)
        return rc == 0

    def is_mounted(self):
        """What mount(8) shows: an smbfs filesystem at the mount point ("<src> on <path> (smbfs, ...)")."""
        rc, out = self.run(["/sbin/mount"], "mount", check=False)
        return rc == 0 and (" on %s (smbfs" % self.path) in out

    def wait_mounted(self):
        """The agent mounts in the background (RunAtLoad): look once a second, up to ``timeout`` s."""
        deadline = time.monotonic() + self.p["timeout"]
        while not self.is_mounted():
            if time.monotonic() >= deadline:
                return False
            time.sleep(1)
        return True

    def apply(self):
        state = self.p["state"]
        diff_before, diff_after = {}, {}
        if state in ("mounted", "present"):
            if self.keychain_password() != self.p["password"]:
                rc, _out = self.run(keychain_locked_argv(), "security show-keychain-info", check=False)
                if rc != 0:
                    self.module.fail_json(
                        msg="the login Keychain of %s is locked (usual over ssh), so the password cannot be "
                            "stored: log in to the Mac's desktop as %s (or run `security unlock-keychain` in "
                            "that session) and run again. Nothing was changed."
                            % (self.user.pw_name, self.user.pw_name), **self.result)
                self.actions.append("store password in the login Keychain")
                self.result["credentials_changed"] = True
                diff_before["keychain"], diff_after["keychain"] = "(other or none)", REDACTED
                if not self.module.check_mode:
                    script = keychain_script(self.server, self.p["username"], self.p["password"])
                    self.run(["/usr/bin/security", "-i"], "security -i add-internet-password", data=script)
            wanted = render_launch_agent(self.label, self.p["src"], self.p["username"], self.path,
                                         self.p["retry_interval"])
            current = None
            if os.path.exists(self.plist):
                with open(self.plist, "rb") as handle:
                    current = handle.read()
            plist_changed = current != wanted
            if plist_changed:
                self.actions.append("write LaunchAgent")
                diff_before["plist"] = (current or b"").decode("utf-8", "replace")
                diff_after["plist"] = wanted.decode("utf-8")
                if not self.module.check_mode:
                    directory = os.path.dirname(self.plist)
                    if not os.path.isdir(directory):
                        os.makedirs(directory, 0o755)
                        os.chown(directory, self.user.pw_uid, self.user.pw_gid)
                    write_file(self.module, self.plist, wanted.decode("utf-8"), 0o644)
                    os.chown(self.plist, self.user.pw_uid, self.user.pw_gid)
            if state == "mounted":
                loaded = self.loaded()
                if loaded and (plist_changed or self.result["credentials_changed"]):
                    self.actions.append("launchctl bootout")
                    if not self.module.check_mode:
                        self.run(["/bin/launchctl", "bootout", "%s/%s" % (self.domain, self.label)],
                                 "launchctl bootout")
                    loaded = False
                if not loaded:
                    self.actions.append("launchctl bootstrap")
                    if not self.module.check_mode:
                        self.bootstrap()
        else:
            if self.loaded():
                self.actions.append("launchctl bootout")
                if not self.module.check_mode:
                    self.run(["/bin/launchctl", "bootout", "%s/%s" % (self.domain, self.label)], "launchctl bootout")
            if self.is_mounted():
                self.actions.append("unmount")
                if not self.module.check_mode:
                    self.run(["/sbin/umount", self.path], "umount %s" % self.path)
            if state == "absent":
                if os.path.exists(self.plist):
                    self.actions.append("remove LaunchAgent")
                    if not self.module.check_mode:
                        os.unlink(self.plist)
                if self.p["username"] and self.server and self.keychain_password() is not None:
                    self.actions.append("delete Keychain item")
                    self.result["credentials_changed"] = True
                    if not self.module.check_mode:
                        self.run(["/usr/bin/security", "delete-internet-password", "-a", self.p["username"],
                                  "-s", self.server, "-r", "smb "], "security delete-internet-password")
        if state == "mounted" and "launchctl bootstrap" in self.actions and not self.module.check_mode:
            mounted = self.wait_mounted()
        else:
            mounted = self.is_mounted()
        if state == "mounted" and not mounted and not self.module.check_mode:
            self.module.warn("the LaunchAgent %s is loaded, but mount shows no smbfs at %s after %ss; it tries "
                             "again every %ss (its errors: /tmp/%s.err)"
                             % (self.label, self.path, self.p["timeout"], self.p["retry_interval"], self.label))
        self.result.update(changed=bool(self.actions), actions=self.actions, mounted=mounted)
        if self.module._diff:
            self.result["diff"] = {"before": diff_before, "after": diff_after}
        return self.result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            src=dict(type="str"),
            state=dict(type="str", default="mounted", choices=["mounted", "present", "unmounted", "absent"]),
            username=dict(type="str"),
            password=dict(type="str", no_log=True),
            domain=dict(type="str"),
            credentials_dir=dict(type="path", default="/etc/samba/credentials"),
            credentials_file=dict(type="path"),
            uid=dict(type="str"),
            gid=dict(type="str"),
            file_mode=dict(type="str"),
            dir_mode=dict(type="str"),
            vers=dict(type="str", default="3.1.1"),
            automount=dict(type="bool", default=True),
            idle_timeout=dict(type="int", default=600),
            opts=dict(type="list", elements="str", default=[]),
            fstab=dict(type="path", default="/etc/fstab"),
            timeout=dict(type="int", default=30),
            probe=dict(type="bool", default=True),
            port=dict(type="int", default=445),
            macos_user=dict(type="str"),
            label=dict(type="str"),
            retry_interval=dict(type="int", default=300),
            on_busy=dict(type="str", default="next_automount", choices=["next_automount", "lazy", "fail"]),
        ),
        required_if=[
            ("state", "mounted", ("src", "username", "password")),
            ("state", "present", ("src", "username", "password")),
        ],
        supports_check_mode=True,
    )
    p = module.params
    # every field that reaches fstab, the credentials file or a plist, checked before anything
    # is read or written (a newline would add a line, a space or comma would end a field)
    problems = mount_input_problems(p)
    if problems:
        module.fail_json(msg="; ".join(problems), problems=problems)
    if p["state"] in ("mounted", "present") and platform.system() == "Linux":
        directory = os.path.dirname(p["fstab"]) or "."
        if not os.path.isdir(directory):
            module.fail_json(msg="fstab: the directory %s does not exist; nothing was written" % directory)

    system = platform.system()
    if system == "Linux":
        result = LinuxMount(module).apply()
    elif system == "Darwin":
        if not p["macos_user"]:
            module.fail_json(msg="macos_user is required on macOS (the GUI user whose LaunchAgent and Keychain are used)")
        result = MacMount(module).apply()
    else:
        module.fail_json(msg="samba_mount supports Linux and macOS, not %s" % system)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

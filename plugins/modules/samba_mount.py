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
    C(x-systemd.automount). Options are compared as a set, so their order never causes a change.
    The password lives only in a per-mount credentials file, root-only C(0600), written atomically."
  - "B(Linux), O(state=mounted): the live mount (from C(/proc/mounts)) is compared with the wanted
    source and type; a wrong mount is unmounted and mounted again, and the share is remounted when
    the credentials file changed. Before mounting, the module checks that the kernel lists C(cifs)
    in C(/proc/filesystems) and that the server answers on TCP 445; each failure is reported as such,
    not as a raw mount error. Every mount/umount runs under C(timeout(1))."
  - "B(macOS): writes a LaunchAgent for the GUI user O(macos_user) that runs C(mount_smbfs -N)
    (no password on its command line), stores the password in that user's login Keychain through
    C(security -i) fed on stdin (the password never reaches argv), and loads the agent with
    C(launchctl bootstrap gui/<uid>). The states map to: V(mounted) and V(present) write the
    Keychain item and the plist, V(mounted) also loads the agent; V(unmounted) unloads it and
    unmounts; V(absent) also removes the plist and the Keychain item."
  - The password is never returned and is redacted in diffs.
author:
  - colab.cluster developers (@colab)
requirements:
  - "Linux: C(mount.cifs) (package C(cifs-utils)) for O(state=mounted), coreutils C(timeout)."
  - "macOS: C(/usr/bin/security), C(/bin/launchctl), C(/sbin/mount_smbfs) (all part of the OS)."
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
    description: Mount point, for example C(/mnt/fortress) or C(/Volumes/fortress).
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
  opts:
    description: More mount options (Linux). A password option is refused.
    type: list
    elements: str
    default: []
  fstab:
    description: The fstab file (Linux). Only tests should change it.
    type: path
    default: /etc/fstab
  timeout:
    description: Seconds allowed for each mount, umount, launchctl or security call, and for the TCP probe.
    type: int
    default: 30
  probe:
    description: Before mounting, check that the server accepts TCP connections on O(port).
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
notes:
  - "These build machines have no kernel CIFS (C(cifs) is not in C(/proc/filesystems)): there the
    module fails O(state=mounted) with exactly that reason, and O(state=present) is what works."
  - "The macOS branch is covered by unit tests only (no Mac is available to the project's tests).
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
    credentials=/etc/samba/credentials/mnt-fortress.cred,uid=1000,gid=1000,vers=3.1.1,_netdev,nofail,x-systemd.automount 0 0
credentials_file:
  description: The credentials file (Linux).
  returned: on Linux
  type: str
  sample: /etc/samba/credentials/mnt-fortress.cred
fstab_changed:
  description: Whether the fstab line was added, changed or removed (run C(systemctl daemon-reload) then).
  returned: on Linux
  type: bool
credentials_changed:
  description: Whether the credentials (file or Keychain item) were written or removed.
  returned: always
  type: bool
mounted:
  description: Whether the share is mounted at O(path) after the run (predicted in check mode).
  returned: always
  type: bool
actions:
  description: What was done (or would be done in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: [write credentials, write fstab line, mount]
plist:
  description: The LaunchAgent file (macOS).
  returned: on macOS
  type: str
  sample: /Users/crtr/Library/LaunchAgents/la.colab.cluster.samba.fortress.plist
"""

import os
import platform
import pwd

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.colab.cluster.plugins.module_utils._samba import (
    REDACTED,
    TIMED_OUT,
    bounded,
    build_cifs_options,
    credentials_path,
    find_entry,
    forbidden_options,
    fstab_entry_matches,
    kernel_supports,
    keychain_lookup_argv,
    keychain_script,
    launchd_label,
    live_mount_matches,
    parse_mount_table,
    probe_tcp,
    read_text,
    redact_credentials,
    render_credentials,
    render_fstab_line,
    render_launch_agent,
    server_of,
    set_fstab_entry,
    write_file,
    write_private_file,
)

PROC_MOUNTS = "/proc/mounts"
PROC_FILESYSTEMS = "/proc/filesystems"

NO_CIFS = ("the kernel cannot mount CIFS: 'cifs' is not listed in /proc/filesystems (no cifs module "
           "is loaded or loadable on this host). Use state=present to write the fstab line and the "
           "credentials file only, or mount the share on a kernel with CIFS support")


class LinuxMount:
    """fstab line + credentials file + live mount for one mount point."""

    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.path = os.path.normpath(self.p["path"])
        self.cred = self.p["credentials_file"] or credentials_path(self.p["credentials_dir"], self.path)
        self.actions = []
        self.diff_before = {}
        self.diff_after = {}
        self.result = {"changed": False, "credentials_file": self.cred, "fstab_changed": False,
                       "credentials_changed": False}

    # -- reading ------------------------------------------------------------------------
    def wanted_opts(self):
        return build_cifs_options(self.cred, uid=self.p["uid"], gid=self.p["gid"], vers=self.p["vers"],
                                  file_mode=self.p["file_mode"], dir_mode=self.p["dir_mode"],
                                  extra=self.p["opts"], automount=self.p["automount"])

    def live_entry(self):
        return find_entry(parse_mount_table(read_text(PROC_MOUNTS) or ""), self.path)

    def run(self, argv, what):
        rc, out, err = self.module.run_command(bounded(argv, self.p["timeout"]))
        if rc in TIMED_OUT:
            self.module.fail_json(msg="%s did not finish within %ss" % (what, self.p["timeout"]), **self.result)
        if rc != 0:
            self.module.fail_json(msg="%s failed (rc=%s): %s" % (what, rc, (err or out).strip()), rc=rc, **self.result)

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

    def umount(self):
        self.actions.append("unmount")
        if not self.module.check_mode:
            self.run(["umount", self.path], "umount %s" % self.path)

    def mount(self):
        fs_text = read_text(PROC_FILESYSTEMS) or ""
        if not kernel_supports("cifs", fs_text):
            self.module.fail_json(msg=NO_CIFS, **self.result)
        if self.p["probe"]:
            server = server_of(self.p["src"])
            reason = probe_tcp(server, self.p["port"], self.p["timeout"])
            if reason is not None:
                self.module.fail_json(msg="the SMB server %s does not answer on TCP %s: %s"
                                      % (server, self.p["port"], reason), **self.result)
        self.actions.append("mount")
        if not self.module.check_mode:
            if not os.path.isdir(self.path):
                os.makedirs(self.path, 0o755)
            # mount by mount point: mount(8) takes source, type and options from fstab
            self.run(["mount", self.path], "mount %s" % self.path)

    # -- states -------------------------------------------------------------------------
    def apply(self):
        state = self.p["state"]
        live = self.live_entry()
        is_mounted = live is not None
        self.diff_before["mounted"] = is_mounted
        if state in ("mounted", "present"):
            cred_changed = self.ensure_credentials()
            fstab_changed = self.ensure_fstab()
            if state == "mounted":
                if is_mounted and not live_mount_matches(live, self.p["src"], "cifs"):
                    self.umount()
                    self.mount()
                elif is_mounted and (cred_changed or fstab_changed):
                    # new credentials or options only reach the kernel on a fresh mount
                    self.umount()
                    self.mount()
                elif not is_mounted:
                    self.mount()
                is_mounted = True
        elif state == "unmounted":
            if is_mounted:
                self.umount()
                is_mounted = False
        else:  # absent
            if is_mounted:
                self.umount()
                is_mounted = False
            self.ensure_fstab(remove=True)
            self.remove_credentials()
            if os.path.isdir(self.path) and not os.listdir(self.path):
                self.actions.append("remove mount point")
                if not self.module.check_mode:
                    os.rmdir(self.path)
        self.diff_after["mounted"] = is_mounted
        self.result.update(changed=bool(self.actions), mounted=is_mounted, actions=self.actions)
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
        self.server = server_of(self.p["src"] or "")
        self.result = {"changed": False, "plist": self.plist, "credentials_changed": False}

    def as_user(self, argv):
        # Keychain and launchctl gui/ domain belong to the user: run there when we are root
        if os.geteuid() == 0 and self.user.pw_uid != 0:
            return ["/usr/bin/sudo", "-n", "-u", self.user.pw_name, "-H"] + argv
        return argv

    def run(self, argv, what, data=None, check=True):
        rc, out, err = self.module.run_command(bounded(self.as_user(argv), self.p["timeout"]), data=data,
                                               binary_data=data is not None)
        if rc in TIMED_OUT:
            self.module.fail_json(msg="%s did not finish within %ss" % (what, self.p["timeout"]), **self.result)
        if check and rc != 0:
            self.module.fail_json(msg="%s failed (rc=%s): %s" % (what, rc, (err or out).strip()), rc=rc, **self.result)
        return rc, out

    def keychain_password(self):
        rc, out = self.run(keychain_lookup_argv(self.server, self.p["username"]), "security find-internet-password",
                           check=False)
        return out.rstrip("\n") if rc == 0 else None

    def loaded(self):
        rc, _out = self.run(["/bin/launchctl", "print", "%s/%s" % (self.domain, self.label)], "launchctl print",
                            check=False)
        return rc == 0

    def is_mounted(self):
        rc, out = self.run(["/sbin/mount"], "mount", check=False)
        return rc == 0 and (" on %s " % self.path) in out

    def apply(self):
        state = self.p["state"]
        diff_before, diff_after = {}, {}
        if state in ("mounted", "present"):
            if self.keychain_password() != self.p["password"]:
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
                        self.run(["/bin/launchctl", "bootstrap", self.domain, self.plist], "launchctl bootstrap")
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
        self.result.update(changed=bool(self.actions), actions=self.actions,
                           mounted=state == "mounted" or (state == "present" and self.is_mounted()))
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
            opts=dict(type="list", elements="str", default=[]),
            fstab=dict(type="path", default="/etc/fstab"),
            timeout=dict(type="int", default=30),
            probe=dict(type="bool", default=True),
            port=dict(type="int", default=445),
            macos_user=dict(type="str"),
            label=dict(type="str"),
            retry_interval=dict(type="int", default=300),
        ),
        required_if=[
            ("state", "mounted", ("src", "username", "password")),
            ("state", "present", ("src", "username", "password")),
        ],
        supports_check_mode=True,
    )
    p = module.params
    if p["src"] is not None and not p["src"].replace("\\", "/").startswith("//"):
        module.fail_json(msg="src must look like //server/share, got %r" % p["src"])
    if p["src"] is not None and len([x for x in p["src"].replace("\\", "/").split("/") if x]) < 2:
        module.fail_json(msg="src must name a server and a share (//server/share), got %r" % p["src"])
    if p["timeout"] <= 0:
        module.fail_json(msg="timeout must be a positive number of seconds")
    if p["password"] is not None and ("\n" in p["password"] or "\r" in p["password"]):
        module.fail_json(msg="password must not contain a line break (credentials files and security -i are line based)")
    bad = forbidden_options(p["opts"])
    if bad:
        module.fail_json(msg="opts must not carry a password (%s): it belongs in the credentials file" % ", ".join(bad))

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

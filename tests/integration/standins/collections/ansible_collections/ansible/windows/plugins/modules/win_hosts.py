# Test-only stand-in: records its arguments and answers from the simulated Windows host.
"""ansible.windows.win_hosts on the simulated hosts file (state ``hosts_file``: its lines).

The line handling is transcribed from ansible.windows plugins/modules/win_hosts.ps1@3.3.0
for IPv4 addresses: comments start at ``#``; a line is ``ip canonical_name aliases...``;
``state: present`` with ``action: set`` keeps one line for (ip, canonical_name) whose
aliases are exactly the given ones, removes the name and aliases from lines of the same
ip with another canonical name, drops lines of another ip with the same canonical name
(or with one of the aliases as canonical name), and appends ``ip name aliases`` when no
line matches. ``state: absent`` removes the lines matching ip and/or canonical_name.
Only what the base role uses (IPv4, actions set) is simulated; anything else fails.
"""
from __future__ import annotations

import ipaddress
import re

from ansible_collections.colab_test.standins.plugins.module_utils.winhost import WinHost


def _comment_index(line):
    idx = line.find("#")
    return len(line) if idx < 0 else idx


def _parts(line):
    bits = line[:_comment_index(line)].strip().split()
    if len(bits) < 2:
        return None
    try:
        ip = str(ipaddress.ip_address(bits[0]))
    except ValueError:
        return None
    return {"ip": ip, "cname": bits[1], "aliases": bits[2:]}


def _remove_names(lines, idx, names):
    """Remove-HostnamesFromEntry: True when the whole line went away."""
    line = lines[idx]
    for name in names:
        match = re.compile(r"\s+%s(\s|$)" % re.escape(name), re.I).search(line, 0, _comment_index(line))
        if match:
            line = line[:match.start() + 1] + line[match.end():]
            if not re.search(r"\s", line[:_comment_index(line)].strip()):
                del lines[idx]
                return True
    lines[idx] = line
    return False


def main():
    host = WinHost("win_hosts")
    p = host.params
    lines = list(host.state.get("hosts_file", []))
    before = "\n".join(lines) + "\n"
    if p["state"] == "present" and p["action"] != "set":
        host.fail("stand-in: action %s is not simulated" % p["action"])
    if p["ip_address"]:
        try:
            if ipaddress.ip_address(p["ip_address"]).version != 4:
                host.fail("stand-in: only IPv4 is simulated")
        except ValueError:
            host.fail("win_hosts: Argument ip_address needs to be a valid ip address, but was %s" % p["ip_address"])
    aliases = p["aliases"] or []
    if p["state"] == "absent":
        lines = [line for line in lines if not (
            not line.strip().startswith("#") and _parts(line)
            and (not p["ip_address"] or _parts(line)["ip"] == p["ip_address"])
            and (not p["canonical_name"] or _parts(line)["cname"] == p["canonical_name"]))]
    else:
        if not (p["canonical_name"] and p["ip_address"]):
            host.fail("state is present but all of the following are missing: canonical_name, ip_address")
        ip, cname = str(ipaddress.ip_address(p["ip_address"])), p["canonical_name"]
        entry, idx = None, 0
        while idx < len(lines):
            line = lines[idx]
            parts = None if line.strip().startswith("#") else _parts(line)
            remove = []
            if parts and parts["ip"] == ip:
                if parts["cname"] == cname:
                    entry = idx
                    remove = [a for a in parts["aliases"] if a not in aliases]
                else:
                    remove = aliases + [cname]
            elif parts and (parts["cname"] == cname or parts["cname"] in aliases):
                del lines[idx]
                continue
            elif parts:
                remove = aliases + [cname]
            if remove and _remove_names(lines, idx, remove):
                if entry == idx:
                    entry = None
                continue
            idx += 1
        if entry is not None:
            current = _parts(lines[entry])["aliases"]
            line = lines[entry]
            for name in [a for a in aliases if a not in current]:
                cut = _comment_index(line)
                line = line[:cut] + " %s " % name + line[cut:]
            lines[entry] = line
        else:
            lines.append("%s %s %s" % (ip, cname, " ".join(aliases)))
    after = "\n".join(lines) + "\n"
    changed = after != before
    if changed and not host.module.check_mode:
        host.state["hosts_file"] = lines
        host.save()
    host.exit(changed=changed, diff={"before": before, "after": after})


if __name__ == "__main__":
    main()

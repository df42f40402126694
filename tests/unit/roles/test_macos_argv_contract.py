"""The macOS command lines the collection builds use only flags the commands' documentation lists.

No Mac is available here: the argv are the ones samba_mount's macOS branch issues (run through
the `mac` fixture and FakeMac double of tests/unit/plugins/modules/test_samba_mount.py, as root
in the module's eyes so the launchctl asuser / sudo wrapper is built too), the commands in the
LaunchAgent it writes and in the `security -i` script it feeds, and the literal `argv` of the
docker role's macOS tasks. SYNTAX below is transcribed by hand (not read off a Mac by this test),
and each entry's `source` says from what:

- "transcribed from <repo> <path>@<tag> (<commit>)": the man page or usage text in a public
  repository, read there; the entry lists only flags that text documents, most of them the ones
  used. Apple publishes these as the sources of its releases, but a tag is not tied to one macOS
  version here: a flag added or dropped in a later macOS would not show.
- "from Apple's published man page text, not checked against a source here": no public source
  was found: osascript(1), open(1), and launchctl's bootstrap / bootout / print (the last public
  launchd, 842.92.1, has none of the three in this form: its `bootstrap` is an older command of
  another syntax); these entries are as unverified as they say.

sudo is read from the sudo project at a 1.9 tag, not from Apple's build of it; plutil from the
Swift plutil in swift-corelibs-foundation, not from /usr/bin/plutil, whose source is not public.

Options are parsed the way BSD getopt(3) does: they stop at the first operand, so a flag after an
operand is reported.

macOS's base system has no coreutils timeout(1): the module bounds its commands itself there
(plugins/module_utils/_bounded.py), so no argv starts with it. Not covered: Docker Desktop's
`install` and tailscale's CLI (no man page), Homebrew (driven through community.general
modules, not argv).
"""
from __future__ import annotations

import glob
import os
import plistlib
import re
import shlex

import pytest
import yaml

from ansible_collections.colab.cluster.plugins.module_utils._samba import keychain_script
from ansible_collections.colab.cluster.plugins.modules import samba_mount
from tests.helpers import ROOT
from tests.unit.plugins.modules.samba_helpers import run_module
from tests.unit.plugins.modules.test_samba_mount import FakeMac, mac  # noqa: F401  pylint: disable=unused-import

DOMAIN = re.compile(r"^(system|user/\d+|login/\d+|gui/\d+|pid/\d+)$")
SERVICE = re.compile(r"^(system|user/\d+|login/\d+|gui/\d+|pid/\d+)/[^/]+$")


def _domain_then_paths(operands):
    return bool(operands) and DOMAIN.match(operands[0]) and all(o.startswith("/") for o in operands[1:])


def _domain_or_service(operands):
    return len(operands) == 1 and bool(DOMAIN.match(operands[0]) or SERVICE.match(operands[0]))


def _bootout(operands):
    return _domain_or_service(operands) or _domain_then_paths(operands)


# Where each entry was read (docstring): repository, path, tag and commit.
SECURITY_1 = "transcribed from apple-oss-distributions/Security SecurityTool/macOS/security.1@Security-61901.0.87.0.1 (db15acb)"
LAUNCHCTL_1 = "transcribed from apple-oss-distributions/launchd man/launchctl.1@launchd-842.92.1 (49a9c79)"
LAUNCHCTL_C = "transcribed from apple-oss-distributions/launchd support/launchctl.c@launchd-842.92.1 (49a9c79)"
UNCHECKED = "from Apple's published man page text, not checked against a source here"
INTERNET_PASSWORD = ("-a", "-c", "-C", "-d", "-D", "-j", "-l", "-p", "-P", "-r", "-s", "-t")

# flags: take no argument; options: flag -> how many arguments it takes; operands: (min, max or None);
# check: what the operands must look like; command: the operands are a command line of its own.
SYNTAX = {
    "security": {
        "source": SECURITY_1 + ": security [-hilqv] [-p prompt] [command] [command_options] [command_args]",
        "flags": {"-h", "-i", "-l", "-q", "-v"}, "options": {"-p": 1}, "operands": (0, None),
        "subcommands": {
            "find-internet-password": {
                "source": SECURITY_1 + ": find-internet-password [-h] [-a account] [-s server] [options...] [-g] [keychain...]; "
                                       "options -a -c -C -d -D -j -l -p -P -r -s -t (one argument each), -g, -w",
                "flags": {"-h", "-g", "-w"}, "operands": (0, None), "options": dict.fromkeys(INTERNET_PASSWORD, 1)},
            "delete-internet-password": {
                "source": SECURITY_1 + ": delete-internet-password [-h] [-a account] [-s server] [options...] [keychain...]; "
                                       "options -a -c -C -d -D -j -l -p -P -r -s -t (one argument each)",
                "flags": {"-h"}, "operands": (0, None), "options": dict.fromkeys(INTERNET_PASSWORD, 1)},
            "add-internet-password": {
                "source": SECURITY_1 + ": add-internet-password [-h] [-a account] [-s server] [-w password] [options...] "
                                       "[-A|-T appPath] [keychain]; options -a -c -C -d -D -j -l -p -P -r -s -t -w -T -X "
                                       "(one argument each), -A, -U",
                "flags": {"-h", "-U", "-A"}, "operands": (0, 1),
                "options": dict.fromkeys(INTERNET_PASSWORD + ("-w", "-T", "-X"), 1)},
            "show-keychain-info": {
                "source": SECURITY_1 + ": show-keychain-info [keychain]",
                "flags": set(), "options": {}, "operands": (0, 1)},
        },
    },
    "launchctl": {
        "source": LAUNCHCTL_1 + ": launchctl [subcommand [arguments ...]]",
        "flags": set(), "options": {}, "operands": (0, None),
        "subcommands": {
            "bootstrap": {"source": UNCHECKED + " (launchctl(1), macOS 14): bootstrap domain-target [service-path ...]",
                          "flags": set(), "options": {}, "operands": (1, None), "check": _domain_then_paths},
            "bootout": {"source": UNCHECKED + " (launchctl(1), macOS 14): bootout domain-target [service-path ...] | service-target",
                        "flags": set(), "options": {}, "operands": (1, None), "check": _bootout},
            "print": {"source": UNCHECKED + " (launchctl(1), macOS 14): print domain-target | service-target",
                      "flags": set(), "options": {}, "operands": (1, 1), "check": _domain_or_service},
            "asuser": {"source": LAUNCHCTL_C + " (asuser_cmd's usage; the page there lacks it): "
                                               "launchctl asuser <UID> <command> [arguments...]",
                       "flags": set(), "options": {}, "operands": (2, None), "uid_then_command": True},
        },
    },
    "sudo": {"source": "transcribed from sudo-project/sudo docs/sudo.mdoc.in@SUDO_1_9_13p2 (dc7ad19): "
                       "sudo [-ABbEHnPS] [-C num] [-D directory] [-g group] [-h host] [-p prompt] [-R directory] "
                       "[-T timeout] [-u user] [VAR=value] [-i | -s] [command [arg ...]]; -k, with a command, "
                       "runs it without the cached credentials",
             "flags": {"-E", "-H", "-k", "-n", "-S"}, "options": {"-g": 1, "-u": 1}, "operands": (1, None), "command": True},
    "mount": {"source": "transcribed from apple-oss-distributions/diskdev_cmds mount.tproj/mount.8@diskdev_cmds-757 (cc6766b): "
                        "mount [-adfFrkuvw] [-t lfs | external_type]; mount [-dfFrkuvw] special | mount_point; "
                        "mount [-dfFrkuvw] [-o options] [-t lfs | external_type] special mount_point",
              "flags": {"-a", "-d", "-f", "-F", "-k", "-r", "-u", "-v", "-w"}, "options": {"-t": 1, "-o": 1},
              "operands": (0, 2)},
    "umount": {"source": "transcribed from apple-oss-distributions/diskdev_cmds umount.tproj/umount.8@diskdev_cmds-757 (cc6766b): "
                         "umount [-fv] special | node (its -a | -A form is not used here)",
               "flags": {"-f", "-v"}, "options": {}, "operands": (1, 1)},
    "grep": {"source": "transcribed from apple-oss-distributions/text_cmds grep/grep.1@text_cmds-199 (592aaf8): "
                       "grep [-abcdDEFGHhIiJLlMmnOopqRSsUVvwXxZz] [-A num] [-B num] [-C num] [-e pattern] [-f file] "
                       "... [pattern] [file ...] (a subset listed here)",
             "flags": {"-E", "-F", "-i", "-q", "-s", "-v"}, "options": {"-e": 1}, "operands": (0, None)},
    "osascript": {"source": UNCHECKED + " (osascript(1), macOS 14): osascript [-l language] [-i] [-s flags] "
                                        "[-e statement | programfile] [argument ...]",
                  "flags": {"-i"}, "options": {"-l": 1, "-s": 1, "-e": 1}, "operands": (0, None)},
    "sh": {"source": "transcribed from apple-oss-distributions/shell_cmds sh/sh.1@shell_cmds-329 (2987870): "
                     "sh [-/+abCEefhIimnPpTuVvx] [-/+o longname] -c string [name [arg ...]]; macOS's /bin/sh may run bash, "
                     "whose apple-oss-distributions/bash bash-3.2/doc/bash.1@bash-140 (e86b2aa) has -c, -e, -u, -x too",
           "flags": {"-c", "-e", "-u", "-x"}, "options": {}, "operands": (1, None)},
    "plutil": {"source": "transcribed from swiftlang/swift-corelibs-foundation Sources/plutil/PLUContext.swift@a285f15 "
                         "(the usage text of Apple's Swift plutil; /usr/bin/plutil's own source is not public): "
                         "-extract keypath fmt (fmt: xml1 binary1 json raw), -convert fmt (xml1 binary1 json swift objc), "
                         "-o path (the path '-' means stdout), -lint, -p, -s, -r, -n",
               "flags": {"-lint", "-p", "-s", "-r", "-n"}, "options": {"-extract": 2, "-convert": 1, "-o": 1, "-e": 1},
               "operands": (1, None),
               "choices": {"-extract": (None, {"xml1", "binary1", "json", "raw"}),
                           "-convert": ({"xml1", "binary1", "json", "swift", "objc"},)}},
    "open": {"source": UNCHECKED + " (open(1), macOS 14): open [-e] [-t] [-f] [-F] [-W] [-R] [-n] [-g] [-j] [-h] "
                                   "[-b bundle_identifier] [-a application] file ...",
             "flags": {"-e", "-t", "-f", "-F", "-W", "-R", "-n", "-g", "-j", "-h"}, "options": {"-a": 1, "-b": 1},
             "operands": (0, None)},
}


def templated(word):
    return "{{" in word or "{%" in word


def argv_problems(argv, syntax=None, name=None):
    """Where `argv` leaves what SYNTAX transcribed (an empty list: it keeps to it)."""
    argv = list(argv)
    if syntax is None:
        name = os.path.basename(argv[0])
        if name not in SYNTAX:
            return ["%s: no man page or usage text transcribed for it" % argv[0]]
        syntax, argv = SYNTAX[name], argv[1:]
    problems, operands, index = [], [], 0
    while index < len(argv):
        word = argv[index]
        if operands or not word.startswith("-") or word in ("-", "--") or templated(word):
            if word == "--" and not operands:
                index += 1
                operands.extend(argv[index:])
                break
            if operands and (word in syntax["flags"] or word in syntax["options"]):
                problems.append("%s %s: after an operand, getopt(3) takes it as an operand" % (name, word))
            operands.append(word)
            if syntax.get("command") or syntax.get("subcommands"):
                operands.extend(argv[index + 1:])
                break
        elif word in syntax["options"]:
            arity = syntax["options"][word]
            values = argv[index + 1:index + 1 + arity]
            if len(values) < arity:
                problems.append("%s %s: takes %d argument(s)" % (name, word, arity))
            for allowed, value in zip(syntax.get("choices", {}).get(word, ()), values):
                if allowed and value not in allowed and not templated(value):
                    problems.append("%s %s %r: not one of %s" % (name, word, value, sorted(allowed)))
            index += arity
        elif word in syntax["flags"] or (len(word) > 2 and all("-" + c in syntax["flags"] for c in word[1:])):
            pass
        else:
            problems.append("%s %s: not a flag %s lists (%s)" % (name, word, name, syntax["source"]))
        index += 1
    if syntax.get("subcommands") and operands:
        sub = syntax["subcommands"].get(operands[0])
        if sub is None:
            return problems + ["%s %s: not a subcommand transcribed for it" % (name, operands[0])]
        return problems + argv_problems(operands[1:], sub, "%s %s" % (name, operands[0]))
    low, high = syntax["operands"]
    if len(operands) < low or (high is not None and len(operands) > high):
        problems.append("%s: %d operand(s) %r, the page allows %s to %s" % (name, len(operands), operands, low, high))
    elif syntax.get("command"):
        problems += argv_problems(operands)
    elif syntax.get("uid_then_command"):
        if not operands[0].isdigit():
            problems.append("%s: %r is not a UID" % (name, operands[0]))
        problems += argv_problems(operands[1:])
    elif "check" in syntax and not syntax["check"](operands):
        problems.append("%s: operands %r are not what the page describes (%s)" % (name, operands, syntax["source"]))
    return problems


def shell_commands(script):
    """The simple commands of a /bin/sh -c script (split at | ; && ||), `exec` dropped, builtins left out."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    commands, current = [], []
    for token in list(lexer) + [";"]:
        if token in ("|", ";", "&&", "||"):
            if current and current[0] == "exec":
                current = current[1:]
            if current and current[0] not in ("exit", "true", "false"):
                commands.append(current)
            current = []
        else:
            current.append(token)
    return commands


def _module_argvs(mac_, monkeypatch, capsys):
    monkeypatch.setattr(samba_mount.os, "geteuid", lambda: 0)
    fake = FakeMac()
    run_module(samba_mount.main, mac_["args"], monkeypatch, capsys, commands=fake)
    run_module(samba_mount.main, dict(mac_["args"], password="n3w"), monkeypatch, capsys, commands=fake)
    plist = mac_["home"] / "Library" / "LaunchAgents" / "la.colab.cluster.samba.fortress.plist"
    agent = plistlib.loads(plist.read_bytes())["ProgramArguments"]
    run_module(samba_mount.main, dict(mac_["args"], state="absent"), monkeypatch, capsys, commands=fake)
    return [call["argv"] for call in fake.table.calls], [call["data"] for call in fake.table.calls if call["data"]], agent


def test_samba_mount_macos_argv_keep_to_the_man_pages(mac, monkeypatch, capsys):  # noqa: F811
    argvs, scripts, agent = _module_argvs(mac, monkeypatch, capsys)
    used = {os.path.basename(word) for argv in argvs for word in argv[:9] if word.startswith("/")}
    assert {"launchctl", "sudo", "security", "mount", "umount"} <= used, used
    problems = [(argv, p) for argv in argvs for p in argv_problems(argv)]
    lines = [line for data in scripts for line in (data.decode() if isinstance(data, bytes) else data).splitlines()]
    assert lines and all(line.startswith('"add-internet-password"') for line in lines)
    problems += [(line, p) for line in lines for p in argv_problems(["/usr/bin/security"] + shlex.split(line))]
    assert agent[:2] == ["/bin/sh", "-c"]
    problems += [(agent, p) for p in argv_problems(agent)]
    commands = shell_commands(agent[2])
    assert [os.path.basename(c[0]) for c in commands] == ["mount", "grep", "osascript"], commands
    problems += [(c, p) for c in commands for p in argv_problems(c)]
    assert not problems, "\n".join("%r: %s" % item for item in problems)


def _role_argvs():
    found = []
    for path in sorted(glob.glob(os.path.join(ROOT, "roles", "*", "tasks", "*macos*.yml"))):
        with open(path, encoding="utf-8") as handle:
            pending = list(yaml.safe_load(handle) or [])
        while pending:
            task = pending.pop(0)
            pending[:0] = [t for key in ("block", "rescue", "always") for t in task.get(key) or []]
            argv = (task.get("ansible.builtin.command") or {}).get("argv") if isinstance(
                task.get("ansible.builtin.command"), dict) else None
            if isinstance(argv, list) and os.path.basename(str(argv[0])) in SYNTAX:
                found.append(("%s:%s" % (os.path.relpath(path, os.path.join(ROOT, "roles")), task.get("name")), argv))
    return found


ROLE_ARGVS = _role_argvs()


def test_role_macos_commands_are_found():
    assert {os.path.basename(argv[0]) for _where, argv in ROLE_ARGVS} >= {"plutil", "open"}, ROLE_ARGVS


@pytest.mark.parametrize("where,argv", ROLE_ARGVS, ids=[use[0] for use in ROLE_ARGVS])
def test_role_macos_argv_keeps_to_the_man_page(where, argv):
    assert not argv_problems([str(word) for word in argv]), "%s: %r: %s" % (where, argv, argv_problems(argv))


@pytest.mark.parametrize("argv,problem", [
    (["/usr/bin/security", "find-internet-password", "-x", "a"], "security find-internet-password -x: not a flag"),
    (["/usr/bin/security", "find-internet-password", "-s", "srv", "login.keychain", "-w"], "-w: after an operand"),
    (["/usr/bin/security", "frobnicate"], "security frobnicate: not a subcommand"),
    (["/bin/launchctl", "bootstrap", "gui/x", "/a.plist"], "operands ['gui/x', '/a.plist'] are not"),
    (["/bin/launchctl", "asuser", "crtr", "/sbin/mount"], "'crtr' is not a UID"),
    (["/usr/bin/sudo", "-Z", "/sbin/mount"], "sudo -Z: not a flag"),
    (["plutil", "-extract", "Key", "yaml", "-o", "-", "f.plist"], "'yaml': not one of"),
    (["/sbin/umount"], "0 operand(s)"),
    (["/usr/local/bin/brew", "install", "x"], "no man page or usage text transcribed"),
])
def test_the_checker_reports_a_flag_the_page_does_not_list(argv, problem):
    assert any(problem in p for p in argv_problems(argv)), argv_problems(argv)


def test_the_keychain_script_is_one_security_command():
    words = shlex.split(keychain_script("srv", "crtr", 'pa"ss w\\rd', keychain="/k.keychain"))
    assert words[-2:] == ['pa"ss w\\rd', "/k.keychain"] and not argv_problems(["/usr/bin/security"] + words)


def _sources(syntax):
    for name, entry in syntax.items():
        yield name, entry["source"]
        yield from (("%s %s" % (name, sub), source) for sub, source in _sources(entry.get("subcommands", {})))


@pytest.mark.parametrize("name,source", list(_sources(SYNTAX)), ids=[use[0] for use in _sources(SYNTAX)])
def test_each_entry_names_a_source_or_says_it_has_none(name, source):
    tag_or_commit = r"([\w.-]+ \([0-9a-f]{7,40}\)|[0-9a-f]{7,40}\b)"
    assert re.match(r"transcribed from [\w.-]+/[\w.-]+ \S+@" + tag_or_commit, source) or source.startswith(UNCHECKED), (name, source)

# Test-only: one stand-in for the macOS programs the tasks run (brew, open, osascript,
# plutil, mise, chezmoi, and Docker.app's install and docker), installed inside a Debian
# container as small sh wrappers (`COLAB_STANDIN_PROG=<name> exec python3 standin.py "$@"`). It records every call and answers from a
# state file. Behaviours transcribed from Homebrew/brew@6.0.18 and the docker-desktop
# cask (Homebrew/homebrew-cask Casks/d/docker-desktop.rb@015c05bc), see ../README.md.
"""macOS stand-ins: the program is chosen by the name it was called as."""
from __future__ import annotations

import json
import os
import subprocess
import sys

STATE = "/var/lib/colab-standin/state.json"
LOG = "/var/lib/colab-standin/calls.jsonl"
APPS = "/Applications"
SOURCE = "/opt/colab-standin"


def load():
    with open(STATE, encoding="utf-8") as handle:
        return json.load(handle)


def save(state):
    with open(STATE, "w", encoding="utf-8") as handle:
        json.dump(state, handle, indent=1, sort_keys=True)


def record(prog, args):
    with open(LOG, "a", encoding="utf-8") as log:
        log.write(json.dumps({"prog": prog, "args": args, "uid": os.getuid(),
                              "askpass": "SUDO_ASKPASS" in os.environ}) + "\n")


def fail(msg, rc=1):
    sys.stderr.write(msg + "\n")
    sys.exit(rc)


def write_app(path, version, build):
    """A Docker.app with the two executables the tasks call and an Info.plist."""
    os.makedirs(path + "/Contents/MacOS", exist_ok=True)
    os.makedirs(path + "/Contents/Resources/bin", exist_ok=True)
    with open(path + "/Contents/Info.plist", "w", encoding="utf-8") as plist:
        plist.write(json.dumps({"CFBundleShortVersionString": version, "CFBundleVersion": build}))
    for name, target in (("install", "Contents/MacOS/install"), ("docker", "Contents/Resources/bin/docker")):
        wrapper(name, "%s/%s" % (path, target))


def wrapper(prog, path):
    """An executable that runs this stand-in as `prog`."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write('#!/bin/sh\nCOLAB_STANDIN_PROG=%s exec python3 %s/standin.py "$@"\n' % (prog, SOURCE))
    os.chmod(path, 0o755)


# --- brew ---------------------------------------------------------------------------------
def brew(args):
    state = load()
    casks = state.setdefault("casks", {})
    formulae = state.setdefault("formulae", {})
    if args == ["--version"]:
        print("Homebrew 6.0.18")  # cmd/--version.rb: "Homebrew #{HOMEBREW_VERSION}"
        return 0
    if args[:2] == ["list", "--cask"]:
        token = args[2]
        if token in casks:
            print(token)
            return 0
        fail("Error: Cask '%s' is not installed." % token)  # cask/exceptions.rb@6.0.18
    if args[:2] == ["install", "--cask"]:
        return cask_install(state, args[2], args[3:])
    if args[:2] == ["info", "--json=v2"]:
        names = [a for a in args[2:] if not a.startswith("--")]
        out = {"formulae": [], "casks": []}
        for name in names:
            installed = formulae.get(name)
            out["formulae"].append({"name": name, "full_name": name, "tap": "homebrew/core", "aliases": [],
                                    "oldnames": [], "outdated": False,
                                    "installed": [{"version": installed}] if installed else []})
        print(json.dumps(out))
        return 0
    if args[:1] == ["install"]:
        for name in [a for a in args[1:] if not a.startswith("-")]:
            formulae[name] = state.get("formula_versions", {}).get(name, "1.0.0")
            state.setdefault("events", []).append({"kind": "formula-install", "name": name})
        save(state)
        return 0
    fail("Error: stand-in brew does not know: %s" % " ".join(args))
    return 1


def cask_install(state, token, options):
    cask = state["cask_catalog"][token]
    app = APPS + "/Docker.app"
    if os.path.lexists(app) and token not in state["casks"]:
        if "--adopt" not in options and "--force" not in options:
            # cask/artifact/moved.rb@6.0.18: raise CaskError unless force or adopt.
            fail("Error: It seems there is already an App at '%s'." % app)
        # moved.rb: with --adopt and auto_updates (the docker-desktop cask) no version check.
        print("==> Adopting existing App at '%s'" % app)
    elif not os.path.lexists(app):
        print("==> Moving App 'Docker.app' to '%s'" % app)
        write_app(app, cask["version"], cask["build"])
    # The cask's binaries target /usr/local/bin (docker-desktop.rb); symlinked.rb@6.0.18
    # links with sudo when the directory is not writable, system_command.rb adds -A when
    # SUDO_ASKPASS is set.
    for name, source in cask["binaries"].items():
        target = "/usr/local/bin/" + name
        argv = ["/bin/ln", "--no-dereference", "--force", "--symbolic", app + "/" + source, target]
        if not os.access("/usr/local/bin", os.W_OK):
            askpass = ["-A"] if "SUDO_ASKPASS" in os.environ else []
            argv = ["/usr/bin/sudo"] + askpass + ["-E", "--"] + argv
        print("==> Linking Binary '%s' to '%s'" % (name, target))
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            fail("Error: Failure while executing; `%s` exited with %d. Here's the output:\n%s"
                 % (" ".join(argv), proc.returncode, proc.stderr))
    state["casks"][token] = cask["version"]
    state.setdefault("events", []).append({"kind": "cask-install", "token": token, "options": options})
    save(state)
    print("🍺  %s was successfully installed!" % token)
    return 0


# --- Docker.app ---------------------------------------------------------------------------
def install(args):
    if os.getuid() != 0:
        fail("install must run as root (mac-install.md: sudo .../Contents/MacOS/install)")
    state = load()
    user = next((a.split("=", 1)[1] for a in args if a.startswith("--user=")), None)
    if not user:
        fail("stand-in: --user is required here")
    # mac-permission-requirements.md: --user removes a previous com.docker.vmnetd.
    vmnetd = "/Library/PrivilegedHelperTools/com.docker.vmnetd"
    if os.path.exists(vmnetd):
        os.remove(vmnetd)
    state.setdefault("events", []).append({"kind": "install-user", "user": user, "args": args})
    save(state)
    return 0


def docker(args):
    state = load()
    desktop = state.setdefault("desktop", {"running": False, "starts": 0, "restarts": 0})
    if args[:2] == ["desktop", "restart"]:
        desktop["running"] = True
        desktop["restarts"] += 1
        save(state)
        return 0
    if not desktop["running"]:
        fail("Cannot connect to the Docker daemon at unix:///Users/crtr/.docker/run/docker.sock. "
             "Is the docker daemon running?")
    if args[:1] == ["version"]:
        print("29.1.3")
        return 0
    if args[:3] == ["compose", "version", "--short"]:
        print(state.get("compose", "2.40.3-desktop.1"))
        return 0
    networks = state.setdefault("networks", {})
    if args[:2] == ["network", "inspect"]:
        if args[-1] in networks:
            print(args[-1])
            return 0
        print("[]")
        fail("Error response from daemon: network %s not found" % args[-1])
    if args[:2] == ["network", "create"]:
        networks[args[-1]] = args[2:-1]
        save(state)
        print("0" * 64)
        return 0
    fail("stand-in docker does not know: %s" % " ".join(args))
    return 1


# --- open, osascript, plutil, mise, chezmoi --------------------------------------------------
def open_(args):
    target = args[-1]
    if not os.path.isdir(target):
        fail("Unable to find application named '%s'" % target)
    state = load()
    state.setdefault("desktop", {"running": False, "starts": 0, "restarts": 0})
    state["desktop"]["running"] = True
    state["desktop"]["starts"] += 1
    save(state)
    return 0


def osascript(args):
    state = load()
    if args == ["-e", 'quit app "Docker"']:
        state.setdefault("desktop", {"running": False, "starts": 0, "restarts": 0})["running"] = False
        save(state)
    return 0


def plutil(args):
    # plutil -extract <key> raw -o - <file>
    key, path = args[1], args[-1]
    try:
        with open(path, encoding="utf-8") as plist:
            print(json.load(plist)[key])
    except (OSError, KeyError, ValueError):
        fail("%s: Could not extract value, error: No value at that key path or invalid key path: %s" % (path, key))
    return 0


def mise(args):
    if args[:1] == ["install"]:
        tool, version = args[1].split("@", 1)
        os.makedirs(os.path.expanduser("~/.local/share/mise/installs/%s/%s" % (tool, version)), exist_ok=True)
        state = load()
        state.setdefault("events", []).append({"kind": "mise-install", "tool": args[1]})
        save(state)
        return 0
    fail("stand-in mise does not know: %s" % " ".join(args))
    return 1


def chezmoi(args):
    if args[:1] == ["init"]:
        os.makedirs(os.path.expanduser("~/.local/share/chezmoi"), exist_ok=True)
        return 0
    fail("stand-in chezmoi does not know: %s" % " ".join(args))
    return 1


PROGRAMS = {"brew": brew, "install": install, "docker": docker, "open": open_, "osascript": osascript,
            "plutil": plutil, "mise": mise, "chezmoi": chezmoi}


def main():
    if sys.argv[1:2] == ["--write-app"]:  # test setup: a Docker.app "installed by hand"
        write_app(*sys.argv[2:5])
        return
    if sys.argv[1:2] == ["--wrapper"]:  # test setup: install a program
        wrapper(sys.argv[2], sys.argv[3])
        return
    prog = os.environ.get("COLAB_STANDIN_PROG") or os.path.basename(sys.argv[0])
    record(prog, sys.argv[1:])
    sys.exit(PROGRAMS[prog](sys.argv[1:]))


if __name__ == "__main__":
    main()

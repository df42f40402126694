"""Doubles of the headscale and tailscale CLIs for the mesh modules' unit tests.

Neither CLI can be installed here (no reachable registry ships them). These doubles
follow their published command-line contracts per version and answer with the transcribed
shapes under tests/unit/plugins/fixtures/{headscale/<version>,tailscale}/ (see the
SOURCES.md there). They are strict: an argv a real release would reject (a user name
where 0.26 wants the numeric id, a positional user name to `users destroy` on 0.24+, a
key-less `tailscale up` on a logged-out node) fails here too, so a module that builds the
wrong command for a version fails its test.
"""
from __future__ import annotations

import copy
import json
import os
import sys

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures")


def fixture(*parts):
    with open(os.path.join(FIXTURES, *parts), encoding="utf-8") as handle:
        return handle.read()


def fixture_json(*parts):
    return json.loads(fixture(*parts))


class ModuleExit(Exception):
    pass


def run_module(main, args, monkeypatch, capsys, commands, check_mode=False, diff=False, bins=None):
    """Run a module's main() in-process; return (result dict, failed?)."""
    bins = bins or {}
    full = dict(args)
    full["_ansible_check_mode"] = check_mode
    full["_ansible_diff"] = diff
    full["_ansible_remote_tmp"] = "/tmp"
    full["_ansible_keep_remote_files"] = False

    def get_bin_path(self, arg, required=False, opt_dirs=None):
        if arg in bins:
            return bins[arg]
        if arg == "timeout":
            return "/usr/bin/timeout"
        return "/usr/bin/" + arg

    def run_command(self, args, **kwargs):
        return commands(self, list(args), **kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", get_bin_path)
    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    with patch_module_args(full):
        with pytest.raises(SystemExit) as exc:
            main()
    out = capsys.readouterr().out
    result = json.loads(out.strip().splitlines()[-1])
    return result, exc.value.code != 0


def strip_timeout(argv, seconds):
    assert argv[:3] == ["/usr/bin/timeout", "--kill-after=5", f"{seconds}s"], argv
    return argv[3:]


class FakeHeadscale:
    """The headscale CLI of one release, holding users, nodes and keys."""

    def __init__(self, version, timeout=30, users=True, nodes=True):
        self.version = version
        self.minor = tuple(int(x) for x in version.split("."))
        self.timeout = timeout
        self.calls = []
        self.users = fixture_json("headscale", version, "users_list.json") if users else None
        self.nodes = fixture_json("headscale", version, "nodes_list.json") if nodes else None
        self.users = self.users or []
        self.nodes = self.nodes or []
        self.keys = []

    # -- helpers shaped like the release's JSON --
    def _user_json(self, uid, name):
        user = fixture_json("headscale", self.version, "user_create.json")
        user["id"] = str(uid) if self.minor < (0, 24) else uid
        user["name"] = name
        return user

    def _find(self, name=None, uid=None):
        for user in self.users:
            if name is not None and user["name"] == name:
                return user
            if uid is not None and int(user["id"]) == uid:
                return user
        return None

    def __call__(self, module, argv, environ_update=None, **kwargs):
        argv = strip_timeout(argv, self.timeout)
        assert (environ_update or {}).get("HEADSCALE_CLI_TIMEOUT") == f"{self.timeout}s"
        self.calls.append(argv)
        assert argv[0].endswith("headscale"), argv
        args = argv[1:]
        if args[:1] == ["--config"]:
            args = args[2:]
        if args == ["version"]:
            return 0, fixture("headscale", self.version, "version.txt"), ""
        if args == ["users", "list", "--output", "json"]:
            return 0, json.dumps(self.users or None, indent="\t") + "\n", ""
        if args == ["nodes", "list", "--output", "json"]:
            return 0, json.dumps(self.nodes or None, indent="\t") + "\n", ""
        if args[:2] == ["users", "create"]:
            name = args[2]
            if self._find(name=name):
                return self._error("user already exists")
            user = self._user_json(max([int(u["id"]) for u in self.users] + [0]) + 1, name)
            self.users.append(user)
            return 0, json.dumps(user, indent="\t") + "\n", ""
        if args[:2] == ["users", "destroy"]:
            return self._destroy(args[2:])
        if args[:2] == ["preauthkeys", "create"]:
            return self._create_key(args[2:])
        raise AssertionError(f"headscale {self.version}: unexpected command {argv!r}")

    def _error(self, message):
        return 1, "", json.dumps({"error": message}, indent="\t") + "\n"

    def _destroy(self, rest):
        assert "--force" in rest, "destroy asks for confirmation without --force"
        rest = [r for r in rest if r not in ("--force", "--output", "json")]
        if self.minor >= (0, 24):
            assert rest[:1] == ["--identifier"], f"0.24+ names the user with --identifier: {rest}"
            user = self._find(uid=int(rest[1]))
        else:
            assert len(rest) == 1 and not rest[0].startswith("-"), f"0.23 takes the name: {rest}"
            user = self._find(name=rest[0])
        if user is None:
            return self._error("User not found")
        self.users.remove(user)
        return 0, json.dumps({}) + "\n", ""

    def _create_key(self, rest):
        flags = {}
        index = 0
        while index < len(rest):
            part = rest[index]
            if part in ("--reusable", "--ephemeral"):
                flags[part] = True
                index += 1
            else:
                flags[part] = rest[index + 1]
                index += 2
        assert flags.get("--output") == "json"
        user = None
        if "--user" in flags:
            value = flags["--user"]
            if self.minor >= (0, 26):
                if not value.isdigit():
                    # cobra: `--user` is a uint64 flag from 0.26
                    return 1, "", f'Error: invalid argument "{value}" for "-u, --user" flag: strconv.ParseUint: parsing "{value}": invalid syntax\n'
                user = self._find(uid=int(value))
            else:
                user = self._find(name=value)
            if user is None:
                return self._error("User not found")
        elif self.minor < (0, 28):
            return 1, "", 'Error: required flag(s) "user" not set\n'
        elif not flags.get("--tags"):
            return self._error("either user or tags must be specified")
        key = fixture_json("headscale", self.version, "preauthkey_create.json")
        key["id"] = (str if self.minor < (0, 26) else int)(len(self.keys) + 10)
        if user is None:
            key.pop("user", None)
        elif self.minor < (0, 26):
            key["user"] = user["name"]
        else:
            key["user"] = user
        key["reusable"] = bool(flags.get("--reusable"))
        key["acl_tags"] = flags["--tags"].split(",") if flags.get("--tags") else []
        if not key["reusable"]:
            key.pop("reusable")
        if not key["acl_tags"]:
            key.pop("acl_tags")
        key["key"] = key["key"][:-2] + f"{len(self.keys):02d}"
        self.keys.append(key)
        return 0, json.dumps(key, indent="\t") + "\n", ""

    def register(self, name, user_name):
        """What `tailscale up --auth-key` would make headscale do."""
        node = copy.deepcopy(self.nodes[0]) if self.nodes else fixture_json(
            "headscale", self.version, "nodes_list.json")[0]
        node.update(id=len(self.nodes) + 1, name=name, given_name=name)
        node["user"] = self._find(name=user_name)
        self.nodes.append(node)


class FakeTailscale:
    """tailscale CLI + tailscaled: status/prefs from the fixtures, up/set/down applied to them."""

    def __init__(self, status="status_running.json", prefs="prefs_running.json", timeout=60,
                 accept_key=None):
        self.status = fixture_json("tailscale", status)
        self.prefs = fixture_json("tailscale", prefs)
        self.timeout = timeout
        self.calls = []
        self.accept_key = accept_key
        self.key_file_seen = None

    def __call__(self, module, argv, **kwargs):
        argv = strip_timeout(argv, self.timeout)
        self.calls.append(argv)
        args = argv[1:]
        if args == ["status", "--json"]:
            return 0, json.dumps(self.status, indent="  "), ""
        if args == ["debug", "prefs"]:
            return 0, json.dumps(self.prefs, indent="  "), ""
        if args == ["down"]:
            self.prefs["WantRunning"] = False
            self.status["BackendState"] = "Stopped"
            return 0, "", ""
        if args[0] == "set":
            for part in args[1:]:
                self._apply(part)
            return 0, "", ""
        if args[0] == "up":
            return self._up(args[1:])
        raise AssertionError(f"unexpected tailscale command {argv!r}")

    _FIELDS = {"--accept-dns": "CorpDNS", "--accept-routes": "RouteAll", "--ssh": "RunSSH",
               "--hostname": "Hostname"}

    def _apply(self, part):
        name, dummy, value = part.partition("=")
        if name in self._FIELDS:
            field = self._FIELDS[name]
            self.prefs[field] = (value == "true") if field != "Hostname" else value
        elif name == "--advertise-routes":
            exits = [r for r in self.prefs.get("AdvertiseRoutes") or [] if r in ("0.0.0.0/0", "::/0")]
            self.prefs["AdvertiseRoutes"] = (value.split(",") if value else []) + exits
        elif name == "--advertise-exit-node":
            routes = [r for r in self.prefs.get("AdvertiseRoutes") or [] if r not in ("0.0.0.0/0", "::/0")]
            self.prefs["AdvertiseRoutes"] = routes + (["0.0.0.0/0", "::/0"] if value == "true" else [])
        elif name == "--exit-node":
            self.prefs["ExitNodeIP"] = value
            self.prefs["ExitNodeID"] = ""
        elif name == "--advertise-tags":
            self.prefs["AdvertiseTags"] = value.split(",") if value else None
        elif name == "--login-server":
            self.prefs["ControlURL"] = value
        elif name in ("--reset", "--force-reauth", "--unattended") or name.startswith("--timeout"):
            pass
        else:
            raise AssertionError(f"unknown flag {part}")

    def _up(self, args):
        assert any(a.startswith("--timeout=") for a in args), "up must be bounded (--timeout)"
        key = None
        for part in args:
            if part.startswith("--auth-key="):
                value = part.split("=", 1)[1]
                assert value.startswith("file:"), "the key must not be in argv"
                path = value[5:]
                assert oct(os.stat(path).st_mode & 0o777) == "0o600"
                with open(path, encoding="utf-8") as handle:
                    key = handle.read()
                self.key_file_seen = path
        logged_in = self.status["BackendState"] in ("Running", "Stopped") and not self.prefs.get("LoggedOut")
        needs_login = (not logged_in) or "--force-reauth" in args
        for part in args:
            if part.startswith("--login-server=") and part.split("=", 1)[1].rstrip("/") != self.prefs["ControlURL"]:
                needs_login = True
        if needs_login and key != self.accept_key:
            return 1, "", "backend error: invalid key: unable to validate API key\n"
        for part in args:
            if not part.startswith("--auth-key="):
                self._apply(part)
        running = fixture_json("tailscale", "status_running.json")
        self.status = running
        self.prefs.update(WantRunning=True, LoggedOut=False)
        return 0, "", ""


def python_version_ok():
    return sys.version_info >= (3, 9)

# -*- coding: utf-8 -*-
# Copyright: colab.cluster developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared, side-effect free helpers for the headscale modules.

headscale's CLI changed incompatibly between releases; everything version-dependent is
decided here, from the version the server reports, so the modules stay small:

* ``parse_version`` reads ``headscale version`` (0.23: a bare ``v0.23.0``; 0.26+: four
  lines starting ``headscale version v0.26.1``; or the ``-o json`` object);
* ``Capabilities`` says what a version's CLI takes (user name or numeric id for
  ``preauthkeys create --user``, whether ``policy check`` exists, which node field holds
  the tags, how ``users destroy`` names the user);
* parsers normalise the ``-o json`` output of ``users list``, ``nodes list`` and
  ``preauthkeys create``/``list`` of 0.23 to 0.28 (Go ``encoding/json`` on the protobuf
  structs: snake_case keys, zero values omitted, timestamps as ``{seconds, nanos}``,
  ids as strings in 0.23 and numbers later, ``null`` for an empty list);
* ``validate_config`` checks a headscale ``config.yaml`` (as a dict) against the keys
  each version's ``config-example.yaml`` documents, plus the documented value rules,
  and names renamed or removed keys with their replacement.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import re
from urllib.parse import urlparse

from ansible_collections.colab.cluster.plugins.module_utils._bounded import run_bounded


class HeadscaleError(Exception):
    """A headscale CLI answer that cannot be used (bad JSON, an error object, ...)."""


# --- version ----------------------------------------------------------------------------
_VERSION_RE = re.compile(r"v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?")
MIN_SUPPORTED = (0, 23, 0)


def parse_version(text):
    """Return ``(major, minor, patch)`` from any form of ``headscale version`` output."""
    if text is None:
        raise HeadscaleError("no version text to parse")
    if isinstance(text, (tuple, list)):
        return tuple(int(part) for part in text[:3])
    raw = str(text).strip()
    if raw.startswith("{"):
        try:
            raw = str(json.loads(raw).get("version", ""))
        except (ValueError, AttributeError) as exc:
            raise HeadscaleError(f"cannot parse version JSON: {raw[:80]!r}") from exc
    match = _VERSION_RE.search(raw)
    if not match:
        raise HeadscaleError(
            f"cannot read a headscale version from {raw[:80]!r} (a development build reports"
            " 'dev': set the version explicitly)")
    return tuple(int(match.group(i)) for i in (1, 2, 3))


def version_string(version):
    return ".".join(str(part) for part in version)


class Capabilities:
    """What the CLI of one headscale version takes and answers."""

    def __init__(self, version):
        self.version = parse_version(version)
        if self.version < MIN_SUPPORTED:
            raise HeadscaleError(
                f"headscale {version_string(self.version)} is older than the oldest supported"
                f" release {version_string(MIN_SUPPORTED)}")
        minor = self.version[:2]
        # 0.23: User.id is a string; 0.24 (#2261) made it a uint64.
        self.user_id_is_string = minor < (0, 24)
        # 0.26 (#2542): "Pre auth key API/CLI now uses ID over username".
        self.preauthkey_user_by_id = minor >= (0, 26)
        # 0.28 (#2992): --user optional on create (tag-only keys), list lists every key.
        self.preauthkey_user_optional = minor >= (0, 28)
        self.preauthkey_list_needs_user = minor < (0, 28)
        # 0.26 (#2553): `headscale policy check --file`.
        self.policy_check = minor >= (0, 26)
        # 0.24 (#2261): users destroy/rename take --identifier (or --name).
        self.user_destroy_by_identifier = minor >= (0, 24)
        # 0.28 (#2993): forced/invalid/valid_tags replaced by one `tags` field.
        self.node_tags_field = "tags" if minor >= (0, 28) else "valid_tags"

    def as_dict(self):
        return {
            "version": version_string(self.version),
            "user_id_is_string": self.user_id_is_string,
            "preauthkey_user_by_id": self.preauthkey_user_by_id,
            "preauthkey_user_optional": self.preauthkey_user_optional,
            "policy_check": self.policy_check,
            "node_tags_field": self.node_tags_field,
        }


# --- CLI argv builders ------------------------------------------------------------------
def base_argv(binary, config_path=None):
    argv = [binary]
    if config_path:
        argv += ["--config", config_path]
    return argv


def users_list_argv(binary, config_path=None):
    return base_argv(binary, config_path) + ["users", "list", "--output", "json"]


def user_create_argv(binary, name, config_path=None):
    return base_argv(binary, config_path) + ["users", "create", name, "--output", "json"]


def user_destroy_argv(caps, binary, user, config_path=None):
    """``user`` is a normalised user dict (id and name)."""
    argv = base_argv(binary, config_path) + ["users", "destroy"]
    if caps.user_destroy_by_identifier:
        argv += ["--identifier", str(user["id"])]
    else:
        argv += [user["name"]]
    return argv + ["--force", "--output", "json"]


def nodes_list_argv(binary, config_path=None):
    return base_argv(binary, config_path) + ["nodes", "list", "--output", "json"]


def preauthkey_create_argv(caps, binary, user=None, expiration="1h", reusable=False,
                           ephemeral=False, tags=None, config_path=None):
    """``user`` is a normalised user dict or None (tag-only key, 0.28+)."""
    argv = base_argv(binary, config_path) + ["preauthkeys", "create"]
    if user is not None:
        argv += ["--user", str(user["id"]) if caps.preauthkey_user_by_id else user["name"]]
    elif not caps.preauthkey_user_optional:
        raise HeadscaleError(
            f"headscale {version_string(caps.version)} needs a user for a pre-auth key"
            " (tag-only keys exist from 0.28)")
    elif not tags:
        raise HeadscaleError("a pre-auth key without a user needs at least one tag")
    argv += ["--expiration", expiration]
    if reusable:
        argv.append("--reusable")
    if ephemeral:
        argv.append("--ephemeral")
    if tags:
        argv += ["--tags", ",".join(tags)]
    return argv + ["--output", "json"]


def node_delete_argv(binary, node_id, config_path=None):
    return base_argv(binary, config_path) + ["nodes", "delete", "--identifier", str(node_id),
                                             "--force", "--output", "json"]


def node_rename_argv(binary, node_id, new_name, config_path=None):
    return base_argv(binary, config_path) + ["nodes", "rename", "--identifier", str(node_id),
                                             new_name, "--output", "json"]


def policy_check_argv(caps, binary, path, config_path=None):
    if not caps.policy_check:
        return None
    return base_argv(binary, config_path) + ["policy", "check", "--file", path]


# --- output parsers ---------------------------------------------------------------------
def load_json(text, what):
    """Decode the CLI's ``-o json`` answer; an ``{"error": ...}`` object raises."""
    if text is None or not str(text).strip():
        raise HeadscaleError(f"headscale printed nothing for {what}")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise HeadscaleError(f"headscale printed no JSON for {what}: {str(text)[:200]!r}") from exc
    if isinstance(data, dict) and set(data) == {"error"}:
        raise HeadscaleError(f"headscale {what} failed: {data['error']}")
    return data


def error_message(stdout, stderr):
    """The error text of a failed CLI call (JSON error object on stderr, or plain text)."""
    for text in (stderr, stdout):
        if text and text.strip():
            try:
                data = json.loads(text)
                if isinstance(data, dict) and "error" in data:
                    return str(data["error"])
            except ValueError:
                pass
            return text.strip().splitlines()[-1]
    return "no output"


_GO_ZERO_TIME = -62135596800  # 0001-01-01T00:00:00Z in Unix seconds


def timestamp(value):
    """``{seconds, nanos}`` (Go encoding/json of timestamppb) or RFC 3339 -> ISO string."""
    if value in (None, "", {}):
        return None
    if isinstance(value, dict):
        seconds = int(value.get("seconds", 0))
        if seconds <= _GO_ZERO_TIME:  # Go's zero time.Time: "no expiry"
            return None
        moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def epoch(value):
    if isinstance(value, dict):
        return int(value.get("seconds", 0))
    return None


def _as_id(value):
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise HeadscaleError(f"unexpected id {value!r}") from exc


def _as_list(data, what):
    if data is None:
        return []
    if not isinstance(data, list):
        raise HeadscaleError(f"expected a JSON list from {what}, got {type(data).__name__}")
    return data


def normalise_user(item):
    if isinstance(item, str):  # 0.23-0.25 PreAuthKey.user is the user's name
        return {"id": None, "name": item}
    return {
        "id": _as_id(item.get("id")),
        "name": item.get("name", ""),
        "display_name": item.get("display_name", ""),
        "email": item.get("email", ""),
        "provider": item.get("provider", ""),
        "created_at": timestamp(item.get("created_at")),
    }


def parse_users(text):
    return [normalise_user(item) for item in _as_list(load_json(text, "users list"), "users list")]


def parse_user(text):
    data = load_json(text, "users create")
    if not isinstance(data, dict):
        raise HeadscaleError("users create did not answer a user object")
    return normalise_user(data)


def find_user(users, name):
    for user in users:
        if user["name"] == name:
            return user
    return None


_REGISTER_METHODS = {0: "unspecified", 1: "authkey", 2: "cli", 3: "oidc"}


def normalise_node(item):
    ips = list(item.get("ip_addresses") or [])
    tags = item.get("tags")
    if tags is None:  # before 0.28: the effective tags are forced + valid
        tags = sorted(set((item.get("forced_tags") or []) + (item.get("valid_tags") or [])))
    user = item.get("user")
    method = item.get("register_method", 0)
    if isinstance(method, int):
        method = _REGISTER_METHODS.get(method, str(method))
    return {
        "id": _as_id(item.get("id")),
        "name": item.get("name", ""),
        "given_name": item.get("given_name", ""),
        "machine_key": item.get("machine_key", ""),
        "node_key": item.get("node_key", ""),
        "user": user.get("name", "") if isinstance(user, dict) else (user or ""),
        "user_id": _as_id(user.get("id")) if isinstance(user, dict) else None,
        "ip_addresses": ips,
        "ipv4": [ip for ip in ips if ":" not in ip],
        "ipv6": [ip for ip in ips if ":" in ip],
        "online": bool(item.get("online", False)),
        "tags": sorted(tags),
        "register_method": str(method).lower().replace("register_method_", "").replace("_", ""),
        "expiry": timestamp(item.get("expiry")),
        "last_seen": timestamp(item.get("last_seen")),
        "created_at": timestamp(item.get("created_at")),
    }


def parse_nodes(text):
    return [normalise_node(item) for item in _as_list(load_json(text, "nodes list"), "nodes list")]


def node_expired(node, now=None):
    """A node whose expiry has passed: logged out (a logout sets the expiry to now,
    hscontrol/auth.go@v0.26.1 handleExistingNode) or its key ran out. It needs a new key."""
    expiry = node.get("expiry")
    if not expiry:
        return False
    moment = datetime.datetime.strptime(expiry, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    return moment <= (now or datetime.datetime.now(datetime.timezone.utc))


def stale_nodes(nodes, hostname, keep_node_key):
    """Nodes registered under ``hostname`` that are not the live one (node key
    ``keep_node_key``): left behind when the machine key changed (a reinstall), since a
    new machine key registers a new node (hscontrol/db/node.go@v0.26.1 RegisterNode)."""
    wanted = hostname.lower()
    return [node for node in nodes
            if node["name"].lower() == wanted and node.get("node_key") != keep_node_key]


def find_node(nodes, name, user=None):
    """A node whose host name or given name is ``name`` (optionally owned by ``user``)."""
    wanted = name.lower()
    for node in nodes:
        if wanted in (node["name"].lower(), node["given_name"].lower()):
            if user is None or node["user"] in ("", user):
                return node
    return None


def normalise_preauthkey(item):
    user = item.get("user")
    return {
        "id": _as_id(item.get("id")),
        "key": item.get("key", ""),
        "user": normalise_user(user)["name"] if user else "",
        "reusable": bool(item.get("reusable", False)),
        "ephemeral": bool(item.get("ephemeral", False)),
        "used": bool(item.get("used", False)),
        "expiration": timestamp(item.get("expiration")),
        "expiration_epoch": epoch(item.get("expiration")),
        "created_at": timestamp(item.get("created_at")),
        "acl_tags": list(item.get("acl_tags") or []),
    }


def parse_preauthkey(text):
    data = load_json(text, "preauthkeys create")
    if not isinstance(data, dict) or not data.get("key"):
        raise HeadscaleError("preauthkeys create did not answer a key")
    return normalise_preauthkey(data)


def parse_preauthkeys(text):
    data = _as_list(load_json(text, "preauthkeys list"), "preauthkeys list")
    return [normalise_preauthkey(item) for item in data]


def redact_key(key):
    """Keep what identifies a key, never its secret: 0.28 ``hskey-auth-<prefix>-***``."""
    if not key:
        return ""
    match = re.match(r"^(hskey-auth-[^-]+)-", key)
    if match:
        return match.group(1) + "-***"
    return key[:4] + "***"


_DURATION_RE = re.compile(r"^(\d+)(s|m|h|d)$")


def is_duration(value):
    """A pre-auth key lifetime: a positive whole number of s, m, h or d (30m, 1h, 2d).
    ``0s`` would create a key that is expired on arrival, so it is refused. The one rule,
    also used by the roles (test plugin colab.cluster.headscale_duration)."""
    match = _DURATION_RE.match(str(value))
    return bool(match) and int(match.group(1)) > 0


def check_duration(value, field):
    if not is_duration(value):
        raise HeadscaleError(f"{field}: {value!r} is not a duration like 30m, 1h or 2d")
    return value


_TAG_RE = re.compile(r"^tag:[a-z0-9][a-z0-9-]*$", re.IGNORECASE)


def is_tag(value):
    """An ACL tag: ``tag:`` then a letter or digit, then letters, digits or dashes. The one
    rule, for headscale keys, tailscale --advertise-tags and the roles (test plugin
    colab.cluster.mesh_tag)."""
    return bool(_TAG_RE.match(str(value)))


def check_tags(tags, field):
    for tag in tags or []:
        if not is_tag(tag):
            raise HeadscaleError(f"{field}: {tag!r} is not a tag (tag:<name>)")
    return list(tags or [])


# --- upgrades and client versions --------------------------------------------------------
def upgrade_problem(installed, wanted, allow_downgrade=False):
    """Why going from ``installed`` to ``wanted`` is refused, or "" when it may go ahead.

    headscale is upgraded one minor release at a time ("upgrade sequentially through each
    stable release", CHANGELOG.md@v0.28.0) after a database backup
    (docs/setup/upgrade.md@v0.26.1); there is no downgrade path for the database.
    """
    if not installed or not wanted:
        return ""
    have, want = parse_version(installed), parse_version(wanted)
    if want == have:
        return ""
    if want < have:
        if allow_downgrade:
            return ""
        return (f"headscale {version_string(have)} is installed and {version_string(want)} is older:"
                " downgrades are refused (the database is migrated forward only); set"
                " headscale_allow_downgrade with a restored backup to force it")
    if want[0] != have[0] or want[1] > have[1] + 1:
        return (f"headscale {version_string(have)} -> {version_string(want)} skips a minor release:"
                f" upgrade one minor release at a time ({have[0]}.{have[1] + 1}.x next)")
    return ""


# Oldest tailscale client each headscale minor accepts: MinSupportedCapabilityVersion in
# hscontrol/capver/capver.go, mapped to a release by capver_generated.go, at each tag
# (88 = v1.62.0 at v0.25.1 and v0.26.1; 90 = v1.64.0 at v0.27.1 and v0.28.0).
MIN_CLIENT = {(0, 25): (1, 62, 0), (0, 26): (1, 62, 0), (0, 27): (1, 64, 0), (0, 28): (1, 64, 0)}


def min_client_version(server_version):
    """The oldest tailscale client ``server_version`` serves, as "1.62.0" ("" if unknown)."""
    minor = parse_version(server_version)[:2]
    known = [key for key in MIN_CLIENT if key <= minor]
    if not known:
        return ""
    return version_string(MIN_CLIENT[max(known)])


def extra_records(records, nodes):
    """MagicDNS extra records with their address taken from the live node list.

    A record ``{name, type, node}`` points at the node registered under that host name (or
    given name): headscale hands out addresses in registration order
    (hscontrol/db/ip.go@v0.26.1), so a fixed address in the inventory can name the wrong
    node. Records of nodes not registered (or expired) yet are left out. Records with a
    ``value`` are kept as they are. Sorted for a stable file (docs/ref/dns.md@v0.26.1).
    """
    out = []
    for record in records or []:
        kind = record.get("type", "A")
        if record.get("node"):
            node = find_node([n for n in nodes if not node_expired(n)], record["node"])
            if node is None:
                continue
            addresses = node["ipv4"] if kind == "A" else node["ipv6"]
            if not addresses:
                continue
            value = addresses[0]
        else:
            value = record["value"]
        out.append({"name": record["name"], "type": kind, "value": value})
    return sorted(out, key=lambda r: (r["name"], r["type"], r["value"]))


# --- config.yaml schema -----------------------------------------------------------------
ANY = object()  # an open section: any key is accepted below it

_SCHEMA_023 = {
    "server_url": None, "listen_addr": None, "metrics_listen_addr": None,
    "grpc_listen_addr": None, "grpc_allow_insecure": None,
    "noise": {"private_key_path": None},
    "prefixes": {"v4": None, "v6": None, "allocation": None},
    "derp": {
        "server": {
            "enabled": None, "region_id": None, "region_code": None, "region_name": None,
            "stun_listen_addr": None, "private_key_path": None, "ipv4": None, "ipv6": None,
            "automatically_add_embedded_derp_region": None,
        },
        "urls": None, "paths": None, "auto_update_enabled": None, "update_frequency": None,
    },
    "disable_check_updates": None, "ephemeral_node_inactivity_timeout": None,
    "database": {
        "type": None, "debug": None,
        "gorm": {"prepare_stmt": None, "parameterized_queries": None,
                 "skip_err_record_not_found": None, "slow_threshold": None},
        "sqlite": {"path": None, "write_ahead_log": None},
        "postgres": {"host": None, "port": None, "name": None, "user": None, "pass": None,
                     "max_open_conns": None, "max_idle_conns": None,
                     "conn_max_idle_time_secs": None, "ssl": None},
    },
    "acme_url": None, "acme_email": None, "tls_letsencrypt_hostname": None,
    "tls_letsencrypt_cache_dir": None, "tls_letsencrypt_challenge_type": None,
    "tls_letsencrypt_listen": None, "tls_cert_path": None, "tls_key_path": None,
    "log": {"format": None, "level": None},
    "policy": {"mode": None, "path": None},
    "dns": {
        "magic_dns": None, "base_domain": None,
        "nameservers": {"global": None, "split": None},
        "search_domains": None, "extra_records": None, "use_username_in_magic_dns": None,
    },
    "unix_socket": None, "unix_socket_permission": None,
    "oidc": {
        "only_start_if_oidc_is_available": None, "issuer": None, "client_id": None,
        "client_secret": None, "client_secret_path": None, "expiry": None,
        "use_expiry_from_token": None, "scope": None, "extra_params": ANY,
        "allowed_domains": None, "allowed_groups": None, "allowed_users": None,
        "strip_email_domain": None,
    },
    "logtail": {"enabled": None},
    "randomize_client_port": None,
    "tuning": ANY,
}


def _copy(schema):
    return {k: (_copy(v) if isinstance(v, dict) else v) for k, v in schema.items()}


def config_schema(version):
    """The keys headscale ``version``'s config-example.yaml documents, as a nested dict."""
    minor = parse_version(version)[:2]
    schema = _copy(_SCHEMA_023)
    if minor >= (0, 24):
        del schema["dns"]["use_username_in_magic_dns"]          # #2020, #2279
        schema["dns"]["extra_records_path"] = None              # #2262
        schema["derp"]["server"]["verify_clients"] = None       # #2046
        schema["oidc"]["pkce"] = {"enabled": None, "method": None}  # #2314
        schema["oidc"]["map_legacy_users"] = None
        schema["database"]["sqlite"]["wal_autocheckpoint"] = None
    if minor >= (0, 26):
        del schema["oidc"]["map_legacy_users"]                  # #2411
        del schema["oidc"]["strip_email_domain"]                # #2411
        schema["dns"]["override_local_dns"] = None              # #2438
    if minor >= (0, 28):
        schema["taildrop"] = {"enabled": None}                  # #2955
        schema["oidc"]["email_verified_required"] = None        # #2860
    if minor >= (0, 29):
        del schema["oidc"]["expiry"]                            # #3122
        schema["node"] = {"expiry": None, "ephemeral": {"inactivity_timeout": None}}
        # Recorded: headscale 0.29.3 (built from its module) `configtest` warns that
        # ephemeral_node_inactivity_timeout "has been removed" and refuses (FATAL)
        # randomize_client_port ("Set "randomizeClientPort": true at the top level of your
        # policy file").
        del schema["ephemeral_node_inactivity_timeout"]
        del schema["randomize_client_port"]
    return schema


# Keys an older config may still carry: (path, removed in, replacement or None).
RENAMED_KEYS = (
    ("ip_prefixes", (0, 23), "prefixes.v4 / prefixes.v6"),
    ("dns_config", (0, 23), "dns"),
    ("db_type", (0, 23), "database.type"),
    ("db_path", (0, 23), "database.sqlite.path"),
    ("db_host", (0, 23), "database.postgres.host"),
    ("db_port", (0, 23), "database.postgres.port"),
    ("db_name", (0, 23), "database.postgres.name"),
    ("db_user", (0, 23), "database.postgres.user"),
    ("db_pass", (0, 23), "database.postgres.pass"),
    ("db_ssl", (0, 23), "database.postgres.ssl"),
    ("acl_policy_path", (0, 23), "policy.path"),
    ("private_key_path", (0, 23), "noise.private_key_path"),
    ("node_update_check_interval", (0, 23), None),
    ("dns.domains", (0, 23), "dns.search_domains"),
    ("dns.restricted_nameservers", (0, 23), "dns.nameservers.split"),
    ("dns.nameservers.0", (0, 23), "dns.nameservers.global"),
    ("dns.use_username_in_magic_dns", (0, 24), None),
    ("oidc.map_legacy_users", (0, 26), None),
    ("oidc.strip_email_domain", (0, 26), None),
    ("oidc.expiry", (0, 29), "node.expiry"),
    ("ephemeral_node_inactivity_timeout", (0, 29), "node.ephemeral.inactivity_timeout"),
    ("randomize_client_port", (0, 29), "randomizeClientPort at the top level of the policy"),
)


def _lookup(config, dotted):
    node = config
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit():
            # dns.nameservers as a bare list is the pre-0.23 form
            return node if node else None
        else:
            return None
    return node


def renamed_keys_in(config, version):
    """Messages for every key of ``config`` that ``version`` renamed or removed."""
    target = parse_version(version)[:2]
    found = []
    for dotted, removed_in, replacement in RENAMED_KEYS:
        if target < removed_in:
            continue
        if dotted == "dns.nameservers.0":
            present = isinstance(_lookup(config, "dns.nameservers"), list)
            shown = "dns.nameservers (a list)"
        else:
            present = _lookup(config, dotted) is not None
            shown = dotted
        if present:
            where = f"use {replacement}" if replacement else "it no longer exists"
            found.append(f"{shown}: removed in headscale {removed_in[0]}.{removed_in[1]}, {where}")
    return found


def _unknown_keys(config, schema, prefix=""):
    errors = []
    for key, value in config.items():
        path = f"{prefix}{key}"
        if key not in schema:
            errors.append(f"{path}: not a headscale setting")
            continue
        sub = schema[key]
        if sub is ANY:
            continue
        if isinstance(sub, dict):
            if value is None:
                continue
            if not isinstance(value, dict):
                errors.append(f"{path}: must be a mapping")
                continue
            errors += _unknown_keys(value, sub, path + ".")
    return errors


_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_TS_ULA = ipaddress.ip_network("fd7a:115c:a1e0::/48")
_LOG_LEVELS = ("trace", "debug", "info", "warn", "error", "fatal", "panic", "disabled")


def _section(config, name):
    value = config.get(name)
    return value if isinstance(value, dict) else {}


def _value_errors(config, target):
    errors = []
    url = config.get("server_url")
    if not url:
        errors.append("server_url: required")
    elif not str(url).startswith(("http://", "https://")):
        errors.append("server_url: must start with http:// or https://")
    if not _lookup(config, "noise.private_key_path"):
        errors.append("noise.private_key_path: required")
    prefixes = _section(config, "prefixes")
    if not prefixes.get("v4") and not prefixes.get("v6"):
        errors.append("prefixes: at least one of v4 and v6 is required")
    for family, allowed in (("v4", _CGNAT), ("v6", _TS_ULA)):
        value = prefixes.get(family)
        if not value:
            continue
        try:
            net = ipaddress.ip_network(str(value), strict=True)
        except ValueError as exc:
            errors.append(f"prefixes.{family}: {exc}")
            continue
        if net.version != allowed.version or not net.subnet_of(allowed):
            errors.append(f"prefixes.{family}: {value} is outside {allowed}, which tailscale clients support")
    if prefixes.get("allocation") not in (None, "sequential", "random"):
        errors.append("prefixes.allocation: must be sequential or random")
    derp = _section(config, "derp")
    server = derp.get("server") if isinstance(derp.get("server"), dict) else {}
    if not (derp.get("urls") or derp.get("paths") or server.get("enabled")):
        errors.append("derp: at least one DERP source (urls, paths or the embedded server) is required")
    if server.get("enabled"):
        if not server.get("stun_listen_addr"):
            errors.append("derp.server.stun_listen_addr: required when the embedded DERP server is enabled")
        if not server.get("private_key_path"):
            errors.append("derp.server.private_key_path: required when the embedded DERP server is enabled")
    dns = _section(config, "dns")
    base = dns.get("base_domain")
    if dns.get("magic_dns") and not base:
        errors.append("dns.base_domain: required when dns.magic_dns is true")
    if base and url:
        host = urlparse(str(url)).hostname or ""
        if host == base or host.endswith("." + base):
            errors.append("dns.base_domain: must not be the server_url's domain or a parent of it")
    if target >= (0, 26) and dns.get("override_local_dns", True):
        if not (dns.get("nameservers") or {}).get("global"):
            errors.append("dns.nameservers.global: needs at least one server while"
                          " dns.override_local_dns is true (headscale 0.26+)")
    for index, record in enumerate(dns.get("extra_records") or []):
        if not isinstance(record, dict) or set(record) != {"name", "type", "value"}:
            errors.append(f"dns.extra_records[{index}]: needs exactly name, type and value")
            continue
        if record["type"] not in ("A", "AAAA"):
            errors.append(f"dns.extra_records[{index}].type: only A and AAAA are served")
        try:
            ipaddress.ip_address(str(record["value"]))
        except ValueError:
            errors.append(f"dns.extra_records[{index}].value: {record['value']!r} is not an address")
    policy = _section(config, "policy")
    if policy.get("mode") not in (None, "file", "database"):
        errors.append("policy.mode: must be file or database")
    database = _section(config, "database")
    if database.get("type") not in (None, "sqlite", "sqlite3", "postgres"):
        errors.append("database.type: must be sqlite or postgres")
    level = _section(config, "log").get("level")
    if level not in (None,) + _LOG_LEVELS:
        errors.append(f"log.level: {level!r} is not a zerolog level")
    return errors


def validate_config(config, version):
    """Every problem of ``config`` (a dict) for headscale ``version``; empty when valid."""
    if not isinstance(config, dict):
        return ["config: must be a mapping"]
    target = parse_version(version)[:2]
    renamed = renamed_keys_in(config, version)
    renamed_roots = {message.split(":")[0].split(" ")[0] for message in renamed}
    unknown = [e for e in _unknown_keys(config, config_schema(version))
               if e.split(":")[0] not in renamed_roots]
    return renamed + unknown + _value_errors(config, target)


# --- running the CLI --------------------------------------------------------------------
# The options every headscale_* module takes to find and run the CLI (documented once, in
# the colab.cluster.headscale doc fragment).
CLI_ARGUMENT_SPEC = dict(
    binary=dict(type="str", default="headscale"),
    config_path=dict(type="path"),
    version=dict(type="str"),
    timeout=dict(type="int", default=30),
)


class HeadscaleCLI:
    """Runs the headscale CLI (``-o json``) through ``_bounded.run_bounded``, bounded in time.

    The CLI's own gRPC timeout (``HEADSCALE_CLI_TIMEOUT``, default 5s) is set to the
    same bound, so a server that does not answer is reported, not waited for.
    """

    def __init__(self, module, binary, config_path=None, timeout=30, version=None):
        self.module = module
        self.binary = binary
        self.config_path = config_path
        self.timeout = timeout
        self._caps = Capabilities(version) if version else None

    @classmethod
    def from_module(cls, module):
        """The CLI as a module's CLI_ARGUMENT_SPEC options describe it."""
        params = module.params
        binary = params["binary"]
        if "/" not in binary:
            binary = module.get_bin_path(binary, required=True)
        return cls(module, binary, params["config_path"], params["timeout"], params["version"])

    def run(self, argv, what, check=True):
        env = {"HEADSCALE_CLI_TIMEOUT": f"{int(self.timeout)}s"}
        rc, out, err, timed_out = run_bounded(self.module, argv, self.timeout, environ_update=env)
        if timed_out:
            raise HeadscaleError(f"headscale {what} did not answer within {self.timeout}s")
        if check and rc != 0:
            raise HeadscaleError(f"headscale {what} failed (rc={rc}): {error_message(out, err)}")
        return rc, out, err

    @property
    def caps(self):
        if self._caps is None:
            _rc, out, _err = self.run(base_argv(self.binary, self.config_path) + ["version"], "version")
            self._caps = Capabilities(parse_version(out))
        return self._caps

    def users(self):
        return parse_users(self.run(users_list_argv(self.binary, self.config_path), "users list")[1])

    def nodes(self):
        return parse_nodes(self.run(nodes_list_argv(self.binary, self.config_path), "nodes list")[1])

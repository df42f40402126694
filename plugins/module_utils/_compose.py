# -*- coding: utf-8 -*-
# Copyright: colab.cluster developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planning and CLI plumbing for colab.cluster.compose_stack.

The pure functions (parse_*, select_services, plan, redact, ...) hold the decision logic and are
unit tested with recorded real outputs of ``docker compose`` / ``docker ps``. ComposeStack drives
the ``docker`` CLI: it reads the state in a few parallel calls, plans, and runs ``up`` only for
the services that differ.
"""

from __future__ import annotations

import copy
import errno
import hashlib
import json
import os
import re
import subprocess
import time

from ansible_collections.colab.cluster.plugins.module_utils._docker_api import (
    DockerAPI,
    DockerAPIError,
    local_socket,
)

MASK = "********"
WATCH_LABEL = "com.colab.compose-stack.watch-digest"
STATE_FILE = ".compose-stack.json"
CONFIG_HASH_LABEL = "com.docker.compose.config-hash"
COMPOSE_FILE = "compose.yaml"
LOG_LINES = 20
# secrets shorter than this are masked only where a whole string equals them
SUBSTRING_MIN = 4

# One line per container; the labels are read one by one so a comma in a value cannot split them.
PS_FORMAT = "\t".join([
    "{{.ID}}",
    "{{.State}}",
    "{{.Status}}",
    '{{.Label "com.docker.compose.service"}}',
    '{{.Label "com.docker.compose.config-hash"}}',
    '{{.Label "com.docker.compose.image"}}',
    '{{.Label "com.docker.compose.oneoff"}}',
    "{{.Names}}",
    "{{.Networks}}",
    "{{.Mounts}}",
])
PS_FIELDS = ("id", "state", "status", "service", "config_hash", "image_id", "oneoff", "name",
             "networks", "mounts")
NETWORK_FORMAT = '{{.Name}}\t{{.ID}}\t{{.Label "com.docker.compose.config-hash"}}'
VOLUME_FORMAT = '{{.Name}}\t{{.Label "com.docker.compose.config-hash"}}'

# Compose: level=warning msg="The \"SEC\" variable is not set. Defaulting to a blank string."
_UNSET_RE = re.compile(r'The \\?"(?P<name>[A-Za-z_][A-Za-z0-9_]*)\\?" variable is not set')
_HEALTH_RE = re.compile(r"\((?:health: )?(?P<health>healthy|unhealthy|starting)\)")
# What `up --wait` prints when its wait fails (convergence.go isServiceHealthy / waitDependencies and
# start.go start @v2.26.1 and @v2.40.3; service_containers.go and start.go @v5.6.0): the up itself
# is done then, the verdict is on the containers it started. Also "dependency failed to start:
# container X is unhealthy", the depends_on wait of a service_healthy dependency (startService).
_WAIT_FAILURE_RE = re.compile(
    r"container \S+ (?:is unhealthy|exited \(-?\d+\)|has no healthcheck configured|had unexpected health status)"
    r"|service \"[^\"]+\" didn't complete successfully: exit -?\d+"
    r"|application not healthy after \S+|timeout waiting for dependencies")
_EXIT_RE = re.compile(r"^Exited \((?P<code>-?\d+)\)")
# Compose's own variables that would silently change what the module asked for.
_COMPOSE_ENV_OVERRIDES = ("COMPOSE_FILE", "COMPOSE_PROJECT_NAME", "COMPOSE_PROFILES",
                          "COMPOSE_ENV_FILES", "COMPOSE_PATH_SEPARATOR", "COMPOSE_REMOVE_ORPHANS")
_UP_ACTIONS = ("create", "recreate", "start", "scale")
# compose-go cli/options.go@v2.0.2 and @v2.9.1: DefaultFileNames / DefaultOverrideFileNames
DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_FILES = ("compose.override.yaml", "compose.override.yml",
                  "docker-compose.override.yml", "docker-compose.override.yaml")
# str2duration.go@v2.1.0 (github.com/xhit/go-str2duration, what compose-go types.go GetPullPolicy
# @v2.9.1 parses every_<duration> with): unitMap, in nanoseconds
_DURATION_UNITS = {"ns": 1, "us": 10 ** 3, "\u00b5s": 10 ** 3, "\u03bcs": 10 ** 3, "ms": 10 ** 6,
                   "s": 10 ** 9, "m": 60 * 10 ** 9, "h": 3600 * 10 ** 9, "d": 86400 * 10 ** 9,
                   "w": 7 * 86400 * 10 ** 9}
_DURATION_PART = re.compile(r"(?P<int>[0-9]*)(?:\.(?P<frac>[0-9]*))?(?P<unit>[^0-9.]*)")
# types.go@v2.9.1 (compose-go): the `service:` prefix of network_mode / ipc / pid, replaced by
# `container:` + the referenced service's container id (convergence.go resolveSharedNamespaces)
SERVICE_PREFIX = "service:"
CONTAINER_PREFIX = "container:"
# Where the docker CLI looks for its plugins (after $DOCKER_CONFIG/cli-plugins).
_PLUGIN_DIRS = ("/usr/local/lib/docker/cli-plugins", "/usr/local/libexec/docker/cli-plugins",
                "/usr/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins")


class ComposeError(Exception):
    """A failure with a message meant for the user (already redacted)."""

    def __init__(self, msg: str, **details) -> None:
        super().__init__(msg)
        self.details = details


# ---------------------------------------------------------------------------------------------
# Pure helpers (unit tested)
# ---------------------------------------------------------------------------------------------
def flat_actions(actions, names):
    """["<service> <action>", ...] for ``names`` in that order: the RV(actions) list."""
    return ["%s %s" % (n, a) for n in names for a in actions.get(n, [])]


def redact(obj, secrets):
    """Return obj with every secret value replaced by MASK (recursively).

    Values of SUBSTRING_MIN characters or more are replaced wherever they occur inside a string;
    shorter ones (``1``, ``on``) only where a whole string equals them, so that masking them
    cannot garble unrelated text such as hashes and ids.
    """
    secrets = {s for s in secrets if s}
    if not secrets:
        return obj
    long_ones = sorted((s for s in secrets if len(s) >= SUBSTRING_MIN), key=len, reverse=True)
    short_ones = {s for s in secrets if len(s) < SUBSTRING_MIN}

    def _walk(value):
        if isinstance(value, str):
            if value in short_ones:
                return MASK
            for secret in long_ones:
                value = value.replace(secret, MASK)
            return value
        if isinstance(value, dict):
            return {_walk(k): _walk(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [_walk(v) for v in value]
        return value

    return _walk(obj)


def parse_env_file(text: str) -> dict:
    """KEY=VALUE lines of a dotenv file (``export``, quotes and comments as Compose's dotenv reads
    them, compose-go dotenv/parser.go@v2.9.1), for redaction: every value is a secret."""
    values = {}
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, sep, value = line.partition("=")
        if not sep:
            continue
        value = value.strip()
        if value[:1] in ("'", '"') and value[-1:] == value[:1] and len(value) >= 2:
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key.strip()] = value
    return values


def mask_environment(config: dict) -> dict:
    """A copy of a resolved config whose per-service ``environment`` and ``build.args`` values are
    all MASK: ``config`` resolves ``env_file:`` into ``environment`` (cmd/compose/config.go@v2.26.1
    and @v2.40.3), so any of them may be a secret the module never saw."""
    result = copy.deepcopy(config)
    for svc in (result.get("services") or {}).values():
        env = svc.get("environment")
        if isinstance(env, dict):
            svc["environment"] = {k: (None if v is None else MASK) for k, v in env.items()}
        build = svc.get("build")
        if isinstance(build, dict) and isinstance(build.get("args"), dict):
            build["args"] = {k: (None if v is None else MASK) for k, v in build["args"].items()}
    return result


def environment_values(svc: dict) -> list:
    """The values a service's container gets in its environment, as ``up`` sets them: the resolved
    ``environment`` of ``config`` output, where ``env_file:`` entries have been merged in
    (cmd/compose/config.go@v2.26.1 and @v2.40.3) and ``$`` is printed as ``$$``
    (unescape_dollars). mask_environment hides them in views; these are the clear values, for
    redacting what the container itself prints."""
    env = svc.get("environment")
    if isinstance(env, list):  # KEY=VALUE entries (config prints a mapping; a definition may not)
        env = dict(e.partition("=")[::2] for e in env if isinstance(e, str))
    if not isinstance(env, dict):
        return []
    return [unescape_dollars(str(v)) for v in env.values() if v not in (None, "")]


def env_strings(env) -> dict:
    """Normalise the env option into the strings the process environment needs."""
    out = {}
    for key, value in (env or {}).items():
        if value is None:
            value = ""
        elif isinstance(value, bool):
            value = "true" if value else "false"
        out[str(key)] = str(value)
    return out


def variable_users(raw: dict, names) -> dict:
    """For each variable name, where the uninterpolated config (``config --no-interpolate``)
    references it: service names, or ``""`` for anything outside ``services``."""
    patterns = {n: re.compile(r"\$\{?%s(?![A-Za-z0-9_])" % re.escape(n)) for n in names}
    users = {n: set() for n in names}

    def _walk(value, where):
        if isinstance(value, str):
            for n, pat in patterns.items():
                if pat.search(value.replace("$$", "")):
                    users[n].add(where)
        elif isinstance(value, dict):
            for k, v in value.items():
                _walk(k, where)
                _walk(v, where)
        elif isinstance(value, (list, tuple)):
            for v in value:
                _walk(v, where)

    for key, value in (raw or {}).items():
        if key == "services" and isinstance(value, dict):
            for svc_name, svc in value.items():
                _walk(svc, svc_name)
        else:
            _walk(value, "")
    return users


def unset_variables(stderr: str) -> list:
    """Names of interpolation variables Compose reported as not set."""
    return sorted(set(m.group("name") for m in _UNSET_RE.finditer(stderr or "")))


def parse_hashes(text: str) -> dict:
    """Parse ``docker compose config --hash '*'`` (``service hash`` per line)."""
    hashes = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 2:
            hashes[parts[0]] = parts[1]
    return hashes


def _status_fields(status: str) -> dict:
    health = _HEALTH_RE.search(status)
    code = _EXIT_RE.search(status)
    return {"health": health.group("health") if health else None,
            "exit_code": int(code.group("code")) if code else None}


def parse_ps(text: str) -> list:
    """Parse ``docker ps -a --no-trunc --format PS_FORMAT`` output; one-off containers are skipped.

    ``networks`` and ``mounts`` are names here (the CLI shows no network ids)."""
    containers = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(PS_FIELDS):
            raise ComposeError("unexpected docker ps output line: %r" % line)
        item = dict(zip(PS_FIELDS, fields))
        if item.pop("oneoff") == "True":
            continue
        item["networks"] = [n for n in item["networks"].split(",") if n]
        item["mounts"] = [m for m in item["mounts"].split(",") if m]
        item.update(_status_fields(item["status"]))
        containers.append(item)
    return containers


def containers_from_api(items: list) -> list:
    """The parse_ps() shape from Engine API GET /containers/json items; ``networks`` are the
    network ids (NetworkSettings.Networks.*.NetworkID), ``mounts`` the volume names."""
    containers = []
    for item in items:
        labels = item.get("Labels") or {}
        if labels.get("com.docker.compose.oneoff") == "True":
            continue
        status = item.get("Status") or ""
        nets = ((item.get("NetworkSettings") or {}).get("Networks") or {})
        entry = {
            "id": item["Id"],
            "state": item.get("State") or "",
            "status": status,
            "service": labels.get("com.docker.compose.service", ""),
            "config_hash": labels.get("com.docker.compose.config-hash", ""),
            "image_id": labels.get("com.docker.compose.image", ""),
            "name": ((item.get("Names") or ["/"])[0]).lstrip("/"),
            "networks": sorted(n.get("NetworkID") or "" for n in nets.values()),
            "mounts": sorted(m.get("Name") or "" for m in item.get("Mounts") or []
                             if m.get("Type") == "volume"),
        }
        entry.update(_status_fields(status))
        containers.append(entry)
    return containers


def networks_from_api(items: list) -> dict:
    """name -> {"id", "hash"} from Engine API GET /networks items."""
    return {n["Name"]: {"id": n.get("Id") or "", "hash": (n.get("Labels") or {}).get(CONFIG_HASH_LABEL, "")}
            for n in items}


def parse_network_ls(text: str) -> dict:
    """Parse ``docker network ls --no-trunc --format NETWORK_FORMAT``; ids are names for the CLI path
    (the CLI's ps shows network names only)."""
    nets = {}
    for line in (text or "").splitlines():
        parts = line.split("\t")
        if len(parts) == 3:
            nets[parts[0]] = {"id": parts[0], "hash": parts[2]}
    return nets


def volumes_from_api(body: dict) -> dict:
    """name -> config-hash label from Engine API GET /volumes."""
    return {v["Name"]: (v.get("Labels") or {}).get(CONFIG_HASH_LABEL, "")
            for v in (body or {}).get("Volumes") or []}


def parse_volume_ls(text: str) -> dict:
    vols = {}
    for line in (text or "").splitlines():
        parts = line.split("\t")
        if len(parts) == 2:
            vols[parts[0]] = parts[1]
    return vols


def images_from_api(items: list) -> dict:
    """The parse_image_ls() shape from Engine API GET /images/json items, with each RepoDigests
    entry too (under digest_key), so that a digest-pinned image needs no ``image inspect``."""
    ids = {}
    for item in items:
        for tag in item.get("RepoTags") or []:
            if "<none>" not in tag:
                ids[tag] = item["Id"]
        for ref in item.get("RepoDigests") or []:
            if "@" in ref and "<none>" not in ref:
                ids[digest_key(ref)] = item["Id"]
    return ids


def service_enabled(service: dict, profiles) -> bool:
    wanted = service.get("profiles") or []
    return not wanted or "*" in profiles or bool(set(wanted) & set(profiles))


def _depends_on(service: dict) -> list:
    deps = service.get("depends_on") or {}
    if isinstance(deps, dict):
        return list(deps)
    return list(deps)


def select_services(config: dict, requested, profiles, dependencies: bool = True) -> list:
    """The services to act on: the requested ones and (unless dependencies is false) what they
    depend on, else the enabled ones."""
    services = config.get("services") or {}
    if requested:
        unknown = [name for name in requested if name not in services]
        if unknown:
            raise ComposeError("services: unknown service(s) %s; the project defines %s"
                               % (", ".join(unknown), ", ".join(sorted(services)) or "none"))
        selected, todo = [], list(requested)
        while todo:
            name = todo.pop(0)
            if name in selected:
                continue
            selected.append(name)
            if dependencies:
                todo.extend(d for d in _depends_on(services[name]) if d in services)
        return sorted(selected)
    return sorted(name for name, svc in services.items() if service_enabled(svc, profiles))


def replicas(service: dict, name: str = "", scale=None) -> int:
    if scale and name in scale:
        return int(scale[name])
    if service.get("scale") is not None:
        return int(service["scale"])
    deploy = service.get("deploy") or {}
    if deploy.get("replicas") is not None:
        return int(deploy["replicas"])
    return 1


def image_name(project: str, name: str, service: dict) -> str:
    return service.get("image") or "%s-%s" % (project, name)


# --- Compose versions -------------------------------------------------------------------------
# Where Compose's own `up` changed between the versions this module supports, the plan follows the
# version that runs (the first version with each behaviour, from docker/compose's history):
FEATURES = {
    # pkg/compose/convergence.go stopDependentContainers (commit 1076f1d9a, first in v2.29.4):
    # a recreated service stops its `depends_on: {restart: true}` dependents, `up` starts them again
    "restart_dependents": (2, 29, 4),
    # pkg/compose/create.go resolveOrCreateNetwork/removeDivergedNetwork (v2.31.0): a network whose
    # com.docker.compose.config-hash label differs from NetworkHash() is removed and created again
    "network_divergence": (2, 31, 0),
    # pkg/compose/convergence.go checkExpectedNetworks/checkExpectedVolumes (v2.32.0): a running
    # container not attached to an expected network, or not mounting an expected volume, is recreated
    "container_attachments": (2, 32, 0),
    # pkg/compose/create.go ensureVolume/removeDivergedVolume (v2.32.0): a diverged volume is
    # recreated when the prompt is answered yes (-y / --yes, up.go@v2.40.3)
    "volume_divergence": (2, 32, 0),
    # pkg/compose/pull.go mustPull PullPolicyRefresh (first in v2.34.0): daily/weekly/every_<d> pull
    # when the image's LastTagTime is older; pull.go pullRequiredImages@v2.26.1 pulls them on every up
    "pull_refresh": (2, 34, 0),
    # pkg/compose/hash.go ServiceHash leaves depends_on out from v2.29.3 (commit d658fecc6) and
    # profiles from v2.30.2 (commit 513b6128c)
    "hash_without_depends_on": (2, 29, 3),
    "hash_without_profiles": (2, 30, 2),
    # pkg/compose/convergence.go isServiceHealthy (commit 2f108ffaa, first in v5.0.2): `up --wait`
    # takes `healthcheck: {disable: true}` (Test ["NONE"]) as no healthcheck; before (@v2.26.1,
    # @v2.40.3) it fails with "container X has no healthcheck configured"
    "wait_disabled_healthcheck": (5, 0, 2),
    # pkg/compose/hash.go ServiceHash@v5.6.0 re-emits the service's JSON with its top-level keys in
    # a frozen order (serviceHashKeyOrder, pinRootKeyOrder; not in hash.go@v5.5.0): compose-go
    # v2.16.1, which v5.6.0 builds with, moved the fields into embedded ContainerSpec/WorkloadSpec
    # (types.go ServiceConfig@v2.16.1), so `config --format json` no longer prints the hashed order
    "hash_key_order_pinned": (5, 6, 0),
}

# serviceHashKeyOrder, pkg/compose/hash.go@v5.6.0 (github.com/docker/compose/v5 module zip): the
# historical ServiceConfig field order; keys not listed follow in sorted order (pinRootKeyOrder).
SERVICE_HASH_KEY_ORDER = (
    "profiles", "annotations", "attach", "build", "develop", "blkio_config", "cap_add", "cap_drop",
    "cgroup_parent", "cgroup", "cpu_count", "cpu_percent", "cpu_period", "cpu_quota", "cpu_rt_period",
    "cpu_rt_runtime", "cpus", "cpuset", "cpu_shares", "command", "configs", "container_name",
    "credential_spec", "depends_on", "deploy", "device_cgroup_rules", "devices", "dns", "dns_opt",
    "dns_search", "dockerfile", "domainname", "entrypoint", "provider", "environment", "env_file",
    "expose", "extends", "external_links", "extra_hosts", "group_add", "gpus", "hostname",
    "healthcheck", "image", "init", "ipc", "isolation", "labels", "label_file", "links", "logging",
    "log_driver", "log_opt", "mem_limit", "mem_reservation", "memswap_limit", "mem_swappiness",
    "mac_address", "models", "net", "network_mode", "networks", "oom_kill_disable", "oom_score_adj",
    "pid", "pids_limit", "platform", "ports", "privileged", "pull_policy", "read_only", "restart",
    "runtime", "scale", "secrets", "security_opt", "shm_size", "stdin_open", "stop_grace_period",
    "stop_signal", "storage_opt", "sysctls", "tmpfs", "tty", "ulimits", "use_api_socket", "user",
    "userns_mode", "uts", "volume_driver", "volumes", "volumes_from", "working_dir", "pre_start",
    "post_start", "pre_stop", "pull_refresh_after",
)


def parse_version(text: str) -> tuple:
    """``2.40.3-3`` / ``v2.26.1`` (``docker compose version --short``) -> (2, 40, 3)."""
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", text or "")
    return tuple(int(x) for x in match.groups()) if match else (0, 0, 0)


def has_feature(version: tuple, name: str) -> bool:
    return tuple(version) >= FEATURES[name]


def go_json(obj) -> str:
    """Compact JSON as Go's encoding/json writes it (HTML-safe escapes, UTF-8 kept), so a hash of
    it equals Compose's json.Marshal-based hashes for the same key order."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def unescape_dollars(obj):
    """The values Compose works with, from ``config`` output: ``config`` doubles every ``$`` of the
    document it prints, keys and values (cmd/compose/config.go escapeDollarSign@v2.26.1 and @v2.40.3;
    inline in runConfig@v5.5.0), so that it reads back as itself. The hashes of ``up`` are taken
    before that escaping: ``$$`` -> ``$`` is its exact inverse."""
    if isinstance(obj, str):
        return obj.replace("$$", "$")
    if isinstance(obj, dict):
        return {unescape_dollars(k): unescape_dollars(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [unescape_dollars(v) for v in obj]
    return obj


def service_references(svc: dict) -> list:
    """The services a service points at through ``network_mode`` / ``ipc`` / ``pid: service:X`` or
    ``volumes_from: [X]`` (not ``container:...``): what convergence.go resolveServiceReferences
    (@v2.26.1, @v2.40.3, @v5.5.0) replaces by a container id before hashing."""
    found = []
    for key in ("network_mode", "ipc", "pid"):
        value = svc.get(key)
        if isinstance(value, str) and value.startswith(SERVICE_PREFIX):
            found.append(value[len(SERVICE_PREFIX):])
    for vol in svc.get("volumes_from") or []:
        spec = str(vol).split(":")
        if spec[0] != "container":
            found.append(spec[0])
    return sorted(set(found))


def _reference_id(name: str, by_service: dict):
    """``dependencies.sorted()[0].ID``: the referenced service's container (one-offs excluded)
    whose canonical name sorts first (containers.go sorted, compose.go getCanonicalContainerName,
    @v2.40.3), or None when it has none (then Compose creates it first: a new id)."""
    found = sorted(by_service.get(name) or [], key=lambda c: c.get("name") or c["id"][:12])
    return found[0]["id"] if found else None


def resolve_references(svc: dict, by_service: dict, volumes_from: bool = True):
    """The service as ``up`` hashes it: ``service:X`` of network_mode / ipc / pid replaced by
    ``container:<id>``, and each volumes_from entry by the bare id (``container:Y[:mode]`` by ``Y``,
    ``X[:mode]`` by X's container id: the mode is dropped), as convergence.go resolveVolumeFrom /
    resolveSharedNamespaces do (@v2.26.1, @v2.40.3, @v5.5.0). Returns (service, missing names);
    a reference with no container is left as it is and named in ``missing``."""
    svc = dict(svc)
    missing = []
    if volumes_from and svc.get("volumes_from"):
        entries = []
        for vol in svc["volumes_from"]:
            spec = str(vol).split(":")
            if spec[0] == "container":
                entries.append(spec[1] if len(spec) > 1 else vol)
                continue
            cid = _reference_id(spec[0], by_service)
            if cid is None:
                missing.append(spec[0])
            entries.append(cid or vol)
        svc["volumes_from"] = entries
    for key in ("network_mode", "ipc", "pid"):
        value = svc.get(key)
        if isinstance(value, str) and value.startswith(SERVICE_PREFIX):
            cid = _reference_id(value[len(SERVICE_PREFIX):], by_service)
            if cid is None:
                missing.append(value[len(SERVICE_PREFIX):])
            else:
                svc[key] = CONTAINER_PREFIX + cid
    return svc, sorted(set(missing))


def containers_by_service(containers) -> dict:
    found = {}
    for cont in containers or []:
        found.setdefault(cont["service"], []).append(cont)
    return found


def service_hash(svc: dict, version, by_service=None) -> str:
    """ServiceHash (pkg/compose/hash.go@v2.26.1 / @v2.40.3 / @v5.6.0) of one service of the resolved
    ``config --format json``, which prints the service in ServiceConfig's field order: sha256 of its
    JSON without build, pull_policy, scale and deploy.replicas (and, by version, depends_on and
    profiles; from 5.6.0 with the top-level keys in SERVICE_HASH_KEY_ORDER), with ``$$`` read back
    as ``$`` (unescape_dollars) and, given the project's containers per service, the service
    references resolved to container ids as ``up`` resolves them before it hashes
    (resolve_references). Used as the shortcut: where it equals a container's label the container
    is up to date; anywhere else Compose's own ``config --hash`` decides."""
    svc = unescape_dollars(svc)
    if by_service is not None:
        svc = resolve_references(svc, by_service)[0]
    for key in ("build", "pull_policy", "scale"):
        svc.pop(key, None)
    if isinstance(svc.get("deploy"), dict):
        svc["deploy"] = {k: v for k, v in svc["deploy"].items() if k != "replicas"}
    if has_feature(version, "hash_without_depends_on"):
        svc.pop("depends_on", None)
    if has_feature(version, "hash_without_profiles"):
        svc.pop("profiles", None)
    if has_feature(version, "hash_key_order_pinned"):
        listed = [k for k in SERVICE_HASH_KEY_ORDER if k in svc]
        svc = {k: svc[k] for k in listed + sorted(k for k in svc if k not in SERVICE_HASH_KEY_ORDER)}
    return hashlib.sha256(go_json(svc).encode()).hexdigest()


def _no_extensions(obj: dict) -> dict:
    # Extensions are `json:"-"` in compose-go types.NetworkConfig/VolumeConfig (types.go@v2.9.1)
    return {k: v for k, v in obj.items() if not k.startswith("x-")}


def network_hash(net: dict) -> str:
    """NetworkHash (pkg/compose/hash.go@v2.40.3): sha256 of the network's JSON, which
    ``config --format json`` prints in the struct's field order (``$$`` read back as ``$``,
    unescape_dollars)."""
    return hashlib.sha256(go_json(unescape_dollars(_no_extensions(net))).encode()).hexdigest()


def volume_hash(vol: dict) -> str:
    """VolumeHash (pkg/compose/hash.go@v2.40.3): like network_hash, with driver ``local`` when unset."""
    vol = unescape_dollars(_no_extensions(vol))
    if not vol.get("driver"):
        ordered = {}
        if "name" in vol:
            ordered["name"] = vol["name"]
        ordered["driver"] = "local"
        ordered.update((k, v) for k, v in vol.items() if k not in ("name", "driver"))
        vol = ordered
    return hashlib.sha256(go_json(vol).encode()).hexdigest()


def _service_networks(svc: dict) -> list:
    nets = svc.get("networks")
    if nets is None:
        return [] if svc.get("network_mode") else ["default"]
    return list(nets)


def _service_volumes(svc: dict) -> list:
    return [v.get("source") for v in svc.get("volumes") or []
            if isinstance(v, dict) and v.get("type") == "volume" and v.get("source")]


def dependents(config: dict, name: str, restart_only: bool = False) -> list:
    """Services that depend on name (with ``restart: true`` only, when asked)."""
    found = []
    for other, svc in (config.get("services") or {}).items():
        deps = svc.get("depends_on") or {}
        if name in deps and (not restart_only or (isinstance(deps, dict) and (deps[name] or {}).get("restart"))):
            found.append(other)
    return sorted(found)


def is_one_shot(config: dict, name: str) -> bool:
    """A service another one waits on with ``condition: service_completed_successfully``:
    Compose's --wait accepts it exited 0 (start.go getDependencyCondition@v2.26.1 / @v2.40.3)."""
    for svc in (config.get("services") or {}).values():
        deps = svc.get("depends_on") or {}
        if isinstance(deps, dict) and (deps.get(name) or {}).get("condition") == "service_completed_successfully":
            return True
    return False


def _healthcheck_disabled(svc: dict) -> bool:
    check = svc.get("healthcheck") or {}
    return bool(check.get("disable")) or (check.get("test") or [None])[0] == "NONE"


def compose_wait(config: dict, to_up: list, dependencies: bool, version, scale=None):
    """The services ``up --wait <to_up>`` waits for, or None when its verdict would differ from
    this module's O(wait) (then up runs without --wait and the module's own check decides).

    Compose waits for every service of the up's project, to_up and (without --no-deps) what they
    depend on, skipping those scaled to 0 (start.go start, convergence.go shouldWaitForDependency
    @v2.26.1 / @v2.40.3, service_containers.go @v5.6.0). It differs from this module where:

    - a one-shot service (one another service waits on with service_completed_successfully) is in
      the up but none of those dependents is: getDependencyCondition looks only at the up's
      project, so Compose expects it running and fails on its exit 0;
    - a service has ``healthcheck: {disable: true}``, before 5.0.2 (FEATURES
      wait_disabled_healthcheck): Compose fails with "has no healthcheck configured".
    See docs/compose_stack_wait.md."""
    services = config.get("services") or {}
    waited = [n for n in select_services(config, to_up, ["*"], dependencies) if replicas(services[n], n, scale) > 0]
    for name in waited:
        waiters = [other for other, svc in services.items()
                   if isinstance(svc.get("depends_on"), dict)
                   and ((svc["depends_on"].get(name) or {}).get("condition") == "service_completed_successfully")]
        if waiters and not set(waiters) & set(waited):
            return None
        if _healthcheck_disabled(services[name]) and not has_feature(version or (0, 0, 0), "wait_disabled_healthcheck"):
            return None
    return waited


def compose_wait_failure(text: str) -> list:
    """The lines of Compose's output that say its --wait failed (empty when the up failed otherwise)."""
    return [line.strip() for line in (text or "").splitlines() if _WAIT_FAILURE_RE.search(line)]


def plan(config: dict, hashes: dict, containers: list, image_ids: dict, selected: list,
         state: str = "present", recreate: str = "auto", pull: str = "policy",
         project: str = "", requested=None, version=(2, 40, 3), networks=None, volumes=None,
         scale=None, build: str = "policy", assume_yes: bool = False, stale_images=()) -> dict:
    """Decide the actions per selected service, as ``docker compose up`` of that version would.

    image_ids maps image reference -> local image id (None when the image is not present).
    requested: the services named by the user; their dependencies are selected too (so they
    exist and run), but only the named ones are stopped, restarted or removed.
    networks: network name -> {"id", "hash"} on the engine; volumes: volume name -> config-hash label.
    stale_images: image references a pull would change (registry digest differs, or pulled).
    Returns {"services": {name: [actions]}, "orphans": [names], "resources": {name: [actions]}}.
    """
    services = config.get("services") or {}
    by_service = {}
    for c in containers:
        by_service.setdefault(c["service"], []).append(c)
    orphans = sorted(name for name in by_service if name not in services)
    actions = {}
    resources = {}
    networks = networks if networks is not None else {}
    volumes = volumes if volumes is not None else {}
    force = set()  # services a diverged network/volume makes Compose stop (and start again)
    if state not in ("stopped", "absent"):
        top_nets = config.get("networks") or {}
        if has_feature(version, "network_divergence"):
            for key, net in sorted(top_nets.items()):
                if not isinstance(net, dict) or net.get("external"):
                    continue
                have = networks.get(net.get("name") or key)
                if have and have["hash"] and have["hash"] != network_hash(net):
                    resources["network " + (net.get("name") or key)] = ["recreate"]
                    force.update(n for n in selected if key in _service_networks(services[n]))
        if has_feature(version, "volume_divergence") and assume_yes:
            for key, vol in sorted((config.get("volumes") or {}).items()):
                if not isinstance(vol, dict) or vol.get("external"):
                    continue
                label = volumes.get(vol.get("name") or key)
                if label and label != volume_hash(vol):
                    resources["volume " + (vol.get("name") or key)] = ["recreate"]
                    force.update(n for n in selected if key in _service_volumes(services[n]))
    for name in selected:
        svc = services[name]
        current = by_service.get(name, [])
        running = [c for c in current if c["state"] == "running"]
        todo = []
        named = not requested or name in requested
        if state == "stopped":
            if running and named:
                todo.append("stop")
        elif state == "absent":
            if current and named:
                todo.append("remove")
        else:
            image = image_name(project, name, svc)
            want_image = image_ids.get(image)
            builds = bool(svc.get("build"))
            if builds and (build == "always" or (build == "policy" and svc.get("pull_policy") == "build")):
                todo.append("build")
            elif want_image is None and not (pull == "never" and not builds) and build != "never":
                todo.append("build" if builds else "pull")
            elif image in stale_images:
                todo.append("pull")
            want = replicas(svc, name, scale)
            if not current:
                if want > 0:
                    todo.append("create")
            else:
                pulled = image in stale_images
                stale = [c for c in current
                         if _stale(c, svc, hashes.get(name), want_image, pulled, config, networks, version)]
                volume_gone = name in force and _mounts_diverged(svc, resources, config)
                if recreate == "always" or (recreate == "auto" and (stale or volume_gone)):
                    todo.append("recreate")
                elif name in force:
                    todo.append("restart")
                elif len(current) - len(_not_up(current, config, name)) < min(len(current), want):
                    todo.append("start")
                if len(current) != want:
                    todo.append("scale")
            if state == "restarted" and named and not any(a in _UP_ACTIONS + ("restart",) for a in todo):
                todo.append("restart")
        actions[name] = todo
    if state not in ("stopped", "absent") and recreate == "auto":
        _recreate_referencing(services, actions, by_service)
    if state not in ("stopped", "absent") and has_feature(version, "restart_dependents"):
        # Compose stops the restart:true dependents of a recreated service and starts them again
        for name in sorted(actions):
            if "recreate" in actions[name]:
                for other in dependents(config, name, restart_only=True):
                    if other in actions and not any(a in _UP_ACTIONS + ("restart",) for a in actions[other]):
                        actions[other].append("restart")
    return {"services": actions, "orphans": orphans, "resources": resources}


def _recreate_referencing(services: dict, actions: dict, by_service: dict) -> None:
    """A service whose ``service:X`` / ``volumes_from`` target gets a new container (created or
    recreated) is recreated too: `up` converges in dependency order and resolves the reference to
    the new container's id before it hashes (convergence.go ensureService -> resolveServiceReferences,
    setObservedState, @v2.26.1 and @v2.40.3), so its hash changes. Chains follow (a fixpoint)."""
    moved = True
    while moved:
        moved = False
        for name in sorted(actions):
            todo = actions[name]
            if "recreate" in todo or not by_service.get(name):
                continue
            if any(set(actions.get(ref) or []) & {"create", "recreate"}
                   for ref in service_references(services[name])):
                for gone in ("start", "restart"):
                    if gone in todo:
                        todo.remove(gone)
                todo.append("recreate")
                moved = True


def _mounts_diverged(svc: dict, resources: dict, config: dict) -> bool:
    vols = config.get("volumes") or {}
    return any("volume " + ((vols.get(v) or {}).get("name") or v) in resources for v in _service_volumes(svc))


def _not_up(current: list, config: dict, name: str) -> list:
    """Containers Compose's `up` would start: not running, except a one-shot that exited 0
    (this module counts a completed one-shot as up to date, where Compose would run it again)."""
    one_shot = is_one_shot(config, name)
    return [c for c in current if c["state"] != "running"
            and not (one_shot and c["state"] == "exited" and c.get("exit_code") == 0)]


def _stale(c: dict, svc: dict, want_hash, want_image, pulled: bool, config: dict, networks: dict, version) -> bool:
    """mustRecreate (pkg/compose/convergence.go@v2.26.1 and @v2.40.3) for one container; an empty
    com.docker.compose.image label differs from the digest up expects, as there."""
    if c["config_hash"] != want_hash:
        return True
    if c["image_id"] != want_image or pulled:
        return True
    if has_feature(version, "container_attachments") and c["state"] == "running":
        top = config.get("networks") or {}
        for key in _service_networks(svc):
            net = top.get(key) or {}
            have = networks.get(net.get("name") or key)
            if have and have["id"] not in c.get("networks", []):
                return True
        vols = config.get("volumes") or {}
        for key in _service_volumes(svc):
            name = (vols.get(key) or {}).get("name") or key
            if c.get("mounts") is not None and name not in c["mounts"]:
                return True
    return False


def is_change(actions: list) -> bool:
    """Whether a service's action list changes something (a planned pull alone is not known to)."""
    return any(a not in ("pull", "build") for a in actions)


def watched_services(config: dict, selected: list, watch_paths: list) -> dict:
    """Map each watched path to the selected services that mount it (bind, configs, secrets)."""
    services = config.get("services") or {}
    top = {"configs": config.get("configs") or {}, "secrets": config.get("secrets") or {}}

    def covers(source, path):
        if not source:
            return False
        source = os.path.normpath(source)
        return path == source or path.startswith(source.rstrip("/") + "/") or source.startswith(path.rstrip("/") + "/")

    found = {}
    for path in watch_paths:
        path = os.path.normpath(path)
        users = []
        for name in selected:
            svc = services[name]
            sources = [v.get("source") for v in svc.get("volumes") or []
                       if isinstance(v, dict) and v.get("type") == "bind"]
            for kind in ("configs", "secrets"):
                for ref in svc.get(kind) or []:
                    ref_name = ref.get("source") if isinstance(ref, dict) else ref
                    sources.append((top[kind].get(ref_name) or {}).get("file"))
            if any(covers(s, path) for s in sources):
                users.append(name)
        found[path] = users
    return found


def content_digest(path: str) -> str:
    """sha256 of a file, or of a directory tree (relative names and contents, sorted)."""
    digest = hashlib.sha256()
    if os.path.isdir(path):
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for fname in sorted(files):
                full = os.path.join(root, fname)
                digest.update(os.path.relpath(full, path).encode() + b"\0")
                digest.update(_file_sha(full).encode() + b"\n")
        return digest.hexdigest()
    return _file_sha(path)


def _file_sha(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def watch_labels(users: dict, digests: dict) -> dict:
    """Per service, one digest over the watched paths it mounts."""
    per_service = {}
    for path in sorted(users):
        for name in users[path]:
            per_service.setdefault(name, []).append("%s %s" % (path, digests[path]))
    return {name: hashlib.sha256("\n".join(lines).encode()).hexdigest()
            for name, lines in per_service.items()}


def inject_labels(definition: dict, labels: dict) -> dict:
    """A copy of a compose definition with WATCH_LABEL set on the given services."""
    result = copy.deepcopy(definition)
    for name, digest in labels.items():
        svc = result.setdefault("services", {}).setdefault(name, {})
        current = svc.get("labels")
        if isinstance(current, list):
            svc["labels"] = [x for x in current if not str(x).startswith(WATCH_LABEL + "=")]
            svc["labels"].append("%s=%s" % (WATCH_LABEL, digest))
        else:
            svc["labels"] = dict(current or {})
            svc["labels"][WATCH_LABEL] = digest
    return result


def missing_external_networks(config: dict, existing) -> list:
    """Names of the external networks the project declares that the engine does not have."""
    missing = []
    for key, net in (config.get("networks") or {}).items():
        if isinstance(net, dict) and net.get("external"):
            name = net.get("name") or key
            if name not in existing:
                missing.append(name)
    return sorted(missing)


def _strip_default_registry(ref: str) -> str:
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/"):
        if ref.startswith(prefix):
            return ref[len(prefix):]
    return ref


def digest_key(ref: str) -> str:
    """``name@sha256:...`` of a digest reference, the default registry and any tag dropped
    (``docker.io/library/x:1@sha256:d`` -> ``x@sha256:d``): how a RepoDigests entry and a
    service's ``image`` are matched."""
    name, _sep, digest = ref.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[:len(name) - len(last)] + last.split(":", 1)[0]
    return "%s@%s" % (_strip_default_registry(name), digest)


def normalize_image(ref: str) -> str:
    """The name ``docker image ls`` shows for an image reference (default registry and tag)."""
    if "@" in ref:
        return ref
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/"):
        if ref.startswith(prefix):
            ref = ref[len(prefix):]
            break
    if ":" not in ref.rsplit("/", 1)[-1]:
        ref += ":latest"
    return ref


def parse_image_ls(text: str) -> dict:
    """Parse ``docker image ls --no-trunc --format '{{.Repository}}:{{.Tag}}\t{{.ID}}'``."""
    ids = {}
    for line in (text or "").splitlines():
        parts = line.split("\t")
        if len(parts) == 2 and "<none>" not in parts[0]:
            ids[parts[0]] = parts[1]
    return ids


def project_hash(hashes: dict, selected: list) -> str:
    lines = "\n".join("%s %s" % (name, hashes.get(name, "")) for name in sorted(selected))
    return hashlib.sha256(lines.encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# The CLI driver
# ---------------------------------------------------------------------------------------------
def discover_files(project_dir: str) -> list:
    """The Compose file (and override) Compose itself would pick in project_dir."""
    found = [os.path.join(project_dir, n) for n in DEFAULT_FILES if os.path.isfile(os.path.join(project_dir, n))]
    if not found:
        return []
    overrides = [os.path.join(project_dir, n) for n in OVERRIDE_FILES
                 if os.path.isfile(os.path.join(project_dir, n))]
    return found[:1] + overrides[:1]


def parse_duration(text: str) -> int:
    """Nanoseconds of a duration as str2duration.ParseDuration reads it (str2duration.go@v2.1.0,
    github.com/xhit/go-str2duration, which compose-go types.go GetPullPolicy@v2.9.1 calls for
    ``every_<duration>``): Go's time.ParseDuration plus ``d`` (24h) and ``w`` (168h), so ``2d``,
    ``1w``, ``500ms``, ``1.5h``, ``1h30m``; a sign, ``0`` alone; a unit is required otherwise.
    Raises ValueError with str2duration's message."""
    orig, rest, neg = text, text, False
    if rest[:1] in ("-", "+"):
        neg, rest = rest[0] == "-", rest[1:]
    if rest == "0":
        return 0
    if rest == "":
        raise ValueError('time: invalid duration "%s"' % orig)
    total = 0
    while rest:
        match = _DURATION_PART.match(rest)
        whole, frac, unit = match.group("int"), match.group("frac"), match.group("unit")
        if not whole and not frac:
            raise ValueError('time: invalid duration "%s"' % orig)
        if not unit:
            raise ValueError('time: missing unit in duration "%s"' % orig)
        if unit not in _DURATION_UNITS:
            raise ValueError('time: unknown unit "%s" in duration "%s"' % (unit, orig))
        scale = _DURATION_UNITS[unit]
        value = int(whole or "0") * scale
        if frac and int(frac):
            # v += int64(float64(f) * (float64(unit) / scale)), as str2duration rounds it
            value += int(float(int(frac)) * (float(scale) / 10 ** len(frac)))
        total += value
        if total >= 1 << 63:
            raise ValueError('time: invalid duration "%s"' % orig)
        rest = rest[match.end():]
    return -total if neg else total


def refresh_seconds(policy: str):
    """Seconds of a pull_policy ``daily``/``weekly``/``every_<duration>`` (compose-go
    types.ServiceConfig.GetPullPolicy@v2.9.1, the duration by parse_duration), else None.
    Raises ValueError for an ``every_`` whose duration str2duration rejects."""
    if policy == "daily":
        return 86400
    if policy == "weekly":
        return 7 * 86400
    if (policy or "").startswith("every_"):
        return parse_duration(policy[len("every_"):]) / 1e9
    return None


def _registry_ref(ref: str) -> str:
    return ref if "@" in ref or ":" in ref.rsplit("/", 1)[-1] else ref + ":latest"


class ComposeStack:
    def __init__(self, module) -> None:
        self.module = module
        p = module.params
        self.p = p
        self.project = p["project_name"]
        self.docker = module.get_bin_path("docker", required=True)
        self.env_values = env_strings(p["env"])
        self.read_timeout = p["read_timeout"]
        self.apply_timeout = p["apply_timeout"]
        self.definition = p["definition"]
        self.project_dir = p["project_dir"]
        self.files = list(p["files"] or [])
        if self.project_dir and self.files:
            self.files = [f if os.path.isabs(f) else os.path.join(self.project_dir, f) for f in self.files]
        if self.project_dir is None and self.files:
            self.project_dir = os.path.dirname(os.path.abspath(self.files[0]))
        if self.definition is None and not self.files and self.project_dir:
            self.files = discover_files(self.project_dir)
        self.secrets = [v for v in self.env_values.values() if v] + self._file_secrets()
        self.proc_env = dict(os.environ)
        for key in _COMPOSE_ENV_OVERRIDES:
            self.proc_env.pop(key, None)
        self.proc_env.update(self.env_values)
        self.proc_env["COMPOSE_ANSI"] = "never"
        self.proc_env["COMPOSE_PROGRESS"] = "plain"
        self.proc_env["COMPOSE_STATUS_STDOUT"] = "1"
        if p["docker_host"]:
            self.proc_env["DOCKER_HOST"] = p["docker_host"]
        self.engine = self.proc_env.get("DOCKER_HOST") or "the default socket"
        self.compose_plugin = self._find_plugin()
        sock = local_socket(self.proc_env)
        self.api = DockerAPI(sock, self.read_timeout) if sock else None
        self.commands = []
        self.version = None
        # what a run costs, returned as RV(cost): processes started, Engine API requests made
        self.cost = {"spawns": 0, "api_calls": 0}
        self.stdin_doc = None  # the definition (or watch override) Compose reads from stdin

    def _file_secrets(self):
        """Every value of the interpolation env files (env_files, else the project's .env, which
        Compose reads only without --env-file: compose-go cli/options.go WithDotEnv@v2.9.1)."""
        paths = list(self.p["env_files"])
        if self.project_dir:
            paths.append(os.path.join(self.project_dir, ".env"))
        values = []
        for path in paths:
            try:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    values += [v for v in parse_env_file(handle.read()).values() if v]
            except OSError:
                continue
        return values

    def _find_plugin(self):
        """The Compose plugin binary, run directly (standalone mode): it skips the docker CLI's
        start and plugin handshake, 3x faster on the hot path. $DOCKER_CONFIG/cli-plugins first,
        as the docker CLI looks."""
        config_dir = self.proc_env.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
        for folder in (os.path.join(config_dir, "cli-plugins"),) + _PLUGIN_DIRS:
            path = os.path.join(folder, "docker-compose")
            if os.path.isfile(path) and os.access(path, os.X_OK):
                return path
        return None

    # -- running commands ------------------------------------------------------------------
    def _count(self, kind):
        self.__dict__.setdefault("cost", {"spawns": 0, "api_calls": 0})[kind] += 1

    def _start(self, args, stdin=None, apply=False, extra=0):
        self._count("spawns")
        # run_command cannot start several commands at once, each with its own deadline
        proc = subprocess.Popen(args, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,  # pylint: disable=ansible-bad-function
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.proc_env,
                                cwd=self.project_dir if self.project_dir and os.path.isdir(self.project_dir) else None)
        # extra: an `up --wait` also waits, up to wait_timeout, once its containers are started
        timeout = (self.apply_timeout if apply else self.read_timeout) + extra
        return (proc, args, stdin, time.monotonic() + timeout, apply, extra)

    def _finish(self, handle, check=True):
        proc, args, stdin, deadline, apply, extra = handle
        try:
            out, err = proc.communicate(input=stdin.encode() if stdin is not None else None,
                                        timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            shown = " ".join(self._shown(args)[:6])
            if apply and extra:
                raise ComposeError("'%s' did not finish within apply_timeout=%ss + wait_timeout=%ss (a pull, build "
                                   "or start of this size needs a larger apply_timeout)" % (shown, self.apply_timeout, extra))
            if apply:
                raise ComposeError("'%s' did not finish within apply_timeout=%ss (a pull, build or start "
                                   "of this size needs a larger apply_timeout)" % (shown, self.apply_timeout))
            raise ComposeError("'%s' did not finish within read_timeout=%ss; is the Docker engine at %s answering?"
                               % (shown, self.read_timeout, self.engine))
        out = out.decode("utf-8", "replace")
        err = err.decode("utf-8", "replace")
        if check and proc.returncode != 0:
            raise ComposeError(self._redact("'%s' failed (rc=%s): %s"
                                            % (" ".join(self._shown(args)), proc.returncode, err.strip() or out.strip())))
        return proc.returncode, out, err

    def run(self, args, stdin=None, check=True, apply=False, extra=0):
        return self._finish(self._start(args, stdin, apply, extra), check=check)

    def _abandon(self, *handles):
        for h in handles:
            if h:
                self._finish(h, check=False)

    def _shown(self, args):
        """How a command reads for the user: ``docker compose ...`` whichever binary runs it."""
        if args[0] == self.compose_plugin:
            return ["docker", "compose"] + list(args[1:])
        return ["docker"] + list(args[1:])

    def _redact(self, obj):
        return redact(obj, self.secrets)

    def _compose_base(self, offline=False):
        # the plugin binary directly (standalone mode) for offline reads, and for every command
        # when the engine is the local socket (no docker context for the CLI to resolve)
        if self.compose_plugin and (offline or self.api):
            return [self.compose_plugin, "-p", self.project]
        return [self.docker, "compose", "-p", self.project]

    def compose_args(self, with_files=True, profiles_all=False, offline=False):
        args = self._compose_base(offline)
        if self.project_dir:
            args += ["--project-directory", self.project_dir]
        if with_files:
            for f in self.files:
                args += ["-f", f]
            if self.stdin_doc is not None:
                args += ["-f", "-"]
        for f in self.p["env_files"]:
            args += ["--env-file", f]
        for prof in (["*"] if profiles_all else self.p["profiles"]):
            args += ["--profile", prof]
        return args

    def container_labels(self):
        """The labels a container of the project carries for Compose: the project's, and a
        config-hash label at all (getDefaultFilters hasConfigHashLabel, pkg/compose/containers.go
        @v2.26.1, @v2.40.3 and @v5.6.0). Compose 5.6.0's pre_start hook runners carry the project and
        service labels but no config-hash (create.go NoConfigHash, pre_start.go@v5.6.0): they are
        neither replicas nor orphans, and a failed one stays behind for its logs."""
        return ["com.docker.compose.project=%s" % self.project, CONFIG_HASH_LABEL]

    def ps_args(self):
        filters = []
        for label in self.container_labels():
            filters += ["--filter", "label=" + label]
        return [self.docker, "ps", "-a", "--no-trunc"] + filters + ["--format", PS_FORMAT]

    def _api_call(self, method, *args):
        self._count("api_calls")
        try:
            return method(*args)
        except DockerAPIError as exc:
            raise ComposeError(self._redact("the Docker engine at %s did not answer: %s" % (self.engine, exc))) from exc

    def read_containers(self):
        if self.api:
            return containers_from_api(self._api_call(self.api.containers, *self.container_labels()))
        rc, out, err = self.run(self.ps_args(), check=False)
        if rc != 0:
            raise ComposeError(self._redact("the Docker engine at %s did not answer: %s" % (self.engine, err.strip())))
        return parse_ps(out)

    def image_ls_args(self):
        return [self.docker, "image", "ls", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}}\t{{.ID}}"]

    def image_ids(self, images, listing=None):
        """Local image id per reference (None when absent): from one ``image ls`` listing when given,
        with ``image inspect`` only for references the listing cannot answer (digests, odd names)."""
        ids = {}
        if listing is None and self.api:
            listing = images_from_api(self._api_call(self.api.images))
        if listing is not None:
            for img in images:
                key = digest_key(img) if "@" in img else normalize_image(img)
                if key in listing:
                    ids[img] = listing[key]
        handles = {img: self._start([self.docker, "image", "inspect", "--format", "{{.Id}}", img])
                   for img in images if img not in ids}
        for img, handle in handles.items():
            rc, out, err = self._finish(handle, check=False)
            if rc == 0:
                ids[img] = out.strip().splitlines()[0]
            elif "No such image" in err or "No such object" in err:
                ids[img] = None
            else:
                raise ComposeError(self._redact("docker image inspect %s failed: %s" % (img, err.strip())))
        return ids

    # -- reading ---------------------------------------------------------------------------
    def _check_files(self):
        if self.definition is None and not self.files:
            raise ComposeError("project_dir: no Compose file in %s (looked for %s)"
                               % (self.project_dir, ", ".join(DEFAULT_FILES)))
        for f in self.files + self.p["env_files"]:
            if not os.path.isfile(f):
                raise ComposeError("file not found on the target: %s" % f)

    def _version_cache(self):
        """Where ``version --short`` answers are kept, per plugin binary (path, size, mtime): the
        version of a binary does not change until the binary does, so a no-change run need not
        start a second Compose process for it."""
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return os.path.join(base, "colab.cluster", "compose-version.json")

    def _binary_key(self):
        try:
            st = os.stat(self.compose_plugin)
        except (OSError, TypeError):
            return None
        return "%s %s %s" % (self.compose_plugin, st.st_size, st.st_mtime_ns)

    def cached_version(self):
        key = self._binary_key()
        if key is None:
            return None  # through the docker CLI: the plugin it picks is not known here
        try:
            with open(self._version_cache(), encoding="utf-8") as handle:
                text = json.load(handle).get(key)
        except (OSError, ValueError, AttributeError):
            return None
        version = parse_version(text) if isinstance(text, str) else (0, 0, 0)
        return version if version != (0, 0, 0) else None

    def _keep_version(self, text):
        key = self._binary_key()
        if key is None or self.module.check_mode or parse_version(text) == (0, 0, 0):
            return
        path = self._version_cache()
        try:
            with open(path, encoding="utf-8") as handle:
                known = json.load(handle)
            if not isinstance(known, dict):
                known = {}
        except (OSError, ValueError):
            known = {}
        # one entry per binary path: an upgraded binary replaces its old entry
        known = {k: v for k, v in known.items() if k.rsplit(" ", 2)[0] != self.compose_plugin}
        known[key] = text.strip()
        try:
            os.makedirs(os.path.dirname(path), 0o700, exist_ok=True)
            tmp = "%s.%s.tmp" % (path, os.getpid())
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump(known, handle)
            os.replace(tmp, path)
        except OSError:
            pass  # a cache only: the next run asks Compose again

    def _version_args(self):
        if self.compose_plugin:
            return [self.compose_plugin, "version", "--short"]
        return [self.docker, "compose", "version", "--short"]

    def read_config(self):
        """The resolved configuration (all profiles), failing on an unset variable that an
        enabled service, or anything outside services, uses."""
        self._check_files()
        if self.definition is not None:
            self.stdin_doc = json.dumps(self.definition, indent=2)
        cfg = self._start(self.compose_args(profiles_all=True, offline=True) + ["config", "--format", "json"], self.stdin_doc)
        self.version = self.cached_version()
        ver = None if self.version else self._start(self._version_args())
        return cfg, ver

    def _finish_config(self, cfg, ver, others=()):
        rc, cfg_out, cfg_err = self._finish(cfg, check=False)
        if ver is not None:
            _vrc, ver_out, _verr = self._finish(ver, check=False)
            self.version = parse_version(ver_out)
            self._keep_version(ver_out)
        if rc != 0:
            self._abandon(*others)
            raise ComposeError(self._redact("the Compose definition is invalid: %s" % cfg_err.strip()))
        config = json.loads(cfg_out)
        missing = unset_variables(cfg_err)
        if missing:
            # Compose interpolates every service, whatever the profiles (it only warns): an unset
            # variable is an error here only where an enabled (or requested) service uses it
            raw = json.loads(self.run(self.compose_args(profiles_all=True, offline=True)
                                      + ["config", "--no-interpolate", "--format", "json"], self.stdin_doc)[1])
            wanted = set(select_services(config, [], self.p["profiles"])) | set(self.p["services"]) | {""}
            users = variable_users(raw, missing)
            missing = [n for n in missing if users[n] & wanted or not users[n]]
            if missing:
                self._abandon(*others)
                raise ComposeError("interpolation variable(s) not set: %s (pass them in env or env_files)"
                                   % ", ".join(missing), unset_variables=missing)
        return config

    def read_state(self):
        """Resolved config, service hashes and the engine's state; raises before anything is touched."""
        ps = img = nets = None
        if not self.api:
            ps = self._start(self.ps_args())
            img = self._start(self.image_ls_args())
            nets = self._start([self.docker, "network", "ls", "--no-trunc", "--format", NETWORK_FORMAT])
        cfg, ver = self.read_config()
        image_items = []
        if self.api:
            # while Compose resolves the definition: the engine's view, in-process
            try:
                containers = containers_from_api(self._api_call(self.api.containers, *self.container_labels()))
                image_items = self._api_call(self.api.images)
                listing = images_from_api(image_items)
                networks = networks_from_api(self._api_call(self.api.networks))
            except ComposeError:
                self._abandon(cfg, ver)
                raise
        config = self._finish_config(cfg, ver, (ps, img, nets))
        if not self.api:
            rc, ps_out, ps_err = self._finish(ps, check=False)
            if rc != 0:
                self._abandon(img, nets)
                raise ComposeError(self._redact("the Docker engine at %s did not answer: %s"
                                                % (self.engine, ps_err.strip())))
            containers = parse_ps(ps_out)
            listing = parse_image_ls(self._finish(img)[1])
            networks = parse_network_ls(self._finish(nets)[1])
        absent_nets = missing_external_networks(config, set(networks))
        if absent_nets:
            raise ComposeError("external network(s) %s do not exist on the engine; create them first "
                               "(community.docker.docker_network)" % ", ".join(absent_nets))
        selected = select_services(config, self.p["services"], self.p["profiles"], self.p["dependencies"])
        labels = self._watch_labels(config)
        hashes = self.hashes(config, labels, containers, selected, self.p["scale"])
        services = config.get("services") or {}
        images = sorted({image_name(self.project, n, services[n]) for n in selected})
        volumes = {}
        if self.p["assume_yes"] and has_feature(self.version, "volume_divergence") and config.get("volumes"):
            volumes = self.read_volumes()
        state = {"config": config, "hashes": hashes, "containers": containers, "selected": selected,
                 "labels": labels, "ids": self.image_ids(images, listing), "networks": networks,
                 "volumes": volumes, "image_items": image_items}
        return state

    def read_volumes(self):
        label = "com.docker.compose.project=%s" % self.project
        if self.api:
            return volumes_from_api(self._api_call(self.api.volumes, label))
        return parse_volume_ls(self.run([self.docker, "volume", "ls", "--filter", "label=" + label,
                                         "--format", VOLUME_FORMAT])[1])

    def _watch_labels(self, config):
        watch = self.p["watch_files"]
        if not watch:
            return {}
        # every service of the definition, not only the selected ones, so that the hashes
        # (and the label) stay the same whatever subset a run acts on
        every = sorted(config.get("services") or {})
        users = watched_services(config, every, watch)
        unused = [path for path, names in users.items() if not names]
        if unused:
            raise ComposeError("watch_files: %s is not mounted by any service of the project (%s)"
                               % (", ".join(unused), ", ".join(every)))
        digests = {}
        for path in users:
            if not os.path.exists(path):
                raise ComposeError("watch_files: %s does not exist on the target" % path)
            digests[path] = content_digest(path)
        labels = watch_labels(users, digests)
        self.stdin_doc = json.dumps(inject_labels(self.definition or {}, labels), indent=2)
        return labels

    def hashes(self, config, labels, containers=None, selected=None, scale=None):
        """The config-hash label `up` gives each service: ``config --hash`` of the *resolved*
        configuration. ``config --hash`` on the files hashes the services before environment
        resolution (cmd/compose/config.go runHash, cli.WithoutEnvironmentResolution, @v2.26.1 and
        @v2.40.3; from v5.5.0 runHash resolves it itself, commit 7bc2630b6, config.go@v5.6.0) while
        `up` labels the container after it, so a service with ``env_file:`` (or an
        ``environment`` entry taken from the process) would differ on every run
        (docker/compose#14001). ``config --format json`` escapes ``$`` as ``$$``, so the resolved
        document interpolates back to itself."""
        doc = inject_labels(config, labels) if labels else config
        by_service = containers_by_service(containers)
        services = doc.get("services") or {}
        if containers is not None and not labels:
            # the fast path: every selected service has containers (or wants none: a service
            # scaled to 0 gets no container, ensureService@v2.26.1 / @v2.40.3) and each carries
            # the hash computed here, so Compose's own would only confirm it. Not with watch
            # labels: they are added at the end of the service's keys, not in ServiceConfig's
            # field order.
            mine = {n: service_hash(services[n], self.version, by_service) for n in selected}
            mine_containers = [c for c in containers if c["service"] in mine]
            wanted = {n for n in mine if n in by_service or replicas(services[n], n, scale) > 0}
            if {c["service"] for c in mine_containers} == wanted and \
                    all(c["config_hash"] == mine[c["service"]] for c in mine_containers):
                return mine
        # `config --hash` hashes what it reads, without the references `up` resolves first: it is
        # given network_mode / ipc / pid as `container:<id>` already (exactly what up hashes); a
        # volumes_from service reference cannot be given as up hashes it (a bare id reads as an
        # undefined service), so it stays, and see below
        sent = dict(doc, services={n: resolve_references(svc, by_service, volumes_from=False)[0]
                                   for n, svc in services.items()})
        args = [self.compose_plugin or self.docker] + ([] if self.compose_plugin else ["compose"])
        args += ["-p", self.project]
        if self.project_dir:
            args += ["--project-directory", self.project_dir]
        args += ["-f", "-", "--profile", "*", "config", "--hash", "*"]
        theirs = parse_hashes(self.run(args, json.dumps(sent))[1])
        for name, svc in sent["services"].items():
            if svc.get("volumes_from") and theirs.get(name) == service_hash(svc, self.version):
                # Compose agrees with this module's hash of the service as sent, so this module's
                # hash of it with volumes_from resolved too is the one up computes
                theirs[name] = service_hash(svc, self.version, by_service)
        return theirs

    # -- images ----------------------------------------------------------------------------
    def pull_candidates(self, config, selected):
        """Services whose image a pull may change: pull=always, or pull=policy with the service's
        pull_policy always / daily / weekly / every_<d> (pull.go pullRequiredImages@v2.26.1 pulls
        these on every up; mustPull@v2.40.3 pulls the refresh ones once their interval is over)."""
        services = config.get("services") or {}
        found = []
        for name in selected:
            svc = services[name]
            if not svc.get("image") or self.p["pull"] in ("never", "missing"):
                continue
            policy = svc.get("pull_policy") or ""
            if self.p["pull"] == "always" or policy == "always":
                found.append(name)
            elif self.p["pull"] == "policy":
                try:
                    seconds = refresh_seconds(policy)
                except ValueError as exc:
                    if has_feature(self.version, "pull_refresh"):
                        # mustPull@v2.40.3 returns GetPullPolicy's error: `up` would fail on it
                        raise ComposeError("services.%s.pull_policy: %s: %s" % (name, policy, exc)) from None
                    found.append(name)  # pullRequiredImages@v2.26.1: an unknown policy pulls
                    continue
                if seconds is not None and (not has_feature(self.version, "pull_refresh")
                                            or self._refresh_due(svc["image"], seconds)):
                    found.append(name)
        return found

    def _refresh_due(self, image, seconds):
        if not self.api:
            return True
        try:
            self._count("api_calls")
            meta = self.api.image(image).get("Metadata") or {}
        except DockerAPIError:
            return True
        stamp = meta.get("LastTagTime") or ""
        match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)", stamp)
        if not match or stamp.startswith("0001-"):
            return True
        tagged = time.mktime(time.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S")) - time.timezone
        return time.time() > tagged + seconds

    def stale_images(self, config, names, items):
        """Image references whose registry digest differs from the local image's (Engine API
        GET /distribution, no pull), or None when this cannot be known (no local socket)."""
        if not self.api:
            return None
        services = config.get("services") or {}
        by_tag = {}
        for item in items:
            for tag in item.get("RepoTags") or []:
                by_tag[tag] = item
        stale = set()
        for name in names:
            ref = services[name]["image"]
            self._count("api_calls")
            try:
                remote = self.api.distribution(_registry_ref(ref), self.read_timeout)
            except DockerAPIError as exc:
                raise ComposeError(self._redact("cannot read the registry digest of %s (pull_policy of %s): %s"
                                                % (ref, name, exc))) from exc
            digest = (remote.get("Descriptor") or {}).get("digest")
            # the digests of the image the tag points at now (another local image of the same
            # repository may carry the registry's digest)
            item = by_tag.get(normalize_image(ref)) or by_tag.get(ref) or {}
            local = {d.split("@", 1)[-1] for d in item.get("RepoDigests") or []}
            if digest not in local:
                stale.add(ref)
        return stale

    # -- diff / state file -----------------------------------------------------------------
    def _state_path(self):
        return os.path.join(self.project_dir, STATE_FILE) if self.project_dir else None

    def _applied_view(self, config, selected, labels):
        """What is stored and shown as the configuration: every environment value masked (they
        may come from env_file), every value of env / env_files / .env redacted elsewhere."""
        services = mask_environment(config).get("services") or {}
        view = {"name": self.project, "services": {}}
        for name in selected:
            svc = copy.deepcopy(services[name])
            if name in labels:
                svc.setdefault("labels", {})[WATCH_LABEL] = labels[name]
            view["services"][name] = svc
        for key in ("networks", "volumes", "configs", "secrets"):
            if config.get(key):
                view[key] = config[key]
        return self._redact(view)

    def _read_before(self):
        path = self._state_path()
        if path and os.path.isfile(path):
            try:
                with open(path) as handle:
                    # masked again: a file written by an older version may hold clear values
                    return self._redact(mask_environment(json.load(handle)))
            except ValueError:
                return {}
        return {}

    def _write_file(self, path, content, mode, after_apply=False):
        """Write content atomically when it differs; returns True when it changed.

        A failed write (ENOSPC, EDQUOT, EIO...) removes its temporary file and leaves ``path``
        as it was (never truncated): the module fails naming the path and the error."""
        if os.path.isfile(path):
            with open(path) as handle:
                if handle.read() == content:
                    if (os.stat(path).st_mode & 0o777) != mode and not self.module.check_mode:
                        os.chmod(path, mode)
                    return False
        if self.module.check_mode:
            return True
        if not os.path.isdir(os.path.dirname(path)):
            os.makedirs(os.path.dirname(path), 0o755)
        tmp = "%s.%s.tmp" % (path, os.getpid())
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            with os.fdopen(fd, "w") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            code = errno.errorcode.get(exc.errno, str(exc.errno))
            then = ("Compose applied the project, but its record was not updated (the next run "
                    "compares against the previous one)" if after_apply else
                    "the file was left as it was and nothing was applied: the running containers "
                    "are untouched")
            raise ComposeError("cannot write %s: %s (%s); %s" % (path, exc.strerror or exc, code, then),
                               path=path, errno=code) from None
        self.module.atomic_move(tmp, path)
        os.chmod(path, mode)
        return True

    # -- main flows ------------------------------------------------------------------------
    def apply(self):
        if self.p["state"] == "absent":
            return self.absent()
        return self.present()

    def _plan(self, st, stale=()):
        p = self.p
        return plan(st["config"], st["hashes"], st["containers"], st["ids"], st["selected"],
                    state=p["state"], recreate=p["recreate"], pull=p["pull"], project=self.project,
                    requested=set(p["services"]), version=self.version, networks=st["networks"],
                    volumes=st["volumes"], scale=p["scale"], build=p["build"],
                    assume_yes=p["assume_yes"], stale_images=stale)

    def _up_flags(self, to_up, wait=False):
        p = self.p
        flags = ["up", "-d"]
        if wait:
            # Compose waits for what it started (see compose_wait); the module checks the rest
            flags += ["--wait", "--wait-timeout", str(p["wait_timeout"])]
        if p["remove_orphans"]:
            flags.append("--remove-orphans")
        if p["pull"] in ("missing", "never"):
            flags += ["--pull", p["pull"]]
        elif p["pull"] == "always":
            flags += ["--pull", "missing"]  # pulled just before, where a pull changes anything
        if p["build"] == "never":
            flags.append("--no-build")
        if p["recreate"] == "always":
            flags.append("--force-recreate")
        elif p["recreate"] == "never":
            flags.append("--no-recreate")
        if not p["dependencies"]:
            flags.append("--no-deps")
        if p["renew_anon_volumes"]:
            flags.append("--renew-anon-volumes")
        if p["assume_yes"] and has_feature(self.version, "volume_divergence"):
            flags.append("--yes")
        for name, count in sorted((p["scale"] or {}).items()):
            if name in to_up:  # Compose refuses --scale for a service it does not bring up
                flags += ["--scale", "%s=%s" % (name, count)]
        if p["timeout"] is not None:
            flags += ["--timeout", str(p["timeout"])]
        return flags

    def present(self):
        p = self.p
        check = self.module.check_mode
        st = self.read_state()
        config, selected = st["config"], st["selected"]
        if p["scale"]:
            unknown = sorted(set(p["scale"]) - set(config.get("services") or {}))
            if unknown:
                raise ComposeError("scale: unknown service(s) %s" % ", ".join(unknown))
        services = config.get("services") or {}
        stale = set()
        pulled_changed = built_changed = False
        if p["state"] != "stopped":
            candidates = self.pull_candidates(config, selected)
            known = self.stale_images(config, candidates, st["image_items"]) if candidates else set()
            # without the local socket a pull cannot be predicted: apply pulls them all (like up)
            to_pull = [n for n in candidates if known is None or services[n]["image"] in known]
            stale = known or set()
            if to_pull and not check:
                cmd = self.compose_args() + ["pull", "--quiet"] + to_pull
                self.commands.append(self._shown(cmd))
                self.run(cmd, self.stdin_doc, apply=True)
            builds = [n for n, a in self._plan(st)["services"].items() if "build" in a]
            if builds and not check:
                cmd = self.compose_args() + ["build"] + builds
                self.commands.append(self._shown(cmd))
                self.run(cmd, self.stdin_doc, apply=True)
            if (to_pull or builds) and not check:
                new_ids = self.image_ids(sorted(st["ids"]))
                pulled_changed = any(new_ids.get(services[n]["image"]) != st["ids"].get(services[n]["image"])
                                     for n in to_pull)
                built_changed = any(new_ids.get(image_name(self.project, n, services[n]))
                                    != st["ids"].get(image_name(self.project, n, services[n])) for n in builds)
                st["ids"] = new_ids
                stale = set()
        result_plan = self._plan(st, stale)
        actions = result_plan["services"]
        orphans = result_plan["orphans"]
        resources = result_plan["resources"]
        if not check:
            for acts in actions.values():
                for done in ("pull", "build"):
                    if done in acts and not (pulled_changed or built_changed or "create" in acts):
                        acts.remove(done)

        changed = pulled_changed or built_changed or any(is_change(a) for a in actions.values())
        remove_orphan_ids = []
        if p["remove_orphans"] and orphans:
            remove_orphan_ids = [c["id"] for c in st["containers"] if c["service"] in orphans]
            changed = True

        files_changed = False
        if self.definition is not None:
            files_changed = self._write_file(os.path.join(self.project_dir, COMPOSE_FILE),
                                             json.dumps(self.definition, indent=2) + "\n", 0o644)
        # the whole enabled project (not only the selected services), so a run on a subset
        # does not rewrite it; this bookkeeping file alone never makes the task changed
        view = self._applied_view(config, select_services(config, [], p["profiles"]), st["labels"])
        before = self._read_before()

        up_services = ("restart",) if p["state"] == "present" else ()
        to_up = sorted(n for n, a in actions.items() if any(x in _UP_ACTIONS + up_services for x in a))
        to_restart = sorted(n for n, a in actions.items() if "restart" in a and n not in to_up)
        to_stop = sorted(n for n, a in actions.items() if "stop" in a)
        stop_timeout = ["--timeout", str(p["timeout"])] if p["timeout"] is not None else []
        planned = []
        waits = p["wait"] and p["state"] != "stopped"
        compose_waits = compose_wait(config, to_up, p["dependencies"], self.version, p["scale"]) if waits and to_up else None
        up_cmd = None
        if to_up:
            up_cmd = self.compose_args() + self._up_flags(to_up, compose_waits is not None) + to_up
            planned.append(up_cmd)
        if remove_orphan_ids and not to_up:
            # as Compose removes orphans (down.go removeContainers -> stopAndRemoveContainer,
            # @v2.26.1 and @v2.40.3): stopped first, then removed with force. `down` stops them
            # with its --timeout; `up --remove-orphans` with none, the container's own stop grace
            # period (create.go@v2.40.3 passes a nil timeout): so --time only when timeout is set
            planned.append([self.docker, "stop"] + (["--time", str(p["timeout"])] if p["timeout"] is not None else [])
                           + remove_orphan_ids)
            planned.append([self.docker, "rm", "-f"] + remove_orphan_ids)
        if to_restart:
            planned.append(self.compose_args() + ["restart"] + stop_timeout + to_restart)
        if to_stop:
            planned.append(self.compose_args() + ["stop"] + stop_timeout + to_stop)
        if not to_up:
            resources = {}  # Compose touches a network or volume only through a service using it
        changed = changed or bool(resources)
        deadline = None
        compose_said = []
        for cmd in planned:
            self.commands.append(self._shown(cmd))
            if check:
                continue
            stdin = None if cmd[0] == self.docker and cmd[1] in ("rm", "stop") else self.stdin_doc
            if cmd is not up_cmd or compose_waits is None:
                self.run(cmd, stdin, apply=True)  # the module's check alone: wait_timeout from its start
                continue
            started = time.monotonic()
            rc, out, err = self.run(cmd, stdin, check=False, apply=True, extra=p["wait_timeout"])
            # the error Compose ends with is on stderr (progress goes to stdout, COMPOSE_STATUS_STDOUT)
            compose_said = compose_wait_failure(err) if rc != 0 else []
            if rc != 0 and not compose_said:
                raise ComposeError(self._redact("'%s' failed (rc=%s): %s"
                                                % (" ".join(self._shown(cmd)), rc, err.strip() or out.strip())))
            # Compose has waited (up to wait_timeout) for what it started; what is left of that
            # time is for the services it did not wait for, none once it has said no
            deadline = time.monotonic() if compose_said else started + p["wait_timeout"]

        # recorded only once Compose has applied it (a failed up leaves the previous "before")
        if p["state"] != "stopped" and (changed or files_changed or before != view):
            self._write_file(self._state_path(), json.dumps(view, indent=2, sort_keys=True) + "\n", 0o600,
                             after_apply=bool(planned) and not check)
        final = st["containers"]
        if planned and not check:
            final = self.read_containers()
        if waits and not check:
            try:
                final = self.wait(config, selected, final, deadline, compose_said)
            except ComposeError as exc:
                # what Compose applied before the wait stays applied: the failure says so
                exc.details.update(self._redact({
                    "changed": bool(changed or files_changed),
                    "actions": flat_actions(actions, selected),
                    "commands": self.commands}))
                raise
        return self._result(config, st["hashes"], selected, actions, orphans, final, st["ids"],
                            changed or files_changed, before, view, resources)

    def wait(self, config, selected, containers, deadline=None, compose_said=()):
        """Every selected service running and, with a healthcheck, healthy; else fail naming it
        with its last log lines. After an ``up --wait`` this confirms Compose's verdict (which
        covers only what that up started, and which Compose before 5.6.0 also gives as success
        when its --wait-timeout runs out: waitDependencies returns nil on ctx.Done,
        convergence.go@v2.26.1 / @v2.40.3) and waits for the rest until ``deadline``; with no
        up it is the whole check. See docs/compose_stack_wait.md."""
        if deadline is None:
            deadline = time.monotonic() + self.p["wait_timeout"]
        services = config.get("services") or {}
        while True:
            bad, pending = None, []
            for name in selected:
                current = [c for c in containers if c["service"] == name]
                want = replicas(services[name], name, self.p["scale"])
                if want == 0:
                    continue
                one_shot = is_one_shot(config, name)
                for c in current:
                    if c["state"] in ("exited", "dead"):
                        if one_shot and c.get("exit_code") == 0:
                            continue  # completed: what its dependents wait for
                        bad = bad or (name, c)  # will not come back by itself
                    elif c["health"] == "unhealthy" and c["state"] == "running":
                        # as Compose's --wait and its service_healthy dependencies take it
                        # (isServiceHealthy: "container X is unhealthy"), at once
                        bad = bad or (name, c)
                    elif c["state"] != "running" or c["health"] == "starting":
                        pending.append((name, c))
                if len(current) < want:
                    pending.append((name, None))
            if bad is None and not pending:
                return containers
            timed_out = bad is None and time.monotonic() >= deadline
            if timed_out:
                bad = pending[0]
            if bad is not None:
                self._wait_failed(services, bad, timed_out, compose_said)
            time.sleep(1)
            containers = self.read_containers()

    def _wait_failed(self, services, bad, timed_out, compose_said):
        name, c = bad
        logs = ""
        if c is not None:
            _rc, out, err = self.run([self.docker, "logs", "--tail", str(LOG_LINES), c["id"]], check=False)
            # what the container prints may hold any value of its environment, env_file
            # values included (the module never saw those: they are not in self.secrets)
            logs = redact((out + err).strip(), self.secrets + environment_values(services[name]))
        what = ("is %s (%s)" % (c["state"], c["status"])) if c else "has no container"
        when = " within wait_timeout=%ss" % self.p["wait_timeout"] if timed_out else ""
        said = " (Compose: %s)" % "; ".join(compose_said) if compose_said else ""
        raise ComposeError(self._redact("service %s did not become healthy%s: it %s%s. Last log lines:\n%s"
                                        % (name, when, what, said, logs)),
                           service=name, logs=self._redact(logs.splitlines()))

    def _result(self, config, hashes, selected, actions, orphans, containers, ids, changed, before, view, resources):
        services = config.get("services") or {}
        out = {}
        for name in selected:
            current = [c for c in containers if c["service"] == name]
            states = sorted({c["state"] for c in current})
            healths = sorted({c["health"] for c in current if c["health"]})
            out[name] = {
                "actions": actions.get(name, []),
                "state": states[0] if len(states) == 1 else ("missing" if not states else ",".join(states)),
                "health": healths[0] if len(healths) == 1 else (None if not healths else ",".join(healths)),
                "image_id": ids.get(image_name(self.project, name, services[name])),
                "config_hash": hashes.get(name),
                "containers": [c["id"][:12] for c in current],
            }
        flat = flat_actions(actions, selected)
        flat += ["(%s) %s" % (n, a) for n in sorted(resources) for a in resources[n]]
        result = {
            "changed": changed,
            "services": out,
            "actions": flat,
            "orphans": orphans,
            "config_hash": project_hash(hashes, selected),
            "commands": self.commands,
            "compose_version": ".".join(str(x) for x in self.version or ()),
            "cost": dict(self.cost),
        }
        if self.module._diff:
            result["diff"] = {
                "before": {"config": before, "actions": []},
                "after": {"config": view, "actions": flat},
            }
        return self._redact(result)

    def absent(self):
        p = self.p
        check = self.module.check_mode
        if p["services"] and (self.definition is not None or self.files):
            # names are checked against the definition when there is one (without one, a name
            # with no container is simply already absent)
            cfg, ver = self.read_config()
            config = self._finish_config(cfg, ver)
            select_services(config, p["services"], ["*"])
        containers = self.read_containers()
        by_service = {}
        for c in containers:
            by_service.setdefault(c["service"], []).append(c)
        planned = []
        actions = {}
        stop_timeout = ["--timeout", str(p["timeout"])] if p["timeout"] is not None else []
        if p["services"]:
            ids = []
            for name in p["services"]:
                if by_service.get(name):
                    actions[name] = ["remove"]
                    ids += [c["id"] for c in by_service[name]]
                else:
                    actions[name] = []
            if ids:
                if p["timeout"] is not None:
                    planned.append([self.docker, "stop", "--time", str(p["timeout"])] + ids)
                planned.append([self.docker, "rm", "-f"] + (["-v"] if p["remove_volumes"] else []) + ids)
        else:
            for name in sorted(by_service):
                actions[name] = ["remove"]
            label = "label=com.docker.compose.project=%s" % self.project
            nets = self.run([self.docker, "network", "ls", "-q", "--filter", label])[1].split()
            vols = self.run([self.docker, "volume", "ls", "-q", "--filter", label])[1].split() if p["remove_volumes"] else []
            if containers or nets or vols:
                cmd = [self.docker, "compose", "-p", self.project, "down", "--remove-orphans"] + stop_timeout
                if p["remove_volumes"]:
                    cmd.append("--volumes")
                if p["remove_images"]:
                    cmd += ["--rmi", p["remove_images"]]
                planned.append(cmd)
                if nets and not containers:
                    actions.setdefault("(networks)", ["remove"])
                if vols:
                    actions.setdefault("(volumes)", ["remove"])
        state_path = self._state_path()
        state_file = bool(not p["services"] and state_path and os.path.exists(state_path))
        for cmd in planned:
            self.commands.append(self._shown(cmd))
            if not check:
                self.run(cmd, apply=True)
        if state_file and not check:
            os.remove(state_path)
        flat = flat_actions(actions, sorted(actions))
        result = {
            "changed": bool(planned) or state_file,
            "services": {n: {"actions": a, "state": "missing" if a or not by_service.get(n) else by_service[n][0]["state"],
                             "health": None, "image_id": None, "config_hash": None,
                             "containers": [c["id"][:12] for c in by_service.get(n, [])]}
                         for n, a in actions.items()},
            "actions": flat,
            "orphans": [],
            "commands": self.commands,
            "cost": dict(self.cost),
        }
        if self.module._diff:
            result["diff"] = {"before": {"containers": sorted(c["name"] for c in containers)},
                              "after": {"containers": sorted(c["name"] for c in containers
                                                             if p["services"] and c["service"] not in p["services"])}}
        return self._redact(result)

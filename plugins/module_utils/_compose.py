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
COMPOSE_FILE = "compose.yaml"
LOG_LINES = 20

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
])
PS_FIELDS = ("id", "state", "status", "service", "config_hash", "image_id", "oneoff", "name")

# Compose: level=warning msg="The \"SEC\" variable is not set. Defaulting to a blank string."
_UNSET_RE = re.compile(r'The \\?"(?P<name>[A-Za-z_][A-Za-z0-9_]*)\\?" variable is not set')
_HEALTH_RE = re.compile(r"\((?:health: )?(?P<health>healthy|unhealthy|starting)\)")
# Compose's own variables that would silently change what the module asked for.
_COMPOSE_ENV_OVERRIDES = ("COMPOSE_FILE", "COMPOSE_PROJECT_NAME", "COMPOSE_PROFILES",
                          "COMPOSE_ENV_FILES", "COMPOSE_PATH_SEPARATOR", "COMPOSE_REMOVE_ORPHANS")
_UP_ACTIONS = ("create", "recreate", "start", "scale")
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
def redact(obj, secrets):
    """Return obj with every occurrence of a secret value replaced by MASK (recursively)."""
    secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
    if not secrets:
        return obj

    def _walk(value):
        if isinstance(value, str):
            for secret in secrets:
                value = value.replace(secret, MASK)
            return value
        if isinstance(value, dict):
            return {_walk(k): _walk(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [_walk(v) for v in value]
        return value

    return _walk(obj)


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


def parse_ps(text: str) -> list:
    """Parse ``docker ps -a --no-trunc --format PS_FORMAT`` output; one-off containers are skipped."""
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
        match = _HEALTH_RE.search(item["status"])
        item["health"] = match.group("health") if match else None
        containers.append(item)
    return containers


def containers_from_api(items: list) -> list:
    """The parse_ps() shape from Engine API GET /containers/json items."""
    containers = []
    for item in items:
        labels = item.get("Labels") or {}
        if labels.get("com.docker.compose.oneoff") == "True":
            continue
        status = item.get("Status") or ""
        match = _HEALTH_RE.search(status)
        containers.append({
            "id": item["Id"],
            "state": item.get("State") or "",
            "status": status,
            "service": labels.get("com.docker.compose.service", ""),
            "config_hash": labels.get("com.docker.compose.config-hash", ""),
            "image_id": labels.get("com.docker.compose.image", ""),
            "name": ((item.get("Names") or ["/"])[0]).lstrip("/"),
            "health": match.group("health") if match else None,
        })
    return containers


def images_from_api(items: list) -> dict:
    """The parse_image_ls() shape from Engine API GET /images/json items."""
    ids = {}
    for item in items:
        for tag in item.get("RepoTags") or []:
            if "<none>" not in tag:
                ids[tag] = item["Id"]
    return ids


def service_enabled(service: dict, profiles) -> bool:
    wanted = service.get("profiles") or []
    return not wanted or "*" in profiles or bool(set(wanted) & set(profiles))


def _depends_on(service: dict) -> list:
    deps = service.get("depends_on") or {}
    if isinstance(deps, dict):
        return list(deps)
    return list(deps)


def select_services(config: dict, requested, profiles) -> list:
    """The services to act on: the requested ones and what they depend on, else the enabled ones."""
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
            todo.extend(d for d in _depends_on(services[name]) if d in services)
        return sorted(selected)
    return sorted(name for name, svc in services.items() if service_enabled(svc, profiles))


def replicas(service: dict) -> int:
    if service.get("scale") is not None:
        return int(service["scale"])
    deploy = service.get("deploy") or {}
    if deploy.get("replicas") is not None:
        return int(deploy["replicas"])
    return 1


def image_name(project: str, name: str, service: dict) -> str:
    return service.get("image") or "%s-%s" % (project, name)


def plan(config: dict, hashes: dict, containers: list, image_ids: dict, selected: list,
         state: str = "present", recreate: str = "auto", pull: str = "policy",
         project: str = "", requested=None) -> dict:
    """Decide the actions per selected service.

    image_ids maps image reference -> local image id (None when the image is not present).
    requested: the services named by the user; their dependencies are selected too (so they
    exist and run), but only the named ones are stopped, restarted or removed.
    Returns {"services": {name: [actions]}, "orphans": [service names]}.
    """
    services = config.get("services") or {}
    by_service = {}
    for c in containers:
        by_service.setdefault(c["service"], []).append(c)
    orphans = sorted(name for name in by_service if name not in services)
    actions = {}
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
            if want_image is None and pull != "never":
                todo.append("build" if svc.get("build") else "pull")
            elif pull == "always":
                todo.append("pull")
            want = replicas(svc)
            if not current:
                if want > 0:
                    todo.append("create")
            else:
                stale = [c for c in current
                         if c["config_hash"] != hashes.get(name)
                         or (c["image_id"] and c["image_id"] != want_image)]
                if recreate == "always" or (recreate == "auto" and stale):
                    todo.append("recreate")
                elif len(running) < min(len(current), want):
                    todo.append("start")
                if len(current) != want:
                    todo.append("scale")
            if state == "restarted" and named and not any(a in _UP_ACTIONS for a in todo):
                todo.append("restart")
        actions[name] = todo
    return {"services": actions, "orphans": orphans}


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
class ComposeStack:
    def __init__(self, module) -> None:
        self.module = module
        p = module.params
        self.p = p
        self.project = p["project_name"]
        self.docker = module.get_bin_path("docker", required=True)
        self.env_values = env_strings(p["env"])
        self.secrets = [v for v in self.env_values.values() if v]
        self.timeout = p["timeout"]
        self.definition = p["definition"]
        self.project_dir = p["project_dir"]
        if self.project_dir is None and p["files"]:
            self.project_dir = os.path.dirname(os.path.abspath(p["files"][0]))
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
        self.api = DockerAPI(sock, self.timeout) if sock else None
        self.commands = []
        self.stdin_doc = None  # the definition (or watch override) Compose reads from stdin

    def _find_plugin(self):
        """The Compose plugin binary, run directly (standalone mode) for the offline ``config``
        reads: it skips the docker CLI's start and plugin handshake, 3x faster on the hot path."""
        config_dir = self.proc_env.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
        for folder in (os.path.join(config_dir, "cli-plugins"),) + _PLUGIN_DIRS:
            path = os.path.join(folder, "docker-compose")
            if os.path.isfile(path) and os.access(path, os.X_OK):
                return path
        return None

    # -- running commands ------------------------------------------------------------------
    def _start(self, args, stdin=None):
        proc = subprocess.Popen(args, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.proc_env,
                                cwd=self.project_dir if self.project_dir and os.path.isdir(self.project_dir) else None)
        return (proc, args, stdin, time.monotonic() + self.timeout)

    def _finish(self, handle, check=True):
        proc, args, stdin, deadline = handle
        try:
            out, err = proc.communicate(input=stdin.encode() if stdin is not None else None,
                                        timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise ComposeError("'%s' did not finish within timeout=%ss; is the Docker engine at %s answering?"
                               % (" ".join(args[:5]), self.timeout, self.engine))
        out = out.decode("utf-8", "replace")
        err = err.decode("utf-8", "replace")
        if check and proc.returncode != 0:
            raise ComposeError(self._redact("'%s' failed (rc=%s): %s"
                                            % (" ".join(self._shown(args)), proc.returncode, err.strip() or out.strip())))
        return proc.returncode, out, err

    def run(self, args, stdin=None, check=True):
        return self._finish(self._start(args, stdin), check=check)

    def _shown(self, args):
        """How a command reads for the user: ``docker compose ...`` whichever binary runs it."""
        if args[0] == self.compose_plugin:
            return ["docker", "compose"] + list(args[1:])
        return ["docker"] + list(args[1:])

    def _redact(self, obj):
        return redact(obj, self.secrets)

    def compose_args(self, with_files=True, profiles_all=False, offline=False):
        # the plugin binary directly (standalone mode) for offline reads, and for every command
        # when the engine is the local socket (no docker context for the CLI to resolve)
        if self.compose_plugin and (offline or self.api):
            args = [self.compose_plugin, "-p", self.project]
        else:
            args = [self.docker, "compose", "-p", self.project]
        if self.project_dir:
            args += ["--project-directory", self.project_dir]
        if with_files:
            for f in self.p["files"] or []:
                args += ["-f", f]
            if self.stdin_doc is not None:
                args += ["-f", "-"]
        for f in self.p["env_files"]:
            args += ["--env-file", f]
        for prof in (["*"] if profiles_all else self.p["profiles"]):
            args += ["--profile", prof]
        return args

    def ps_args(self):
        return [self.docker, "ps", "-a", "--no-trunc", "--filter",
                "label=com.docker.compose.project=%s" % self.project, "--format", PS_FORMAT]

    def _api_call(self, method, *args):
        try:
            return method(*args)
        except DockerAPIError as exc:
            raise ComposeError(self._redact("the Docker engine at %s did not answer: %s" % (self.engine, exc))) from exc

    def read_containers(self):
        if self.api:
            return containers_from_api(self._api_call(self.api.containers, "com.docker.compose.project=%s" % self.project))
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
        if listing is not None:
            for img in images:
                if normalize_image(img) in listing:
                    ids[img] = listing[normalize_image(img)]
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
        for f in (self.p["files"] or []) + self.p["env_files"]:
            if not os.path.isfile(f):
                raise ComposeError("file not found on the target: %s" % f)

    def read_state(self):
        """Resolved config, service hashes and containers; raises before anything is touched."""
        self._check_files()
        watch = self.p["watch_files"]
        if self.definition is not None:
            self.stdin_doc = json.dumps(self.definition, indent=2)
        ps = img = nets = None
        if not self.api:
            ps = self._start(self.ps_args())
            img = self._start(self.image_ls_args())
            nets = self._start([self.docker, "network", "ls", "--format", "{{.Name}}"])
        cfg = self._start(self.compose_args(profiles_all=True, offline=True) + ["config", "--format", "json"], self.stdin_doc)
        hsh = None if watch else self._start(self.compose_args(profiles_all=True, offline=True) + ["config", "--hash", "*"], self.stdin_doc)
        if self.api:
            # while Compose resolves the definition: the engine's view, in-process
            try:
                containers = self._api_call(self.api.containers, "com.docker.compose.project=%s" % self.project)
                listing = images_from_api(self._api_call(self.api.images))
                existing_nets = set(n["Name"] for n in self._api_call(self.api.networks))
            except ComposeError:
                for h in (cfg, hsh):
                    if h:
                        self._finish(h, check=False)
                raise
            containers = containers_from_api(containers)
        rc, cfg_out, cfg_err = self._finish(cfg, check=False)
        if rc != 0:
            for h in (hsh, ps, img, nets):
                if h:
                    self._finish(h, check=False)
            raise ComposeError(self._redact("the Compose definition is invalid: %s" % cfg_err.strip()))
        missing = unset_variables(cfg_err)
        if missing:
            for h in (hsh, ps, img, nets):
                if h:
                    self._finish(h, check=False)
            raise ComposeError("interpolation variable(s) not set: %s (pass them in env or env_files)"
                               % ", ".join(missing), unset_variables=missing)
        config = json.loads(cfg_out)
        if not self.api:
            rc, ps_out, ps_err = self._finish(ps, check=False)
            if rc != 0:
                for h in (hsh, img, nets):
                    if h:
                        self._finish(h, check=False)
                raise ComposeError(self._redact("the Docker engine at %s did not answer: %s"
                                                % (self.engine, ps_err.strip())))
            containers = parse_ps(ps_out)
            listing = parse_image_ls(self._finish(img)[1])
            existing_nets = set(self._finish(nets)[1].split())
        absent_nets = missing_external_networks(config, existing_nets)
        if absent_nets:
            if hsh:
                self._finish(hsh, check=False)
            raise ComposeError("external network(s) %s do not exist on the engine; create them first "
                               "(community.docker.docker_network)" % ", ".join(absent_nets))
        selected = select_services(config, self.p["services"], self.p["profiles"])
        labels = {}
        if watch:
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
            if self.definition is not None:
                self.stdin_doc = json.dumps(inject_labels(self.definition, labels), indent=2)
            else:
                self.stdin_doc = json.dumps(inject_labels({}, labels), indent=2)
            hsh = self._start(self.compose_args(profiles_all=True, offline=True) + ["config", "--hash", "*"], self.stdin_doc)
        _rc, hash_out, _err = self._finish(hsh)
        hashes = parse_hashes(hash_out)
        services = config.get("services") or {}
        images = sorted({image_name(self.project, n, services[n]) for n in selected})
        return config, hashes, containers, selected, labels, self.image_ids(images, listing)

    # -- diff / state file -----------------------------------------------------------------
    def _state_path(self):
        return os.path.join(self.project_dir, STATE_FILE) if self.project_dir else None

    def _applied_view(self, config, selected, labels):
        services = config.get("services") or {}
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
                    return json.load(handle)
            except ValueError:
                return {}
        return {}

    def _write_file(self, path, content, mode):
        """Write content atomically when it differs; returns True when it changed."""
        if os.path.isfile(path):
            with open(path) as handle:
                if handle.read() == content:
                    return False
        if self.module.check_mode:
            return True
        if not os.path.isdir(os.path.dirname(path)):
            os.makedirs(os.path.dirname(path), 0o755)
        tmp = "%s.%s.tmp" % (path, os.getpid())
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
        self.module.atomic_move(tmp, path)
        os.chmod(path, mode)
        return True

    # -- main flows ------------------------------------------------------------------------
    def apply(self):
        if self.p["state"] == "absent":
            return self.absent()
        return self.present()

    def present(self):
        p = self.p
        check = self.module.check_mode
        config, hashes, containers, selected, labels, ids = self.read_state()
        images = sorted(ids)
        kwargs = dict(state=p["state"], recreate=p["recreate"], pull=p["pull"], project=self.project,
                      requested=set(p["services"]))
        result_plan = plan(config, hashes, containers, ids, selected, **kwargs)
        orphans = result_plan["orphans"]
        pulled_changed = False
        pullable = [n for n in selected if config["services"][n].get("image")]
        if p["pull"] == "always" and p["state"] != "stopped" and not check and pullable:
            self.run(self.compose_args() + ["pull", "--quiet"] + pullable, self.stdin_doc)
            new_ids = self.image_ids(images)
            pulled_changed = new_ids != ids
            ids = new_ids
            result_plan = plan(config, hashes, containers, ids, selected, **kwargs)
            for name, acts in result_plan["services"].items():
                if "pull" in acts and not pulled_changed:
                    acts.remove("pull")
        actions = result_plan["services"]

        changed = pulled_changed or any(is_change(a) for a in actions.values())
        remove_orphan_ids = []
        if p["remove_orphans"] and orphans:
            remove_orphan_ids = [c["id"] for c in containers if c["service"] in orphans]
            changed = True

        files_changed = False
        if self.definition is not None:
            files_changed = self._write_file(os.path.join(self.project_dir, COMPOSE_FILE),
                                             json.dumps(self.definition, indent=2) + "\n", 0o644)
        # the whole enabled project (not only the selected services), so a run on a subset
        # does not rewrite it; this bookkeeping file alone never makes the task changed
        view = self._applied_view(config, select_services(config, [], p["profiles"]), labels)
        before = self._read_before()

        # mutating commands
        # No --no-deps: Compose 2.26 (Debian 13's) hashes a service started with --no-deps
        # without its depends_on, so its config-hash label would never match
        # `config --hash` and the service would be recreated on every run. Dependencies
        # that already match are left alone by `up` anyway.
        up_flags = ["up", "-d", "--remove-orphans"] if p["remove_orphans"] else ["up", "-d"]
        if p["pull"] in ("missing", "never"):
            up_flags += ["--pull", p["pull"]]
        if p["recreate"] == "always":
            up_flags.append("--force-recreate")
        elif p["recreate"] == "never":
            up_flags.append("--no-recreate")
        to_up = sorted(n for n, a in actions.items() if any(x in _UP_ACTIONS for x in a))
        to_restart = sorted(n for n, a in actions.items() if "restart" in a)
        to_stop = sorted(n for n, a in actions.items() if "stop" in a)
        planned = []
        if to_up:
            planned.append(self.compose_args() + up_flags + to_up)
        if remove_orphan_ids and not to_up:
            planned.append([self.docker, "rm", "-f"] + remove_orphan_ids)
        if to_restart:
            planned.append(self.compose_args() + ["restart"] + to_restart)
        if to_stop:
            planned.append(self.compose_args() + ["stop"] + to_stop)
        for cmd in planned:
            self.commands.append(self._shown(cmd))
            if not check:
                self.run(cmd, None if cmd[:2] == [self.docker, "rm"] else self.stdin_doc)

        # recorded only once Compose has applied it (a failed up leaves the previous "before")
        if p["state"] != "stopped" and (changed or files_changed or before != view):
            self._write_file(self._state_path(), json.dumps(view, indent=2, sort_keys=True) + "\n", 0o600)
        final = containers
        if planned and not check:
            final = self.read_containers()
        if p["wait"] and p["state"] != "stopped" and not check:
            final = self.wait(config, selected, final)
        return self._result(config, hashes, selected, actions, orphans, final, ids,
                            changed or files_changed, before, view, labels)

    def wait(self, config, selected, containers):
        deadline = time.monotonic() + self.p["wait_timeout"]
        services = config.get("services") or {}
        while True:
            bad, pending = None, []
            for name in selected:
                current = [c for c in containers if c["service"] == name]
                want = replicas(services[name])
                if want == 0:
                    continue
                for c in current:
                    if c["state"] in ("exited", "dead"):
                        bad = (name, c)  # will not come back by itself
                    elif c["state"] != "running" or c["health"] in ("starting", "unhealthy"):
                        # unhealthy can be transient (a slow check on a loaded host): wait on
                        pending.append((name, c))
                if len(current) < want:
                    pending.append((name, None))
            if bad is None and not pending:
                return containers
            if bad is None and time.monotonic() >= deadline:
                bad = pending[0]
            if bad is not None:
                name, c = bad
                logs = ""
                if c is not None:
                    _rc, out, err = self.run([self.docker, "logs", "--tail", str(LOG_LINES), c["id"]], check=False)
                    logs = (out + err).strip()
                what = ("is %s (%s)" % (c["state"], c["status"])) if c else "has no container"
                raise ComposeError(self._redact("service %s did not become healthy within wait_timeout=%ss: it %s. Last log lines:\n%s"
                                                % (name, self.p["wait_timeout"], what, logs)),
                                   service=name, logs=self._redact(logs.splitlines()))
            time.sleep(1)
            containers = self.read_containers()

    def _result(self, config, hashes, selected, actions, orphans, containers, ids, changed, before, view, labels):
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
        flat = ["%s %s" % (n, a) for n in selected for a in actions.get(n, [])]
        result = {
            "changed": changed,
            "services": out,
            "actions": flat,
            "orphans": orphans,
            "config_hash": project_hash(hashes, selected),
            "commands": self.commands,
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
        if self.definition is not None:
            self.stdin_doc = json.dumps(self.definition, indent=2)
        containers = self.read_containers()
        by_service = {}
        for c in containers:
            by_service.setdefault(c["service"], []).append(c)
        planned = []
        actions = {}
        if p["services"]:
            ids = []
            for name in p["services"]:
                if by_service.get(name):
                    actions[name] = ["remove"]
                    ids += [c["id"] for c in by_service[name]]
                else:
                    actions[name] = []
            if ids:
                planned.append([self.docker, "rm", "-f"] + (["-v"] if p["remove_volumes"] else []) + ids)
        else:
            for name in sorted(by_service):
                actions[name] = ["remove"]
            label = "label=com.docker.compose.project=%s" % self.project
            nets = self.run([self.docker, "network", "ls", "-q", "--filter", label])[1].split()
            vols = self.run([self.docker, "volume", "ls", "-q", "--filter", label])[1].split() if p["remove_volumes"] else []
            if containers or nets or vols:
                cmd = [self.docker, "compose", "-p", self.project, "down", "--remove-orphans"]
                if p["remove_volumes"]:
                    cmd.append("--volumes")
                if p["remove_images"]:
                    cmd += ["--rmi", p["remove_images"]]
                planned.append(cmd)
                if nets and not containers:
                    actions.setdefault("(networks)", ["remove"])
                if vols:
                    actions.setdefault("(volumes)", ["remove"])
        for cmd in planned:
            self.commands.append(self._shown(cmd))
            if not check:
                self.run(cmd)
        flat = ["%s %s" % (n, a) for n in sorted(actions) for a in actions[n]]
        result = {
            "changed": bool(planned),
            "services": {n: {"actions": a, "state": "missing" if a or not by_service.get(n) else by_service[n][0]["state"],
                             "health": None, "image_id": None, "config_hash": None,
                             "containers": [c["id"][:12] for c in by_service.get(n, [])]}
                         for n, a in actions.items()},
            "actions": flat,
            "orphans": [],
            "commands": self.commands,
        }
        if self.module._diff:
            result["diff"] = {"before": {"containers": sorted(c["name"] for c in containers)},
                              "after": {"containers": sorted(c["name"] for c in containers
                                                             if p["services"] and c["service"] not in p["services"])}}
        return self._redact(result)

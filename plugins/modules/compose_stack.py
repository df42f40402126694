#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: colab.cluster developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: compose_stack
short_description: Deploy a Docker Compose V2 project, touching only the services that differ
version_added: 0.1.0
description:
  - Deploys, stops, restarts or removes a Compose V2 project with the C(docker compose) CLI.
  - "It first reads the whole state in a few fast calls: the project's resolved configuration
    (C(docker compose config)), each service's config hash (C(docker compose config --hash) of that
    resolved configuration, which is the hash C(up) labels the container with, also for services with
    C(env_file:); Compose's own C(config --hash) on the files hashes before environment resolution,
    docker/compose#14001),
    the local images and networks, and the project's containers filtered by the label
    C(com.docker.compose.project) with their C(com.docker.compose.config-hash) and
    C(com.docker.compose.image) labels, state, health, networks and volume mounts. The engine is
    read with read-only Engine API requests over the local unix socket (the C(docker) CLI is used
    instead for C(tcp://), C(ssh://) or a docker context), in parallel with Compose. It then runs
    C(docker compose up -d) only for the services that C(up) of the Compose version in use would
    change (see the notes for what differs between versions). When nothing differs no mutating
    command runs at all."
  - Check mode is predicted from that comparison, with no side effect. C(up --dry-run) is
    never used (Compose's dry run has performed real container swaps, see docker/compose#14029).
  - Values in O(env) reach C(docker compose) only through the process environment, never argv,
    never a file. The definition written to O(project_dir) is the one you gave, with its
    C(${VAR}) references, not the interpolated values.
  - "Every value from every environment source is kept out of what the module stores and returns
    (the state file, results, diff, errors): each service's C(environment) and C(build.args) values
    are shown as C(********) (C(config) resolves a service's C(env_file:) into them), and every
    value of O(env), O(env_files) and the project's C(.env) is masked wherever it appears (values
    shorter than 4 characters only where a whole string equals them)."
  - An interpolation variable that is not set is an error naming the variable (Compose itself
    only warns and substitutes an empty string), when a service enabled by O(profiles) (or named in
    O(services)) or anything outside C(services) uses it; one used only by a disabled profile's
    service is not.
  - Every bad input (invalid YAML or schema, an unknown service, an unset variable, an engine
    that does not answer) fails while reading state, before anything running is touched.
  - The module does not create external networks the project declares (for example the
    cluster's C(cluster-local) bridge); ensure them first with M(community.docker.docker_network).
    A missing external network is an error found while reading state, before anything is touched.
author:
  - colab.cluster developers (@colab)
requirements:
  - The C(docker) CLI and the Compose V2 plugin (C(docker compose version) answers) on the target.
  - Python 3.9+ on the target. PyYAML is not needed (the definition is written as JSON, which is YAML).
attributes:
  check_mode:
    support: full
    description: Predicted from the comparison of the resolved configuration with the running containers.
  diff_mode:
    support: full
    description: The resolved configuration before (last applied) and after, secret values redacted, plus the planned actions.
  idempotent:
    support: full
    description: A second run with the same input changes nothing and runs no mutating command.
  action:
    support: full
    description: An action plugin templates O(src) on the controller, like M(ansible.builtin.template).
options:
  project_name:
    description:
      - The Compose project name (C(docker compose -p)). Containers carry it in the
        C(com.docker.compose.project) label.
    type: str
    required: true
  project_dir:
    description:
      - The project directory on the target (C(--project-directory)). Relative paths in the
        definition (bind mounts, env files, build contexts) resolve against it, and so do relative
        O(files).
      - With O(definition) or O(src) it is required; the module writes the definition there
        as C(compose.yaml) (mode C(0644), only when its content changes).
      - With O(files) it defaults to the directory of the first file.
      - "Alone (no O(definition), O(src) or O(files)), the Compose file is found there as Compose
        finds it (compose-go C(DefaultFileNames)): the first of C(compose.yaml), C(compose.yml),
        C(docker-compose.yml), C(docker-compose.yaml), plus the first matching C(*.override.*) file."
      - The module also keeps C(.compose-stack.json) there (mode C(0600)), the last applied resolved
        configuration with every environment value masked, used as the "before" of the diff.
        O(state=absent) of the whole project removes it.
    type: path
    aliases: [project_src]
  definition:
    description:
      - The Compose definition as a dictionary (the content of a C(compose.yaml)).
      - Keep secrets out of it, write C(${VAR}) and pass the value in O(env).
      - Mutually exclusive with O(src) and O(files).
    type: dict
  src:
    description:
      - A Compose file on the controller, templated with Jinja like M(ansible.builtin.template)
        by the action plugin, then handled exactly as O(definition).
      - Mutually exclusive with O(definition) and O(files).
    type: path
  files:
    description:
      - Compose files already on the target, in order (C(-f) each).
      - Mutually exclusive with O(definition) and O(src).
    type: list
    elements: path
  env:
    description:
      - Interpolation variables for the definition (C(${VAR})), passed to C(docker compose)
        only through the process environment, exactly like C(infisical run -- docker compose up).
      - Ansible treats every value here as a secret and masks it wherever it appears in the output,
        so keep short non-secret values (ports, tags) in the definition or O(env_files).
      - Values are never written to disk, never put in argv, and redacted from results, diff,
        errors and logs.
    type: dict
    default: {}
  env_files:
    description:
      - Files on the target passed as C(--env-file), in order.
    type: list
    elements: path
    default: []
  profiles:
    description:
      - Compose profiles to enable (C(--profile)).
    type: list
    elements: str
    default: []
  services:
    description:
      - Only act on these services. Default is every service enabled by O(profiles).
      - With O(state=present) or O(state=restarted) the services they depend on are brought up
        too when they differ; only the named services are stopped (V(stopped)), restarted
        (V(restarted)) or removed (V(absent)).
      - A name that is not a service of the definition is an error, also with O(state=absent)
        when the definition is given (O(definition), O(src), O(files) or a Compose file in
        O(project_dir)); without one, a name with no container is already absent.
    type: list
    elements: str
    default: []
  state:
    description:
      - V(present) creates, recreates and starts what differs from the definition.
      - V(stopped) stops the running containers of the selected services (it does not create
        missing ones).
      - V(restarted) does what V(present) does, then restarts every selected service that was
        not just created, recreated or started. Always changed.
      - V(absent) removes the containers and networks of the project (C(docker compose down)),
        or only the selected services' containers when O(services) is given.
    type: str
    choices: [present, stopped, restarted, absent]
    default: present
  pull:
    description:
      - V(policy) follows each service's C(pull_policy), as C(up) does; C(missing) (the default)
        pulls when the image is absent; C(always) on every run; C(daily), C(weekly) and
        C(every_<duration>) on every run with Compose 2.26.1 (pull.go pullRequiredImages@v2.26.1) and once
        the image's last tag time is that old with 2.34 and later (pull.go mustPull@v2.40.3);
        C(never) and C(build) never. The duration reads as Compose reads it (str2duration.go@v2.1.0), so
        C(every_2d), C(every_1w), C(every_500ms), C(every_1.5h), C(every_1h30m); one it cannot read
        fails the task naming the service with Compose 2.34 and later (which fail on it) and is
        pulled on every run with earlier ones.
      - V(missing) pulls images that are not present locally.
      - V(always) treats every selected image as C(pull_policy=always).
      - "For an image to be pulled, the module asks the registry for the tag's current digest
        through the engine (Engine API C(GET /distribution), no pull) and pulls only when it differs
        from the local image's: check mode then predicts the pull and the recreation, and a run
        where the registry has nothing newer runs no pull. Without the local socket (a remote
        O(docker_host)) it pulls them (C(docker compose pull)) and check mode cannot predict it."
      - A service is recreated when its pulled image id differs.
      - V(never) never pulls; a missing image is an error from Compose.
    type: str
    choices: [always, missing, never, policy]
    default: policy
  build:
    description:
      - V(policy) builds a service with C(build:) when its image is missing, or on every run with
        C(pull_policy=build), as C(up) does.
      - V(always) builds every selected service with C(build:) before comparing (C(docker compose
        build)); a service is recreated when its built image id differs (an unchanged build hits the
        cache and gives the same id). Check mode lists the build and cannot predict its result.
      - V(never) never builds (C(--no-build)).
    type: str
    choices: [always, never, policy]
    default: policy
  dependencies:
    description:
      - With O(services), also act on the services they depend on. V(false) passes C(--no-deps).
      - "With Compose 2.26.1, a container created with C(--no-deps) carries a hash without its
        C(depends_on) (ServiceHash in pkg/compose/hash.go@v2.26.1 keeps C(depends_on), C(up --no-deps)
        drops it), so such a service is recreated by the next run with dependencies; 2.40.3 leaves
        C(depends_on) out of the hash."
    type: bool
    default: true
  scale:
    description:
      - Number of containers per service (C(--scale name=N)), overriding C(deploy.replicas) / C(scale).
      - A name that is not a service of the definition is an error.
    type: dict
  assume_yes:
    description:
      - Answer yes to Compose's prompts (C(--yes)); today the only one is whether to recreate a named
        volume whose definition changed (Compose 2.32 and later, create.go ensureVolume@v2.40.3),
        which removes its data and recreates the services that mount it.
      - With V(false) a changed volume definition is left as it is, as Compose answers no.
      - Ignored with Compose older than 2.32, which never recreates a volume.
    type: bool
    default: false
  renew_anon_volumes:
    description:
      - Recreate anonymous volumes instead of keeping them from the previous containers
        (C(--renew-anon-volumes)), for the services that are recreated.
    type: bool
    default: false
  recreate:
    description:
      - V(auto) recreates a service when its config hash or image id differs.
      - V(always) recreates every selected service (always changed).
      - V(never) never recreates existing containers; only missing ones are created and stopped ones started.
    type: str
    choices: [auto, always, never]
    default: auto
  remove_orphans:
    description:
      - Remove containers of services that are no longer in the definition.
      - When nothing else is brought up, the module stops them first (C(docker stop), with
        C(--time) O(timeout) when set, else each container's own stop grace period) and then
        removes them, as Compose does (down.go stopAndRemoveContainer@v2.40.3); when an C(up) runs,
        its C(--remove-orphans) does the same.
    type: bool
    default: false
  remove_volumes:
    description:
      - With O(state=absent), also remove the project's named volumes (C(down --volumes)).
    type: bool
    default: false
  remove_images:
    description:
      - With O(state=absent), also remove images (C(down --rmi)).
    type: str
    choices: [all, local]
  wait:
    description:
      - Wait until every selected service is running and, when it has a healthcheck, healthy.
        A container that exits, or that is unhealthy, fails at once (as Compose's C(up --wait)
        and its C(service_healthy) dependencies take it); one that is starting is waited on until
        O(wait_timeout).
      - When an C(up) runs, it gets C(--wait --wait-timeout) O(wait_timeout); Compose waits for the
        services it starts (and their dependencies), then the module checks every selected service
        once more and waits for those Compose did not wait for (a service the C(up) did not touch).
        Where Compose's verdict would differ from this contract (a one-shot service C(up) without
        the service that waits for it; a disabled healthcheck, C(healthcheck.disable), before Compose 5.0.2),
        the C(up) runs without C(--wait) and the module alone checks. When no C(up) runs, the
        module checks the running containers without one. See C(docs/compose_stack_wait.md).
      - On failure the error names the service and shows its last log lines (secret values redacted,
        those of O(env), O(env_files) and C(.env), and every value of that service's environment,
        C(env_file:) values included).
        What was applied before the wait stays applied (a recreated service has exactly one
        container, the new one, under its own name), and the failed result says so with C(changed),
        RV(actions) and RV(commands).
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait for O(wait), the C(--wait-timeout) of the C(up) and the bound of the module's own
        check from the start of an C(up --wait) (else from the start of the check).
    type: int
    default: 120
  timeout:
    description:
      - Seconds a container gets to stop before it is killed, when it is recreated, stopped,
        restarted or removed (C(--timeout) of C(up), C(stop), C(restart), C(down)), as in
        M(community.docker.docker_compose_v2). Default is the image's or Compose's (10 s).
      - Until version 0.2 of this collection this was the command timeout, now O(read_timeout)
        and O(apply_timeout).
    type: int
  read_timeout:
    description:
      - Upper bound in seconds for every read (C(docker compose config), the engine's state, a
        registry digest). An engine that does not answer fails the task within this time with a
        clear error, before anything is touched.
    type: int
    default: 60
  apply_timeout:
    description:
      - Upper bound in seconds for each command that changes something (C(pull), C(build), C(up),
        C(stop), C(restart), C(down)). A multi-GB image pull or a long build needs time, so this is
        long by default. A command killed at this bound says so. An C(up --wait) (O(wait)) gets
        O(wait_timeout) more.
    type: int
    default: 3600
  docker_host:
    description:
      - The engine to talk to (C(DOCKER_HOST)), for example V(unix:///var/run/docker.sock).
      - Default is the CLI's own default (C(DOCKER_HOST) of the target, else the local socket).
    type: str
  watch_files:
    description:
      - Files (or directories) on the target whose content change must recreate the services
        that bind-mount them (or use them as C(configs)/C(secrets) C(file)); Compose itself does
        not notice such changes.
      - The module adds the label C(com.colab.compose-stack.watch-digest) (a sha256 of the
        watched content the service mounts) to those services in the definition it passes to
        Compose, so Compose's own config hash changes and exactly those services are recreated.
        The label is not in C(compose.yaml) on disk, so a manual C(docker compose up) in
        O(project_dir) recreates those services once (without the label).
      - A watched path that no service of the project mounts is an error.
    type: list
    elements: path
    default: []
notes:
  - "Scaling: a service whose number of containers differs from O(scale), C(deploy.replicas) or
    C(scale) is passed to C(up)."
  - "Where Compose versions differ, the plan follows the version in use (C(docker compose version)),
    read in docker/compose's source: a recreated service's C(depends_on: {restart: true})
    dependents are restarted from 2.29.4 (convergence.go stopDependentContainers), not by 2.26.1;
    a network whose definition changed (for example its subnet) is recreated, with its services
    stopped and started again, from 2.31 (create.go removeDivergedNetwork), left as it is by 2.26.1;
    a running container detached from one of its networks, or without one of its named volumes,
    is recreated from 2.32 (convergence.go checkExpectedNetworks, checkExpectedVolumes), left as it
    is by 2.26.1; a changed volume definition is recreated from 2.32 only with O(assume_yes)."
  - "A one-shot service, one another service waits for with C(condition: service_completed_successfully),
    that exited 0 is up to date: O(wait) accepts it as Compose's C(--wait) does (start.go
    getDependencyCondition@v2.26.1 and @v2.40.3), and it is not started again by a run that changes
    nothing (Compose's own C(up) of it would run it once more). Any other exited container is
    started, and fails O(wait)."
seealso:
  - module: community.docker.docker_compose_v2
"""

EXAMPLES = r"""
- name: Deploy Gitea and its database, the password injected at deploy time
  colab.cluster.compose_stack:
    project_name: gitea
    project_dir: /srv/gitea
    definition:
      services:
        db:
          image: postgres:17
          environment:
            POSTGRES_PASSWORD: ${GITEA_DB_PASSWORD}
          volumes: [db:/var/lib/postgresql/data]
          healthcheck:
            test: [CMD, pg_isready, -U, postgres]
        gitea:
          image: gitea/gitea:1.24
          depends_on: [db]
          ports: ["3000:3000"]
      volumes:
        db: {}
    env:
      GITEA_DB_PASSWORD: "{{ lookup('colab.cluster.infisical', 'GITEA_DB_PASSWORD') }}"
    wait: true

- name: Deploy Caddy from a templated file; reload when the Caddyfile changes
  colab.cluster.compose_stack:
    project_name: caddy
    project_dir: /srv/caddy
    src: caddy-compose.yml.j2
    watch_files:
      - /srv/caddy/Caddyfile

- name: Predict what would change
  colab.cluster.compose_stack:
    project_name: gitea
    files: [/srv/gitea/compose.yaml]
  check_mode: true
  diff: true

- name: Deploy the project in /srv/ai (its compose.yaml, .env and env_file there), updating images
  colab.cluster.compose_stack:
    project_name: ai
    project_src: /srv/ai
    pull: always          # pulls only what the registry has newer; check mode predicts it
    apply_timeout: 7200   # multi-GB images
    timeout: 30           # seconds a container gets to stop when it is recreated

- name: Stop only the web service
  colab.cluster.compose_stack:
    project_name: gitea
    files: [/srv/gitea/compose.yaml]
    services: [gitea]
    state: stopped

- name: Remove the stack and its volumes
  colab.cluster.compose_stack:
    project_name: gitea
    state: absent
    remove_volumes: true
"""

RETURN = r"""
services:
  description: Per selected service, the planned (check mode) or taken actions and the resulting state.
  returned: always
  type: dict
  sample:
    db:
      actions: []
      state: running
      health: healthy
      image_id: sha256:163fe5e182e3c5ccca61c73699218cfd5337f199fd377dd378fce8ea742dfed9
      config_hash: 0841bf43716be781d93d418e77c0f82b21c249c76fabd3f25675140bc1c02383
      containers: [036bf5e1e493]
    gitea:
      actions: [recreate]
      state: running
      health: null
      image_id: sha256:5e3cbe8e3f3b1c0a8a5a1a6c1b2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d
      config_hash: 3f1c2a0d4e5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d
      containers: [8a1b2c3d4e5f]
actions:
  description: >-
    The planned or taken actions, as C(service action) strings, in order; a network or volume Compose
    recreates is C((network NAME) recreate) / C((volume NAME) recreate).
  returned: always
  type: list
  elements: str
  sample: [gitea recreate]
orphans:
  description: Services that have containers but are no longer in the definition.
  returned: always
  type: list
  elements: str
  sample: []
config_hash:
  description: A sha256 over the sorted per-service config hashes, a fingerprint of the whole project.
  returned: when the project has a definition
  type: str
  sample: 9b4e0f6c2a7d1e3b5c8f0a2d4e6b8c0e2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e
compose_version:
  description: The version of Compose the plan followed.
  returned: with O(state=present), V(stopped) or V(restarted)
  type: str
  sample: 2.40.3
cost:
  description:
    - What the run cost on the target, so that a regression shows as a number; C(spawns) counts
      the processes started (C(docker compose ...), C(docker ...)), C(api_calls) the Engine API
      requests over the local socket.
    - A no-change run with the local socket starts one Compose process (C(config)); the version
      of Compose is read once per plugin binary and kept in C($XDG_CACHE_HOME/colab.cluster/compose-version.json)
      (C(~/.cache) without XDG_CACHE_HOME), keyed by its path, size and mtime.
  returned: always
  type: dict
  sample: {spawns: 1, api_calls: 3}
commands:
  description: The mutating C(docker compose) commands run (or that would run in check mode), without environment.
  returned: always
  type: list
  elements: list
  sample: [[docker, compose, -p, gitea, up, -d, gitea]]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.colab.cluster.plugins.module_utils._argv import refuse_option_like
from ansible_collections.colab.cluster.plugins.module_utils._compose import (
    ComposeError,
    ComposeStack,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            project_name=dict(type="str", required=True),
            project_dir=dict(type="path", aliases=["project_src"]),
            definition=dict(type="dict"),
            src=dict(type="path"),
            files=dict(type="list", elements="path"),
            env=dict(type="dict", default={}, no_log=True),
            env_files=dict(type="list", elements="path", default=[]),
            profiles=dict(type="list", elements="str", default=[]),
            services=dict(type="list", elements="str", default=[]),
            state=dict(type="str", default="present", choices=["present", "stopped", "restarted", "absent"]),
            pull=dict(type="str", default="policy", choices=["always", "missing", "never", "policy"]),
            build=dict(type="str", default="policy", choices=["always", "never", "policy"]),
            recreate=dict(type="str", default="auto", choices=["auto", "always", "never"]),
            dependencies=dict(type="bool", default=True),
            scale=dict(type="dict"),
            assume_yes=dict(type="bool", default=False),
            renew_anon_volumes=dict(type="bool", default=False),
            remove_orphans=dict(type="bool", default=False),
            remove_volumes=dict(type="bool", default=False),
            remove_images=dict(type="str", choices=["all", "local"]),
            wait=dict(type="bool", default=False),
            wait_timeout=dict(type="int", default=120),
            timeout=dict(type="int"),
            read_timeout=dict(type="int", default=60),
            apply_timeout=dict(type="int", default=3600),
            docker_host=dict(type="str"),
            watch_files=dict(type="list", elements="path", default=[]),
        ),
        mutually_exclusive=[("definition", "src", "files")],
        required_by={"definition": "project_dir", "src": "project_dir"},
        required_if=[
            ("state", "present", ("definition", "src", "files", "project_dir"), True),
            ("state", "restarted", ("definition", "src", "files", "project_dir"), True),
            ("state", "stopped", ("definition", "src", "files", "project_dir"), True),
        ],
        supports_check_mode=True,
    )
    refuse_option_like(module, ("project_name", "services", "profiles"))
    if module.params["src"] is not None:
        module.fail_json(msg="src must be templated by the colab.cluster.compose_stack action plugin; "
                             "it reached the module directly")
    for field in ("read_timeout", "apply_timeout", "wait_timeout"):
        if module.params[field] <= 0:
            module.fail_json(msg="%s must be a positive number of seconds, got %s" % (field, module.params[field]))
    for name, count in (module.params["scale"] or {}).items():
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            try:
                module.params["scale"][name] = int(count)
            except (TypeError, ValueError):
                module.fail_json(msg="scale: %s must be a number of containers, got %r" % (name, count))
            if module.params["scale"][name] < 0:
                module.fail_json(msg="scale: %s must not be negative" % name)
    try:
        result = ComposeStack(module).apply()
    except ComposeError as exc:
        module.fail_json(msg=str(exc), **exc.details)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

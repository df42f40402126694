# Copyright (c) colab.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: infisical_secret
author:
  - colab.cluster developers (@colab)
short_description: Read secrets from Infisical, with one login and one list per path per run
version_added: 0.1.0
description:
  - Reads secrets from an L(Infisical,https://infisical.com) project through its documented REST
    API (C(POST /api/v1/auth/universal-auth/login), C(GET /api/v4/secrets)), with no SDK.
  - Terms are secret names; each term returns that secret's value.
    With O(as_dict=true) and no terms, returns the whole path as one dictionary
    (ready for an C(env:) mapping); with terms, a dictionary of just those names.
  - B(Caching.) One login per identity and one list request per (project, env, path, options)
    for the whole C(ansible-playbook) run, across every task and host. Ansible templates tasks
    in forked worker processes, so the cache lives in a small broker process the first lookup
    starts for the run (a unix socket, mode 0600, in a 0700 directory under
    C($XDG_RUNTIME_DIR) or C(~/.ansible/tmp)); it keeps tokens and values in memory only and
    exits when the C(ansible-playbook) process ends. Nothing is written to disk.
    Set O(cache_mode=process) to keep the cache inside each process instead.
  - Imported secrets are merged the way the Infisical CLI merges them; the path's own secrets
    win, a later import overrides an earlier one.
  - References (C(${KEY}), C(${env.KEY}), C(${env.folder.KEY})) are expanded by this plugin,
    reading referenced paths through the same cache, so that a reference that does not resolve
    fails naming it (the server would silently substitute an empty string). Only the secrets
    asked for (the terms, or the whole path with O(as_dict=true) and no terms) and what they
    reference are expanded, so a broken secret elsewhere in the path does not fail the lookup.
  - A value the server hides (the identity may list secrets but lacks the C(Read Value)
    permission, so it answers C(secretValueHidden) and C(<hidden-by-infisical>)) is an error naming the key,
    path, env and the missing permission, never returned as if it were the value.
  - An access token the server refuses (401, 403 C(TokenError), 400 use limit) is replaced
    by one fresh login and the request retried once.
  - Values are returned marked unsafe, so Jinja never templates them.
  - Errors never contain a secret value or the client secret.
options:
  _terms:
    description: Names of the secrets to read. Leave empty with O(as_dict=true) for the whole path.
    type: list
    elements: str
    required: false
  as_dict:
    description:
      - Return one dictionary (name to value) instead of one value per term.
    type: bool
    default: false
  project_id:
    description: ID of the Infisical project (the seed's project C(keys)).
    type: str
    env:
      - name: COLAB_INFISICAL_PROJECT_ID
    ini:
      - section: colab_infisical
        key: project_id
    vars:
      - name: infisical_secret_project_id
  env:
    description: Environment slug.
    type: str
    default: prod
    aliases: [env_slug]
    env:
      - name: COLAB_INFISICAL_ENV
    ini:
      - section: colab_infisical
        key: env
    vars:
      - name: infisical_secret_env
  path:
    description: Folder path of the secrets, for example C(/gitea).
    type: str
    default: /
    env:
      - name: COLAB_INFISICAL_PATH
    vars:
      - name: infisical_secret_path
  allow_empty:
    description:
      - Accept a path that holds no secret (O(as_dict=true) then returns C({})).
      - By default an empty path is an error naming project, env and path, because the
        server answers an empty list, not an error, for a folder or environment that does
        not exist, so a mistyped path or env would otherwise deploy without its secrets.
    type: bool
    default: false
    env:
      - name: COLAB_INFISICAL_ALLOW_EMPTY
    vars:
      - name: infisical_secret_allow_empty
  recursive:
    description: Also read the secrets of sub-folders (the shallowest folder wins a name clash).
    type: bool
    default: false
    env:
      - name: COLAB_INFISICAL_RECURSIVE
    ini:
      - section: colab_infisical
        key: recursive
    vars:
      - name: infisical_secret_recursive
  include_imports:
    description: Merge the path's secret imports (the path's own secrets win; later imports beat earlier ones).
    type: bool
    default: true
    env:
      - name: COLAB_INFISICAL_INCLUDE_IMPORTS
    ini:
      - section: colab_infisical
        key: include_imports
    vars:
      - name: infisical_secret_include_imports
  expand_references:
    description:
      - Expand secret references; with V(false) the literal text is returned.
      - Only the server's reference syntax is a reference (C(${KEY}), C(${env.KEY}),
        C(${env.folder.KEY}), letters, digits and C(-_.@) between the braces); any other
        C(${...}), such as C(${HOME:-/root}) or a password's C(k9${Qz!x}p), is literal text.
      - Cross-project references (C(${@project-slug.env.path.KEY})) are an error, since only the
        server can resolve them (it holds the folder grant).
    type: bool
    default: true
    env:
      - name: COLAB_INFISICAL_EXPAND_REFERENCES
    ini:
      - section: colab_infisical
        key: expand_references
    vars:
      - name: infisical_secret_expand_references
  tags:
    description:
      - Only secrets carrying these tag slugs (the API's C(tagSlugs) filter).
      - Secrets they reference are resolved whatever their tags, as the server does.
    type: list
    elements: str
    default: []
    env:
      - name: COLAB_INFISICAL_TAGS
    ini:
      - section: colab_infisical
        key: tags
    vars:
      - name: infisical_secret_tags
  cache_mode:
    description:
      - V(broker) shares one cache across the run's forked workers through the broker process
        (when the lookup runs in the main C(ansible-playbook) process, its own memory is used).
      - V(process) keeps the cache in the current process only (a worker's cache dies with it,
        so each task on each host logs in and lists again).
    type: str
    default: broker
    choices: [broker, process]
    env:
      - name: COLAB_INFISICAL_CACHE_MODE
    ini:
      - section: colab_infisical
        key: cache_mode
    vars:
      - name: infisical_secret_cache_mode
extends_documentation_fragment:
  - colab.cluster.infisical
notes:
  - Options can be set on the task, in C(ansible.cfg) section C([colab_infisical]), with the
    environment variables listed, or with the inventory variables listed (C(infisical_secret_*)).
  - The broker relies on the controller being POSIX (as Ansible's controller is).
seealso:
  - name: The official infisical.vault collection
    description: Its option names (C(universal_auth_client_id), C(env_slug)...) and environment variables are accepted too.
    link: https://github.com/Infisical/ansible-collection
  - name: Infisical API reference
    description: The endpoints this plugin calls.
    link: https://infisical.com/docs/api-reference/overview/introduction
"""

EXAMPLES = r"""
- name: One secret, straight into the module option that needs it
  community.postgresql.postgresql_user:
    name: gitea
    password: "{{ lookup('colab.cluster.infisical_secret', 'GITEA_DB_PASSWORD', path='/gitea') }}"
  no_log: true

- name: Several secrets, one list request
  ansible.builtin.set_fact:
    registry_credentials: "{{ query('colab.cluster.infisical_secret', 'REGISTRY_USERNAME', 'REGISTRY_PASSWORD', path='/docker') }}"
  no_log: true

- name: The whole path as a dict, for a compose stack's environment
  colab.cluster.compose_stack:
    project_name: gitea
    project_dir: /srv/gitea
    env: "{{ lookup('colab.cluster.infisical_secret', path='/gitea', as_dict=true) }}"
  no_log: true

- name: Literal references, only secrets tagged "deploy", with a token from elsewhere
  ansible.builtin.set_fact:
    mcp_env: "{{ lookup('colab.cluster.infisical_secret', path='/mcp', as_dict=true, expand_references=false,
                 tags=['deploy'], auth_method='token', token=my_token) }}"
  no_log: true

- name: OIDC login with the official collection's option names (a CI job's ID token)
  ansible.builtin.set_fact:
    ci_env: "{{ lookup('colab.cluster.infisical_secret', path='/ci', env_slug='dev', as_dict=true,
                auth_method='oidc_auth', identity_id=ci_identity_id, jwt=ci_id_token) }}"
  no_log: true

- name: Check which keys a path holds, printing names only
  ansible.builtin.debug:
    msg: "{{ lookup('colab.cluster.infisical_secret', path='/gitea', as_dict=true) | list }}"
"""

RETURN = r"""
_raw:
  description:
    - One value per term (marked unsafe).
    - With O(as_dict=true), a list holding one dictionary of name to value
      (C(lookup) returns the dictionary itself).
  type: list
  elements: raw
"""

import multiprocessing
import os

from ansible.errors import AnsibleLookupError, AnsibleOptionsError
from ansible.plugins.lookup import LookupBase
from ansible.utils.display import Display
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.colab.cluster.plugins.module_utils._infisical import (
    ERROR_KINDS,
    InfisicalError,
    Resolver,
    broker_request,
    options_from_plugin,
    option_warnings,
    redact_url,
    validate_options,
)

display = Display()

# The controller process's own cache (used when the lookup runs outside a forked worker,
# and for cache_mode=process). It survives across LookupModule instances.
_RESOLVER = Resolver()


def _in_worker():
    return multiprocessing.parent_process() is not None


class LookupModule(LookupBase):

    def _resolve(self, opts, cache_mode, keys):
        if cache_mode == "broker" and _in_worker():
            # the broker may retry a login and a list 4 times each (and the lists that
            # references need): wait for all of that rather than give up first
            answer = broker_request(opts, os.getppid(),
                                    timeout=opts["timeout"] * 16 + 30, keys=keys)
        else:
            answer = _RESOLVER.handle({"opts": opts, "keys": keys})
        if not answer.get("ok"):
            raise ERROR_KINDS.get(answer.get("kind"), InfisicalError)(answer.get("error"))
        return answer["secrets"]

    def _templated(self, opts):
        # Options read from inventory variables arrive untemplated; render the ones that are
        # templates (trusted inventory text only: untrusted strings stay literal).
        for name, value in opts.items():
            if isinstance(value, str) and "{{" in value and self._templar is not None:
                opts[name] = self._templar.template(value)
        return opts

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        as_dict = self.get_option("as_dict")
        cache_mode = self.get_option("cache_mode")
        terms = [str(t) for t in (terms or [])]
        if not terms and not as_dict:
            raise AnsibleOptionsError(
                "infisical_secret needs secret names as terms, or as_dict=true for the whole path")
        try:
            opts = validate_options(self._templated(options_from_plugin(self)))
        except InfisicalError as exc:
            raise AnsibleOptionsError(f"infisical_secret: {exc}") from None
        where = f"path {opts['path']} in env {opts['env']} of project {opts['project_id']}"
        for warning in option_warnings(opts):
            display.warning(f"infisical_secret: {warning}")
        display.vvv(f"infisical_secret: reading {where} from {redact_url(opts['url'])} ({cache_mode} cache)")
        try:
            secrets = self._resolve(opts, cache_mode, terms or None)
        except (InfisicalError, OSError, ValueError) as exc:
            raise AnsibleLookupError(f"infisical_secret: {exc}") from None
        missing = [t for t in terms if t not in secrets]
        if missing:
            raise AnsibleLookupError(
                f"infisical_secret: secret {', '.join(missing)} not found at {where}"
                f"{'' if opts['include_imports'] else ' (imports excluded)'}")
        if as_dict:
            picked = {k: secrets[k] for k in terms} if terms else dict(secrets)
            return [wrap_var(picked)]
        return [wrap_var(secrets[t]) for t in terms]

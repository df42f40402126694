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
    fails naming it (the server would silently substitute an empty string).
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
  url:
    description: Base URL of the Infisical server (without C(/api)).
    type: str
    default: https://app.infisical.com
    env:
      - name: COLAB_INFISICAL_URL
      - name: INFISICAL_URL
    ini:
      - section: colab_infisical
        key: url
    vars:
      - name: infisical_secret_url
  auth_method:
    description:
      - V(universal_auth) logs in with a machine identity's O(client_id) and O(client_secret).
      - V(token) uses an access token obtained elsewhere (O(token)).
    type: str
    default: universal_auth
    choices: [universal_auth, token]
    env:
      - name: COLAB_INFISICAL_AUTH_METHOD
    ini:
      - section: colab_infisical
        key: auth_method
    vars:
      - name: infisical_secret_auth_method
  client_id:
    description: Universal Auth client ID of the machine identity.
    type: str
    env:
      - name: COLAB_INFISICAL_CLIENT_ID
      - name: INFISICAL_UNIVERSAL_AUTH_CLIENT_ID
    ini:
      - section: colab_infisical
        key: client_id
    vars:
      - name: infisical_secret_client_id
  client_secret:
    description: Universal Auth client secret of the machine identity. Never logged or shown in errors.
    type: str
    env:
      - name: COLAB_INFISICAL_CLIENT_SECRET
      - name: INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET
    vars:
      - name: infisical_secret_client_secret
  token:
    description: Access token, for O(auth_method=token).
    type: str
    env:
      - name: COLAB_INFISICAL_TOKEN
      - name: INFISICAL_TOKEN
    vars:
      - name: infisical_secret_token
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
    description: Expand C(${...}) secret references; with V(false) the literal text is returned.
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
    description: Only secrets carrying these tag slugs (the API's C(tagSlugs) filter).
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
  validate_certs:
    description: Verify the server's TLS certificate.
    type: bool
    default: true
    env:
      - name: COLAB_INFISICAL_VALIDATE_CERTS
    ini:
      - section: colab_infisical
        key: validate_certs
    vars:
      - name: infisical_secret_validate_certs
  ca_path:
    description: CA bundle (PEM) to verify the server with, for a private CA.
    type: path
    env:
      - name: COLAB_INFISICAL_CA_PATH
    ini:
      - section: colab_infisical
        key: ca_path
    vars:
      - name: infisical_secret_ca_path
  timeout:
    description:
      - Seconds each HTTP request may take. 429 and 5xx answers are retried 3 times with backoff.
    type: float
    default: 10
    env:
      - name: COLAB_INFISICAL_TIMEOUT
    ini:
      - section: colab_infisical
        key: timeout
    vars:
      - name: infisical_secret_timeout
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
notes:
  - Options can be set on the task, in C(ansible.cfg) section C([colab_infisical]), with the
    environment variables listed, or with the inventory variables listed (C(infisical_secret_*)).
  - The broker relies on the controller being POSIX (as Ansible's controller is).
seealso:
  - name: Infisical API reference
    description: The endpoints this plugin calls.
    link: https://infisical.com/docs/api-reference/overview/introduction
"""

EXAMPLES = r"""
- name: One secret
  ansible.builtin.debug:
    msg: "{{ lookup('colab.cluster.infisical_secret', 'GITEA_DB_PASSWORD', path='/gitea') }}"

- name: Several secrets, one list request
  ansible.builtin.set_fact:
    registry_credentials: "{{ query('colab.cluster.infisical_secret', 'REGISTRY_USERNAME', 'REGISTRY_PASSWORD', path='/docker') }}"
  no_log: true

- name: The whole path as a dict, for a compose stack's environment
  colab.cluster.compose_stack:
    project_name: gitea
    project_dir: /srv/gitea
    env: "{{ lookup('colab.cluster.infisical_secret', path='/gitea', as_dict=true) }}"

- name: Literal references, only secrets tagged "deploy", with a token
  ansible.builtin.debug:
    msg: "{{ lookup('colab.cluster.infisical_secret', path='/mcp', as_dict=true, expand_references=false,
             tags=['deploy'], auth_method='token', token=my_token) }}"
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
    validate_options,
)

display = Display()

# The controller process's own cache (used when the lookup runs outside a forked worker,
# and for cache_mode=process). It survives across LookupModule instances.
_RESOLVER = Resolver()


def _in_worker():
    return multiprocessing.parent_process() is not None


class LookupModule(LookupBase):

    def _resolve(self, opts, cache_mode):
        if cache_mode == "broker" and _in_worker():
            answer = broker_request(opts, os.getppid(),
                                    timeout=opts["timeout"] * 8 + 30)
        else:
            answer = _RESOLVER.handle({"opts": opts})
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
        display.vvv(f"infisical_secret: reading {where} from {opts['url']} ({cache_mode} cache)")
        try:
            secrets = self._resolve(opts, cache_mode)
        except (InfisicalError, OSError, ValueError) as exc:
            raise AnsibleLookupError(f"infisical_secret: {exc}") from None
        missing = [t for t in terms if t not in secrets]
        if missing:
            raise AnsibleLookupError(
                f"infisical_secret: secret {', '.join(missing)} not found at {where}"
                f" ({len(secrets)} secret(s) there{'' if opts['include_imports'] else ', imports excluded'})")
        if as_dict:
            picked = {k: secrets[k] for k in terms} if terms else dict(secrets)
            return [wrap_var(picked)]
        return [wrap_var(secrets[t]) for t in terms]

# Copyright (c) colab.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark stand-in for infisical.vault.read_secrets (not installable here: Galaxy only).

It reproduces that lookup's request pattern with the same official SDK (infisicalsdk):
each call builds a new InfisicalSDKClient, logs in with Universal Auth, then lists the
path (or reads one secret). Source of the behaviour: Infisical/ansible-collection,
plugins/lookup/read_secrets.py (LookupModule.run -> _get_sdk_client -> authenticate, then
client.secrets.list_secrets / get_secret_by_name), read for this benchmark.
"""
from __future__ import annotations

DOCUMENTATION = r"""
name: anchor_read_secrets
short_description: Benchmark stand-in reproducing infisical.vault.read_secrets' requests
description:
  - One login and one list per call, through infisicalsdk, like infisical.vault.read_secrets.
options:
  url:
    description: Infisical URL.
    type: str
  universal_auth_client_id:
    description: Client ID.
    type: str
  universal_auth_client_secret:
    description: Client secret.
    type: str
  project_id:
    description: Project ID.
    type: str
  env_slug:
    description: Environment.
    type: str
  path:
    description: Folder path.
    type: str
  as_dict:
    description: Return one dict.
    type: bool
    default: false
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        try:
            from infisical_sdk import InfisicalSDKClient
        except ImportError as exc:
            raise AnsibleLookupError("infisicalsdk is needed for the benchmark") from exc
        client = InfisicalSDKClient(host=self.get_option("url"))
        try:
            client.auth.universal_auth.login(client_id=self.get_option("universal_auth_client_id"),
                                             client_secret=self.get_option("universal_auth_client_secret"))
            listed = client.secrets.list_secrets(project_id=self.get_option("project_id"),
                                                 environment_slug=self.get_option("env_slug"),
                                                 secret_path=self.get_option("path"))
        finally:
            client.close()
        if self.get_option("as_dict"):
            return [{s.secretKey: s.secretValue for s in listed.secrets}]
        return [{"key": s.secretKey, "value": s.secretValue} for s in listed.secrets]

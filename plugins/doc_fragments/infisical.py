# Copyright: colab.cluster developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How every colab.cluster Infisical plugin reaches the server and logs in.

Environment variable names: ours (COLAB_INFISICAL_*) first, then the ones the official
infisical.vault collection reads (Infisical/ansible-collection plugins/doc_fragments/auth.py
@8eb30f7), so a controller set up for that collection works unchanged.
"""
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  url:
    description:
      - Base URL of the Infisical server, without C(/api) (for example C(https://app.infisical.com)).
      - Plain C(http://) is refused unless the host is this machine (loopback) or O(allow_http=true).
      - Redirects are never followed (they would carry the credentials elsewhere).
      - Messages and logs show it without a C(user:pass@) part.
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
  allow_http:
    description:
      - Accept a plain C(http://) O(url) to a host other than this machine. The client secret,
        the JWT and the access token then cross the network unencrypted, and every use warns.
    type: bool
    default: false
    env:
      - name: COLAB_INFISICAL_ALLOW_HTTP
    ini:
      - section: colab_infisical
        key: allow_http
    vars:
      - name: infisical_secret_allow_http
  auth_method:
    description:
      - V(universal_auth) logs in with a machine identity's O(client_id) and O(client_secret).
      - V(oidc) logs in with a machine identity's O(identity_id) and an OIDC O(jwt) (for
        example a CI job's ID token).
      - V(token) uses an access token obtained elsewhere (O(token)); such a token cannot be
        renewed, so a refused token fails the lookup.
      - V(token_auth) and V(oidc_auth) are the official C(infisical.vault) collection's
        spellings of V(token) and V(oidc).
    type: str
    default: universal_auth
    choices: [universal_auth, oidc, token, oidc_auth, token_auth]
    env:
      - name: COLAB_INFISICAL_AUTH_METHOD
      - name: INFISICAL_AUTH_METHOD
    ini:
      - section: colab_infisical
        key: auth_method
    vars:
      - name: infisical_secret_auth_method
  client_id:
    description: Universal Auth client ID of the machine identity.
    type: str
    aliases: [universal_auth_client_id]
    env:
      - name: COLAB_INFISICAL_CLIENT_ID
      - name: UNIVERSAL_AUTH_MACHINE_IDENTITY_CLIENT_ID
      - name: INFISICAL_UNIVERSAL_AUTH_CLIENT_ID
    ini:
      - section: colab_infisical
        key: client_id
    vars:
      - name: infisical_secret_client_id
  client_secret:
    description: Universal Auth client secret of the machine identity. Never logged or shown in errors.
    type: str
    aliases: [universal_auth_client_secret]
    env:
      - name: COLAB_INFISICAL_CLIENT_SECRET
      - name: UNIVERSAL_AUTH_MACHINE_IDENTITY_CLIENT_SECRET
      - name: INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET
    vars:
      - name: infisical_secret_client_secret
  identity_id:
    description: ID of the machine identity, for O(auth_method=oidc).
    type: str
    env:
      - name: COLAB_INFISICAL_IDENTITY_ID
      - name: INFISICAL_MACHINE_IDENTITY_ID
    ini:
      - section: colab_infisical
        key: identity_id
    vars:
      - name: infisical_secret_identity_id
  jwt:
    description: The OIDC JWT, for O(auth_method=oidc). Never logged or shown in errors.
    type: str
    env:
      - name: COLAB_INFISICAL_JWT
      - name: INFISICAL_JWT
      - name: INFISICAL_OIDC_AUTH_JWT
    vars:
      - name: infisical_secret_jwt
  token:
    description: Access token, for O(auth_method=token). Never logged or shown in errors.
    type: str
    env:
      - name: COLAB_INFISICAL_TOKEN
      - name: INFISICAL_TOKEN
    vars:
      - name: infisical_secret_token
  validate_certs:
    description: Verify the server's TLS certificate. C(false) warns at every use.
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
      - Seconds each HTTP request may take. Connection errors, timeouts, 429 and 5xx answers
        are retried 3 times with a bounded backoff (0.25 s, 0.5 s, 1 s; C(Retry-After) up to 8 s).
    type: float
    default: 10
    env:
      - name: COLAB_INFISICAL_TIMEOUT
    ini:
      - section: colab_infisical
        key: timeout
    vars:
      - name: infisical_secret_timeout
"""

# Copyright: (c) 2026, colab.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL helpers the roles need (one place for them)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import os

from ansible.errors import AnsibleFilterError

# PostgreSQL's default (src/include/common/scram-common.h, SCRAM_SHA_256_DEFAULT_ITERATIONS).
_ITERATIONS = 4096


def _b64(raw):
    return base64.b64encode(raw).decode("ascii")


def pg_scram_sha256(password, salt=None, iterations=_ITERATIONS):
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 5802/7677).

    The layout is PostgreSQL's ``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>``
    (src/common/scram-common.c, scram_build_secret). Sent in ``ALTER ROLE ... PASSWORD``,
    it lets the server check the password without the clear text ever reaching it, its
    statement log or its error messages. Passwords are used as UTF-8 without SASLprep,
    which equals SASLprep for the printable ASCII passwords Infisical generates.
    """
    if not isinstance(password, str) or not password:
        raise AnsibleFilterError("pg_scram_sha256: the password must be a non-empty string")
    if salt is None:
        salt = os.urandom(16)
    elif isinstance(salt, str):
        salt = base64.b64decode(salt)
    iterations = int(iterations)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return f"SCRAM-SHA-256${iterations}:{_b64(salt)}${_b64(stored_key)}:{_b64(server_key)}"


class FilterModule:
    def filters(self):
        return {"pg_scram_sha256": pg_scram_sha256}

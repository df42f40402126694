"""The preflight's secret row keeps the lookup's own cause (issue 17.1, found by the
fault suite: Ansible's "Task failed: Finalization of task args ... The lookup plugin ...
failed:" prefix filled the row's 300 characters and cut "Connection refused" off).

The preflight role runs on localhost (local connection) with gitea_secrets read from a
store address nothing listens on.
"""
from __future__ import annotations

import json
import os
import socket
import sys

from tests.helpers import ansible_env, run_logged, tool


def _closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_secret_row_names_the_lookups_cause(tmp_path):
    port = _closed_port()
    inventory = {"all": {"children": {"gitea_servers": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "gitea_secrets": "{{ lookup('colab.cluster.infisical_secret', path='/gitea', as_dict=true) }}",
        "infisical_secret_url": f"http://127.0.0.1:{port}", "infisical_secret_project_id": "p",
        "infisical_secret_env": "prod", "infisical_secret_client_id": "id",
        "infisical_secret_client_secret": "not-a-secret", "infisical_secret_timeout": 1}}}}}}
    (tmp_path / "hosts.yml").write_text(json.dumps(inventory))
    (tmp_path / "play.yml").write_text(json.dumps([{
        "name": "preflight", "hosts": "all", "gather_facts": False,
        "roles": [{"role": "colab.cluster.preflight"}]}]))
    rc, text = run_logged([tool("ansible-playbook"), "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml")],
                          "preflight-secret-errors.log", timeout=300, env=ansible_env())
    assert rc != 0
    flat = " ".join(text.split())
    row = flat[flat.index("localhost secrets gitea_secrets: "):]
    assert row.startswith(f"localhost secrets gitea_secrets: infisical_secret: cannot reach Infisical at "
                          f"http://127.0.0.1:{port} (timeout 1s, 4 attempts): "), row[:400]
    assert "Connection refused" in row.split(";", maxsplit=1)[0], row[:400]
    assert os.path.basename(tool("ansible-playbook")) == "ansible-playbook"

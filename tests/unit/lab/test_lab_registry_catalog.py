"""lab.py summary's registry line (issue 30 item 2): the catalog is read over TLS, verified
against the cluster CA on cooperator, with the lab store's registry account handed over on
stdin (never in the docker exec argv, which the lab's argv sampler would see)."""
from __future__ import annotations

import importlib.util
import json
import os

from tests.helpers import ROOT

_spec = importlib.util.spec_from_file_location("colab_lab_registry_tool", os.path.join(ROOT, "lab", "lab.py"))
lab = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lab)


class _Store:
    def __init__(self, directory):
        self.directory = directory

    def state_dir(self):
        return self.directory


def _seed(tmp_path, docker):
    seed = {"projects": {"p": {"environments": {"prod": {"folders": {"/docker": {"secrets": docker}}}}}}}
    (tmp_path / "seed.json").write_text(json.dumps(seed), encoding="utf-8")


def test_the_catalog_is_asked_over_tls_with_the_account_on_stdin(tmp_path, monkeypatch):
    """Fails before: the summary asked http://127.0.0.1:5000 with no credential (now a 401)."""
    _seed(tmp_path, {"REGISTRY_USERNAME": "lab-registry-abc123", "REGISTRY_PASSWORD": "pw-Zx9_secret"})
    monkeypatch.setattr(lab, "_secret_store", lambda: _Store(str(tmp_path)))
    seen = {}

    class _Proc:
        returncode = 0
        stdout = '["colab/mcp-standin"]\n'

    def fake_run(cmd, check=True, timeout=600, input_data=None, **_kw):
        seen.update(cmd=cmd, input=input_data)
        return _Proc()

    monkeypatch.setattr(lab, "run", fake_run)
    line = lab.registry_catalog()
    assert line == "cooperator:5000 /v2/_catalog (TLS, authenticated): colab/mcp-standin"
    assert seen["input"] == "lab-registry-abc123:pw-Zx9_secret"
    argv = " ".join(seen["cmd"])
    assert "pw-Zx9_secret" not in argv and "lab-registry-abc123" not in argv
    assert seen["cmd"][:3] == ["docker", "exec", "-i"]
    program = seen["cmd"][-1]
    assert "https://127.0.0.1:5000/v2/_catalog" in program and "http://" not in program
    assert "cafile='/etc/colab/pki/ca.crt'" in program
    compile(program, "<registry catalog>", "exec")


def test_no_account_in_the_store_says_so(tmp_path, monkeypatch):
    _seed(tmp_path, {})
    monkeypatch.setattr(lab, "_secret_store", lambda: _Store(str(tmp_path)))

    def must_not_run(*_args, **_kwargs):
        raise AssertionError("ran without an account")

    monkeypatch.setattr(lab, "run", must_not_run)
    assert "no registry account in the lab store" in lab.registry_catalog()

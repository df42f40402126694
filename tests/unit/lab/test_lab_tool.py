"""The lab tool reports a bad setup as one line and a non-zero exit."""
from __future__ import annotations

import importlib.util
import os

import pytest

from tests.helpers import ROOT

_spec = importlib.util.spec_from_file_location("colab_lab_tool", os.path.join(ROOT, "lab", "lab.py"))
lab = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lab)


def test_too_little_disk_is_one_line_reason():
    with pytest.raises(lab.LabError) as err:
        lab.check_disk("/", need_gib=10**9)
    assert "GiB free on /" in str(err.value)
    assert "\n" not in str(err.value)


def test_main_turns_setup_errors_into_exit_1(monkeypatch, capsys):
    def broken(_args=None):
        raise lab.LabError("dockerd did not answer within 90s: see /var/log/dockerd.log")

    monkeypatch.setattr(lab, "ensure_engine", broken)
    assert lab.main(["engine"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["lab: error: dockerd did not answer within 90s: see /var/log/dockerd.log"]


def test_missing_command_is_reported_by_name():
    with pytest.raises(lab.LabError) as err:
        lab.run(["colab-no-such-command-xyz"])
    assert str(err.value) == "command not found: colab-no-such-command-xyz"


def test_failed_command_reports_its_last_error_line():
    with pytest.raises(lab.LabError) as err:
        lab.run(["sh", "-c", "echo first >&2; echo 'E: Unable to locate package nope' >&2; exit 100"])
    assert "E: Unable to locate package nope" in str(err.value)


def test_summary_without_a_recorded_run_fails_clearly(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(lab, "STATE_DIR", str(tmp_path))
    assert lab.main(["summary"]) == 1
    assert "no converge recorded yet" in capsys.readouterr().err


def test_summary_reads_the_recorded_run(monkeypatch, tmp_path, capsys):
    (tmp_path / "last-run.json").write_text(
        '{"hosts": {"cooperator": {"ok": 5, "changed": 0, "failed": 0, "unreachable": 0,'
        ' "roles": ["colab.cluster.base"], "endpoints": ["gitea: http://172.31.254.10:3300"]}}}',
        encoding="utf-8")
    monkeypatch.setattr(lab, "STATE_DIR", str(tmp_path))
    assert lab.main(["summary"]) == 0
    out = capsys.readouterr().out
    assert "colab.cluster.base" in out
    assert "-> gitea: http://172.31.254.10:3300" in out
    assert "terminator   not in the lab" in out
    assert "changed=0 failed=0" in out


def test_node_spec_follows_the_lab_state(monkeypatch, tmp_path):
    """Nodes are tied to .lab/: a new lab state (new secrets) means new nodes."""
    monkeypatch.setattr(lab, "STATE_DIR", str(tmp_path / "one"))
    first = lab.node_spec("cooperator", {"ip": "172.31.254.10"})
    assert first == lab.node_spec("cooperator", {"ip": "172.31.254.10"})
    assert first != lab.node_spec("director", {"ip": "172.31.254.30"})
    monkeypatch.setattr(lab, "STATE_DIR", str(tmp_path / "two"))
    assert first != lab.node_spec("cooperator", {"ip": "172.31.254.10"})


def test_ssh_keys_are_made_once_and_pinned_by_name_and_address(monkeypatch, tmp_path):
    """known_hosts pins every node's own host key before anything connects (no TOFU)."""
    monkeypatch.setattr(lab, "STATE_DIR", str(tmp_path))
    paths = lab.ensure_ssh_keys()
    assert oct(os.stat(paths["dir"]).st_mode & 0o777) == "0o700"
    assert oct(os.stat(paths["key"]).st_mode & 0o777) == "0o600"
    with open(paths["known_hosts"], encoding="utf-8") as fh:
        pinned = fh.read().splitlines()
    assert len(pinned) == len(lab.NODES)
    for line, (host, spec) in zip(pinned, lab.NODES.items()):
        names, keytype, key = line.split()
        assert names == f"{host},{spec['ip']}" and keytype == "ssh-ed25519"
        with open(lab.host_key_path(host) + ".pub", encoding="utf-8") as fh:
            assert fh.read().split()[1] == key
    keys = {p: open(p, encoding="utf-8").read() for p in (paths["key"], lab.host_key_path("director"))}
    lab.ensure_ssh_keys()
    assert keys == {p: open(p, encoding="utf-8").read() for p in keys}, "keys were made again"
    assert len({line.split()[2] for line in pinned}) == len(pinned), "nodes share a host key"


def test_ssh_command_is_the_inventory_connection(monkeypatch, tmp_path):
    monkeypatch.setattr(lab, "STATE_DIR", str(tmp_path))
    argv = lab.ssh_argv("cooperator")
    assert argv == ["ssh", "-i", f"{tmp_path}/ssh/id_ed25519",
                    "-o", f"UserKnownHostsFile={tmp_path}/ssh/known_hosts",
                    "-o", "IdentitiesOnly=yes", "colab@172.31.254.10"]


def test_key_archive_owners_and_modes(monkeypatch, tmp_path):
    import io
    import tarfile

    monkeypatch.setattr(lab, "STATE_DIR", str(tmp_path))
    lab.ensure_ssh_keys()
    with tarfile.open(fileobj=io.BytesIO(lab._key_archive("director"))) as tar:
        members = {m.name: (m.uid, m.mode) for m in tar.getmembers()}
    assert members == {
        "etc/ssh/ssh_host_ed25519_key": (0, 0o600),
        "etc/ssh/ssh_host_ed25519_key.pub": (0, 0o644),
        "home/colab/.ssh/authorized_keys": (lab.ADMIN_UID, 0o600),
    }


def test_summary_prints_how_to_ssh_into_each_node(monkeypatch, tmp_path, capsys):
    (tmp_path / "last-run.json").write_text('{"hosts": {}}', encoding="utf-8")
    monkeypatch.setattr(lab, "STATE_DIR", str(tmp_path))
    assert lab.main(["summary"]) == 0
    out = capsys.readouterr().out
    for host in ("cooperator", "director"):
        assert f"ssh -i {tmp_path}/ssh/id_ed25519 -o UserKnownHostsFile={tmp_path}/ssh/known_hosts" \
            f" -o IdentitiesOnly=yes colab@{lab.NODES[host]['ip']}" in out
    assert "docker exec" not in out


def test_node_spec_follows_the_node_image(monkeypatch, tmp_path):
    monkeypatch.setattr(lab, "STATE_DIR", str(tmp_path))
    context = tmp_path / "node"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM colab/debian-systemd:trixie\n", encoding="utf-8")
    monkeypatch.setattr(lab, "NODE_IMAGE_CONTEXT", str(context))
    first = lab.node_spec("cooperator", lab.NODES["cooperator"])
    (context / "sshd_config").write_text("PermitRootLogin no\n", encoding="utf-8")
    assert lab.node_spec("cooperator", lab.NODES["cooperator"]) != first


def test_host_setup_installs_python3_venv_only_when_venv_cannot_work(monkeypatch):
    asked = []
    monkeypatch.setattr(lab, "apt_install", asked.append)
    monkeypatch.setattr(lab, "missing_host_packages", lambda: [])
    states = iter([False, True])
    monkeypatch.setattr(lab, "venv_works", lambda _python=None: next(states))
    lab.ensure_host()
    assert asked == [["python3-venv"]]
    asked.clear()
    monkeypatch.setattr(lab, "venv_works", lambda _python=None: True)
    lab.ensure_host()
    assert asked == []


def test_host_setup_fails_clearly_when_venv_still_cannot_work(monkeypatch):
    monkeypatch.setattr(lab, "apt_install", lambda _pkgs: None)
    monkeypatch.setattr(lab, "missing_host_packages", lambda: [])
    monkeypatch.setattr(lab, "venv_works", lambda _python=None: False)
    with pytest.raises(lab.LabError, match="cannot make a virtualenv"):
        lab.ensure_host("/usr/bin/python3")


def test_venv_probe_on_this_python_and_on_a_broken_one(tmp_path):
    assert lab.venv_works()
    broken = tmp_path / "python3"
    broken.write_text("#!/bin/sh\necho 'ensurepip is not available' >&2\nexit 1\n", encoding="utf-8")
    broken.chmod(0o755)
    assert not lab.venv_works(str(broken))


def test_node_spec_follows_the_per_node_image(monkeypatch, tmp_path):
    """A node made from another image (LAB_COOPERATOR_IMAGE) is made again."""
    monkeypatch.setattr(lab, "STATE_DIR", str(tmp_path))
    default = lab.node_spec("cooperator", {"ip": "172.31.254.10"})
    assert default == lab.node_spec("cooperator", {"ip": "172.31.254.10", "image": lab.NODE_IMAGE})
    assert default != lab.node_spec("cooperator", {"ip": "172.31.254.10",
                                                   "image": "colab/debian-systemd:trixie-arm64"})


def test_a_new_node_never_inherits_an_earlier_nodes_engine_volume(monkeypatch):
    """A node made anew (no container) starts from an empty engine volume: the volume of a
    node removed without -v held its stacks, which came back before the roles ran."""
    calls = []

    class Done:  # pylint: disable=too-few-public-methods
        returncode = 0
        stdout = "colab-lab-cooperator-docker\n"

    def fake_subprocess_run(argv, **_kwargs):
        calls.append(list(argv))
        return Done()

    monkeypatch.setattr(lab, "container_state", lambda _name: "")
    monkeypatch.setattr(lab.subprocess, "run", fake_subprocess_run)
    monkeypatch.setattr(lab, "run", lambda argv, **_kw: calls.append(list(argv)))
    for step in ("wait_systemd", "ensure_tailnet_guard", "ensure_node_ssh"):
        monkeypatch.setattr(lab, step, lambda *_a, **_kw: None)
    monkeypatch.setattr(lab, "node_flags", lambda: [])
    lab.ensure_node("cooperator", {"ip": "172.31.254.10"})
    removed = [i for i, c in enumerate(calls) if c[:3] == ["docker", "volume", "rm"]]
    created = [i for i, c in enumerate(calls) if c[:2] == ["docker", "run"]]
    assert removed and created and removed[0] < created[0], calls
    assert calls[removed[0]][-1] == "colab-lab-cooperator-docker"

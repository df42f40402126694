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


def test_node_spec_follows_the_node_image(monkeypatch, tmp_path):
    """A node made from another image (LAB_COOPERATOR_IMAGE) is made again; the default
    image keeps the digest nodes were labelled with before the image was per node."""
    monkeypatch.setattr(lab, "STATE_DIR", str(tmp_path))
    default = lab.node_spec("cooperator", {"ip": "172.31.254.10"})
    assert default == lab.node_spec("cooperator", {"ip": "172.31.254.10", "image": lab.BASE_IMAGE})
    assert default != lab.node_spec("cooperator", {"ip": "172.31.254.10",
                                                   "image": "colab/debian-systemd:trixie-arm64"})

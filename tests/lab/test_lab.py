"""The lab end to end: site.yml converges the lab's nodes, then changes nothing."""
from __future__ import annotations

import subprocess

import pytest

from tests.helpers import ROOT, tail

pytestmark = pytest.mark.lab


def test_first_converge_reaches_every_lab_node(converged_lab):
    recap = converged_lab.runs["converge"]["recap"]
    assert set(recap) == {"cooperator", "director"}
    assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in recap.values())


def test_second_converge_changes_nothing(converged_lab):
    run = converged_lab.runs["idempotence"]
    assert run["rc"] == 0, tail(run["text"])
    changed = {h: r["changed"] for h, r in run["recap"].items() if r["changed"]}
    assert not changed, f"second run changed something: {changed}\n{tail(run['text'], 120)}"


def test_check_diff_on_converged_lab_predicts_nothing(converged_lab):
    run = converged_lab.runs["check"]
    assert run["rc"] == 0, tail(run["text"])
    changed = {h: r["changed"] for h, r in run["recap"].items() if r["changed"]}
    assert not changed, f"--check --diff predicts changes: {changed}\n{tail(run['text'], 120)}"


def test_summary_names_hosts_roles_and_absent_nodes(converged_lab):
    summary = converged_lab.first_summary
    assert "colab.cluster.base" in summary["hosts"]["cooperator"]["roles"]
    out = subprocess.run(["python3", "lab/lab.py", "summary"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert "cooperator" in out and "director" in out
    assert "projector" in out and "not in the lab" in out
    assert "changed=0" in out


def test_nodes_resolve_each_other(converged_lab):
    res = converged_lab.exec("director", "getent", "hosts", "cooperator.colab")
    assert res.returncode == 0 and res.stdout.split()[0] == "172.31.254.10"

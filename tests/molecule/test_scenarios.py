"""Runs every molecule scenario (molecule/<name>/molecule.yml) with `molecule test`.

The scenarios share one Docker engine and one locally built base image
(colab/debian-systemd:trixie, made by `make image`); the shared settings live in
.config/molecule/config.yml.
"""
from __future__ import annotations

import os

import pytest

from tests.helpers import ROOT, ansible_env, run_logged, tail, tool

MOLECULE_DIR = os.path.join(ROOT, "molecule")


def _scenarios():
    if not os.path.isdir(MOLECULE_DIR):
        return []
    return sorted(name for name in os.listdir(MOLECULE_DIR)
                  if os.path.exists(os.path.join(MOLECULE_DIR, name, "molecule.yml")))


@pytest.mark.parametrize("scenario", _scenarios())
def test_molecule_scenario(scenario):
    rc, text = run_logged([tool("molecule"), "test", "-s", scenario],
                          f"molecule-{scenario}.log", timeout=1500, env=ansible_env())
    assert rc == 0, f"molecule scenario {scenario} failed (rc={rc}):\n{tail(text, 80)}"

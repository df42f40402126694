"""Runs every molecule scenario (molecule/<name>/molecule.yml) with `molecule test`.

The scenarios share one Docker engine and one locally built base image
(colab/debian-systemd:trixie, made by `make image`); the shared settings live in
.config/molecule/config.yml. A missing or empty molecule/ fails the run, and so does a
role without a scenario that applies it (tests/layout.py says which scenario counts).
Scenarios listed in tests.layout.OPT_IN_SCENARIOS have their own make target.

Each scenario gets the host probe's answers in its environment (tests.helpers.molecule_env:
e.g. /dev/autofs only where the host has it). What a scenario could not do on this machine
it prints as a NOT_DONE_MARK line; the test records it, and the run's summary lists it
under "what this machine could not do".
"""
from __future__ import annotations

import os
import time

import pytest

from tests import layout
from tests.helpers import NOT_DONE, ROOT, molecule_env, not_done_lines, run_logged, tail, tool

MOLECULE_DIR = os.path.join(ROOT, "molecule")
ROLES_DIR = os.path.join(ROOT, "roles")


def test_molecule_directory_holds_scenarios():
    problems = layout.empty_problems(MOLECULE_DIR, layout.scenarios(MOLECULE_DIR),
                                     "molecule scenario (molecule/<name>/molecule.yml)")
    assert not problems, "\n".join(problems)


def test_every_role_has_a_scenario():
    problems = layout.role_scenario_problems(ROLES_DIR, MOLECULE_DIR)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("scenario", [name for name in layout.scenarios(MOLECULE_DIR)
                                      if name not in layout.OPT_IN_SCENARIOS])
def test_molecule_scenario(scenario, record_property):
    started = time.monotonic()
    rc, text = run_logged([tool("molecule"), "test", "-s", scenario],
                          f"molecule-{scenario}.log", timeout=1500, env=molecule_env())
    # The time of each scenario, in the log and in pytest's output (-rA / -s).
    print(f"molecule scenario {scenario}: {time.monotonic() - started:.0f} s")
    for message in not_done_lines(text):
        print(f"molecule scenario {scenario} could not do: {message}")
        record_property(NOT_DONE, message)
    assert rc == 0, f"molecule scenario {scenario} failed (rc={rc}):\n{tail(text, 80)}"

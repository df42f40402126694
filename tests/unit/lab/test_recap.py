"""The one parser of ansible-playbook output (tests/helpers.py), on recorded runs."""
from __future__ import annotations

import os

import pytest

from tests.helpers import RecapError, assert_recap, changed_tasks, fatal_results, parse_recap

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as fh:
        return fh.read()


def test_recap_totals_per_host():
    recap = parse_recap(fixture("recap-first-run.txt"))
    assert recap["alpha"] == {"ok": 5, "changed": 3, "unreachable": 0, "failed": 0,
                              "skipped": 1, "rescued": 0, "ignored": 1}
    assert recap["gone"]["unreachable"] == 1 and recap["gone"]["ok"] == 0
    assert set(recap) == {"alpha", "beta", "gone"}


def test_no_recap_is_an_error_not_an_empty_result():
    with pytest.raises(RecapError, match="no PLAY RECAP"):
        parse_recap(fixture("recap-none.txt"))
    with pytest.raises(RecapError):
        parse_recap("")


def test_changed_text_elsewhere_is_not_a_recap():
    """`changed=0` in a task's output or in a diff says nothing about the run."""
    text = "TASK [x] ***\nok: [alpha] => msg: changed=0 failed=0\n"
    with pytest.raises(RecapError):
        parse_recap(text)


def test_assert_recap_needs_every_host_with_work_done():
    recap = parse_recap(fixture("recap-second-run.txt"))
    assert_recap(recap, ["alpha", "beta"], changed=0)
    with pytest.raises(AssertionError, match="recap hosts"):
        assert_recap(recap, ["alpha", "beta", "gamma"])
    with pytest.raises(AssertionError, match="unreachable|ran no task|recap hosts"):
        assert_recap(parse_recap(fixture("recap-first-run.txt")), ["alpha", "beta", "gone"])
    empty = {"alpha": dict(recap["alpha"], ok=0), "beta": recap["beta"]}
    with pytest.raises(AssertionError, match="alpha ran no task"):
        assert_recap(empty, ["alpha", "beta"])
    with pytest.raises(AssertionError, match="alpha changed 3"):
        assert_recap(parse_recap(fixture("recap-first-run.txt")) | {"gone": recap["alpha"]},
                     ["alpha", "beta", "gone"], changed=0)


def test_changed_tasks_names_tasks_and_handlers():
    found = changed_tasks(fixture("recap-first-run.txt"))
    assert found == [
        ("Write a file (changed once)", "alpha"),
        ("Write a file (changed once)", "beta"),
        ("Loop over items", "alpha"),
        ("Loop over items", "beta"),
        ("Say it changed", "alpha"),
        ("Say it changed", "beta"),
    ]
    assert changed_tasks(fixture("recap-second-run.txt")) == []


def test_fatal_results_name_the_host_and_skip_ignored_failures():
    """The recorded run: gone was unreachable; alpha's and beta's failures were ignored."""
    assert fatal_results(fixture("recap-first-run.txt")) == [("Report ok", "gone", "UNREACHABLE")]
    assert fatal_results(fixture("recap-second-run.txt")) == []
    delegated = "TASK [Probe] ***\nfatal: [alpha -> beta]: FAILED! => \n    msg: no\n"
    assert fatal_results(delegated) == [("Probe", "alpha", "FAILED")]


def test_the_old_director_assertion_accepted_a_clean_run():
    """tests/lab/faults/test_faults.py once asserted
    `"director" in text and "UNREACHABLE" in text or "unreachable" in text.lower()`:
    every PLAY RECAP line prints `unreachable=`, so a run where nobody was unreachable
    passed it. The per-host reading does not."""
    text = fixture("recap-second-run.txt")
    old = "director" in text and "UNREACHABLE" in text or "unreachable" in text.lower()
    assert old, "the old expression is true on a run without any unreachable host"
    assert all(totals["unreachable"] == 0 for totals in parse_recap(text).values())
    assert not [host for _task, host, _outcome in fatal_results(text)]

"""pytest setup shared by every test layer.

Makes this checkout importable as ``ansible_collections.colab.cluster`` (through the
link that ``make link`` keeps at ``.ansible/collections``) with ansible-core's own
collection finder, the way ansible-test's unit runner does it.
"""
from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".ansible", "collections")
LINK = os.path.join(COLLECTIONS, "ansible_collections", "colab", "cluster")

if not os.path.lexists(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink("../../../..", LINK)

if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

# pylint: disable-next=wrong-import-position
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder  # noqa: E402

_AnsibleCollectionFinder(paths=[COLLECTIONS])._install()  # pylint: disable=protected-access


def pytest_terminal_summary(terminalreporter):
    """What this machine could not do: every test's NOT_DONE properties (tests/helpers.py),
    listed at the end of the run, so a host without a feature is a reported outcome."""
    from tests.helpers import NOT_DONE  # pylint: disable=import-outside-toplevel

    lines = []
    for reports in terminalreporter.stats.values():
        for report in reports:
            for key, value in getattr(report, "user_properties", ()):
                if key == NOT_DONE and getattr(report, "when", "call") == "call":
                    lines.append("%s: %s" % (report.nodeid, value))
    if lines:
        terminalreporter.write_sep("=", "what this machine could not do")
        for line in dict.fromkeys(lines):
            terminalreporter.write_line(line)

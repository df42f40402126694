"""README.md's skip table ("### Skips and opt-in targets") names every test file that can skip.

A file under tests/ that calls pytest.skip, uses a skipif mark, importorskip, or the
require_engine / require_image helpers (a failure that COLAB_TESTS_ALLOW_MISSING turns
into a skip, tests/helpers.py require) must be named, by file name, in the first cell of a
row of that table; and a row of a skip names only files that still contain one, so the
table cannot keep a skip that is gone.
"""
from __future__ import annotations

import os
import re

from tests.helpers import ROOT

README = os.path.join(ROOT, "README.md")
SECTION = "### Skips and opt-in targets"
# What makes a test skip (or fail-or-skip). This file is left out: it names them.
CONDITIONAL = re.compile(r"pytest\.skip\(|\.skipif\b|importorskip\(|\brequire_(?:engine|image)\(")
# A row of a skip starts with its kind: skip, skipif, importorskip, require, require_engine, ...
ROW_KIND = re.compile(r"`?(?:skip|skipif|importorskip|require\w*)\b")
FILE_NAME = re.compile(r"[\w.-]+\.py\b")


def skipping_files():
    """{file name: path relative to ROOT} of every tests/ Python file with a conditional."""
    found = {}
    for top, dirs, files in os.walk(os.path.join(ROOT, "tests")):
        dirs[:] = [d for d in dirs if d not in ("output", "__pycache__")]
        for name in files:
            path = os.path.join(top, name)
            if not name.endswith(".py") or os.path.samefile(path, __file__):
                continue
            with open(path, encoding="utf-8") as handle:
                if CONDITIONAL.search(handle.read()):
                    found[name] = os.path.relpath(path, ROOT)
    return found


def table_rows(text):
    """The first cells of the skip table's rows (header and separator left out)."""
    start = text.index(SECTION) + len(SECTION)
    end = text.find("\n## ", start)
    section = text[start:end if end != -1 else None]
    cells = [line.split("|")[1].strip() for line in section.splitlines() if line.startswith("|")]
    assert len(cells) > 2, f"no table under {SECTION!r} in README.md"
    return cells[2:]


def skip_rows(text):
    """{file name: first cell} for every file named in a row that starts with a skip kind."""
    named = {}
    for cell in table_rows(text):
        if ROW_KIND.match(cell):
            for name in FILE_NAME.findall(cell):
                named[name] = cell
    return named


def readme():
    with open(README, encoding="utf-8") as handle:
        return handle.read()


def test_every_test_file_with_a_skip_is_in_the_readme_skip_table():
    named = skip_rows(readme())
    missing = sorted(path for name, path in skipping_files().items() if name not in named)
    assert not missing, f"README.md {SECTION!r} does not name: {missing}"


def test_every_skip_row_names_a_file_that_still_skips():
    found = skipping_files()
    stale = sorted(name for name in skip_rows(readme()) if name not in found)
    assert not stale, f"README.md {SECTION!r} names files with no skip left: {stale}"


def test_the_parser_reads_a_row_and_ignores_opt_in_targets():
    text = (f"{SECTION}\n| what | proves |\n|---|---|\n"
            "| skip: `a/test_x.py::t` (cond) | p |\n| `make test-ee` (`tests/lab/test_y.py`) | p |\n"
            "| require_engine: `test_z.py`, `helpers.py` | p |\n## Next\n| skip: `test_w.py` | p |\n")
    assert set(skip_rows(text)) == {"test_x.py", "test_z.py", "helpers.py"}

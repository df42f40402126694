"""tests/layers.py, `make test`'s runner, on a tiny fake layer set of real pytest runs.

A failing layer must not stop the next ones (only those that name it in `needs`), the
summary gives one line per layer with its counts and seconds, the skip reasons and what
the machine could not do, and the exit status says whether any layer failed.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import textwrap

from tests.helpers import NOT_DONE, ROOT

_spec = importlib.util.spec_from_file_location("colab_layers", os.path.join(ROOT, "tests", "layers.py"))
layers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(layers)


def _suite(tmp_path, name, body):
    directory = tmp_path / name
    directory.mkdir()
    (directory / f"test_{name}.py").write_text(textwrap.dedent(body))
    return str(directory)


def _fake_layers(tmp_path):
    failing = _suite(tmp_path, "first", """
        def test_ok():
            pass

        def test_broken():
            assert 1 == 2
        """)
    later = _suite(tmp_path, "later", f"""
        import pytest

        def test_ok(record_property):
            record_property({NOT_DONE!r}, "the automount: no /dev/autofs here")

        @pytest.mark.skip(reason="not on this machine")
        def test_skipped():
            pass
        """)
    base = ["-p", "no:cacheprovider", "--rootdir", str(tmp_path), "-c", os.devnull]
    return [
        {"name": "first", "argv": layers.pytest_layer(failing, *base), "needs": []},
        {"name": "later", "argv": layers.pytest_layer(later, *base), "needs": []},
        {"name": "after-first", "argv": layers.pytest_layer(later, *base), "needs": ["first"]},
        {"name": "step", "argv": [sys.executable, "-c", "raise SystemExit(3)"], "needs": []},
        {"name": "last", "argv": [sys.executable, "-c", "pass"], "needs": ["later"]},
    ]


def test_a_failing_layer_does_not_stop_the_next_ones(tmp_path, capfd):
    results = layers.run(_fake_layers(tmp_path), env=dict(os.environ, PYTEST_ARGS=""), output=str(tmp_path / "xml"))
    capfd.readouterr()
    status = {row["name"]: row["status"] for row in results}
    assert status == {"first": "failed", "later": "passed", "after-first": "stopped", "step": "failed",
                      "last": "passed"}
    counts = {row["name"]: row["counts"] for row in results}
    assert (counts["first"]["passed"], counts["first"]["failed"]) == (1, 1)
    assert (counts["later"]["passed"], counts["later"]["skipped"]) == (1, 1)
    ((nodeid, text),) = counts["later"]["not_done"]
    assert nodeid.endswith("test_later::test_ok") and text == "the automount: no /dev/autofs here"
    assert counts["step"] is None and results[3]["rc"] == 3

    lines = layers.summary(results)
    text = "\n".join(lines)
    assert any(line.startswith("first ") and "FAILED" in line and "1 passed, 1 failed, 0 skipped" in line
               for line in lines), text
    assert any(line.startswith("later ") and "PASSED" in line and "1 passed, 0 failed, 1 skipped" in line
               for line in lines), text
    assert any(line.startswith("after-first ") and "STOPPED" in line and "needs first, which failed" in line
               for line in lines), text
    assert any(line.startswith("step ") and "rc=3" in line for line in lines), text
    assert any(line.startswith("  [later] ") and line.endswith("test_later::test_skipped: not on this machine")
               for line in lines), text
    assert any(line.startswith("  [later] ") and line.endswith("test_ok: the automount: no /dev/autofs here")
               for line in lines), text
    assert lines[-1] == "FAILED: first, after-first, step", text
    assert all(row["seconds"] >= 0 for row in results)


def test_exit_status_and_selection(tmp_path, monkeypatch, capfd):
    fake = _fake_layers(tmp_path)
    monkeypatch.setattr(layers, "LAYERS", fake)
    monkeypatch.setattr(layers, "OUTPUT", str(tmp_path / "xml"))
    monkeypatch.setenv("PYTEST_ARGS", "")
    assert layers.main(["later", "last"]) == 0
    assert layers.main(["first", "later"]) == 1
    out = capfd.readouterr().out
    assert "=== layer later" in out and "every layer passed" in out


def test_make_test_layers_are_in_order_and_known():
    names = [layer["name"] for layer in layers.LAYERS]
    assert names[0] == "hostprobe"
    pytest_order = [name for name in names if name in ("unit", "integration", "molecule", "lab", "brownfield")]
    assert pytest_order == ["unit", "integration", "molecule", "lab", "brownfield"]
    for index, layer in enumerate(layers.LAYERS):
        assert set(layer["needs"]) <= set(names[:index]), layer


def test_make_test_runs_the_layers_through_the_runner():
    """`make test` once ran `pytest -x` over every layer: one failure hid the later layers."""
    with open(os.path.join(ROOT, "Makefile"), encoding="utf-8") as fh:
        text = fh.read()
    recipe = text.split("\ntest: ", 1)[1].split("\n\n", 1)[0]
    assert "tests/layers.py" in recipe, recipe
    assert "pytest" not in recipe.replace("tests/layers.py", ""), recipe


def test_what_the_layers_leave_out_exists_and_has_its_own_target():
    """An --ignore or --deselect of a file or test that is gone would leave nothing out
    silently; each one left out must still run in a make target."""
    with open(os.path.join(ROOT, "Makefile"), encoding="utf-8") as fh:
        makefile = fh.read()
    left_out = []
    for layer in layers.LAYERS:
        for arg in layer["argv"]:
            if arg.startswith(("--ignore=", "--deselect=")):
                left_out.append(arg.split("=", 1)[1])
    assert left_out, "no layer leaves anything out (then this test should go)"
    for item in left_out:
        path, test = (item.split("::", 1) + [""])[:2]
        assert os.path.exists(os.path.join(ROOT, path)), f"{path} left out but missing"
        if test:
            with open(os.path.join(ROOT, path), encoding="utf-8") as fh:
                assert f"def {test}(" in fh.read(), f"{item}: no such test"
        assert path in makefile, f"{path} is left out of make test and no target runs it"

"""`make test`'s layers, run one after the other; a failure in one never hides the next.

    python tests/layers.py                 every layer of LAYERS, in order
    python tests/layers.py unit molecule   only those (in LAYERS' order)
    python tests/layers.py --list          the table

Each layer is its own process (a pytest run gets its own junit xml in
tests/output/layers/). A failing layer stops only the layers that name it in `needs`, and
the summary says which stopped and why. At the end: one line per layer (passed / failed /
skipped, seconds), the skip reasons, what this machine could not do (the NOT_DONE
properties of tests/helpers.py), and the exit status is non-zero when any layer failed or
was stopped.

Adding a layer is one row of LAYERS: a name, the command, and `needs` (names of earlier
layers whose failure makes it meaningless; most layers need none: each brings up what it
uses itself, e.g. tests/brownfield runs `lab.py up` itself and needs no passing lab layer).
Extra pytest arguments for every pytest layer: PYTEST_ARGS (e.g. PYTEST_ARGS=-x stops a
layer at its first failure, within that layer only). The environment is passed on as is
(LAB_FRESH, CI, ...).
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUTPUT = os.path.join(ROOT, "tests", "output", "layers")
BIN = os.path.dirname(sys.executable)
NOT_DONE = "could_not_do"  # tests/helpers.py NOT_DONE (this file runs outside pytest, stdlib only)


def _tool(name):
    path = os.path.join(BIN, name)
    return path if os.path.exists(path) else name


def pytest_layer(*paths):
    """The argv of a pytest layer (its junit xml path is added at run time)."""
    return [sys.executable, "-m", "pytest", *paths]


# name, argv, needs. In this order. (The fault suite, arm64, the EE alone, ... are opt-in
# make targets: README "What make test runs".)
LAYERS = [
    {"name": "hostprobe", "argv": [sys.executable, "lab/hostprobe.py"], "needs": []},
    {"name": "yamllint", "argv": [_tool("yamllint"), "--strict", "."], "needs": []},
    {"name": "ansible-lint", "argv": [_tool("ansible-lint"), "--profile", "production"], "needs": []},
    {"name": "sanity", "argv": ["tests/sanity/run.sh"], "needs": []},
    {"name": "unit", "argv": pytest_layer("tests/unit"), "needs": []},
    # Left to their own make targets for the 60-min budget (README "What make test runs"):
    # the PostgreSQL upgrade's failure cases (`make test-pg-major`, 273 s) and site.yml's
    # converge and rerun through ansible-runner in the EE (`make test-ee`, ~8 min beyond
    # the lab's converge; the EE's production inventory test stays here).
    {"name": "integration", "argv": pytest_layer(
        "tests/integration", "--ignore=tests/integration/test_gitea_data_safety.py"), "needs": []},
    {"name": "molecule", "argv": pytest_layer("tests/molecule"), "needs": []},
    {"name": "lab", "argv": pytest_layer(
        "tests/lab", "--ignore=tests/lab/faults",
        "--deselect=tests/lab/test_awx_runner.py::"
        "test_site_through_ansible_runner_in_the_ee_converges_then_changes_nothing"), "needs": []},
    # replaces cooperator after the lab layer (its own `lab.py up` first): runs either way
    {"name": "brownfield", "argv": pytest_layer("tests/brownfield"), "needs": []},
]


def is_pytest(argv):
    return argv[1:3] == ["-m", "pytest"]


def junit_counts(path):
    """{tests, passed, failed, skipped, skips: [(nodeid, reason)], not_done: [(nodeid, text)]}
    from pytest's junit xml; None when the file is missing or unreadable (pytest died)."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    counts = {"tests": 0, "passed": 0, "failed": 0, "skipped": 0, "skips": [], "not_done": []}
    for case in root.iter("testcase"):
        nodeid = "%s::%s" % (case.get("classname", ""), case.get("name", ""))
        counts["tests"] += 1
        if case.find("failure") is not None or case.find("error") is not None:
            counts["failed"] += 1
        elif case.find("skipped") is not None:
            counts["skipped"] += 1
            counts["skips"].append((nodeid, case.find("skipped").get("message", "")))
        else:
            counts["passed"] += 1
        for prop in case.iter("property"):
            if prop.get("name") == NOT_DONE:
                counts["not_done"].append((nodeid, prop.get("value", "")))
    # errors outside a test case (collection): the suite's own totals count them
    for suite in root.iter("testsuite"):
        extra = int(suite.get("errors", 0)) - sum(1 for c in suite.iter("testcase") if c.find("error") is not None)
        counts["failed"] += max(extra, 0)
    return counts


def run_layer(layer, env=None, output=OUTPUT, runner=subprocess.run):
    """Run one layer; its result row (name, status, rc, seconds, counts)."""
    argv = list(layer["argv"])
    counts = None
    xml = None
    if is_pytest(argv):
        os.makedirs(output, exist_ok=True)
        xml = os.path.join(output, layer["name"] + ".xml")
        if os.path.exists(xml):
            os.remove(xml)
        argv += ["--junitxml=" + xml, "-o", "junit_family=xunit1"]  # as pytest.ini: keeps properties
        argv += shlex.split((env or os.environ).get("PYTEST_ARGS", ""))
    print("\n=== layer %s: %s" % (layer["name"], " ".join(shlex.quote(a) for a in argv)), flush=True)
    started = time.monotonic()
    rc = runner(argv, cwd=ROOT, env=env, check=False).returncode
    seconds = time.monotonic() - started
    if xml is not None:
        counts = junit_counts(xml)
    # pytest rc 5: nothing collected, a failure too (a layer that tests nothing)
    status = "passed" if rc == 0 else "failed"
    return {"name": layer["name"], "status": status, "rc": rc, "seconds": seconds, "counts": counts}


def run(layers, env=None, output=OUTPUT, runner=subprocess.run):
    """Every layer in order; a layer whose `needs` failed or was stopped is stopped."""
    results = []
    bad = {}
    for layer in layers:
        blocking = [name for name in layer.get("needs", []) if name in bad]
        if blocking:
            row = {"name": layer["name"], "status": "stopped", "rc": None, "seconds": 0.0, "counts": None,
                   "why": "needs %s, which %s" % (", ".join(blocking),
                                                  ", ".join(bad[name] for name in blocking))}
            print("\n=== layer %s: not run, %s" % (layer["name"], row["why"]), flush=True)
        else:
            row = run_layer(layer, env=env, output=output, runner=runner)
        if row["status"] != "passed":
            bad[layer["name"]] = row["status"]
        results.append(row)
    return results


def summary(results):
    """The lines printed at the end of `make test`."""
    lines = ["", "=" * 30 + " make test: layers " + "=" * 30]
    total = 0.0
    for row in results:
        total += row["seconds"]
        counts = row["counts"]
        detail = ""
        if counts is not None:
            detail = "%d passed, %d failed, %d skipped" % (counts["passed"], counts["failed"], counts["skipped"])
        elif row["status"] == "stopped":
            detail = row["why"]
        elif row["rc"]:
            detail = "rc=%s" % row["rc"]
        lines.append("%-13s %-8s %7.0f s  %s" % (row["name"], row["status"].upper(), row["seconds"], detail))
    lines.append("%-13s %-8s %7.0f s" % ("total", "", total))
    skips = [(row["name"], nodeid, reason) for row in results if row["counts"]
             for nodeid, reason in row["counts"]["skips"]]
    if skips:
        lines.append("skipped, with the reason:")
        lines += ["  [%s] %s: %s" % item for item in skips]
    not_done = [(row["name"], nodeid, text) for row in results if row["counts"]
                for nodeid, text in row["counts"]["not_done"]]
    if not_done:
        lines.append("what this machine could not do:")
        lines += ["  [%s] %s: %s" % item for item in not_done]
    failed = [row["name"] for row in results if row["status"] != "passed"]
    lines.append("FAILED: %s" % ", ".join(failed) if failed else "every layer passed")
    return lines


def select(names, layers=None):
    layers = LAYERS if layers is None else layers
    known = [layer["name"] for layer in layers]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SystemExit("unknown layer(s) %s; the layers: %s" % (", ".join(unknown), ", ".join(known)))
    return [layer for layer in layers if not names or layer["name"] in names]


def main(argv):
    if "--list" in argv:
        for layer in LAYERS:
            print("%-13s needs: %-12s %s" % (layer["name"], ",".join(layer["needs"]) or "-", " ".join(layer["argv"])))
        return 0
    results = run(select(argv))
    print("\n".join(summary(results)), flush=True)
    return 0 if all(row["status"] == "passed" for row in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

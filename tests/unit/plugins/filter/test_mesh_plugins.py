"""The roles reach the mesh rules only through the filter/test plugins: one copy of each."""
from __future__ import annotations

import os
import re

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.colab.cluster.plugins.module_utils import _headscale as hs
from tests.helpers import ROOT


def test_filters_are_the_module_utils_rules():
    from ansible_collections.colab.cluster.plugins.filter.headscale import FilterModule
    from ansible_collections.colab.cluster.plugins.test.mesh import TestModule as MeshTests

    FILTERS, TESTS = FilterModule().filters(), MeshTests().tests()  # noqa: N806
    config = {"ip_prefixes": ["100.64.0.0/10"], "dns": {"nameservers": ["1.1.1.1"]}}
    assert FILTERS["headscale_renamed_keys"](config, "0.26.1") == hs.renamed_keys_in(config, "0.26.1")
    # the rule only the Python table had (the role's copy lacked it)
    assert any("dns.nameservers (a list)" in m for m in FILTERS["headscale_renamed_keys"](config, "0.26.1"))
    assert "skips" in FILTERS["headscale_upgrade_problem"]("0.25.1", "0.28.0")
    assert FILTERS["headscale_min_client"]("0.26.1") == "1.62.0"
    assert TESTS["mesh_tag"]("tag:server") and not TESTS["mesh_tag"]("server")
    assert TESTS["headscale_duration"]("1h") and not TESTS["headscale_duration"]("0s")
    with pytest.raises(AnsibleFilterError):
        FILTERS["headscale_upgrade_problem"]("dev", "0.26.1")


def _read(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as handle:
        return handle.read()


def test_roles_hold_no_copy_of_the_rules():
    headscale_vars = _read("roles", "headscale", "vars", "main.yml")
    assert "_headscale_renamed_keys" not in headscale_vars and "removed_in" not in headscale_vars
    for role, path in (("headscale", "validate.yml"), ("tailscale", "main.yml")):
        text = _read("roles", role, "tasks", path)
        # no hand-written tag or duration regex left in the roles
        assert not re.search(r"match\('\^(tag:|\[1-9\])", text), (role, path)
    assert "colab.cluster.headscale_renamed_keys" in _read("roles", "headscale", "tasks", "validate.yml")
    assert "colab.cluster.mesh_tag" in _read("roles", "tailscale", "tasks", "main.yml")


def test_policy_check_runs_unless_the_staged_file_was_not_written():
    """config.yml: in check mode a changed staged file was not written, so the check must be
    skipped exactly then (it was the other way round)."""
    text = _read("roles", "headscale", "tasks", "config.yml")
    block = text[text.index("name: Check the staged policy"):text.index("name: Put the policy in place")]
    assert "not (ansible_check_mode and _headscale_policy_staged is changed)" in block
    assert "_headscale_policy_staged is changed or not ansible_check_mode" not in block


def test_configtest_never_names_the_live_database():
    text = _read("roles", "headscale", "tasks", "config.yml")
    block = text[text.index("name: Run headscale configtest"):]
    block = block[:block.index("- name:", 10)]
    assert "_headscale_configtest_dir" in block and "_headscale_config_file" not in block

"""Every role's meta/argument_specs.yml default is the value defaults/main.yml sets.

ansible-core validates the arguments and shows the spec's default in ansible-doc, but the role
runs with defaults/main.yml: a spec default that drifted says one version while the role
installs another (found: headscale's spec said 0.26.1 while its defaults pinned 0.29.3).
Templated defaults are compared as text; an option that defaults/main.yml does not set is
left out (its spec default is what the role's tasks fall back to)."""

import os

import pytest
import yaml

from tests.helpers import ROOT

ROLES = os.path.join(ROOT, "roles")


def load(path):
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def roles():
    return sorted(name for name in os.listdir(ROLES) if os.path.isdir(os.path.join(ROLES, name)))


def mismatches(spec, defaults):
    out = []
    for entry in (spec.get("argument_specs") or {}).values():
        for name, option in (entry.get("options") or {}).items():
            if "default" in option and name in defaults and option["default"] != defaults[name]:
                out.append(f"{name}: spec {option['default']!r} != defaults {defaults[name]!r}")
    return out


@pytest.mark.parametrize("role", roles())
def test_spec_defaults_are_the_roles_defaults(role):
    spec = load(os.path.join(ROLES, role, "meta", "argument_specs.yml"))
    defaults = load(os.path.join(ROLES, role, "defaults", "main.yml"))
    assert not mismatches(spec, defaults)


def test_a_drifted_default_is_reported():
    spec = {"argument_specs": {"main": {"options": {"v": {"type": "str", "default": "0.26.1"}}}}}
    assert mismatches(spec, {"v": "0.29.3"}) == ["v: spec '0.26.1' != defaults '0.29.3'"]
    assert not mismatches(spec, {"v": "0.26.1"})

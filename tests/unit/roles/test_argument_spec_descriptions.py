"""No role's argument spec carries Jinja in a description.

ansible-core templates the whole ``argument_spec`` it hands to the role's
``ansible.builtin.validate_argument_spec`` task (tagged ``always``), descriptions included.
A description that names a fact then fails every run that gathered none: recorded in the
lab layer of ``make test`` on 2026-12-07, ``--limit cooperator --tags gitea`` stopped in
headscale's validation with "object of type 'dict' has no attribute 'architecture'"
(roles/headscale/meta/argument_specs.yml, headscale_arch's description)."""

import pathlib

import yaml

ROLES = pathlib.Path(__file__).resolve().parents[3] / "roles"


def _descriptions(options, where):
    for name, option in (options or {}).items():
        text = option.get("description", "")
        yield f"{where}.{name}", " ".join(text) if isinstance(text, list) else str(text)
        yield from _descriptions(option.get("options"), f"{where}.{name}")


def test_no_argument_spec_description_is_templated():
    specs = sorted(ROLES.glob("*/meta/argument_specs.yml"))
    assert specs, "no role argument specs found"
    templated = []
    for path in specs:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for entry, spec in data["argument_specs"].items():
            for where, text in _descriptions(spec.get("options"), f"{path.parts[-3]}:{entry}"):
                if "{{" in text or "{%" in text:
                    templated.append(where)
    assert not templated, f"Jinja in a description (templated at validation): {templated}"

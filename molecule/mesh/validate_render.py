"""Validate the config.yaml and policy.hujson the headscale role rendered.

Usage: validate_render.py <dir> <headscale version>. Exits non-zero naming every problem.
The schema is plugins/module_utils/_headscale.py (keys per release from headscale's
config-example.yaml and CHANGELOG); it has no Ansible imports, so it is loaded directly.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC = importlib.util.spec_from_file_location(
    "_headscale", os.path.join(ROOT, "plugins", "module_utils", "_headscale.py"))
hs = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(hs)


def main(directory, version):
    with open(os.path.join(directory, "config.yaml"), encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    problems = hs.validate_config(config, version)
    with open(os.path.join(directory, "policy.hujson"), encoding="utf-8") as handle:
        text = handle.read()
    # HuJSON: JSON with comments and trailing commas; the role writes line comments only.
    policy = json.loads(re.sub(r"(?m)^\s*//.*$", "", text))
    if not isinstance(policy.get("acls"), list):
        problems.append("policy: acls must be a list")
    for index, rule in enumerate(policy.get("acls", [])):
        if rule.get("action") != "accept" or not rule.get("src") or not rule.get("dst"):
            problems.append(f"policy.acls[{index}]: needs action accept, src and dst")
    if config.get("policy", {}).get("path") != "/etc/headscale/policy.hujson":
        problems.append("config policy.path does not point at the installed policy")
    if config["dns"]["base_domain"] != "colab" or config["prefixes"]["v4"] != "100.64.0.0/16":
        problems.append("config: MagicDNS base domain colab and prefix 100.64.0.0/16 expected")
    if problems:
        print("\n".join(problems))
        return 1
    print(f"config.yaml valid for headscale {version}: {len(config)} top-level keys")
    print(f"policy.hujson valid: {len(policy['acls'])} ACL rules, tagOwners {sorted(policy.get('tagOwners', {}))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))

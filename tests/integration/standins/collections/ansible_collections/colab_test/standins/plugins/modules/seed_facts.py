# Test-only: the facts module of the contract tests (ansible_facts_modules), so that the real
# playbooks' fact gathering reports the OS the run stands in for.
from __future__ import annotations

import json
import os

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(
        argument_spec={
            "facts": {"type": "dict"},
            "gather_subset": {"type": "list", "elements": "str"},
            "gather_timeout": {"type": "int"},
            "filter": {"type": "list", "elements": "str"},
            "fact_path": {"type": "path"},
        },
        supports_check_mode=True,
    )
    facts = module.params["facts"]
    if facts is None:
        path = os.environ.get("COLAB_STANDIN_FACTS", "/etc/colab-standin-facts.json")
        with open(path, encoding="utf-8") as handle:
            facts = json.load(handle)
    module.exit_json(changed=False, ansible_facts=facts)


if __name__ == "__main__":
    main()

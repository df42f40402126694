# Test-only: a simulated Windows host for the stand-ins of ansible.windows modules.
"""A simulated Windows host shared by the ansible.windows stand-ins.

Each stand-in takes the real module's argument spec (converted from ``ansible-doc -j`` of
the installed collection, written by the test to COLAB_STANDIN_SPECS), records its
arguments to COLAB_STANDIN_LOG (one JSON line per call) and answers from the host state
in COLAB_STANDIN_STATE (a JSON file it also updates, except in check mode).

Program outputs are labelled in tests/integration/standins/README.md ("transcribed
from <file>@<tag>", never "recorded": no Windows host was available).
"""
from __future__ import annotations

import json
import os

from ansible.module_utils.basic import AnsibleModule, _load_params

_TYPES = {"str", "int", "bool", "list", "dict", "path", "raw", "float", "bytes", "jsonarg", "json"}


def _spec(options):
    spec = {}
    for name, opt in (options or {}).items():
        entry = {"type": opt.get("type", "str") if opt.get("type", "str") in _TYPES else "raw"}
        for key in ("choices", "aliases", "elements", "required", "no_log"):
            if key in opt:
                entry[key] = opt[key]
        if "default" in opt and opt["default"] is not None:
            entry["default"] = opt["default"]
        if entry.get("elements") not in (None,) and entry["elements"] not in _TYPES:
            entry["elements"] = "raw"
        spec[name] = entry
    return spec


class WinHost:
    """The state file, the call log and the module, for one stand-in call."""

    def __init__(self, name):
        with open(os.environ["COLAB_STANDIN_SPECS"], encoding="utf-8") as handle:
            doc = json.load(handle)["ansible.windows." + name]
        check_mode = doc["_check_mode"]
        self.name = name
        self.module = AnsibleModule(argument_spec=_spec(doc.get("options")), supports_check_mode=check_mode)
        self.params = self.module.params
        self.state_path = os.environ["COLAB_STANDIN_STATE"]
        with open(self.state_path, encoding="utf-8") as handle:
            self.state = json.load(handle)
        given = {k: v for k, v in _load_params().items() if not k.startswith("_ansible_")}
        with open(os.environ["COLAB_STANDIN_LOG"], "a", encoding="utf-8") as log:
            log.write(json.dumps({"module": "ansible.windows." + name, "args": given,
                                  "check_mode": self.module.check_mode}) + "\n")

    # --- the host ---------------------------------------------------------------------
    def files(self):
        return self.state.setdefault("files", {})

    def exists(self, path):
        return path.lower() in {p.lower() for p in self.files()}

    def get(self, path):
        for key, value in self.files().items():
            if key.lower() == path.lower():
                return value
        return None

    def put(self, path, **entry):
        for key in list(self.files()):
            if key.lower() == path.lower():
                del self.files()[key]
        self.files()[path] = entry

    def registry(self, path):
        return self.state.setdefault("registry", {}).setdefault(path, {})

    def event(self, kind, **data):
        self.state.setdefault("events", []).append(dict(kind=kind, check_mode=self.module.check_mode, **data))

    def save(self):
        with open(self.state_path, "w", encoding="utf-8") as handle:
            json.dump(self.state, handle, indent=1, sort_keys=True)

    def exit(self, **result):
        self.save()
        self.module.exit_json(**result)

    def required_if(self, key, value, needed):
        """The .ps1's $spec required_if (ansible-doc does not carry it), in Ansible.Basic's words."""
        missing = [name for name in needed if not self.params.get(name)]
        if self.params.get(key) == value and missing:
            self.fail("%s is %s but all of the following are missing: %s" % (key, value, ", ".join(missing)))

    def fail(self, msg, **result):
        self.save()
        self.module.fail_json(msg=msg, **result)

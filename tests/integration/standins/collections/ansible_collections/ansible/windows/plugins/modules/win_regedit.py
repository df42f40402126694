# Test-only stand-in: records its arguments and answers from the simulated Windows host.
from __future__ import annotations

from ansible_collections.colab_test.standins.plugins.module_utils.winhost import WinHost


def main():
    host = WinHost("win_regedit")
    p = host.params
    key = host.state.setdefault("registry", {}).get(p["path"], {})
    if p["state"] == "absent":
        if p["name"] not in key:
            host.exit(changed=False)
        if not host.module.check_mode:
            del host.registry(p["path"])[p["name"]]
        host.exit(changed=True)
    if key.get(p["name"]) == p["data"]:
        host.exit(changed=False, data_changed=False, data_type_changed=False)
    if not host.module.check_mode:
        host.registry(p["path"])[p["name"]] = p["data"]
    host.exit(changed=True, data_changed=True, data_type_changed=False)


if __name__ == "__main__":
    main()

# Test-only stand-in: records its arguments and answers from the simulated Windows host.
from __future__ import annotations

from ansible_collections.colab_test.standins.plugins.module_utils.winhost import WinHost


def main():
    host = WinHost("win_optional_feature")
    names = host.params["name"]
    features = host.state.setdefault("features", {})
    missing = [n for n in names if not features.get(n)]
    if host.params["state"] != "present":
        host.fail("stand-in: only state=present is simulated")
    if not missing:
        host.exit(changed=False, reboot_required=False)
    if host.module.check_mode:
        # win_optional_feature.ps1@3.3.0: reboot_required is only set outside check mode.
        host.exit(changed=True, reboot_required=False)
    for name in missing:
        features[name] = True
    host.state["pending_reboot"] = True
    host.exit(changed=True, reboot_required=True)


if __name__ == "__main__":
    main()

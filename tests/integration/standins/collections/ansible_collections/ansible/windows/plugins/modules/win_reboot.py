# Test-only stand-in: records its arguments and answers from the simulated Windows host.
from __future__ import annotations

from ansible_collections.colab_test.standins.plugins.module_utils.winhost import WinHost


def main():
    host = WinHost("win_reboot")
    if host.module.check_mode:
        host.exit(changed=True, rebooted=False)
    host.state["pending_reboot"] = False
    host.event("reboot")
    host.exit(changed=True, rebooted=True, elapsed=42)


if __name__ == "__main__":
    main()

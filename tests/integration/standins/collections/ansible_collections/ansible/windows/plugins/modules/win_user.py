# Test-only stand-in: records its arguments and answers from the simulated Windows host.
from __future__ import annotations

from ansible_collections.colab_test.standins.plugins.module_utils.winhost import WinHost


def main():
    host = WinHost("win_user")
    if host.params["state"] != "query":
        host.fail("stand-in: only state=query is simulated")
    present = host.params["name"] in host.state.get("users", [])
    # win_user.ps1@3.3.0 line 509: query answers state present or absent.
    host.exit(changed=False, state="present" if present else "absent", name=host.params["name"])


if __name__ == "__main__":
    main()

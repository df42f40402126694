# Test-only stand-in: records its arguments and answers from the simulated Windows host.
from __future__ import annotations

from ansible_collections.colab_test.standins.plugins.module_utils.winhost import WinHost


def main():
    host = WinHost("win_group_membership")
    p = host.params
    groups = host.state.setdefault("groups", {})
    if p["name"] not in groups:
        # win_group_membership.ps1@3.3.0 line 118.
        host.fail("Could not find local group %s" % p["name"])
    added = [m for m in p["members"] if m not in groups[p["name"]]]
    if not host.module.check_mode:
        groups[p["name"]].extend(added)
    host.exit(changed=bool(added), added=added, members=groups[p["name"]] + ([] if not host.module.check_mode else added))


if __name__ == "__main__":
    main()

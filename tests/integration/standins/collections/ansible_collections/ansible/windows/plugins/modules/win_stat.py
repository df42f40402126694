# Test-only stand-in: records its arguments and answers from the simulated Windows host.
from __future__ import annotations

from ansible_collections.colab_test.standins.plugins.module_utils.winhost import WinHost


def main():
    host = WinHost("win_stat")
    entry = host.get(host.params["path"])
    stat = {"exists": entry is not None}
    if entry is not None:
        stat.update(isdir=entry.get("kind") == "dir", path=host.params["path"])
    host.exit(changed=False, stat=stat)


if __name__ == "__main__":
    main()

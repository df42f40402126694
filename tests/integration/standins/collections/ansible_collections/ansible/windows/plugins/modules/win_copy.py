# Test-only stand-in: records its arguments and answers from the simulated Windows host.
from __future__ import annotations

from ansible_collections.colab_test.standins.plugins.module_utils.winhost import WinHost

import ntpath


def main():
    host = WinHost("win_copy")
    dest, content = host.params["dest"], host.params["content"]
    if content is None:
        host.fail("stand-in: only content= is simulated")
    parent = host.get(ntpath.dirname(dest))
    if parent is None:
        # win_copy.ps1@3.3.0 lines 446-448, check mode included.
        host.fail("Destination directory '%s' does not exist" % ntpath.dirname(dest))
    entry = host.get(dest)
    if entry is not None and entry.get("content") == content:
        host.exit(changed=False, dest=dest)
    if not host.module.check_mode:
        host.put(dest, kind="file", content=content)
    host.exit(changed=True, dest=dest)


if __name__ == "__main__":
    main()

# Test-only stand-in: records its arguments and answers from the simulated Windows host.
from __future__ import annotations

from ansible_collections.colab_test.standins.plugins.module_utils.winhost import WinHost

import ntpath


def main():
    host = WinHost("win_file")
    path, state = host.params["path"], host.params["state"]
    entry = host.get(path)
    if state == "directory":
        if entry is not None:
            host.exit(changed=False)
        if not host.module.check_mode:
            parent = path
            while True:
                if host.get(parent) is None:
                    host.put(parent, kind="dir")
                up = ntpath.dirname(parent)
                if up == parent or len(up) <= 3:
                    break
                parent = up
        host.exit(changed=True)
    if state == "absent":
        if entry is None:
            host.exit(changed=False)
        if not host.module.check_mode:
            for key in [k for k in host.files() if k.lower() == path.lower() or k.lower().startswith(path.lower() + "\\")]:
                del host.files()[key]
        host.exit(changed=True)
    host.fail("stand-in: state %s is not simulated" % state)


if __name__ == "__main__":
    main()

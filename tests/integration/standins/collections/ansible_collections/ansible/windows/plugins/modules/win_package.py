# Test-only stand-in: records its arguments and answers from the simulated Windows host.
# Present so that the previous Windows tasks (which used it) can run against the stand-ins.
from __future__ import annotations

from ansible_collections.colab_test.standins.plugins.module_utils.winhost import WinHost


def main():
    host = WinHost("win_package")
    p = host.params
    if p.get("creates_path") and host.exists(p["creates_path"]):
        host.exit(changed=False, reboot_required=False)
    if host.module.check_mode:
        host.exit(changed=True, reboot_required=False)
    if not p.get("path") or host.get(p["path"]) is None:
        host.fail("the file at the path '%s' cannot be reached" % p.get("path"))
    host.event("desktop-install", version=host.get(p["path"]).get("version"), args=p.get("arguments"))
    host.exit(changed=True, reboot_required=False, rc=0)


if __name__ == "__main__":
    main()

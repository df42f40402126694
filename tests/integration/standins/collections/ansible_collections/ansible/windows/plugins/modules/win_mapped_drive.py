# Test-only stand-in: records its arguments and answers from the simulated Windows host.
"""ansible.windows.win_mapped_drive as win_mapped_drive.ps1@3.3.0 decides (lines 370-430):
``path`` is a path-typed option (line 13); present maps the letter, or re-maps it when it points
elsewhere (changed), and is unchanged when it already points at ``path``; absent unmaps it and
fails when it points elsewhere than a given ``path``."""
from __future__ import annotations

from ansible_collections.colab_test.standins.plugins.module_utils.winhost import WinHost


def main():
    host = WinHost("win_mapped_drive")
    p = host.params
    host.required_if("state", "present", ["path"])  # win_mapped_drive.ps1 lines 18-20
    drives = host.state.setdefault("mapped_drives", {})
    letter = p["letter"].rstrip(":").upper()
    existing = drives.get(letter)
    if p["state"] == "absent":
        if existing is not None and p.get("path") and existing.lower() != p["path"].lower():
            host.fail("did not delete mapped drive %s, the target path is pointing to a different location at %s"
                      % (letter, existing))
        if existing is not None and not host.module.check_mode:
            drives.pop(letter)
        host.exit(changed=existing is not None)
    if existing is not None and existing.lower() == p["path"].lower():
        host.exit(changed=False)
    if host.module.check_mode:
        host.exit(changed=True)
    drives[letter] = p["path"]
    host.event("drive-map", letter=letter, path=p["path"])
    host.exit(changed=True)


if __name__ == "__main__":
    main()

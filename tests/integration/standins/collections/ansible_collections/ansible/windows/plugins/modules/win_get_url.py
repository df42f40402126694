# Test-only stand-in: records its arguments and answers from the simulated Windows host.
from __future__ import annotations

from ansible_collections.colab_test.standins.plugins.module_utils.winhost import WinHost


def main():
    host = WinHost("win_get_url")
    p = host.params
    remote = host.state.get("remote", {}).get(p["url"])
    entry = host.get(p["dest"])
    if entry is not None and p.get("checksum") and entry.get("sha256") == p["checksum"].lower() and not p["force"]:
        # win_get_url.ps1@3.3.0: dest already matches the checksum: no request at all.
        host.exit(changed=False, dest=p["dest"], checksum_dest=entry["sha256"])
    # Every other path makes a request and downloads to a temporary file, check mode included.
    host.event("download", url=p["url"])
    if remote is None:
        host.fail("Error downloading '%s' to '%s': The remote server returned an error: (404) Not Found." % (p["url"], p["dest"]))
    if p.get("checksum") and remote["sha256"] != p["checksum"].lower():
        host.fail("The checksum for %s did not match '%s', it was '%s'" % (p["url"], p["checksum"], remote["sha256"]))
    if host.get(__import__("ntpath").dirname(p["dest"])) is None:
        host.fail("The path '%s' does not exist for destination '%s'" % (__import__("ntpath").dirname(p["dest"]), p["dest"]))
    if not host.module.check_mode:
        host.put(p["dest"], kind="file", sha256=remote["sha256"], version=remote["version"])
    host.exit(changed=True, dest=p["dest"], checksum_src=remote["sha256"])


if __name__ == "__main__":
    main()

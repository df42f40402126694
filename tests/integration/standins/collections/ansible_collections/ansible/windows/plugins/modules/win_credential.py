# Test-only stand-in: records its arguments and answers from the simulated Windows host.
"""ansible.windows.win_credential as win_credential.ps1@3.3.0 decides (lines 576-699).

- present, no credential of that name and type: created with the given secret, changed.
- an existing one: comment (case-sensitive), persistence, alias, username compared; the secret:
  none given -> the blob is preserved; update_secret=always -> the stored secret is read back and,
  when it cannot be read (``Secret.Length -eq 0``), written again and *changed*, every run;
  update_secret=on_create -> the secret is not looked at. Any change writes the credential with
  ``Write($preserve_blob)``, the blob as read: for a domain_password that is empty, so a change of
  username or comment under on_create writes an empty password (transcribed, lines 673-698).
- Windows never returns the blob of a CRED_TYPE_DOMAIN_PASSWORD credential to CredRead
  (Microsoft, CREDENTIALW: "this member can only be read by the authentication packages").
- absent: deleted when it exists, changed.
"""
from __future__ import annotations

from ansible_collections.colab_test.standins.plugins.module_utils.winhost import WinHost

UNREADABLE = ("domain_password", "domain_certificate")


def main():
    host = WinHost("win_credential")
    p = host.params
    host.required_if("state", "present", ["username"])  # win_credential.ps1 lines 35-37
    store = host.state.setdefault("credentials", {})
    key = "%s|%s" % (p["type"], p["name"].lower())
    existing = store.get(key)
    if p["state"] == "absent":
        if existing is not None and not host.module.check_mode:
            store.pop(key)
            host.event("credential-delete", name=p["name"])
        host.exit(changed=existing is not None)
    wanted = {"username": p.get("username"), "persistence": p["persistence"], "comment": p.get("comment"),
              "alias": p.get("alias")}
    if existing is None:
        if host.module.check_mode:
            host.exit(changed=True)
        store[key] = dict(wanted, secret=p.get("secret"), writes=1)
        host.event("credential-write", name=p["name"], secret_written=p.get("secret") is not None)
        host.exit(changed=True)
    changed = any(existing.get(k) != v for k, v in wanted.items())
    readable = "" if p["type"] in UNREADABLE else (existing.get("secret") or "")
    secret, preserve = readable, False
    if p.get("secret") is None:
        preserve = True
    elif p["update_secret"] == "always":
        if readable == "" or readable != p["secret"]:
            secret, changed = p["secret"], True
    if changed and not host.module.check_mode:
        store[key] = dict(existing, **wanted)
        store[key]["writes"] = existing.get("writes", 0) + 1
        if not preserve:
            store[key]["secret"] = secret
        host.event("credential-write", name=p["name"], secret_written=not preserve)
    host.exit(changed=changed)


if __name__ == "__main__":
    main()

# Test-only stand-in: records its arguments and answers from the simulated Windows host.
from __future__ import annotations

from ansible_collections.colab_test.standins.plugins.module_utils.winhost import WinHost


def main():
    host = WinHost("win_reg_stat")
    key = host.state.get("registry", {}).get(host.params["path"])
    name = host.params.get("name")
    if key is None or (name and name not in key):
        host.exit(changed=False, exists=False)
    if name:
        host.exit(changed=False, exists=True, value=key[name], type="REG_SZ", raw_value=key[name])
    host.exit(changed=False, exists=True, properties={k: {"value": v} for k, v in key.items()})


if __name__ == "__main__":
    main()

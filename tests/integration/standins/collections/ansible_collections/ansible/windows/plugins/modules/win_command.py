# Test-only stand-in: records its arguments and answers from the simulated Windows host.
from __future__ import annotations

from ansible_collections.colab_test.standins.plugins.module_utils.winhost import WinHost

from ansible_collections.colab_test.standins.plugins.module_utils import winprograms


def main():
    host = WinHost("win_command")
    p = host.params
    argv = p["argv"] or (p["cmd"] or p["_raw_params"] or "").split()
    if p.get("creates") and host.exists(p["creates"]):
        host.exit(changed=False, skipped=True, msg="skipped, since %s exists" % p["creates"], rc=0,
                  stdout="", stderr="", cmd=argv)
    if p.get("removes") and not host.exists(p["removes"]):
        host.exit(changed=False, skipped=True, msg="skipped, since %s does not exist" % p["removes"], rc=0,
                  stdout="", stderr="", cmd=argv)
    rc, out, err = winprograms.run(host, argv, host.module.check_mode)
    stdout = winprograms.decode(out, p.get("output_encoding_override"))
    stderr = winprograms.decode(err, p.get("output_encoding_override"))
    result = dict(changed=True, rc=rc, stdout=stdout, stderr=stderr, cmd=argv,
                  stdout_lines=stdout.splitlines(), stderr_lines=stderr.splitlines())
    if rc != 0:
        host.fail("non-zero return code", **result)
    host.exit(**result)


if __name__ == "__main__":
    main()

"""No lab secret value anywhere it does not belong, over a whole fresh converge (issue 17.2).

The session's first converge (tests/lab/conftest.py) runs at -vvv while ArgvSampler
records every process's command line on the controller and in both nodes every 100 ms.
Then: no secret value of the lab store in any sampled argv, in the -vvv log, or in any
file of either node outside the allow-list below (each entry says why the value must be
there). Values come from .lab/infisical/seed.json; they are random per lab.
"""
from __future__ import annotations

import fnmatch
import os

import pytest

from tests.helpers import OUTPUT
from tests.lab.exposure import lab_secret_values

pytestmark = pytest.mark.lab

# Files that must hold a secret, and why. Anything else holding one is a leak.
ALLOWED = {
    # the engine keeps each container's environment: compose_stack injects the stack's
    # secrets as container environment by design (the running service reads them there)
    "/var/lib/docker/containers/*/config.v2.json": "the engine's record of a container's environment",
    # containerd keeps the same environment in each running task's OCI spec and its metadata
    "/run/containerd/io.containerd.runtime.v2.task/moby/*/config.json":
        "containerd's OCI spec of a running container (its environment)",
    "/var/lib/containerd/io.containerd.metadata.v1.bolt/meta.db": "containerd's container metadata",
    # Gitea's own configuration: the image writes GITEA__* (secrets too) into app.ini; it is
    # on the node's own disk, 0700 (roles/gitea)
    "/var/lib/colab/gitea/config/app.ini": "Gitea's app.ini (the image writes its environment there)",
    # the Linux CIFS client's credentials file, 0600, the one place mount.cifs reads it from
    "/etc/samba/credentials/*": "the CIFS credentials file mount.cifs reads (0600, samba_mount)",
    "/root/.smbcredentials*": "the CIFS credentials file mount.cifs reads (0600)",
    # the push registry authenticates pulls too (distribution's htpasswd covers every
    # request): root's docker CLI holds the login (auths.<registry>.auth, base64 of
    # user:password), 0600, the one place the engine's pulls and pushes read it from
    # (roles/docker tasks/registry_trust.yml)
    "/root/.docker/config.json": "root's docker login to the push registry (0600, roles/docker)",
}
SCAN_EXCLUDE = ["/proc", "/sys", "/dev", "/run/docker", "/var/lib/docker/overlay2",
                "/var/lib/docker/image", "/var/lib/docker/buildkit", "/usr", "/var/cache/apt",
                "/var/lib/apt", "/var/lib/dpkg"]


def _hits(texts, values):
    found = []
    for where, text in texts:
        for (path, name), value in values.items():
            if value in text:
                found.append(f"{path} {name} in {where}")
    return found


def test_sampler_saw_the_converge(converged_lab):
    sampler = converged_lab.argv_sampler
    assert any("ansible" in line for line in sampler.controller), "controller samples hold no ansible process"
    for node, lines in sampler.nodes.items():
        assert len(lines) > 20, f"{node}: only {len(lines)} command lines sampled"
        # every module runs as `/bin/sh -c echo BECOME-SUCCESS-<id> ; /usr/bin/python3`
        # (pipelining over ssh, become through sudo): each sampled run is one such line
        runs = [line for line in lines if "BECOME-SUCCESS-" in line and "python3" in line]
        assert len(runs) >= 10, f"{node}: only {len(runs)} module runs were sampled"


def test_no_secret_in_any_argv(converged_lab):
    values = lab_secret_values()
    assert values, "the lab store holds no secret"
    sampler = converged_lab.argv_sampler
    texts = [("controller argv", line) for line in sampler.controller]
    for node, lines in sampler.nodes.items():
        texts += [(f"{node} argv", line) for line in lines]
    hits = _hits(texts, values)
    assert not hits, "secret values in command lines:\n" + "\n".join(sorted(set(hits)))


def test_no_secret_in_the_vvv_log(converged_lab):
    with open(os.path.join(OUTPUT, "lab-converge.log"), encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    assert "<" in text and "ESTABLISH" in text, "the first converge did not run at -vvv"
    hits = _hits([("lab-converge.log (-vvv)", text)], lab_secret_values())
    assert not hits, "\n".join(hits)


@pytest.mark.parametrize("node", ["cooperator", "director"])
def test_no_secret_on_disk_outside_the_allow_list(converged_lab, node):
    values = lab_secret_values()
    patterns = "\n".join(values.values()) + "\n"
    excludes = " ".join(f"-path {p} -prune -o" for p in SCAN_EXCLUDE)
    # the patterns reach the node on stdin (never an argument), in a 0600 file the scan
    # skips and removes at the end
    script = ("umask 077; cat > /tmp/colab-exposure-patterns; "
              f"find / -path /tmp/colab-exposure-patterns -prune -o {excludes} -type f -size -64M -print0"
              " 2>/dev/null | xargs -0 -r grep -laF -f /tmp/colab-exposure-patterns 2>/dev/null;"
              " rm -f /tmp/colab-exposure-patterns; true")
    import subprocess
    res = subprocess.run(["docker", "exec", "-i", converged_lab.container(node), "sh", "-c", script],
                         input=patterns, capture_output=True, text=True, timeout=900, check=False)
    files = [f for f in res.stdout.splitlines() if f]
    leaks = [f for f in files if not any(fnmatch.fnmatch(f, glob) for glob in ALLOWED)]
    assert not leaks, f"{node}: secret values in {leaks}"

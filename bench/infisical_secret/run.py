"""Benchmark: 20 hosts (local connection) each read 3 Infisical paths.

    .venv/bin/python bench/infisical_secret/run.py [--hosts 20] [--forks 10]

Starts the API double (tests/doubles/infisical) on 127.0.0.1, runs ours.yml
(colab.cluster.infisical_secret) and anchor.yml (the request pattern of
infisical.vault.read_secrets, see lookup_plugins/anchor_read_secrets.py), and prints the
requests each made (counted by the double) and the wall time. Run on demand; not a test.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, ROOT)

from tests.doubles.infisical.harness import (  # noqa: E402  pylint: disable=wrong-import-position
    CLIENT_ID, CLIENT_SECRET, LOGIN, PROJECT, running_double,
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--forks", type=int, default=10)
    args = parser.parse_args()
    bin_dir = os.path.dirname(sys.executable)
    rows = []
    with running_double() as double, tempfile.TemporaryDirectory() as tmp:
        inventory = os.path.join(tmp, "hosts.ini")
        with open(inventory, "w", encoding="utf-8") as fh:
            fh.write("[bench]\n" + "".join(f"bench{i:02d}\n" for i in range(1, args.hosts + 1)))
            fh.write(f"[bench:vars]\nansible_connection=local\nansible_python_interpreter={sys.executable}\n"
                     f"infisical_secret_url={double.url}\ninfisical_secret_project_id={PROJECT}\n"
                     f"infisical_secret_client_id={CLIENT_ID}\n")
        env = dict(os.environ, COLAB_INFISICAL_CLIENT_SECRET=CLIENT_SECRET, XDG_RUNTIME_DIR=tmp,
                   ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), PATH=bin_dir + os.pathsep + os.environ["PATH"])
        for label, book, extra in (
                ("colab.cluster.infisical_secret (broker cache)", "ours.yml", {}),
                ("colab.cluster.infisical_secret (cache_mode=process)", "ours.yml",
                 {"COLAB_INFISICAL_CACHE_MODE": "process"}),
                ("infisical.vault.read_secrets pattern", "anchor.yml", {})):
            double.reset()
            start = time.monotonic()
            proc = subprocess.run([os.path.join(bin_dir, "ansible-playbook"), "-i", inventory,
                                   os.path.join(HERE, book), "-f", str(args.forks)],
                                  cwd=ROOT, env=dict(env, **extra), capture_output=True, text=True,
                                  timeout=600, check=False)
            elapsed = time.monotonic() - start
            if proc.returncode != 0:
                print(proc.stdout[-3000:], proc.stderr[-3000:])
                return 1
            # lists on /api/v4/secrets (ours) or /api/v3/secrets/raw (the SDK), counted per env:path
            rows.append((label, double.requests(LOGIN), sum(double.counts()["lists"].values()), elapsed))
    print(f"{args.hosts} hosts x 3 paths, forks={args.forks}")
    print(f"{'lookup':<55} {'logins':>6} {'lists':>6} {'total':>6} {'wall s':>7}")
    for label, logins, lists, elapsed in rows:
        print(f"{label:<55} {logins:>6} {lists:>6} {logins + lists:>6} {elapsed:>7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

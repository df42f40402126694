"""A first run on a cluster that is not empty (the seed's cooperator), in the lab.

cooperator is made anew and prepared the way the seed's cluster was set up by hand
(storage Phase 1 "COMPLETE", stacks started with `docker compose -f gitea.yml up -d` from
~/.config/docker/compose, Caddy and Infisical already running):
  * Docker installed (the docker layer, standing for the hand install), Samba with a
    hand-written smb.conf sharing the fortress tree, user crtr whose Samba password is the
    lab store's, and files of the user's in the tree;
  * a process on 8080, standing for Infisical (python3's http.server);
  * a container named "caddy" publishing 80/443, standing for the hand-started Caddy (the
    lab's stand-in image serving HTTP: no Caddy image can be pulled here);
  * Compose project "compose" (the seed's directory name) with a gitea-like service on
    3300/2222 and its PostgreSQL, on the same fortress data paths the role uses.
The lab runs the real headscale (built by lab/gobuild.py) on cooperator at 127.0.0.1:8080,
the port the Infisical stand-in holds: the preflight names that conflict, and the converge
moves headscale (headscale_listen_addr; the edge's SSOT entry follows it).

Asserted: the preflight lists every conflict in one run with its owner and changes
nothing; with the conflicts resolved through variables (adoption options, the declared
port moved) site.yml converges; the user's files are byte-identical; the hand-written
smb.conf is backed up; crtr's password still works with smbclient; a second run reports
changed=0. Runs after tests/lab (it replaces cooperator).
"""
from __future__ import annotations

import json
import os
import subprocess
import textwrap

import pytest

from tests.helpers import ROOT, ansible_env, lab_secrets, parse_recap, run_logged, tail, tool

pytestmark = pytest.mark.lab

NODE = "colab-lab-cooperator"
FORTRESS = "/media/crtr/fortress"
USER_FILES = [f"{FORTRESS}/data/notes/hand.txt", f"{FORTRESS}/media/photo.bin"]
HAND_SMB_CONF = textwrap.dedent(f"""\
    # hand-written on cooperator (storage Phase 1), before colab.cluster
    [global]
       workgroup = COLAB
       server min protocol = SMB3
       map to guest = never
    [fortress]
       path = {FORTRESS}
       valid users = crtr
       read only = no
    """)
COMPOSE_DIR = "/root/.config/docker/compose"
GITEA_YML = textwrap.dedent(f"""\
    # the seed's hand-started stack: `infisical run -- docker compose -f gitea.yml up -d`
    services:
      gitea-db:
        image: colab/postgres:17
        environment:
          POSTGRES_USER: gitea
          POSTGRES_DB: gitea
          POSTGRES_PASSWORD: ${{GITEA_DB_PASSWORD}}
        volumes: ["{FORTRESS}/data/postgres-gitea:/var/lib/postgresql/data"]
      gitea:
        image: colab/gitea-standin:3
        depends_on: [gitea-db]
        environment:
          GITEA__database__DB_TYPE: postgres
          GITEA__database__HOST: gitea-db:5432
          GITEA__database__NAME: gitea
          GITEA__database__USER: gitea
          GITEA__database__PASSWD: ${{GITEA_DB_PASSWORD}}
          GITEA__security__SECRET_KEY: ${{GITEA_SECRET_KEY}}
          GITEA__security__INSTALL_LOCK: "true"
        ports: ["3300:3000", "2222:2222"]
        volumes:
          - "{FORTRESS}/data/gitea:/var/lib/gitea"
          - "{FORTRESS}/data/gitea-config:/etc/gitea"
    """)
# Where the converge moves headscale, off Infisical's 8080.
HEADSCALE_MOVED = "127.0.0.1:8085"


def sh(script, input_data=None, timeout=300):
    res = subprocess.run(["docker", "exec", "-i", NODE, "bash", "-euo", "pipefail", "-c", script],
                         input=input_data, capture_output=True, text=True, timeout=timeout, check=False)
    assert res.returncode == 0, f"{script}\n{res.stdout}\n{res.stderr}"
    return res.stdout


def playbook(args, name, extra=None, tmp_path=None):
    cmd = [tool("ansible-playbook"), "-i", "inventory/lab", *args]
    if extra is not None:
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(extra))
        cmd += ["-e", f"@{path}"]
    rc, text = run_logged(cmd, f"brownfield-{name}.log", timeout=2400, env=ansible_env())
    return rc, text, parse_recap(text)


def digests():
    return sh("sha256sum " + " ".join(USER_FILES))


@pytest.fixture(scope="module")
def brownfield(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("brownfield")
    # a new cooperator (director stays as tests/lab left it), its nested engine's storage
    # included: the stacks tests/lab deployed there would come back with the engine (restart
    # policies) and flap on the ports the hand-started ones hold
    subprocess.run(["docker", "rm", "-f", "-v", NODE], capture_output=True, check=False)
    subprocess.run(["docker", "volume", "rm", "-f", f"{NODE}-docker"], capture_output=True, check=False)
    up = subprocess.run(["python3", os.path.join(ROOT, "lab", "lab.py"), "up"], capture_output=True,
                        text=True, timeout=1800, check=False)
    assert up.returncode == 0, up.stdout + up.stderr
    # Docker by hand: the docker layer stands for it (its image archives load the lab images)
    rc, text, _recap = playbook(["site.yml", "--limit", "cooperator", "--tags", "base,docker",
                                 "--skip-tags", "preflight"], "docker-by-hand")
    assert rc == 0, tail(text)
    samba = lab_secrets("/samba")["COLAB_NAS_SAMBA_PASSWORD"]
    gitea = lab_secrets("/gitea")
    sh("DEBIAN_FRONTEND=noninteractive apt-get install -y -q samba smbclient >/dev/null", timeout=900)
    sh("id crtr >/dev/null 2>&1 || useradd --uid 1000 --create-home crtr")
    sh("IFS= read -r pw; printf '%s\\n%s\\n' \"$pw\" \"$pw\" | smbpasswd -s -a crtr >/dev/null",
       input_data=samba + "\n")
    sh(f"cat > /etc/samba/smb.conf && install -d -o crtr -g crtr {FORTRESS} {FORTRESS}/data/notes {FORTRESS}/media"
       " && systemctl restart smbd", input_data=HAND_SMB_CONF)
    sh(f"head -c 4096 /dev/urandom | base64 > {USER_FILES[0]} && head -c 1048576 /dev/urandom > {USER_FILES[1]}"
       f" && chown crtr:crtr {' '.join(USER_FILES)}")
    sh("systemd-run --unit=brownfield-infisical --working-directory=/tmp python3 -m http.server 8080 >/dev/null")
    sh("docker run -d --name caddy --restart unless-stopped -p 80:80 -p 443:443 --entrypoint python3 "
       "--label org.opencontainers.image.description='stands for the hand-started Caddy' "
       "colab/gitea-standin:3 -m http.server 80 >/dev/null")
    sh(f"install -d -o 1000 -g 1000 {FORTRESS}/data/gitea {FORTRESS}/data/gitea-config"
       f" && mkdir -p {COMPOSE_DIR} && cat > {COMPOSE_DIR}/gitea.yml", input_data=GITEA_YML)
    env_lines = "".join(f"{k}={v}\n" for k, v in gitea.items() if k != "GITEA_ADMIN_PASSWORD")
    sh(f"set -a; . /dev/stdin; set +a; cd {COMPOSE_DIR} && docker compose -f gitea.yml up -d --quiet-pull 2>&1",
       input_data=env_lines)
    sh("for i in $(seq 60); do curl -fsS -o /dev/null http://127.0.0.1:3300/api/healthz && exit 0; sleep 2; done; exit 1")
    return {"tmp": tmp, "digests": digests(), "samba": samba}


def test_preflight_lists_every_conflict_at_once(brownfield):
    before = sh("docker ps --format '{{.Names}}' | sort")
    rc, text, _recap = playbook(["playbooks/preflight.yml", "--limit", "cooperator"], "preflight",
                                extra={},
                                tmp_path=brownfield["tmp"])
    assert rc != 0
    # the yaml result format may quote (doubling single quotes) and wrap long strings
    flat = " ".join(text.replace("''", "'").split())
    for expected in (
        "port 80/tcp edge (Caddy) needs it; held by container caddy (started by hand, not a Compose project)",
        "port 443/tcp edge (Caddy) needs it; held by container caddy",
        "port 3300/tcp gitea (web) needs it; held by container compose-gitea-1 (Compose project 'compose', service 'gitea')",
        "port 2222/tcp gitea (ssh) needs it; held by container compose-gitea-1",
        "port 8080/tcp headscale needs it; held by process python3",
        "Nothing was changed.",
    ):
        assert expected in flat, f"missing {expected!r}:\n{tail(text, 120)}"
    assert sh("docker ps --format '{{.Names}}' | sort") == before


def test_converge_adopts_what_runs_and_keeps_the_data(brownfield):
    extra = {"edge_adopt": ["caddy"], "gitea_adopt_projects": ["compose"],
             "headscale_listen_addr": HEADSCALE_MOVED}
    rc, text, recap = playbook(["site.yml", "--limit", "cooperator"], "converge", extra=extra,
                               tmp_path=brownfield["tmp"])
    assert rc == 0, tail(text, 120)
    assert recap["cooperator"]["ok"] > 0 and recap["cooperator"]["failed"] == 0, recap
    assert digests() == brownfield["digests"], "the user's files on fortress changed"
    # the hand-written smb.conf is kept beside the managed one
    backups = sh("grep -l 'hand-written on cooperator' /etc/samba/* 2>/dev/null || true").split()
    assert backups and "/etc/samba/smb.conf" not in backups, backups
    # crtr's password still works (real smbclient against the real smbd)
    out = sh("IFS= read -r pw; printf 'username = crtr\\npassword = %s\\n' \"$pw\" > /root/.brownfield-auth;"
             " chmod 600 /root/.brownfield-auth; smbclient //127.0.0.1/fortress -A /root/.brownfield-auth"
             " -m SMB3 -c 'ls data/notes/*'; rm -f /root/.brownfield-auth", input_data=brownfield["samba"] + "\n")
    assert "hand.txt" in out
    names = sh("docker ps -a --format '{{.Names}}'").split()
    assert "caddy" not in names and not [n for n in names if n.startswith("compose-")], names
    assert sh("curl -fsS http://127.0.0.1:3300/api/healthz | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"status\"])'").strip() == "pass"
    # app.ini left the share on adoption
    assert sh(f"test ! -e {FORTRESS}/data/gitea-config/app.ini && test -s /var/lib/colab/gitea/config/app.ini && echo ok").strip() == "ok"
    rc, text, recap = playbook(["site.yml", "--limit", "cooperator"], "idempotence", extra=extra,
                               tmp_path=brownfield["tmp"])
    assert rc == 0, tail(text, 80)
    assert recap["cooperator"]["ok"] > 0 and recap["cooperator"]["changed"] == 0, tail(text, 120)

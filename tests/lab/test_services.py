"""The services layer on the converged lab: Gitea + real PostgreSQL, Caddy, Pi-hole records, mcp.

What is real here: the nested Docker engine and Compose V2 on the lab node, the
colab.cluster.compose_stack deploy, the networks and bind-mounted data, the health checks,
the secret injection through the infisical_secret lookup (served by the lab's secret
store), PostgreSQL 17 from Debian (colab/postgres:17), Debian's Caddy and `caddy validate`.
What is not: Gitea itself is colab/gitea-standin:3 (lab/images/gitea-standin, a documented
stand-in answering /api/healthz in Gitea's format); Pi-hole, Ollama and Open WebUI have no
image here, so their definitions/records are rendered and checked, not run.
Every request goes to the lab's own containers or to loopback inside a lab node.
"""
from __future__ import annotations

import json
import os
import subprocess
import textwrap
import tomllib

import pytest

from tests.helpers import ROOT, ansible_env, lab_secrets, run_logged, tail, tool

pytestmark = pytest.mark.lab

COOP = "cooperator"
FORTRESS = "/media/crtr/fortress"
PROJECT_DIR = f"{FORTRESS}/docker/gitea"
BACKUP_DIR = f"{FORTRESS}/backup/gitea"
CONFIG_DIR = "/var/lib/colab/gitea/config"
GITEA_FQDN = "git.lab.colab.test"
HEADSCALE_FQDN = "headscale.lab.colab.test"
ADMIN = "colab-admin"


def api_status(lab, path, user, password):
    """HTTP status of Gitea's API on cooperator, basic auth given to curl on stdin (-K -)."""
    res = subprocess.run(["docker", "exec", "-i", lab.container(COOP), "curl", "-sS", "-o",
                          "/dev/null", "-w", "%{http_code}", "--max-time", "10", "-K", "-",
                          f"http://127.0.0.1:3300/api/v1{path}"],
                         input=f'user = "{user}:{password}"\n', capture_output=True, text=True,
                         timeout=60, check=False)
    return res.stdout.strip()


def node_docker(lab, host, *args, timeout=60):
    return lab.exec(host, "docker", *args, timeout=timeout)


def service_container(lab, service):
    res = node_docker(lab, COOP, "ps", "-q", "--filter", "label=com.docker.compose.project=gitea",
                      "--filter", f"label=com.docker.compose.service={service}")
    ids = res.stdout.split()
    assert len(ids) == 1, f"expected one {service} container, got {res.stdout!r} {res.stderr!r}"
    return ids[0]


def inspect(lab, cid):
    res = node_docker(lab, COOP, "inspect", cid)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)[0]


def env_of(info):
    return dict(item.split("=", 1) for item in info["Config"]["Env"])


def playbook(args, log_name):
    rc, text = run_logged([tool("ansible-playbook"), "-i", "inventory/lab", "site.yml", *args],
                          log_name, timeout=900, env=ansible_env())
    return rc, text


def test_gitea_and_postgres_run_healthy(converged_lab):
    for service in ("gitea", "gitea-db"):
        info = inspect(converged_lab, service_container(converged_lab, service))
        assert info["State"]["Status"] == "running", service
        assert info["State"]["Health"]["Status"] == "healthy", (service, info["State"]["Health"])


def test_postgres_is_the_real_postgresql(converged_lab):
    """PostgreSQL is real. Stand-in contract for the second half (Gitea is colab/gitea-standin
    here, not Gitea): its standin_user table proves the injected password logs in, not
    Gitea's schema."""
    cid = service_container(converged_lab, "gitea-db")
    res = node_docker(converged_lab, COOP, "exec", cid, "psql", "-U", "gitea", "-d", "gitea",
                      "-tAc", "SELECT version()")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("PostgreSQL 17"), res.stdout
    # the stand-in logged in with the injected password and created its table
    res = node_docker(converged_lab, COOP, "exec", cid, "psql", "-U", "gitea", "-d", "gitea",
                      "-tAc", "SELECT name FROM standin_user WHERE is_admin")
    assert res.stdout.split() == ["colab-admin"], res.stdout + res.stderr


def test_gitea_is_configured_from_the_environment(converged_lab):
    info = inspect(converged_lab, service_container(converged_lab, "gitea"))
    env = env_of(info)
    assert env["GITEA__database__DB_TYPE"] == "postgres"
    assert env["GITEA__database__HOST"] == "gitea-db:5432"
    assert env["GITEA__security__INSTALL_LOCK"] == "true"
    assert env["GITEA__service__DISABLE_REGISTRATION"] == "true"
    assert env["GITEA__server__DOMAIN"] == GITEA_FQDN
    assert env["GITEA__server__SSH_PORT"] == "2222"
    ports = info["HostConfig"]["PortBindings"]
    assert ports["3000/tcp"][0]["HostPort"] == "3300"
    assert ports["2222/tcp"][0]["HostPort"] == "2222"
    assert set(info["NetworkSettings"]["Networks"]) == {"gitea_gitea-internal", "cluster-local"}
    mounts = {m["Destination"]: m["Source"] for m in info["Mounts"]}
    assert mounts["/var/lib/gitea"] == "/media/crtr/fortress/data/gitea"


def test_secrets_are_injected_but_not_on_disk(converged_lab):
    env = env_of(inspect(converged_lab, service_container(converged_lab, "gitea")))
    secrets = [env["GITEA__database__PASSWD"], env["GITEA__security__SECRET_KEY"]]
    assert all(len(s) >= 8 for s in secrets), "the injected secrets are empty"
    compose = converged_lab.exec(COOP, "cat", f"{PROJECT_DIR}/compose.yaml").stdout
    assert "${GITEA_DB_PASSWORD}" in compose and "${GITEA_SECRET_KEY}" in compose
    for secret in secrets:
        res = converged_lab.exec(COOP, "grep", "-rlF", "-e", secret, PROJECT_DIR)
        assert res.returncode == 1, f"a secret value is on disk in {res.stdout}"


def test_healthz_answers_through_caddy_from_the_ssot(converged_lab):
    """Caddy and the SSOT route are real. Stand-in contract for the answer (Gitea is
    colab/gitea-standin here, not Gitea): /api/healthz in Gitea's format, served by the stand-in."""
    res = converged_lab.exec(COOP, "curl", "-sS", "--max-time", "10", "-w", "\n%{http_code}",
                             "--resolve", f"{GITEA_FQDN}:443:127.0.0.1",
                             f"https://{GITEA_FQDN}/api/healthz")
    body, _sep, code = res.stdout.rpartition("\n")
    assert code == "200", res.stdout + res.stderr
    data = json.loads(body)
    assert data["status"] == "pass"
    assert data["checks"]["database:ping"][0]["status"] == "pass"


def test_every_ssot_name_resolves_through_the_edge_dns(converged_lab):
    """dnsmasq on cooperator serves the rendered records: dig from director gets each local_ip."""
    with open(os.path.join(ROOT, ".lab", "ssot", "domains.yml"), encoding="utf-8") as fh:
        import yaml
        entries = [e for e in yaml.safe_load(fh) if e.get("local_ip")]
    assert entries, "the lab SSOT has no entry with a local_ip"
    install = converged_lab.exec("director", "sh", "-c", "command -v dig || (DEBIAN_FRONTEND=noninteractive "
                                 "apt-get install -y -q bind9-dnsutils >/dev/null && command -v dig)", timeout=600)
    assert install.returncode == 0, install.stderr
    for entry in entries:
        res = converged_lab.exec("director", "dig", "+short", "+time=3", "+tries=2", "@172.31.254.10",
                                 entry["fqdn"], "A")
        assert res.stdout.split() == [entry["local_ip"]], (entry["fqdn"], res.stdout, res.stderr)
    # a name of the lab's domain the SSOT lacks: dnsmasq's own NXDOMAIN (edge_dnsmasq_local_zones),
    # not a SERVFAIL from a forward that cannot be answered
    res = converged_lab.exec("director", "dig", "+time=3", "+tries=1", "@172.31.254.10",
                             "not-in-the-ssot.lab.colab.test", "A")
    assert "status: NXDOMAIN," in res.stdout, res.stdout


def test_nodes_trust_the_edge_local_ca(converged_lab):
    """director verifies Caddy's certificate for the Gitea name without -k (system trust store)."""
    res = converged_lab.exec("director", "curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w",
                             "%{http_code}", "--resolve", f"{GITEA_FQDN}:443:172.31.254.10",
                             f"https://{GITEA_FQDN}/api/healthz")
    assert res.stdout == "200", res.stdout + res.stderr
    ca = converged_lab.exec("director", "cat", "/usr/local/share/ca-certificates/colab-edge-local-ca.crt").stdout
    assert ca.startswith("-----BEGIN CERTIFICATE-----")


def test_caddy_config_validates(converged_lab):
    res = converged_lab.exec(COOP, "caddy", "validate", "--adapter", "caddyfile",
                             "--config", "/etc/caddy/Caddyfile")
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"{GITEA_FQDN} {{" in converged_lab.exec(COOP, "cat", "/etc/caddy/Caddyfile").stdout


def test_pihole_records_rendered_from_the_ssot(converged_lab):
    """What the role rendered on the node: the records file holds exactly the SSOT's entries
    with a local_ip, and the dnsmasq config the node serves reads that file."""
    records = converged_lab.exec(COOP, "cat", "/srv/colab/pihole/local-dns.list", check=True).stdout
    lines = [ln.split() for ln in records.splitlines() if ln and not ln.startswith("#")]
    # the gitea role's entry and the headscale role's (its control URL, behind the edge)
    assert sorted(lines) == sorted([["172.31.254.10", GITEA_FQDN], ["172.31.254.10", HEADSCALE_FQDN]])
    with open(os.path.join(ROOT, ".lab", "ssot", "domains.yml"), encoding="utf-8") as fh:
        import yaml
        wanted = [[e["local_ip"], e["fqdn"]] for e in yaml.safe_load(fh) if e.get("local_ip")]
    assert sorted(lines) == sorted(wanted), (lines, wanted)
    conf = converged_lab.exec(COOP, "cat", "/etc/dnsmasq.d/colab-edge.conf", check=True).stdout.splitlines()
    assert "addn-hosts=/srv/colab/pihole/local-dns.list" in conf, conf
    assert "local=/lab.colab.test/" in conf, conf


def test_production_ssot_renders_a_valid_caddyfile(converged_lab, tmp_path):
    """The repository's SSOT (production names) through the edge role, into scratch paths.

    Its mng.ism.la entry (type https) makes Caddy trust Cockpit's own certificate, so
    Debian's real cockpit-ws makes it first (cockpit-certificate-ensure) and `caddy
    validate` loads it.
    """
    cert = converged_lab.exec(COOP, "sh", "-c", "test -s /etc/cockpit/ws-certs.d/0-self-signed.cert || "
                              "(DEBIAN_FRONTEND=noninteractive apt-get install -y -q cockpit-ws >/dev/null && "
                              "/usr/lib/cockpit/cockpit-certificate-ensure >/dev/null 2>&1); "
                              "test -s /etc/cockpit/ws-certs.d/0-self-signed.cert", timeout=900)
    assert cert.returncode == 0, cert.stdout + cert.stderr
    play = tmp_path / "edge-production-ssot.yml"
    play.write_text(textwrap.dedent(f"""\
        - hosts: cooperator
          gather_facts: false
          tasks:
            - ansible.builtin.include_role:
                name: colab.cluster.edge
              vars:
                edge_domains_file: {ROOT}/ssot/state/domains.yml
                edge_caddy_local_certs: false
                edge_caddy_email: admin@ism.la
                edge_caddy_config_path: /tmp/colab-test-Caddyfile
                edge_pihole_project_dir: /tmp/colab-test-pihole
                edge_pihole_deploy: false
        """))
    rc, text = run_logged([tool("ansible-playbook"), "-i", "inventory/lab", str(play)],
                          "lab-services-production-ssot.log", timeout=600)
    assert rc == 0, tail(text)
    caddyfile = converged_lab.exec(COOP, "cat", "/tmp/colab-test-Caddyfile").stdout
    assert "git.ism.la {" in caddyfile and "reverse_proxy localhost:3300" in caddyfile
    assert "reverse_proxy https://localhost:9090" in caddyfile
    assert "tls_trusted_ca_certs /etc/cockpit/ws-certs.d/0-self-signed.cert" in caddyfile
    git_block = caddyfile.split("git.ism.la {", 1)[1].split("\n}", 1)[0]
    assert "tls internal" not in git_block  # external_dns: true -> ACME in production
    mng_block = caddyfile.split("mng.ism.la {", 1)[1].split("\n}", 1)[0]
    assert "tls internal" in mng_block  # LAN only: Caddy's local CA
    records = converged_lab.exec(COOP, "cat", "/tmp/colab-test-pihole/local-dns.list").stdout
    assert "192.168.254.10 git.ism.la" in records and "192.168.254.10 mng.ism.la" in records
    converged_lab.exec(COOP, "rm", "-rf", "/tmp/colab-test-Caddyfile", "/tmp/colab-test-pihole")


def test_mcp_definition_checked_by_compose_and_gpu_only_on_request(converged_lab):
    # the lab deploys the stand-in (inventory/lab/group_vars/ai_hosts.yml): compose_stack's
    # compose.yaml is the definition Compose runs
    res = converged_lab.exec("director", "docker", "compose", "-f", "/srv/colab/mcp/compose.yaml",
                             "config", "--format", "json")
    assert res.returncode == 0, res.stderr
    cfg = json.loads(res.stdout)
    assert cfg["services"]["open-webui"]["environment"]["OLLAMA_BASE_URL"] == "http://ollama:11434"
    assert "deploy" not in cfg["services"]["ollama"]
    assert cfg["networks"]["default"]["name"] == "cluster-local"
    rc, text = playbook(["--limit", "director", "--tags", "mcp", "--check", "--diff",
                         "-e", json.dumps({"mcp_gpu": True, "mcp_deploy": False})],
                        "lab-services-mcp-gpu.log")
    assert rc == 0, tail(text)
    assert "driver: nvidia" in text and "capabilities:" in text


def test_mcp_refuses_a_gpu_the_engine_cannot_give_and_a_missing_webui_key(converged_lab):
    """director has no NVIDIA driver nor runtime: mcp_gpu=true stops before any change."""
    rc, text = playbook(["--limit", "director", "--tags", "mcp", "--check", "-e",
                         json.dumps({"mcp_gpu": True, "mcp_deploy": True,
                                     "mcp_secrets": {"WEBUI_SECRET_KEY": "lab-test-only"}})],
                        "lab-services-mcp-no-runtime.log")
    assert rc != 0
    flat = " ".join(text.split())
    assert "mcp_gpu is true but the NVIDIA driver (/dev/nvidiactl) is missing" in flat, tail(text)
    rc, text = playbook(["--limit", "director", "--tags", "mcp", "--check", "-e",
                         json.dumps({"mcp_gpu": False, "mcp_deploy": True, "mcp_secrets": {}})],
                        "lab-services-mcp-no-webui-key.log")
    assert rc != 0
    # the preflight stops first (before anything runs); the role's own check says the same
    flat = " ".join(text.split())
    assert "mcp_secrets: missing WEBUI_SECRET_KEY" in flat or "mcp_secrets lacks WEBUI_SECRET_KEY" in flat, \
        tail(text)


def _backup_files(lab):
    return set(lab.exec(COOP, "ls", BACKUP_DIR).stdout.split())


def _check_backup(lab, stamp):
    """A backup's two files: PostgreSQL's custom dump format, 0600, no secret value inside."""
    res = lab.exec(COOP, "sh", "-c", f"head -c 5 {BACKUP_DIR}/{stamp}-db.dump; echo; stat -c %a "
                   f"{BACKUP_DIR}/{stamp}-db.dump {BACKUP_DIR}/{stamp}-data.tar.gz")
    assert res.stdout.startswith("PGDMP") and res.stdout.split()[-2:] == ["600", "600"], res.stdout
    for name, value in lab_secrets("/gitea").items():
        hit = lab.exec(COOP, "sh", "-c", f"grep -rlaF -- \"$1\" {BACKUP_DIR}; "
                       f"tar -xzOf {BACKUP_DIR}/{stamp}-data.tar.gz | grep -caF -- \"$1\"", "sh", value)
        assert hit.stdout.split() == ["0"], f"{name} is in the backup: {hit.stdout}"


def test_backup_runs_before_an_image_version_changes(converged_lab):
    """Retag the stand-in, deploy the 'new version', expect the consistent backup first."""
    assert node_docker(converged_lab, COOP, "tag", "colab/gitea-standin:3",
                       "colab/gitea-standin:3-next").returncode == 0
    try:
        before = _backup_files(converged_lab)
        rc, text = playbook(["--limit", COOP, "--tags", "gitea", "-e", "gitea_image_tag=3-next"],
                            "lab-services-upgrade.log")
        assert rc == 0, tail(text)
        new = _backup_files(converged_lab) - before
        stamps = {n.split("-", 1)[0] for n in new}
        assert len(stamps) == 1 and {f"{s}-{k}" for s in stamps for k in ("db.dump", "data.tar.gz")} == new, new
        _check_backup(converged_lab, stamps.pop())
    finally:
        rc, text = playbook(["--limit", COOP, "--tags", "gitea"], "lab-services-downgrade.log")
        node_docker(converged_lab, COOP, "rmi", "colab/gitea-standin:3-next")
    assert rc == 0, tail(text)
    assert inspect(converged_lab, service_container(converged_lab, "gitea"))["Config"]["Image"] == \
        "colab/gitea-standin:3"


def test_scheduled_backup_restores_users_and_data(converged_lab):
    """The timer's real systemd unit backs up; after a loss, playbooks/gitea-restore.yml brings it back.
    Stand-in contract for what is restored (Gitea is colab/gitea-standin here, not Gitea): its
    standin_user rows and its API's /user answer."""
    timer = converged_lab.exec(COOP, "systemctl", "is-enabled", "colab-gitea-backup.timer")
    assert timer.stdout.strip() == "enabled", timer.stdout + timer.stderr
    app = service_container(converged_lab, "gitea")
    made = node_docker(converged_lab, COOP, "exec", app, "gitea", "admin", "user", "create", "--username",
                       "restore-probe", "--email", "probe@lab.colab.test", "--random-password")
    assert made.returncode == 0, made.stderr
    marker = f"{FORTRESS}/data/gitea/restore-probe.txt"
    assert converged_lab.exec(COOP, "sh", "-c", f"echo probe > {marker}").returncode == 0
    before = _backup_files(converged_lab)
    run = converged_lab.exec(COOP, "systemctl", "start", "colab-gitea-backup.service", timeout=900)
    assert run.returncode == 0, run.stdout + run.stderr
    new = _backup_files(converged_lab) - before
    stamp = {n.split("-", 1)[0] for n in new}.pop()
    _check_backup(converged_lab, stamp)
    # Gitea ran again after the backup (the script restarts it)
    assert inspect(converged_lab, app)["State"]["Status"] == "running"
    # the loss: the user and the file are gone
    db = service_container(converged_lab, "gitea-db")
    node_docker(converged_lab, COOP, "exec", db, "psql", "-U", "gitea", "-d", "gitea", "-tAc",
                "DELETE FROM standin_user WHERE name = 'restore-probe'")
    converged_lab.exec(COOP, "rm", "-f", marker)
    rc, text = run_logged([tool("ansible-playbook"), "-i", "inventory/lab", "playbooks/gitea-restore.yml",
                           "--limit", COOP, "-e", f"gitea_restore_stamp={stamp}"],
                          "lab-services-restore.log", timeout=900, env=ansible_env())
    assert rc == 0, tail(text)
    users = node_docker(converged_lab, COOP, "exec", db, "psql", "-U", "gitea", "-d", "gitea", "-tAc",
                        "SELECT name FROM standin_user ORDER BY name").stdout.split()
    assert "restore-probe" in users and ADMIN in users, users
    assert converged_lab.exec(COOP, "cat", marker).stdout.strip() == "probe"
    assert api_status(converged_lab, "/user", ADMIN, lab_secrets("/gitea")["GITEA_ADMIN_PASSWORD"]) == "200"
    rc, text = playbook(["--limit", COOP, "--tags", "gitea"], "lab-services-after-restore.log")
    assert rc == 0, tail(text)


def test_chezmoi_export_on_request(converged_lab, tmp_path):
    src = tmp_path / "chezmoi"
    rc, text = playbook(["--limit", COOP, "--tags", "chezmoi_export", "-e", "chezmoi_export_enabled=true",
                         "-e", f"chezmoi_export_source_dir={src}"], "lab-services-chezmoi.log")
    assert rc == 0, tail(text)
    compose = (src / "dot_config/docker/compose/gitea.yml").read_text()
    assert "${GITEA_DB_PASSWORD}" in compose
    env = env_of(inspect(converged_lab, service_container(converged_lab, "gitea")))
    assert env["GITEA__database__PASSWD"] not in compose
    mise = tomllib.loads((src / "dot_config/mise/config.toml").read_text())
    assert mise["tools"]["docker-compose"] == "2.40.3"
    assert mise["tasks"]["deploy:gitea"]["run"] == "ansible-playbook site.yml --limit cooperator --tags gitea"
    # started by hand from ~/.config/docker/compose (the seed's way), the real Compose keeps
    # the deployed project's name instead of naming it after the directory ("compose")
    cfg = subprocess.run(["docker", "compose", "-f", str(src / "dot_config/docker/compose/gitea.yml"),
                          "config", "--format", "json"], capture_output=True, text=True, timeout=60,
                         cwd=src / "dot_config/docker/compose", check=False)
    assert cfg.returncode == 0, cfg.stderr
    assert json.loads(cfg.stdout)["name"] == "gitea"
    daemon = json.loads((src / "dot_config/docker/daemon.json").read_text())
    assert daemon == json.loads(converged_lab.exec(COOP, "cat", "/etc/docker/daemon.json").stdout)
    boot = (src / "run_once_bootstrap-colab.sh.tmpl").read_text()
    assert "--limit {{ .chezmoi.hostname }}" in boot


def test_bad_input_fails_early_naming_the_field(converged_lab, tmp_path):
    """A missing secret and a bad SSOT entry stop the roles before anything changes."""
    rc, text = playbook(["--limit", COOP, "--tags", "gitea", "-e",
                         json.dumps({"gitea_secrets": {"GITEA_DB_PASSWORD": "only-this-one"}})],
                        "lab-services-missing-secret.log")
    assert rc != 0
    flat = " ".join(text.split())
    # the preflight names the missing secrets before anything runs
    assert "gitea_secrets: missing GITEA_SECRET_KEY, GITEA_ADMIN_PASSWORD" in flat, tail(text)
    assert "only-this-one" not in text
    play = tmp_path / "edge-bad-ssot.yml"
    play.write_text(textwrap.dedent("""\
        - hosts: cooperator
          gather_facts: false
          tasks:
            - ansible.builtin.include_role:
                name: colab.cluster.edge
              vars:
                edge_domains_file: ""
                edge_domains:
                  - {fqdn: Bad_Name.example, service: x, backend: "localhost:1", type: standard}
        """))
    rc, text = run_logged([tool("ansible-playbook"), "-i", "inventory/lab", str(play)],
                          "lab-services-bad-ssot.log", timeout=300)
    assert rc != 0
    flat = " ".join(text.split())
    assert "domain SSOT entry Bad_Name.example is invalid" in flat, tail(text)
    assert "changed=0" in flat


def test_app_ini_holds_the_secrets_off_the_share(converged_lab):
    """The image writes GITEA__* (secrets too) into app.ini: it must be local, 0700, not on fortress.
    Stand-in contract (Gitea is colab/gitea-standin here, not Gitea): the stand-in writes app.ini
    the way Gitea's docker-setup.sh + environment-to-ini do."""
    res = converged_lab.exec(COOP, "stat", "-c", "%a %u", CONFIG_DIR)
    assert res.stdout.split() == ["700", "1000"], res.stdout + res.stderr
    ini = converged_lab.exec(COOP, "cat", f"{CONFIG_DIR}/app.ini").stdout
    values = lab_secrets("/gitea")
    # the stand-in writes app.ini as docker-setup.sh + environment-to-ini do
    assert f"SECRET_KEY = {values['GITEA_SECRET_KEY']}" in ini
    assert f"PASSWD = {values['GITEA_DB_PASSWORD']}" in ini
    info = inspect(converged_lab, service_container(converged_lab, "gitea"))
    mounts = {m["Destination"]: m["Source"] for m in info["Mounts"]}
    assert mounts["/etc/gitea"] == CONFIG_DIR
    for name, value in values.items():
        hit = converged_lab.exec(COOP, "grep", "-rlaF", "-e", value, FORTRESS, timeout=120)
        assert hit.returncode == 1, f"{name} is on the share in {hit.stdout}"


def test_admin_password_set_through_the_api(converged_lab):
    """Stand-in contract (Gitea is colab/gitea-standin here, not Gitea): the role's API calls
    are answered by the stand-in's /api/v1/user and its standin_token table."""
    values = lab_secrets("/gitea")
    assert api_status(converged_lab, "/user", ADMIN, values["GITEA_ADMIN_PASSWORD"]) == "200"
    assert api_status(converged_lab, "/user", ADMIN, "not-the-password") == "401"
    # the one-time token the role used is gone
    cid = service_container(converged_lab, "gitea-db")
    res = node_docker(converged_lab, COOP, "exec", cid, "psql", "-U", "gitea", "-d", "gitea",
                      "-tAc", "SELECT count(*) FROM standin_token")
    assert res.stdout.strip() == "0", res.stdout + res.stderr


def test_rotated_secrets_are_applied_and_a_new_secret_key_refused(converged_lab, tmp_path):
    """GITEA_DB_PASSWORD and GITEA_ADMIN_PASSWORD rotate; a new SECRET_KEY is refused.
    Stand-in contract for the API answers (Gitea is colab/gitea-standin here, not Gitea)."""
    values = lab_secrets("/gitea")
    rotated = dict(values, GITEA_DB_PASSWORD="rot-db-" + values["GITEA_DB_PASSWORD"][:12],
                   GITEA_ADMIN_PASSWORD="rot-admin-" + values["GITEA_ADMIN_PASSWORD"][:12])
    extra = tmp_path / "rotated.json"
    extra.write_text(json.dumps({"gitea_secrets": rotated}))
    extra.chmod(0o600)
    try:
        rc, text = playbook(["--limit", COOP, "--tags", "gitea", "-e", f"@{extra}"],
                            "lab-services-rotate.log")
        assert rc == 0, tail(text)
        for service in ("gitea", "gitea-db"):
            info = inspect(converged_lab, service_container(converged_lab, service))
            assert info["State"]["Health"]["Status"] == "healthy", (service, info["State"]["Health"])
        assert api_status(converged_lab, "/user", ADMIN, rotated["GITEA_ADMIN_PASSWORD"]) == "200"
        assert api_status(converged_lab, "/user", ADMIN, values["GITEA_ADMIN_PASSWORD"]) == "401"
        for value in (rotated["GITEA_DB_PASSWORD"], rotated["GITEA_ADMIN_PASSWORD"]):
            assert value not in text
        # a changed SECRET_KEY stops the role before anything changes
        keyed = dict(rotated, GITEA_SECRET_KEY="another-key-" + values["GITEA_SECRET_KEY"][:20])
        extra.write_text(json.dumps({"gitea_secrets": keyed}))
        before = service_container(converged_lab, "gitea")
        rc, text = playbook(["--limit", COOP, "--tags", "gitea", "-e", f"@{extra}"],
                            "lab-services-secret-key.log")
        assert rc != 0
        assert "GITEA_SECRET_KEY (Infisical /gitea) differs" in " ".join(text.split()), tail(text)
        assert keyed["GITEA_SECRET_KEY"] not in text and values["GITEA_SECRET_KEY"] not in text
        assert service_container(converged_lab, "gitea") == before
    finally:
        # back to the store's values: the rotation path once more, the other way
        rc, text = playbook(["--limit", COOP, "--tags", "gitea"], "lab-services-rotate-back.log")
    assert rc == 0, tail(text)
    assert api_status(converged_lab, "/user", ADMIN, values["GITEA_ADMIN_PASSWORD"]) == "200"

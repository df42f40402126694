"""One wiring layer: the lab runs production's role variables except a listed set of overrides.

Both inventories load inventory/common/wiring.yml (the colab_* -> role-variable mapping).
What `ansible-inventory` reports must then be the same for the two inventories, group by
group and host by host, except the lab's genuine overrides listed in LAB_OVERRIDES with
their reasons. A production wiring line changed without the lab (or a lab copy left
behind) fails here. Values are compared as ansible-inventory prints them (templates
unrendered): the facts they refer to (colab_*) differ by design, the wiring must not.
No host is contacted.
"""
from __future__ import annotations

import json
import os
import subprocess

import pytest
import yaml

from tests.helpers import ROOT, ansible_env, tool

INVENTORIES = ("production", "lab")

# (group, variable): why the lab differs. Nothing else may.
LAB_OVERRIDES = {
    ("linux", "base_hosts_unsafe_writes"):
        "/etc/hosts is a bind mount in a container: only an in-place write works",
    ("docker_hosts", "docker_install_source"):
        "Docker's apt repository is unreachable here; Debian's docker.io is the engine",
    ("docker_hosts", "docker_compose_version"):
        "trixie's docker-compose package (2.26.1) is the Compose V2 the lab nodes can have",
    ("docker_hosts", "docker_users"):
        "crtr exists only where samba_server creates it (cooperator), not on director",
    ("samba_servers", "samba_server_device"):
        "no data device in a container: the share root is a directory",
    ("samba_servers", "samba_server_cockpit_enabled"):
        "no 45Drives repository here, and Cockpit would only lengthen the converge",
    ("samba_clients", "samba_client_state"):
        "no CIFS in this kernel: present writes fstab and credentials, mounted would fail",
    ("samba_clients", "samba_client_automount"):
        "no autofs in this kernel; nothing may try to mount /mnt/fortress on access",
    ("headscale_servers", "headscale_package_src"):
        "no release download here: headscale built from its Go module (lab/gobuild.py)",
    ("headscale_servers", "headscale_derp_urls"):
        "nothing may leave the machine: no DERP map is fetched, the embedded DERP only",
    ("headscale_servers", "headscale_derp_embedded"): "the only DERP server of the lab's tailnet",
    ("headscale_servers", "headscale_nameservers_global"):
        "MagicDNS forwards to the lab's own resolver (the edge's dnsmasq), never public ones",
    ("headscale_servers", "headscale_ssot_external_dns"): "the lab's domain is not in public DNS",
    ("mesh_clients", "tailscale_package_src"):
        "no apt repository here: tailscale built from its Go module (lab/gobuild.py)",
    ("mesh_clients", "tailscale_accept_dns"):
        "the nodes' resolv.conf is Docker's bind mount and apt needs Docker's resolver; "
        "MagicDNS is asked at 100.100.100.100",
    ("mesh_clients", "tailscale_daemon_flags"):
        "no log upload from the lab (--no-logs-no-support); userspace networking without TUN",
    ("mesh_clients", "tailscale_daemon_env"):
        "nothing may leave the machine: no log upload, no port-mapping probes, never "
        "Tailscale's own control plane",
    ("samba_clients", "samba_client_packages"):
        "smbclient, to check the share by hand in the lab",
    ("edge", "edge_caddy_local_certs"):
        "no ACME here: Caddy's local CA signs every lab certificate",
    ("edge", "edge_pihole_deploy"):
        "no Pi-hole image here: its records are rendered and checked, not served",
    ("edge", "edge_pihole_web_password"):
        "no Pi-hole deployed here, and the lab's secret store has no /pihole path",
    ("edge", "edge_dns_server"):
        "no Pi-hole image here: Debian's dnsmasq (FTL's engine) serves the same records file",
    ("edge", "edge_dnsmasq_local_zones"):
        "no upstream resolver answers from the lab: dnsmasq alone answers the lab's domain (NXDOMAIN)",
    ("edge", "edge_pihole_upstreams"):
        "nothing may leave the lab: no upstream resolver, a name outside the SSOT is REFUSED",
    ("gitea_servers", "gitea_image_repository"):
        "no Gitea image here: the labelled stand-in colab/gitea-standin",
    ("gitea_servers", "gitea_image_tag"): "the stand-in's tag",
    ("gitea_servers", "gitea_postgres_image_repository"):
        "no registry: Debian's PostgreSQL 17 built locally as colab/postgres",
    ("gitea_servers", "gitea_postgres_image_tag"): "the local PostgreSQL image's tag",
    ("gitea_servers", "gitea_pull"): "local images only: never pull",
    ("gitea_servers", "gitea_ssot_external_dns"): "the lab's domain is not in public DNS",
    ("docker_hosts", "docker_image_archives"):
        "the locally built images, loaded into the nested engine since nothing can be pulled",
    ("minio_servers", "minio_image_repository"):
        "no MinIO image here: the labelled S3 stand-in colab/s3-standin (moto, NOT MinIO)",
    ("minio_servers", "minio_image_tag"): "the stand-in's tag",
    ("minio_servers", "minio_pull"): "local images only: never pull",
    ("minio_servers", "minio_buckets"):
        "production names no bucket yet; the lab makes two so the S3 provisioning runs",
    ("registry_servers", "registry_image_repository"):
        "no registry:2 here: Debian's docker-registry (the same distribution program) "
        "built locally as colab/registry",
    ("registry_servers", "registry_image_tag"): "the local image's tag (Debian's 2.8 line)",
    ("registry_servers", "registry_pull"): "the registry's own image is loaded, never pulled",
    ("registry_servers", "registry_binary"):
        "Debian's docker-registry package names the program docker-registry (the official image: registry)",
    ("registry_servers", "registry_push_images"):
        "the lab's stand-in images director pulls from cooperator:5000 instead of archives",
    ("ai_hosts", "mcp_deploy"):
        "deployed where the inventory has a registry to pull the stand-in from (not the arm64 lab)",
    ("ai_hosts", "mcp_ollama_image_repository"):
        "no ollama image here: the labelled stand-in, pulled from cooperator's registry",
    ("ai_hosts", "mcp_ollama_image_tag"): "the stand-in's tag",
    ("ai_hosts", "mcp_open_webui_image_repository"):
        "no open-webui image here: the labelled stand-in, pulled from cooperator's registry",
    ("ai_hosts", "mcp_open_webui_image_tag"): "the stand-in's tag",
    ("ai_hosts", "mcp_gpu"): "no GPU here",
    ("ai_hosts", "mcp_project_dir"): "/mnt/fortress is not mounted in the lab (no CIFS)",
    ("ai_hosts", "mcp_fortress_root"): "/mnt/fortress is not mounted in the lab (no CIFS)",
    ("all", "infisical_secret_client_id"):
        "the lab's generated identity (.lab/infisical) unless the environment gives one",
    ("all", "infisical_secret_client_secret"):
        "the lab's generated identity (.lab/infisical) unless the environment gives one",
}


def _is_role_variable(name):
    """Role variables, as opposed to facts (colab_*, the lab's lab_*) and connection settings."""
    return not name.startswith(("colab_", "lab_", "ansible_"))


def _inventory(name, *args):
    proc = subprocess.run([tool("ansible-inventory"), "-i", os.path.join("inventory", name),
                           "--list", *args], cwd=ROOT, env=ansible_env(), capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def exported():
    """Per inventory: {group: its own variables} as ansible-inventory --export reports them."""
    return {inv: {group: data.get("vars", {}) for group, data in _inventory(inv, "--export").items()
                  if group != "_meta"}
            for inv in INVENTORIES}


@pytest.fixture(scope="module")
def hostvars():
    return {inv: _inventory(inv)["_meta"]["hostvars"] for inv in INVENTORIES}


def _differences(production, lab, allowed):
    """Role variables that differ or exist on one side only, minus the allowed ones."""
    keys = {k for k in set(production) | set(lab) if _is_role_variable(k)}
    return sorted(k for k in keys if k not in allowed
                  and (k not in production or k not in lab or production[k] != lab[k]))


def test_every_group_is_wired_the_same(exported):
    prod, lab = exported["production"], exported["lab"]
    problems = {}
    # --export leaves out a group with neither hosts nor variables (the lab's empty ones).
    for group in sorted(set(prod) | set(lab)):
        allowed = {key for (grp, key) in LAB_OVERRIDES if grp == group}
        diff = _differences(prod.get(group, {}), lab.get(group, {}), allowed)
        if diff:
            problems[group] = {k: {"production": prod.get(group, {}).get(k, "<unset>"),
                                   "lab": lab.get(group, {}).get(k, "<unset>")} for k in diff}
    assert not problems, ("role variables differ between inventory/production and inventory/lab "
                          "outside LAB_OVERRIDES:\n" + json.dumps(problems, indent=2, sort_keys=True))


def test_every_shared_host_gets_the_same_role_variables(hostvars):
    """`ansible-inventory --host` for cooperator and director: the same role variables."""
    prod, lab = hostvars["production"], hostvars["lab"]
    overridden = {key for (_grp, key) in LAB_OVERRIDES}
    problems = {}
    for host in sorted(set(prod) & set(lab)):
        shared = set(prod[host]) & set(lab[host])
        diff = _differences({k: prod[host][k] for k in shared}, {k: lab[host][k] for k in shared},
                            overridden)
        lab_only = sorted(k for k in set(lab[host]) - set(prod[host])
                          if _is_role_variable(k) and k not in overridden)
        if diff or lab_only:
            problems[host] = {"differ": diff, "only in the lab": lab_only}
    assert set(prod) & set(lab) == {"cooperator", "director"}
    assert not problems, json.dumps(problems, indent=2)


def test_every_override_is_real_and_has_a_reason(exported):
    stale = []
    for (group, key), reason in LAB_OVERRIDES.items():
        assert len(reason) > 10, f"{group}.{key}: give the reason"
        lab_value = exported["lab"][group].get(key, "<unset>")
        if lab_value == exported["production"][group].get(key, "<unset>") or lab_value == "<unset>":
            stale.append(f"{group}.{key}")
    assert not stale, f"listed as lab overrides but not overridden in the lab: {stale}"


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_inventories_hold_only_facts_connection_and_overrides(inventory):
    """An inventory's own files hold facts, connection settings and (lab) overrides only."""
    allowed = {key for (_grp, key) in LAB_OVERRIDES} if inventory == "lab" else set()
    base = os.path.join(ROOT, "inventory", inventory)
    offenders = []
    for sub in ("group_vars", "host_vars"):
        for dirpath, _dirs, files in os.walk(os.path.join(base, sub)):
            for name in files:
                path = os.path.join(dirpath, name)
                with open(path, encoding="utf-8") as fh:
                    data = yaml.safe_load(fh) or {}
                offenders += [f"{os.path.relpath(path, ROOT)}: {key}" for key in data
                              if _is_role_variable(key) and key not in allowed]
    assert not offenders, ("role variables outside the wiring layer "
                           "(move them to inventory/common/wiring.yml): " + ", ".join(offenders))


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_inventories_load_the_one_wiring_file(inventory):
    link = os.path.join(ROOT, "inventory", inventory, "wiring.yml")
    assert os.path.islink(link), f"{link} must be a symlink to ../common/wiring.yml"
    assert os.path.realpath(link) == os.path.join(ROOT, "inventory", "common", "wiring.yml")

"""The lab end to end: site.yml converges the lab's nodes over ssh, then changes nothing.

Every recap is read with tests/helpers.parse_recap and must hold both nodes with ok>0,
so an empty or partial run can never pass. The last test drifts two files by hand and
proves `--check --diff` predicts exactly that drift and a converge puts it back.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess

import pytest

from tests.helpers import ROOT, ansible_env, changed_tasks, run_logged, tail, tool

pytestmark = pytest.mark.lab

SMB_CONF = "/etc/samba/smb.conf"
CADDYFILE = "/etc/caddy/Caddyfile"
SMB_CONF_TASK = ("colab.cluster.samba_server : Write smb.conf (validated with testparm before it "
                 "replaces the live file)")
CADDYFILE_TASK = "colab.cluster.edge : Write the Caddyfile from the SSOT (checked with caddy validate first)"
RESTART_SMBD = "colab.cluster.samba_server : Reload smbd (keeps the client sessions)"
RELOAD_CADDY = "colab.cluster.edge : Reload Caddy"
DRIFT = "# edited by hand on cooperator (tests/lab/test_lab.py drift test)"


def adhoc(*args, log_name, timeout=300, **env):
    return run_logged([tool("ansible"), "-i", "inventory/lab", *args], log_name, timeout=timeout,
                      env=ansible_env(**env))


def test_first_converge_reaches_every_lab_node(converged_lab):
    converged_lab.assert_run("converge")


def test_second_converge_changes_nothing(converged_lab):
    converged_lab.assert_run("idempotence", changed=0)
    assert changed_tasks(converged_lab.runs["idempotence"]["text"]) == []


def test_check_diff_on_converged_lab_predicts_nothing(converged_lab):
    converged_lab.assert_run("check", changed=0)
    assert changed_tasks(converged_lab.runs["check"]["text"]) == []


def test_the_playbooks_run_over_ssh_as_colab_with_become(converged_lab):
    """The connection is production's: ssh as an unprivileged admin, then sudo to root."""
    rc, text = adhoc("linux", "-vvv", "-m", "ansible.builtin.command",
                     "-a", "sh -c 'echo who=$(id -un) via=$SUDO_USER'", log_name="lab-connection.log")
    assert rc == 0, tail(text)
    for host in converged_lab.nodes:
        ip = converged_lab.ip(host)
        assert f"<{ip}> ESTABLISH SSH CONNECTION FOR USER: colab" in text, tail(text)
    answered = re.findall(r"^(\S+) \| CHANGED \| rc=0 >>\nwho=root via=colab$", text, re.M)
    assert sorted(answered) == sorted(converged_lab.nodes), tail(text)
    assert "community.docker.docker" not in text


def test_host_key_checking_refuses_an_unpinned_key(converged_lab, tmp_path):
    """A known_hosts that pins another key stops the run: the pin is what lets ssh in."""
    state = tmp_path / "lab"
    (state / "ssh").mkdir(parents=True)
    shutil.copy2(os.path.join(ROOT, ".lab", "ssh", "id_ed25519"), state / "ssh" / "id_ed25519")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")],
                   check=True, timeout=30)
    other = (tmp_path / "other.pub").read_text(encoding="utf-8").split()
    (state / "ssh" / "known_hosts").write_text(f"cooperator,172.31.254.10 {other[0]} {other[1]}\n",
                                               encoding="utf-8")
    # a connection of its own: an open ControlPersist master would skip the key check
    rc, text = adhoc("cooperator", "-m", "ansible.builtin.ping", "-e", f"lab_state_dir={state}",
                     log_name="lab-wrong-host-key.log",
                     ANSIBLE_SSH_CONTROL_PATH_DIR=str(tmp_path / "cp"))
    assert rc != 0
    assert "UNREACHABLE" in text and "Host key verification failed" in text, tail(text)
    # the same extra var pointing at the real state dir connects: the paths are overridable
    rc, text = adhoc("cooperator", "-m", "ansible.builtin.ping",
                     "-e", f"lab_state_dir={os.path.join(ROOT, '.lab')}", log_name="lab-ping.log")
    assert rc == 0 and "cooperator | SUCCESS" in text, tail(text)


def test_summary_names_hosts_roles_and_absent_nodes(converged_lab):
    summary = converged_lab.first_summary
    assert "colab.cluster.base" in summary["hosts"]["cooperator"]["roles"]
    out = subprocess.run(["python3", "lab/lab.py", "summary"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert "cooperator" in out and "director" in out
    assert "projector" in out and "not in the lab" in out
    totals = re.search(r"^changed=(\d+) failed=(\d+)", out, re.M)
    assert totals and totals.groups() == ("0", "0"), out


def test_summary_shows_the_registry_minio_and_the_dns_answers(converged_lab):
    """The summary's service lines come from the services themselves: the registry's
    catalog, MinIO's buckets over S3, and an answer of the edge's DNS (the real dnsmasq on
    cooperator) for every SSOT name, which must be that name's local_ip."""
    from tests.lab.conftest import lab_tool  # pylint: disable=import-outside-toplevel

    out = subprocess.run(["python3", "lab/lab.py", "summary"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert re.search(r"^registry\s+cooperator:5000 /v2/_catalog \(TLS, authenticated\): \S", out, re.M), out
    assert re.search(r"^MinIO \(stand-in .*buckets listed over S3: lab-artifacts, lab-backups$", out, re.M), out
    names = lab_tool.ssot_names()
    assert names and all(ip for _name, ip in names), names
    for fqdn, local_ip in names:
        assert re.search(rf"^dns\s+{re.escape(fqdn)} -> {re.escape(local_ip)}\s", out, re.M), (fqdn, out)
        assert lab_tool.dns_query_a(fqdn, converged_lab.ip("cooperator")) == (0, [local_ip])
    # a name outside the SSOT is not invented by the edge's DNS
    assert lab_tool.dns_query_a("not-in-the-ssot.lab.colab.test", converged_lab.ip("cooperator"))[1] == []


def test_summary_ssh_commands_work_as_printed(converged_lab):
    out = subprocess.run(["python3", "lab/lab.py", "summary"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    for host in converged_lab.nodes:
        line = re.search(rf"^\s+{host}\s+(ssh .*)$", out, re.M)
        assert line, out
        argv = shlex.split(line.group(1))
        assert argv == converged_lab.ssh_argv(host)
        res = subprocess.run([*argv, "sudo", "-n", "sh", "-c", shlex.quote("echo $(hostname) $(id -un)")],
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                             check=False)
        assert res.returncode == 0, res.stderr
        assert res.stdout.split() == [host, "root"]


def test_summary_https_commands_work_as_printed(converged_lab):
    """Every SSOT name gets a curl command verifying Caddy's local CA by --cacert (no -k);
    each runs from this machine as printed and gets an HTTP answer."""
    from tests.lab.conftest import lab_tool  # pylint: disable=import-outside-toplevel

    out = subprocess.run(["python3", "lab/lab.py", "summary"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    commands = re.findall(r"^https\s+(curl .*?)   \(", out, re.M)
    assert len(commands) == len(lab_tool.ssot_names()), out
    for command in commands:
        argv = shlex.split(command)
        assert "-k" not in argv and "--insecure" not in argv and "--cacert" in argv, command
        res = subprocess.run([*argv, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10"],
                             capture_output=True, text=True, timeout=60, check=False)
        assert res.returncode == 0 and res.stdout.isdigit(), (command, res.stderr)


def test_nodes_resolve_each_other(converged_lab):
    res = converged_lab.exec("director", "getent", "hosts", "cooperator.colab")
    assert res.returncode == 0 and res.stdout.split()[0] == "172.31.254.10"


def test_check_predicts_exactly_a_drift_and_a_converge_restores_it(converged_lab):
    """smb.conf and the Caddyfile edited by hand (as an admin would, over ssh + sudo):
    --check --diff reports changed on those two tasks and the smbd restart they notify
    (Caddy's reload is skipped in check mode), changes nothing, and a converge puts both
    files back."""
    lab = converged_lab
    original = {path: lab.exec("cooperator", "cat", path, check=True).stdout
                for path in (SMB_CONF, CADDYFILE)}
    for path in original:
        res = lab.ssh("cooperator", "sudo", "-n", "sh", "-c", shlex.quote(f"echo '{DRIFT}' >> {path}"))
        assert res.returncode == 0, res.stderr
    try:
        check = lab.playbook("drift-check", "--check", "--diff")
        lab.assert_run("drift-check")
        predicted = set(changed_tasks(check["text"]))
        assert predicted == {(SMB_CONF_TASK, "cooperator"), (RESTART_SMBD, "cooperator"),
                             (CADDYFILE_TASK, "cooperator")}, tail(check["text"], 150)
        recap = lab.recap("drift-check")
        assert recap["cooperator"]["changed"] == 3 and recap["director"]["changed"] == 0, recap
        assert f"-{DRIFT}" in check["text"], "the diff does not show the hand edit"
        for path in original:
            assert DRIFT in lab.exec("cooperator", "cat", path).stdout, f"--check changed {path}"
    finally:
        converge = lab.playbook("drift-converge")
    lab.assert_run("drift-converge")
    assert set(changed_tasks(converge["text"])) == {
        (SMB_CONF_TASK, "cooperator"), (RESTART_SMBD, "cooperator"),
        (CADDYFILE_TASK, "cooperator"), (RELOAD_CADDY, "cooperator")}, tail(converge["text"], 150)
    for path, text in original.items():
        assert lab.exec("cooperator", "cat", path).stdout == text, f"{path} not restored"
    for unit in ("smbd", "caddy"):
        assert lab.exec("cooperator", "systemctl", "is-active", unit).stdout.strip() == "active"

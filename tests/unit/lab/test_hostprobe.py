"""lab/hostprobe.py and its one reader (tests/helpers.py host_probe), and what the molecule
scenarios ask of the host: every device a platform names must be one the probe found here
(molecule/samba_client asked for /dev/autofs on a host without it: issue 24)."""
from __future__ import annotations

import glob
import json
import os

import yaml
from molecule.config import MOLECULE_KEEP_STRING
from molecule.interpolation import Interpolator, TemplateWithDefaults

from tests import helpers

probe = helpers._hostprobe_module()  # pylint: disable=protected-access
FEATURES = {"autofs", "cifs", "tun", "fuse", "binfmt_misc", "cgroup", "engine", "disk", "load"}
PROC_FS = "nodev\tsysfs\nnodev\tproc\n\text4\nnodev\tbinfmt_misc\n"


def test_autofs_needs_the_device_node(tmp_path):
    absent = probe.probe_autofs(PROC_FS, dev=str(tmp_path))
    assert absent["ok"] is False and absent["dev_autofs"] is False and absent["proc_filesystems"] is False
    assert absent["detail"] == "/dev/autofs absent, autofs not in /proc/filesystems"
    # listed (built in or loaded) but no node: systemd cannot open it, still absent
    listed = probe.probe_autofs(PROC_FS + "nodev\tautofs\n", dev=str(tmp_path))
    assert listed["ok"] is False and listed["proc_filesystems"] is True
    (tmp_path / "autofs").write_text("")
    assert probe.probe_autofs(PROC_FS + "nodev\tautofs\n", dev=str(tmp_path))["ok"] is True


def test_cifs_from_the_filesystem_list_or_a_module(tmp_path):
    assert probe.probe_cifs(PROC_FS, modules_dir=str(tmp_path))["ok"] is False
    assert probe.probe_cifs(PROC_FS + "nodev\tcifs\n", modules_dir=str(tmp_path))["ok"] is True
    (tmp_path / "kernel" / "fs" / "smb" / "client").mkdir(parents=True)
    (tmp_path / "kernel" / "fs" / "smb" / "client" / "cifs.ko.xz").write_text("")
    found = probe.probe_cifs(PROC_FS, modules_dir=str(tmp_path))
    assert found["ok"] is True and "module cifs.ko found" in found["detail"]


def test_binfmt_and_qemu_registration(tmp_path):
    assert probe.probe_binfmt("", root=str(tmp_path))["ok"] is False
    assert probe.probe_binfmt(PROC_FS, root=str(tmp_path))["ok"] is True
    (tmp_path / "status").write_text("enabled\n")
    (tmp_path / "qemu-aarch64").write_text("enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\n")
    result = probe.probe_binfmt(PROC_FS, root=str(tmp_path))
    assert result["mounted"] is True and result["qemu_aarch64"] is True


def test_cgroup_version_from_the_mount_table():
    v2 = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n"
    v1 = "tmpfs /sys/fs/cgroup tmpfs ro 0 0\ncgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n"
    assert probe.probe_cgroup(v2)["version"] == 2
    assert probe.probe_cgroup(v1)["version"] == 1
    assert probe.probe_cgroup("")["ok"] is False


def test_the_table_names_every_feature_and_the_json_round_trips(tmp_path):
    result = probe.probe()
    assert set(result["features"]) == FEATURES
    assert all({"ok", "detail"} <= set(feat) for feat in result["features"].values())
    text = probe.table(result)
    for name in FEATURES:
        assert any(line.split()[:1] == [name] for line in text.splitlines()), text
    path = probe.write(result, str(tmp_path / "hostprobe.json"))
    with open(path, encoding="utf-8") as fh:
        assert json.load(fh) == json.loads(json.dumps(result))


def test_the_reader_probes_again_for_another_kernel(tmp_path, monkeypatch):
    stale = {"kernel": "0.0-elsewhere", "time": "", "features": {"autofs": {"ok": True, "detail": "stale"}}}
    cache = tmp_path / "hostprobe.json"
    cache.write_text(json.dumps(stale))
    monkeypatch.setattr(helpers, "HOST_PROBE", str(cache))
    monkeypatch.setattr(helpers, "_PROBE", {})
    result = helpers.host_probe()
    assert result["kernel"] == os.uname().release
    assert helpers.host_has("autofs") is os.path.exists("/dev/autofs")
    assert json.loads(cache.read_text())["kernel"] == os.uname().release


def _platforms(molecule_yml, env):
    with open(molecule_yml, encoding="utf-8") as fh:
        text = Interpolator(TemplateWithDefaults, env).interpolate(fh.read(), MOLECULE_KEEP_STRING)
    return (yaml.safe_load(text) or {}).get("platforms") or []


def test_scenarios_ask_only_for_devices_this_host_has():
    env = helpers.molecule_env()
    asked = {}
    for molecule_yml in sorted(glob.glob(os.path.join(helpers.ROOT, "molecule", "*", "molecule.yml"))):
        scenario = os.path.basename(os.path.dirname(molecule_yml))
        for platform in _platforms(molecule_yml, env):
            for device in platform.get("devices") or []:
                asked.setdefault(device.split(":")[0], []).append("%s/%s" % (scenario, platform["name"]))
    missing = {device: users for device, users in asked.items() if not os.path.exists(device)}
    assert not missing, "platforms ask for devices this host lacks: %s" % missing


def test_samba_client_gets_dev_autofs_exactly_where_the_host_has_it(monkeypatch):
    molecule_yml = os.path.join(helpers.ROOT, "molecule", "samba_client", "molecule.yml")
    (client,) = [p for p in _platforms(molecule_yml, helpers.molecule_env()) if p["name"] == "samba-client"]
    assert ("/dev/autofs" in (client.get("devices") or [])) is helpers.host_has("autofs")
    # both answers, whatever this host is: with autofs the device is asked for (no skip on a
    # capable machine), without it the container is still created
    for has, want in ((True, ["/dev/autofs"]), (False, [])):
        monkeypatch.setattr(helpers, "host_has", lambda feature, has=has: has if feature == "autofs" else True)
        (client,) = [p for p in _platforms(molecule_yml, helpers.molecule_env()) if p["name"] == "samba-client"]
        assert (client.get("devices") or []) == want

"""compose_stack follows Compose's own `up` semantics, per Compose version (issue 12).

Fed with outputs recorded from the real programs: fixtures/compose/recorded/<version>/ holds what
fixtures/compose/record.sh captured from Docker Engine 20.10.24 with Compose 2.26.1 (Debian
trixie's docker-compose) and 2.40.3 (sid's), for the project fixtures/compose/project/compose.yaml
(env_file, .env, an interpolated option value, a network with a subnet, a named volume,
depends_on restart, a one-shot and a profile-only unset variable). See fixtures/compose/README.md.
"""
from __future__ import annotations

import copy
import json
import os

import pytest

from ansible_collections.colab.cluster.plugins.module_utils import _compose as c

HERE = os.path.join(os.path.dirname(__file__), "fixtures", "compose")
VERSIONS = ["2.26.1", "2.40.3", "5.6.0"]
SECRETS = ["fixture-envfile-secret", "fixture-dotenv-secret", "fixture-option-secret"]
IMAGE = {"colab/compose-test:1": "sha256:d2a95c80ca7404165e55b1590967ad0549e6be64ae1518446573015f0c873197"}
# the local image of that name when each version was recorded (5.6.0 on 2026-12-07: rebuilt since)
IMAGES = {"5.6.0": {"colab/compose-test:1": "sha256:c3ac5e7d94f7f652d58d086fdf002257c3e654ad0a21dc9c491345913eb405de"}}


def image(version):
    return IMAGES.get(version, IMAGE)


def rec(version, name):
    with open(os.path.join(HERE, "recorded", version, name), encoding="utf-8") as handle:
        text = handle.read()
    return json.loads(text) if name.endswith(".json") else text


def state(version):
    config = rec(version, "config.json")
    return dict(
        config=config,
        hashes=c.parse_hashes(rec(version, "config-hash-resolved.txt")),
        containers=c.containers_from_api(rec(version, "api-containers.json")),
        networks=c.networks_from_api(rec(version, "api-networks.json")),
        volumes=c.volumes_from_api(rec(version, "api-volumes.json")),
        selected=c.select_services(config, [], []),
        version=c.parse_version(rec(version, "version.txt")),
        name=version,
    )


def run_plan(st, **kw):
    return c.plan(st["config"], st["hashes"], st["containers"], image(st["name"]), st["selected"], project="cstrec",
                  version=st["version"], networks=st["networks"], volumes=st["volumes"], **kw)


@pytest.mark.parametrize("version", VERSIONS)
def test_env_file_service_hash_is_the_resolved_one(version):
    """Point 2: `up` labels app (env_file) with the hash of the resolved config; `config --hash`
    on the files gives another one, so the old plan recreated app on every run."""
    labels = {x["service"]: x["config_hash"] for x in c.containers_from_api(rec(version, "api-containers.json"))}
    resolved = c.parse_hashes(rec(version, "config-hash-resolved.txt"))
    files = c.parse_hashes(rec(version, "config-hash-files.txt"))
    assert all(labels[s] == resolved[s] for s in labels)
    if c.parse_version(version) >= (5, 5, 0):
        # runHash resolves the environment itself from v5.5.0 (cmd/compose/config.go@v5.5.0 and
        # @v5.6.0, commit 7bc2630b6): the files give up's hash too; the module sends the resolved
        # document either way
        assert files["app"] == resolved["app"]
    else:
        assert labels["app"] == resolved["app"] != files["app"]


@pytest.mark.parametrize("version", VERSIONS)
def test_recorded_deployment_plans_nothing(version):
    """The fast path: the deployment Compose made is up to date, the completed one-shot included."""
    result = run_plan(state(version))
    assert result["services"] == {"app": [], "db": [], "init": [], "web": []}
    assert result["resources"] == {}


@pytest.mark.parametrize("version,expected", [("2.26.1", None), ("2.40.3", "107787a1")])
def test_network_hash_equals_composes_label(version, expected):
    st = state(version)
    label = st["networks"]["cstrec_back"]["hash"]
    if expected is None:
        assert label == ""  # Compose 2.26.1 does not label networks with a hash
    else:
        assert label.startswith(expected) and c.network_hash(st["config"]["networks"]["back"]) == label
        assert c.network_hash(st["config"]["networks"]["default"]) == st["networks"]["cstrec_default"]["hash"]


def test_volume_hash_equals_composes_label():
    st = state("2.40.3")
    assert c.volume_hash(st["config"]["volumes"]["data"]) == st["volumes"]["cstrec_data"]


@pytest.mark.parametrize("version,expected", [
    ("2.26.1", ({"app": [], "db": [], "init": [], "web": []}, {})),
    ("2.40.3", ({"app": ["restart"], "db": [], "init": [], "web": []}, {"network cstrec_back": ["recreate"]})),
])
def test_changed_subnet(version, expected):
    """Point 4: Compose recreates a diverged network from v2.31 (create.go removeDivergedNetwork)."""
    st = state(version)
    st["config"]["networks"]["back"]["ipam"]["config"][0]["subnet"] = "172.29.78.0/24"
    result = run_plan(st)
    assert (result["services"], result["resources"]) == expected


@pytest.mark.parametrize("version,expected", [("2.26.1", []), ("2.40.3", ["recreate"])])
def test_detached_network(version, expected):
    """Point 4: from v2.32 a running container missing an expected network is recreated
    (convergence.go checkExpectedNetworks)."""
    st = state(version)
    for x in st["containers"]:
        if x["service"] == "app":
            x["networks"] = []
    assert run_plan(st)["services"]["app"] == expected


@pytest.mark.parametrize("version,expected", [("2.26.1", []), ("2.40.3", ["recreate"])])
def test_unmounted_volume(version, expected):
    st = state(version)
    for x in st["containers"]:
        if x["service"] == "db":
            x["mounts"] = []
    assert run_plan(st)["services"]["db"] == expected


@pytest.mark.parametrize("assume_yes,expected", [(False, {}), (True, {"network cstrec_back": ["recreate"]})])
def test_diverged_volume_needs_assume_yes(assume_yes, expected):
    st = state("2.40.3")
    st["config"]["volumes"]["data"]["labels"] = {"x": "1"}
    st["config"]["networks"]["back"]["ipam"]["config"][0]["subnet"] = "172.29.78.0/24"
    result = run_plan(st, assume_yes=assume_yes)
    assert ("volume cstrec_data" in result["resources"]) == assume_yes
    assert result["services"]["db"] == (["recreate"] if assume_yes else [])


@pytest.mark.parametrize("version,expected", [("2.26.1", []), ("2.40.3", ["restart"])])
def test_depends_on_restart(version, expected):
    """Point 5: from v2.29.4 a recreated db stops its restart:true dependents and up starts them."""
    st = state(version)
    st["hashes"]["db"] = "0" * 64
    result = run_plan(st)
    assert result["services"]["db"] == ["recreate"] and result["services"]["web"] == expected


@pytest.mark.parametrize("version", VERSIONS)
def test_one_shot_is_complete_and_others_restart(version):
    """Point 7: init exited 0 and web waits on it with service_completed_successfully."""
    st = state(version)
    assert c.is_one_shot(st["config"], "init") and not c.is_one_shot(st["config"], "db")
    init = [x for x in st["containers"] if x["service"] == "init"][0]
    assert init["state"] == "exited" and init["exit_code"] == 0
    init["exit_code"] = 1
    assert run_plan(st)["services"]["init"] == ["start"]


@pytest.mark.parametrize("version", VERSIONS)
def test_profile_only_unset_variable(version):
    """Point 8: Compose warns for every service, whatever the profiles; only `late` uses it."""
    assert c.unset_variables(rec(version, "config.stderr")) == ["SEM_ONLY_LATE"]
    users = c.variable_users(rec(version, "config-no-interpolate.json"), ["SEM_ONLY_LATE", "SEM_OPT"])
    assert users == {"SEM_ONLY_LATE": {"late"}, "SEM_OPT": {"app"}}


@pytest.mark.parametrize("version", VERSIONS)
def test_stored_view_has_no_env_value(version):
    """Point 1: config resolves env_file into environment; the stored view masks every value."""
    config = rec(version, "config.json")
    assert all(s in json.dumps(config) for s in SECRETS)
    masked = c.mask_environment(config)
    assert not any(s in json.dumps(masked) for s in SECRETS)
    assert masked["services"]["app"]["environment"]["APP_FILE_SECRET"] == c.MASK
    assert config["services"]["app"]["environment"]["APP_FILE_SECRET"] == "fixture-envfile-secret"


@pytest.mark.parametrize("version", VERSIONS)
def test_failed_wait_logs_hide_env_file_values(version):
    """Issue 27 point 5: a wait failure attaches the container's last log lines; a value the
    service got from its env_file (APP_FILE_SECRET, resolved into environment by `config`,
    cmd/compose/config.go@v2.26.1 and @v2.40.3) was masked in the stored view but printed in
    clear there: it was not among the redacted values (only env / env_files / .env were)."""
    config = rec(version, "config.json")
    st = object.__new__(c.ComposeStack)
    st.p, st.docker, st.secrets = {"wait_timeout": 0, "scale": None}, "/usr/bin/docker", []
    st.run = lambda *a, **k: (0, "starting with fixture-envfile-secret and $literal\n", "")
    exited = {"id": "0" * 64, "service": "app", "state": "exited", "status": "Exited (1) 1 second ago",
              "health": None, "exit_code": 1}
    config["services"]["app"]["environment"]["WITH_DOLLAR"] = "$$literal"  # as config prints `$`
    with pytest.raises(c.ComposeError) as err:
        st.wait(config, ["app"], [exited])
    assert "fixture-envfile-secret" not in str(err.value) and "$literal" not in str(err.value)
    assert err.value.details["logs"] == ["starting with %s and %s" % (c.MASK, c.MASK)]


def test_env_file_parser_and_short_values():
    values = c.parse_env_file("# c\nexport A=one1\nB='two 2'\nC=\"x\"\nD=plain # note\nnoequals\n")
    assert values == {"A": "one1", "B": "two 2", "C": "x", "D": "plain"}
    assert c.redact({"a": "x", "b": "xylophone", "c": "one1-z"}, ["x", "one1"]) == \
        {"a": c.MASK, "b": "xylophone", "c": c.MASK + "-z"}


def test_scale_and_replicas():
    st = state("2.40.3")
    assert run_plan(st, scale={"db": 2})["services"]["db"] == ["scale"]
    assert c.replicas({"deploy": {"replicas": 2}}) == 2 and c.replicas({}, "x", {"x": 0}) == 0


def test_pull_and_build_policies():
    st = state("2.40.3")
    ref = "colab/compose-test:1"
    assert run_plan(st, stale_images={ref})["services"]["app"] == ["pull", "recreate"]
    config = copy.deepcopy(st["config"])
    config["services"]["app"]["build"] = {"context": "/tmp"}
    st["config"] = config
    assert run_plan(st, build="always")["services"]["app"] == ["build"]
    assert run_plan(st)["services"]["app"] == []
    assert c.refresh_seconds("daily") == 86400 and c.refresh_seconds("every_1h30m") == 5400
    assert c.refresh_seconds("always") is None


def test_version_features():
    assert c.parse_version("2.40.3-3\n") == (2, 40, 3) and c.parse_version("v2.26.1") == (2, 26, 1)
    assert not c.has_feature((2, 26, 1), "network_divergence") and c.has_feature((2, 40, 3), "volume_divergence")


def test_go_json_escapes_like_go():
    assert c.go_json({"a": "<&>", "b": "é"}) == '{"a":"\\u003c\\u0026\\u003e","b":"é"}'


def test_discovery_order(tmp_path):
    (tmp_path / "docker-compose.yml").write_text("services: {}")
    assert c.discover_files(str(tmp_path)) == [str(tmp_path / "docker-compose.yml")]
    (tmp_path / "compose.yaml").write_text("services: {}")
    (tmp_path / "compose.override.yml").write_text("services: {}")
    assert c.discover_files(str(tmp_path)) == [str(tmp_path / "compose.yaml"), str(tmp_path / "compose.override.yml")]
    assert c.discover_files(str(tmp_path / "none")) == []


def test_state_file_of_an_older_version_is_masked_when_read(tmp_path):
    """A .compose-stack.json written before this fix holds env_file values in clear: the diff's
    "before" never shows them."""
    old = {"services": {"app": rec("2.40.3", "config.json")["services"]["app"]}}
    (tmp_path / c.STATE_FILE).write_text(json.dumps(old))
    stack = object.__new__(c.ComposeStack)
    stack.project_dir, stack.secrets = str(tmp_path), ["fixture-dotenv-secret"]
    before = stack._read_before()  # pylint: disable=protected-access
    assert not any(s in json.dumps(before) for s in SECRETS)


class ReplayCLI:
    """subprocess.Popen replaying the recorded outputs of one Compose version (the CLI path)."""

    version = "2.40.3"
    calls = []

    def __init__(self, args, stdin=None, stdout=None, stderr=None, env=None, cwd=None):
        self.args, self.returncode, self.out, self.err = args, 0, "", ""
        ReplayCLI.calls.append(args)
        v = ReplayCLI.version
        if "version" in args:
            self.out = rec(v, "version.txt")
        elif "config" in args and "--hash" in args:
            # on the files: before environment resolution; on the resolved document (stdin): after
            on_files = any(a.endswith("compose.yaml") for a in args)
            self.out = rec(v, "config-hash-files.txt" if on_files else "config-hash-resolved.txt")
        elif "config" in args:
            self.out = json.dumps(rec(v, "config-no-interpolate.json" if "--no-interpolate" in args
                                      else "config.json"))
            self.err = "" if "--no-interpolate" in args else rec(v, "config.stderr")
        elif args[1] == "ps":
            self.out = rec(v, "ps.txt")
        elif args[1:3] == ["image", "ls"]:
            # transcribed: the image line `docker image ls --no-trunc --format ...` gives for it
            self.out = "colab/compose-test:1\t%s\n" % image(v)["colab/compose-test:1"]
        elif args[1:3] == ["network", "ls"]:
            self.out = "".join("%s\t%s\t%s\n" % (n["Name"], n["Id"], n["Labels"].get(c.CONFIG_HASH_LABEL, ""))
                               for n in rec(v, "api-networks.json"))

    def communicate(self, input=None, timeout=None):  # pylint: disable=redefined-builtin
        return self.out.encode(), self.err.encode()

    def kill(self):
        pass


class ReplayModule:
    def __init__(self, project_dir, **params):
        self.params = dict(project_name="cstrec", project_dir=project_dir, definition=None, src=None,
                           files=None, env={"SEM_OPT": "fixture-option-secret"}, env_files=[], profiles=[],
                           services=[], state="present", pull="policy", recreate="auto",
                           remove_orphans=False, remove_volumes=False, remove_images=None, wait=False,
                           wait_timeout=5, timeout=None, read_timeout=10, apply_timeout=10,
                           docker_host=None, watch_files=[], build="policy", dependencies=True,
                           scale=None, assume_yes=False, renew_anon_volumes=False)
        self.params.update(params)
        self.check_mode = True
        self._diff = True

    @staticmethod
    def get_bin_path(name, required=False):
        return "/usr/bin/" + name

    @staticmethod
    def atomic_move(src, dest):
        os.replace(src, dest)


@pytest.mark.parametrize("version", VERSIONS)
def test_driver_env_file_project_is_up_to_date(version, tmp_path, monkeypatch):
    """Points 1, 2 and 8 through the driver: the recorded deployment (env_file, .env, a profile-only
    unset variable) is up to date in check mode, and nothing returned holds an env value."""
    ReplayCLI.version, ReplayCLI.calls = version, []
    monkeypatch.setattr(c.subprocess, "Popen", ReplayCLI)
    monkeypatch.setattr(c, "local_socket", lambda env: None)
    (tmp_path / "compose.yaml").write_text("{}")
    (tmp_path / ".env").write_text("SEM_DOTENV=fixture-dotenv-secret\n")
    result = c.ComposeStack(ReplayModule(str(tmp_path))).apply()
    assert result["actions"] == [] and not result["changed"], result["actions"]
    assert not any(s in json.dumps(result) for s in SECRETS)
    assert result["compose_version"] == version


@pytest.mark.parametrize("version", VERSIONS)
def test_service_hash_equals_composes(version):
    """The no-change shortcut: Python's ServiceHash of the resolved config equals what Compose's
    `config --hash` of it prints, for every recorded service (depends_on, profiles, env_file...)."""
    config = rec(version, "config.json")
    want = c.parse_hashes(rec(version, "config-hash-resolved.txt"))
    got = {n: c.service_hash(s, c.parse_version(version)) for n, s in config["services"].items()}
    assert got == want


def test_read_and_apply_timeouts_are_separate():
    """Point 6: a read is bounded by read_timeout, a long apply (pull, up) only by apply_timeout,
    and each message names its own bound (real processes: sleep)."""
    stack = object.__new__(c.ComposeStack)
    stack.read_timeout, stack.apply_timeout = 0.3, 5
    stack.project_dir, stack.proc_env, stack.compose_plugin = None, dict(os.environ), None
    stack.engine, stack.docker, stack.secrets = "the default socket", "/usr/bin/docker", []
    assert stack.run(["sleep", "0.6"], apply=True)[0] == 0
    with pytest.raises(c.ComposeError, match="read_timeout=0.3s; is the Docker engine"):
        stack.run(["sleep", "0.6"])
    stack.apply_timeout = 0.3
    with pytest.raises(c.ComposeError, match="apply_timeout=0.3s"):
        stack.run(["sleep", "0.6"], apply=True)

"""Unit tests for the compose_stack planning logic, fed with recorded real Compose / docker outputs.

The fixtures under fixtures/compose/ were recorded from Docker Engine 20.10.24 and Docker Compose
2.40.3 (see fixtures/compose/README.md for the exact commands).
"""
from __future__ import annotations

import json
import os

import pytest

from ansible_collections.colab.cluster.plugins.module_utils import _compose as c

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "compose")


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return handle.read()


@pytest.fixture(name="config")
def config_fixture():
    return json.loads(fixture("config.json"))


@pytest.fixture(name="hashes")
def hashes_fixture():
    return c.parse_hashes(fixture("config-hash.txt"))


IMAGE_ID = "sha256:9cedc788f13214b671f340a01c40f9ddf7996d141b7f918c84ef0c76f0248a71"
IMAGES = {"colab/compose-test:1": IMAGE_ID}


def test_parse_ps_reads_labels_state_and_health():
    ps = c.parse_ps(fixture("ps.txt"))
    assert [x["service"] for x in ps] == ["side", "web"]
    assert ps[0]["state"] == "running" and ps[0]["health"] == "healthy"
    assert ps[1]["config_hash"] == "37233a4b3535f1e53d4978d0b259b27b814b5548dba64a2abc2d2fe82c4cbee5"
    assert ps[1]["image_id"] == IMAGE_ID
    stopped = c.parse_ps(fixture("ps-side-stopped.txt"))
    assert stopped[0]["state"] == "exited" and stopped[0]["health"] is None


def test_parse_ps_rejects_unexpected_lines():
    with pytest.raises(c.ComposeError, match="unexpected docker ps output"):
        c.parse_ps("just one field\n")


def test_parse_ps_skips_one_off_containers():
    line = fixture("ps.txt").splitlines()[1].replace("\tFalse\t", "\tTrue\t")
    assert c.parse_ps(line) == []


def test_health_variants():
    assert c._HEALTH_RE.search("Up 2 seconds (health: starting)").group("health") == "starting"
    assert c._HEALTH_RE.search("Up 9 minutes (unhealthy)").group("health") == "unhealthy"


def test_unset_variables_from_recorded_warning():
    assert c.unset_variables(fixture("config-unset.stderr")) == ["CST_SECRET"]
    assert c.unset_variables("") == []


def test_no_change_plans_nothing(config, hashes):
    ps = c.parse_ps(fixture("ps.txt"))
    # the deployed `side` carries the watch label; its hash is the container's own label
    hashes["side"] = ps[0]["config_hash"]
    result = c.plan(config, hashes, ps, IMAGES, ["side", "web"], project="cstp")
    assert result == {"services": {"side": [], "web": []}, "orphans": [], "resources": {}}


def test_hash_difference_recreates_only_that_service(config, hashes):
    ps = c.parse_ps(fixture("ps.txt"))
    result = c.plan(config, hashes, ps, IMAGES, ["side", "web"], project="cstp")
    assert result["services"] == {"side": ["recreate"], "web": []}


def test_image_id_difference_recreates(config, hashes):
    ps = c.parse_ps(fixture("ps.txt"))
    hashes["side"] = ps[0]["config_hash"]
    result = c.plan(config, hashes, ps, {"colab/compose-test:1": "sha256:other"}, ["side", "web"], project="cstp")
    assert result["services"] == {"side": ["recreate"], "web": ["recreate"]}


def test_stopped_container_is_started(config, hashes):
    ps = c.parse_ps(fixture("ps-side-stopped.txt"))
    hashes["side"] = ps[0]["config_hash"]
    result = c.plan(config, hashes, ps, IMAGES, ["side", "web"], project="cstp")
    assert result["services"] == {"side": ["start"], "web": []}


def test_missing_containers_and_image(config, hashes):
    result = c.plan(config, hashes, [], {"colab/compose-test:1": None}, ["side", "web"], project="cstp")
    assert result["services"] == {"side": ["pull", "create"], "web": ["pull", "create"]}
    never = c.plan(config, hashes, [], {"colab/compose-test:1": None}, ["web"], pull="never", project="cstp")
    assert never["services"] == {"web": ["create"]}


@pytest.mark.parametrize("recreate,expected", [("always", ["recreate"]), ("never", []), ("auto", ["recreate"])])
def test_recreate_policies(config, hashes, recreate, expected):
    ps = c.parse_ps(fixture("ps.txt"))
    result = c.plan(config, hashes, ps, IMAGES, ["side"], recreate=recreate, project="cstp")
    assert result["services"]["side"] == expected


def test_states(config, hashes):
    ps = c.parse_ps(fixture("ps-side-stopped.txt"))
    hashes["side"] = ps[0]["config_hash"]
    assert c.plan(config, hashes, ps, IMAGES, ["side", "web"], state="stopped")["services"] == {"side": [], "web": ["stop"]}
    assert c.plan(config, hashes, ps, IMAGES, ["side", "web"], state="restarted")["services"] == {"side": ["start"], "web": ["restart"]}
    assert c.plan(config, hashes, ps, IMAGES, ["side", "web"], state="absent")["services"] == {"side": ["remove"], "web": ["remove"]}


def test_orphans_are_reported(config, hashes):
    ps = c.parse_ps(fixture("ps.txt"))
    del config["services"]["side"]
    result = c.plan(config, hashes, ps, IMAGES, ["web"], project="cstp")
    assert result["orphans"] == ["side"]


def test_is_change():
    assert not c.is_change([]) and not c.is_change(["pull"])
    assert c.is_change(["pull", "create"]) and c.is_change(["restart"])


def test_profiles_and_dependencies_selection():
    config = json.loads(fixture("config-profiles.json"))
    assert c.select_services(config, [], []) == ["app", "db"]
    assert c.select_services(config, [], ["debug"]) == ["app", "db", "debug"]
    assert c.select_services(config, ["app"], []) == ["app", "db"]
    assert c.select_services(config, ["debug"], []) == ["debug"]
    with pytest.raises(c.ComposeError, match="unknown service.*nope.*the project defines app, db, debug"):
        c.select_services(config, ["nope"], [])


def test_replicas_drive_scale():
    config = json.loads(fixture("config-profiles.json"))
    hashes = c.parse_hashes(fixture("config-profiles-hash.txt"))
    assert c.replicas(config["services"]["app"]) == 2
    one = [{"id": "a" * 64, "state": "running", "status": "Up", "service": "app",
            "config_hash": hashes["app"], "image_id": IMAGE_ID, "name": "cstprof-app-1", "health": None}]
    result = c.plan(config, hashes, one, IMAGES, ["app"], project="cstprof")
    assert result["services"]["app"] == ["scale"]


def test_watch_files_map_to_mounting_services(config, tmp_path):
    users = c.watched_services(config, ["side", "web"], ["/tmp/cstp/proj/conf.txt", "/tmp/cstp/proj", "/elsewhere"])
    assert users == {"/tmp/cstp/proj/conf.txt": ["side"], "/tmp/cstp/proj": ["side"], "/elsewhere": []}
    watched = tmp_path / "conf.txt"
    watched.write_text("one")
    first = c.watch_labels({str(watched): ["side"]}, {str(watched): c.content_digest(str(watched))})
    watched.write_text("two")
    second = c.watch_labels({str(watched): ["side"]}, {str(watched): c.content_digest(str(watched))})
    assert list(first) == ["side"] and first != second


def test_directory_digest_follows_content(tmp_path):
    (tmp_path / "a").write_text("1")
    before = c.content_digest(str(tmp_path))
    (tmp_path / "a").write_text("2")
    assert c.content_digest(str(tmp_path)) != before


def test_inject_labels_dict_and_list_forms():
    definition = {"services": {"a": {"labels": ["x=1"]}, "b": {"labels": {"y": "2"}}, "c": {}}}
    out = c.inject_labels(definition, {"a": "d1", "b": "d2", "c": "d3"})
    assert out["services"]["a"]["labels"] == ["x=1", c.WATCH_LABEL + "=d1"]
    assert out["services"]["b"]["labels"] == {"y": "2", c.WATCH_LABEL: "d2"}
    assert out["services"]["c"]["labels"] == {c.WATCH_LABEL: "d3"}
    assert definition["services"]["c"] == {}, "the caller's definition must not be modified"


def test_redact_nested_and_substrings(config):
    assert "fixture-secret-value" in json.dumps(config)
    clean = c.redact(config, ["fixture-secret-value"])
    assert "fixture-secret-value" not in json.dumps(clean)
    assert clean["services"]["web"]["environment"]["SECRET"] == c.MASK
    assert c.redact({"k": ["pre-abcd-post"]}, ["abcd", ""]) == {"k": ["pre-" + c.MASK + "-post"]}


def test_env_strings():
    assert c.env_strings({"A": 1, "B": True, "C": None, "D": "x"}) == {"A": "1", "B": "true", "C": "", "D": "x"}


def test_project_hash_is_order_independent(hashes):
    assert c.project_hash(hashes, ["web", "side"]) == c.project_hash(hashes, ["side", "web"])
    assert c.project_hash(hashes, ["web"]) != c.project_hash(hashes, ["side", "web"])


def test_image_listing_and_reference_normalisation():
    listing = c.parse_image_ls(fixture("image-ls.txt"))
    assert listing[c.normalize_image("colab/compose-test:1")] == IMAGE_ID
    assert c.normalize_image("docker.io/library/postgres") == "postgres:latest"
    assert c.normalize_image("ghcr.io/org/app:2") == "ghcr.io/org/app:2"
    assert c.normalize_image("registry:5000/app") == "registry:5000/app:latest"
    assert c.normalize_image("app@sha256:abc") == "app@sha256:abc"


# --- the driver, with a double of the docker CLI that replays the recorded outputs -------------
class FakeModule:
    def __init__(self, tmp_path, check_mode=False, **params):
        self.params = dict(project_name="cstp", project_dir=str(tmp_path), definition=None, src=None,
                           files=None, env={"CST_SECRET": "fixture-secret-value"}, env_files=[], profiles=[],
                           services=[], state="present", pull="policy", recreate="auto", remove_orphans=False,
                           remove_volumes=False, remove_images=None, wait=False, wait_timeout=5, timeout=None,
                           read_timeout=10, apply_timeout=10, docker_host=None, watch_files=[], build="policy",
                           dependencies=True, scale=None, assume_yes=False, renew_anon_volumes=False)
        self.params.update(params)
        self.check_mode = check_mode
        self._diff = True

    @staticmethod
    def get_bin_path(name, required=False):
        return "/usr/bin/" + name

    @staticmethod
    def atomic_move(src, dest):
        os.replace(src, dest)


class FakeCLI:
    """Stands in for subprocess.Popen; answers like Docker 20.10.24 / Compose 2.40.3 did (fixtures)."""

    calls = []

    def __init__(self, args, stdin=None, stdout=None, stderr=None, env=None, cwd=None):
        self.args, self.env = args, env
        FakeCLI.calls.append(self)
        self.returncode, self.out, self.err = 0, "", ""
        joined = " ".join(args)
        unset = not env.get("CST_SECRET")
        if " config " in joined and "--format json" in joined:
            self.out = fixture("config.json")
            self.err = fixture("config-unset.stderr") if unset else ""
        elif " config --hash" in joined:
            self.out = fixture("config-hash.txt")
        elif args[1] == "ps":
            self.out = fixture("ps.txt")
        elif args[1:3] == ["image", "ls"]:
            self.out = fixture("image-ls.txt")

    def communicate(self, input=None, timeout=None):  # pylint: disable=redefined-builtin
        return self.out.encode(), self.err.encode()

    def kill(self):
        pass


@pytest.fixture(name="cli")
def cli_fixture(monkeypatch):
    FakeCLI.calls = []
    monkeypatch.setattr(c.subprocess, "Popen", FakeCLI)
    monkeypatch.setattr(c, "local_socket", lambda env: None)  # the CLI path; the API path is tested below
    return FakeCLI


def _mutating(cli):
    return [call.args for call in cli.calls if any(w in call.args for w in ("up", "stop", "restart", "down", "rm"))]


def test_driver_runs_up_only_for_the_differing_service(tmp_path, cli):
    compose = tmp_path / "compose.yaml"
    compose.write_text("{}")
    result = c.ComposeStack(FakeModule(tmp_path, files=[str(compose)])).apply()
    assert result["changed"] and result["actions"] == ["side recreate"]
    ups = _mutating(cli)
    assert len(ups) == 1 and ups[0][-3:] == ["up", "-d", "side"]
    for call in cli.calls:
        assert "fixture-secret-value" not in " ".join(call.args), "a secret reached argv"
        assert call.env["CST_SECRET"] == "fixture-secret-value", "the secret is passed in the environment"
    assert "fixture-secret-value" not in json.dumps(result)
    assert result["diff"]["after"]["config"]["services"]["web"]["environment"]["SECRET"] == c.MASK
    saved = (tmp_path / c.STATE_FILE).read_text()
    assert "fixture-secret-value" not in saved and (tmp_path / c.STATE_FILE).stat().st_mode & 0o777 == 0o600


def test_driver_check_mode_touches_nothing(tmp_path, cli):
    compose = tmp_path / "compose.yaml"
    compose.write_text("{}")
    result = c.ComposeStack(FakeModule(tmp_path, check_mode=True, files=[str(compose)])).apply()
    assert result["changed"] and result["commands"][0][-1] == "side"
    assert _mutating(cli) == []
    assert not (tmp_path / c.STATE_FILE).exists()


def test_driver_unset_variable_fails_before_anything(tmp_path, cli):
    compose = tmp_path / "compose.yaml"
    compose.write_text("{}")
    with pytest.raises(c.ComposeError, match="not set: CST_SECRET"):
        c.ComposeStack(FakeModule(tmp_path, files=[str(compose)], env={})).apply()
    assert _mutating(cli) == []


def test_driver_unknown_service_and_missing_file(tmp_path, cli):
    compose = tmp_path / "compose.yaml"
    compose.write_text("{}")
    with pytest.raises(c.ComposeError, match="unknown service.*nope"):
        c.ComposeStack(FakeModule(tmp_path, files=[str(compose)], services=["nope"])).apply()
    with pytest.raises(c.ComposeError, match="file not found on the target"):
        c.ComposeStack(FakeModule(tmp_path, files=[str(tmp_path / "missing.yaml")])).apply()
    assert _mutating(cli) == []


def test_missing_external_networks():
    # shape recorded from `docker compose config --format json` (Compose 2.40.3) for an external network
    config = {"networks": {"ext": {"name": "cluster-local", "ipam": {}, "external": True},
                           "default": {"name": "p_default", "ipam": {}}}}
    assert c.missing_external_networks(config, {"bridge", "host"}) == ["cluster-local"]
    assert c.missing_external_networks(config, {"cluster-local"}) == []


def test_engine_api_shapes_match_the_cli_parsers():
    api = c.containers_from_api(json.loads(fixture("api-containers.json")))
    cli = c.parse_ps(fixture("ps.txt"))
    # recorded from the same project at different times: same shape, same services, same image
    assert all(set(x) == set(cli[0]) for x in api)
    assert {x["service"] for x in api} == {x["service"] for x in cli} == {"side", "web"}
    assert {x["image_id"] for x in api} == {IMAGE_ID} and all(x["health"] == "healthy" for x in api)
    assert all(len(x["config_hash"]) == 64 and len(x["id"]) == 64 and x["name"].startswith("cstp-") for x in api)
    images = c.images_from_api(json.loads(fixture("api-images.json")))
    assert images == c.parse_image_ls(fixture("image-ls.txt"))


def test_local_socket_choice(tmp_path):
    from ansible_collections.colab.cluster.plugins.module_utils._docker_api import local_socket
    assert local_socket({"DOCKER_HOST": "unix:///run/x.sock"}) == "/run/x.sock"
    assert local_socket({"DOCKER_HOST": "tcp://127.0.0.1:2375"}) is None
    assert local_socket({"DOCKER_CONTEXT": "remote"}) is None
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "remote"}))
    assert local_socket({"DOCKER_CONFIG": str(tmp_path)}) is None
    (tmp_path / "config.json").write_text("{}")
    assert local_socket({"DOCKER_CONFIG": str(tmp_path)}) == "/var/run/docker.sock"


def test_api_client_error_on_missing_socket(tmp_path):
    from ansible_collections.colab.cluster.plugins.module_utils._docker_api import DockerAPI, DockerAPIError
    with pytest.raises(DockerAPIError):
        DockerAPI(str(tmp_path / "nonexistent.sock"), 2).networks()


def test_api_client_times_out_on_an_engine_that_never_answers(tmp_path):
    """A real unix socket that accepts connections and never answers: the read fails within the timeout."""
    import socket
    import time as _time
    from ansible_collections.colab.cluster.plugins.module_utils._docker_api import DockerAPI, DockerAPIError
    path = str(tmp_path / "hung.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    try:
        start = _time.monotonic()
        with pytest.raises(DockerAPIError, match="timed out"):
            DockerAPI(path, 1).containers("com.docker.compose.project=x")
        assert _time.monotonic() - start < 3
    finally:
        server.close()


def test_named_services_only_are_stopped_or_restarted():
    config = json.loads(fixture("config-profiles.json"))
    hashes = c.parse_hashes(fixture("config-profiles-hash.txt"))
    running = [{"id": n * 64, "state": "running", "status": "Up", "service": s, "config_hash": hashes[s],
                "image_id": IMAGE_ID, "name": "cstprof-%s-%s" % (s, n), "health": None}
               for s, n in (("app", "1"), ("app", "2"), ("db", "3"))]
    selected = c.select_services(config, ["app"], [])
    assert selected == ["app", "db"]
    kw = dict(project="cstprof", requested={"app"})
    assert c.plan(config, hashes, running, IMAGES, selected, state="stopped", **kw)["services"] == {"app": ["stop"], "db": []}
    assert c.plan(config, hashes, running, IMAGES, selected, state="restarted", **kw)["services"] == {"app": ["restart"], "db": []}
    # present brings a missing dependency up
    assert c.plan(config, hashes, running[:2], IMAGES, selected, **kw)["services"] == {"app": [], "db": ["create"]}

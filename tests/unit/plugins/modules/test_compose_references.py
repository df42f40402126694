"""compose_stack decides like Compose's convergence code (issue 27): service references, `$$`,
pull_policy durations.

Fed with outputs recorded from the real programs: fixtures/compose/recorded/<version>/refs/ holds
what fixtures/compose/record-refs.sh captured from Docker Engine 20.10.24 with Compose 2.26.1
(Debian trixie's) and 2.40.3 (sid's) after `docker compose up -d` of
fixtures/compose/project-refs/compose.yaml (a `network_mode`/`ipc`/`pid: service:app` sidecar, a
`volumes_from: [app:ro]` service, `$` in a command, a CMD-SHELL healthcheck, a network label and a
volume label). See fixtures/compose/README.md. The fallback test runs the real Compose binaries
(`config --hash` is offline: no engine).
"""
from __future__ import annotations

import json
import os

import pytest

from ansible_collections.colab.cluster.plugins.module_utils import _compose as c
from tests.helpers import ROOT

HERE = os.path.join(os.path.dirname(__file__), "fixtures", "compose", "recorded")
VERSIONS = ["2.26.1", "2.40.3", "5.6.0"]
IMAGE = {"colab/compose-test:1": "sha256:cd421a7e67abd55469769306e5754f9d704aa608a9f2ce1a3b639399e2873c53"}
# the local image of that name when each version was recorded (5.6.0 on 2026-12-07: rebuilt since)
IMAGES = {"5.6.0": {"colab/compose-test:1": "sha256:c3ac5e7d94f7f652d58d086fdf002257c3e654ad0a21dc9c491345913eb405de"}}


def image(version):
    return IMAGES.get(version, IMAGE)


# the plugin binary of each version (tests/integration/test_compose_stack_versions.py fetches 2.26.1
# and builds 5.6.0)
PLUGINS = {"2.40.3": "/usr/local/lib/docker/cli-plugins/docker-compose",
           "2.26.1": os.path.join(ROOT, ".cache", "compose-2.26", "cli-plugins", "docker-compose"),
           "5.6.0": os.path.join(ROOT, ".cache", "compose-5.6", "cli-plugins", "docker-compose")}


def rec(version, name):
    with open(os.path.join(HERE, version, "refs", name), encoding="utf-8") as handle:
        text = handle.read()
    return json.loads(text) if name.endswith(".json") else text


def state(version, containers="api-containers.json"):
    config = rec(version, "config.json")
    return dict(config=config, containers=c.containers_from_api(rec(version, containers)),
                networks=c.networks_from_api(rec(version, "api-networks.json")),
                volumes=c.volumes_from_api(rec(version, "api-volumes.json")),
                selected=c.select_services(config, [], []), version=c.parse_version(rec(version, "version.txt")))


def _no_spawn(*args, **kwargs):
    raise AssertionError("spawned %s" % (args,))


def labels(st):
    return {x["service"]: x["config_hash"] for x in st["containers"]}


def stack(version, plugin=None):
    st = object.__new__(c.ComposeStack)
    st.version, st.project, st.project_dir = c.parse_version(version), "cstrefs", None
    st.compose_plugin, st.docker, st.secrets = plugin, "/usr/bin/docker", []
    st.proc_env, st.read_timeout, st.apply_timeout = dict(os.environ), 30, 30
    st.engine = "the default socket"
    return st


@pytest.mark.parametrize("version", VERSIONS)
def test_recorded_up_leaves_everything_and_labels_resolved_hashes(version):
    """What the module must match: a second `docker compose up -d` recreated nothing (same
    containers), and the labels are the hashes of the services with their references resolved."""
    first, again = state(version), state(version, "api-containers-after-up.json")
    assert sorted(x["id"] for x in first["containers"]) == sorted(x["id"] for x in again["containers"])
    assert "Recreate" not in rec(version, "up-again.txt")
    by_service = c.containers_by_service(first["containers"])
    side = first["config"]["services"]["side"]
    resolved = c.resolve_references(side, by_service)[0]
    app_id = by_service["app"][0]["id"]
    assert resolved["network_mode"] == resolved["ipc"] == resolved["pid"] == "container:" + app_id
    assert c.resolve_references(first["config"]["services"]["data"], by_service)[0]["volumes_from"] == [app_id]


@pytest.mark.parametrize("version", VERSIONS)
def test_service_hash_resolves_references_and_dollars(version):
    """Point 1 and 2: Python's hash of every service equals its container's label: side
    (network_mode/ipc/pid service:app), data (volumes_from app:ro) and app (`$` in command and
    healthcheck, which `config` prints as `$$`). Before: none of the three did."""
    st = state(version)
    by_service = c.containers_by_service(st["containers"])
    got = {n: c.service_hash(s, st["version"], by_service) for n, s in st["config"]["services"].items()}
    assert got == labels(st)


def test_network_and_volume_hash_read_dollars_back():
    """Point 2: a `$` in a network or volume label (`$$` in config output) gives Compose's hash
    (2.40.3 labels them; 2.26.1 does not). Before: a false recreate of both on every run."""
    st = state("2.40.3")
    assert c.network_hash(st["config"]["networks"]["back"]) == st["networks"]["cstrefs_back"]["hash"]
    assert c.volume_hash(st["config"]["volumes"]["store"]) == st["volumes"]["cstrefs_store"]


@pytest.mark.parametrize("version", VERSIONS)
def test_recorded_references_plan_nothing_without_compose(version, monkeypatch):
    """The whole decision on the state `docker compose up -d` left: the fast path answers (no
    process spawned) and the plan is empty, volumes compared too (assume_yes)."""
    st = state(version)

    monkeypatch.setattr(c.subprocess, "Popen", _no_spawn)
    hashes = stack(version).hashes(st["config"], {}, st["containers"], st["selected"])
    assert hashes == labels(st)
    result = c.plan(st["config"], hashes, st["containers"], image(version), st["selected"], project="cstrefs",
                    version=st["version"], networks=st["networks"], volumes=st["volumes"], assume_yes=True)
    assert result == {"services": {"app": [], "data": [], "side": []}, "orphans": [], "resources": {}}


@pytest.mark.parametrize("version", VERSIONS)
def test_fallback_hashes_resolve_references_with_real_compose(version):
    """When the fast path misses (here: app's label differs), the hashes come from the real
    `config --hash`, given network_mode/ipc/pid as container:<id>; volumes_from's resolved hash is
    taken once Compose agrees with this module's hash of the service as sent. Before: side and
    data got the unresolved hash, so a change to app alone recreated all three in the plan."""
    plugin = PLUGINS[version]
    if not os.path.exists(plugin):
        pytest.skip("Compose %s plugin not here (python3 lab/lab.py compose-plugin trixie ...)" % version)
    st = state(version)
    containers = [dict(x, config_hash="0" * 64) if x["service"] == "app" else x for x in st["containers"]]
    hashes = stack(version, plugin).hashes(st["config"], {}, containers, st["selected"])
    assert hashes == labels(st)


def test_a_recreated_reference_recreates_its_users():
    """`up` resolves side's and data's references to app's new container: recreating app
    recreates them (convergence.go ensureService, setObservedState); a start does not."""
    st = state("2.40.3")
    hashes = dict(labels(st), app="changed")
    result = c.plan(st["config"], hashes, st["containers"], IMAGE, st["selected"], project="cstrefs",
                    version=st["version"], networks=st["networks"], volumes=st["volumes"])
    assert result["services"] == {"app": ["recreate"], "data": ["recreate"], "side": ["recreate"]}
    never = c.plan(st["config"], hashes, st["containers"], IMAGE, st["selected"], project="cstrefs",
                   version=st["version"], networks=st["networks"], recreate="never")
    assert never["services"] == {"app": [], "data": [], "side": []}


def test_unescape_dollars_is_configs_inverse():
    printed = {"a$$b": ["$$HOME", "$$$$", "x"], "n": 1}
    assert c.unescape_dollars(printed) == {"a$b": ["$HOME", "$$", "x"], "n": 1}


# transcribed from str2duration_test.go@v2.1.0 (github.com/xhit/go-str2duration) TestParseString,
# in nanoseconds, plus the units the issue names (d, w, ms, decimals)
S, MS, US = 10 ** 9, 10 ** 6, 10 ** 3
H, MIN = 3600 * S, 60 * S
DURATIONS = [
    ("1h", H), ("1m", MIN), ("1s", S), ("1ms", MS), ("1\u00b5s", US), ("1us", US), ("1ns", 1),
    ("4.000000001s", 4 * S + 1), ("1h0m4.000000001s", H + 4 * S + 1), ("1h1m0.01s", 61 * MIN + 10 * MS),
    ("1h1m0.123456789s", 61 * MIN + 123456789), ("1.00002ms", MS + 20), ("1.00000002s", S + 20),
    ("693ns", 693), ("10s1us693ns", 10 * S + US + 693), ("1ms1ns", MS + 1), ("60h8ms", 60 * H + 8 * MS),
    ("96h63s", 96 * H + 63 * S), ("2d3s96ns", 48 * H + 3 * S + 96), ("1w2d3s96ns", 216 * H + 3 * S + 96),
    ("1w2d3s3\u00b5s96ns", 216 * H + 3 * S + 3 * US + 96),
    ("2d", 48 * H), ("1w", 168 * H), ("500ms", 500 * MS), ("1.5h", 90 * MIN), ("0", 0), ("+1h", H), ("-1h", -H),
]


@pytest.mark.parametrize("text,nanos", DURATIONS)
def test_parse_duration_like_str2duration(text, nanos):
    assert c.parse_duration(text) == nanos


@pytest.mark.parametrize("text", ["", "h", "1", "1x", ".", "1h2", "-"])
def test_parse_duration_rejects_like_str2duration(text):
    with pytest.raises(ValueError, match="time: "):
        c.parse_duration(text)


def test_refresh_policies():
    """Point 3: every_2d / every_1w were never refreshed (the regex rejected them) and every_500ms
    read as 30000 s."""
    assert c.refresh_seconds("every_2d") == 2 * 86400 and c.refresh_seconds("every_1w") == 7 * 86400
    assert c.refresh_seconds("every_500ms") == 0.5 and c.refresh_seconds("every_1h30m") == 5400
    assert c.refresh_seconds("daily") == 86400 and c.refresh_seconds("always") is None
    with pytest.raises(ValueError):
        c.refresh_seconds("every_2x")


@pytest.mark.parametrize("version,expected", [("2.26.1", ["app"]), ("2.40.3", "error")])
def test_unparsable_every_policy(version, expected):
    """Compose 2.26.1 pulls a policy it does not know on every up (pull.go pullRequiredImages);
    2.40.3 fails on GetPullPolicy's error (pull.go mustPull): the module fails first, naming it."""
    st = stack(version)
    st.p, st.api = {"pull": "policy"}, None
    config = {"services": {"app": {"image": "colab/compose-test:1", "pull_policy": "every_2x"}}}
    if expected == "error":
        with pytest.raises(c.ComposeError, match="services.app.pull_policy: every_2x"):
            st.pull_candidates(config, ["app"])
    else:
        assert st.pull_candidates(config, ["app"]) == expected


class _Module:
    check_mode = False


def test_version_is_kept_per_binary(tmp_path):
    """The no-change floor: `version --short` is asked once per plugin binary (path, size,
    mtime); a replaced binary is asked again, check mode keeps nothing."""
    plugin = tmp_path / "docker-compose"
    plugin.write_text("#!/bin/sh\n")
    st = stack("2.40.3", str(plugin))
    st.module = _Module()
    assert st.cached_version() is None
    st._keep_version("2.40.3-3\n")  # pylint: disable=protected-access
    assert st.cached_version() == (2, 40, 3)
    plugin.write_text("#!/bin/sh\n# another build\n")
    assert st.cached_version() is None
    st.module.check_mode = True
    st._keep_version("2.26.1\n")  # pylint: disable=protected-access
    assert st.cached_version() is None
    st.compose_plugin = None  # through the docker CLI: which plugin it runs is not known here
    assert st.cached_version() is None


def test_digest_pinned_image_needs_no_inspect(monkeypatch):
    """The no-change floor: a digest-pinned image is found in the GET /images/json listing by its
    RepoDigests, not by one `docker image inspect` process per image. Not recorded (no image here
    has a registry digest): the RepoDigests entries are transcribed from the RepoDigests example of
    the Engine API's ImageSummary (moby api/swagger.yaml); the Id and tags are made up."""
    item = {"Id": "sha256:ec3f0931a6e6b6855d76b2d7b0be30e81860baccd891b2e243280bf1cd8ad710",
            "RepoTags": ["example:1.0", "example:latest"],
            "RepoDigests": ["example@sha256:afcc7f1ac1b49db317a7196c902e61c6c3c4607d63599ee1a82d702d249a0ccb",
                            "internal.registry.example.com:5000/example@sha256:"
                            "b69959407d21e8a062e0416bf13405bb2b71ed7a84dde4158ebafacfa06f5578"]}
    listing = c.images_from_api([item])
    monkeypatch.setattr(c.subprocess, "Popen", _no_spawn)
    st = stack("2.40.3")
    refs = ["docker.io/library/example:1.0@sha256:afcc7f1ac1b49db317a7196c902e61c6c3c4607d63599ee1a82d702d249a0ccb",
            "internal.registry.example.com:5000/example@sha256:"
            "b69959407d21e8a062e0416bf13405bb2b71ed7a84dde4158ebafacfa06f5578", "example:1.0"]
    assert st.image_ids(refs, listing) == {r: item["Id"] for r in refs}


@pytest.mark.parametrize("version", VERSIONS)
def test_an_empty_image_label_is_recreated(version):
    """Point 6: mustRecreate compares the container's com.docker.compose.image label with the
    digest `up` puts on the service (convergence.go mustRecreate@v2.26.1 and @v2.40.3:
    `actual.Labels[api.ImageDigestLabel] != expected.CustomLabels[api.ImageDigestLabel]`; the
    digest set from the local image, build.go ensureImagesExists / getLocalImagesDigests at both
    tags): a container without it (an older Compose, or created by hand) is recreated. Before, an
    empty label skipped the comparison: nothing was planned."""
    st = state(version)
    containers = [dict(x, image_id="") if x["service"] == "data" else x for x in st["containers"]]
    result = c.plan(st["config"], labels(st), containers, image(version), st["selected"], project="cstrefs",
                    version=st["version"], networks=st["networks"], volumes=st["volumes"])
    assert result["services"] == {"app": [], "data": ["recreate"], "side": []}


@pytest.mark.parametrize("version", VERSIONS)
def test_a_service_scaled_to_zero_keeps_the_fast_path(version, monkeypatch):
    """Point 6: a selected service with 0 replicas has no container to carry a hash, and needs
    none (ensureService@v2.26.1 / @v2.40.3 creates `expected - actual` containers: none). Before,
    its missing container sent every run to `config --hash` (a second Compose process)."""
    st = state(version)
    config = json.loads(json.dumps(st["config"]))
    config["services"]["spare"] = dict(config["services"]["data"], deploy={"replicas": 0})
    config["services"]["scaled"] = dict(config["services"]["data"])
    monkeypatch.setattr(c.subprocess, "Popen", _no_spawn)
    selected = st["selected"] + ["scaled", "spare"]
    hashes = stack(version).hashes(config, {}, st["containers"], selected, scale={"scaled": 0})
    assert {n: hashes[n] for n in labels(st)} == labels(st)
    result = c.plan(config, hashes, st["containers"], image(version), selected, project="cstrefs", scale={"scaled": 0},
                    version=st["version"], networks=st["networks"], volumes=st["volumes"])
    assert result["services"] == {"app": [], "data": [], "side": [], "scaled": [], "spare": []}

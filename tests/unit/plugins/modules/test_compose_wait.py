"""compose_stack's wait through Compose's own ``up --wait --wait-timeout`` (issue 27, item 3).

What is decided here, and why, is in docs/compose_stack_wait.md (read in docker/compose
pkg/compose/start.go, convergence.go and cmd/compose/up.go at v2.26.1 and v2.40.3, and
service_containers.go / start.go at v5.6.0). The driver cases replay the docker CLI with the
recorded outputs of test_compose_stack (Docker 20.10.24, Compose 2.40.3); the Compose failure
lines are the ones recorded from the real Compose 2.26.1 and 2.40.3 (fixtures/compose/wait/).
"""
from __future__ import annotations

import os

import pytest

from ansible_collections.colab.cluster.plugins.module_utils import _compose as c
from tests.unit.plugins.modules.test_compose_stack import FakeCLI, FakeModule, fixture

WAIT_FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "compose", "wait")


def _config(**services):
    return {"services": {name: dict({"image": "colab/compose-test:1"}, **svc) for name, svc in services.items()}}


def _done(name):
    return {"depends_on": {name: {"condition": "service_completed_successfully", "required": True}}}


# --- which up gets --wait ------------------------------------------------------------------------
def test_compose_waits_for_the_up_and_its_dependencies():
    config = _config(db={}, web={"depends_on": {"db": {"condition": "service_started", "required": True}}}, other={})
    assert c.compose_wait(config, ["web"], True, (2, 40, 3)) == ["db", "web"]
    # --no-deps: Compose disables the dependencies and does not wait for them
    assert c.compose_wait(config, ["web"], False, (2, 40, 3)) == ["web"]


def test_compose_does_not_wait_for_a_service_scaled_to_zero():
    config = _config(app={}, spare={"deploy": {"replicas": 0}})
    assert c.compose_wait(config, ["app", "spare"], True, (2, 26, 1)) == ["app"]
    assert c.compose_wait(config, ["app"], True, (2, 26, 1), scale={"app": 0}) == []


def test_one_shot_without_its_waiter_in_the_up_is_left_to_the_module():
    """getDependencyCondition looks at the up's project only: `up --wait init` expects init running
    and fails on its exit 0, which this module accepts (its dependent waits for that exit)."""
    config = _config(init={"command": ["true"]}, web=_done("init"))
    assert c.compose_wait(config, ["init"], True, (2, 40, 3)) is None
    assert c.compose_wait(config, ["init", "web"], True, (2, 40, 3)) == ["init", "web"]
    assert c.compose_wait(config, ["web"], True, (2, 40, 3)) == ["init", "web"]
    assert c.compose_wait(config, ["web"], False, (2, 40, 3)) == ["web"]


@pytest.mark.parametrize("check", [{"disable": True}, {"test": ["NONE"]}])
def test_disabled_healthcheck_waits_through_compose_from_5_0_2(check):
    config = _config(app={"healthcheck": check})
    assert c.compose_wait(config, ["app"], True, (2, 26, 1)) is None
    assert c.compose_wait(config, ["app"], True, (2, 40, 3)) is None
    assert c.compose_wait(config, ["app"], True, (5, 0, 1)) is None
    assert c.compose_wait(config, ["app"], True, (5, 0, 2)) == ["app"]
    assert c.compose_wait(config, ["app"], True, (5, 6, 0)) == ["app"]
    assert c.compose_wait(_config(app={"healthcheck": {"test": ["CMD", "true"]}}), ["app"], True, (2, 26, 1)) == ["app"]


# --- the argv ------------------------------------------------------------------------------------
def _ups(cli):
    return [call.args for call in cli.calls if "up" in call.args]


class WaitCLI(FakeCLI):
    """FakeCLI whose `up` answers as given, and whose ps shows the containers as given."""

    up_result = (0, "", "")
    ps_text = None

    def __init__(self, args, **kwargs):
        super().__init__(args, **kwargs)
        if "up" in args:
            self.returncode, self.out, self.err = WaitCLI.up_result
        elif args[1] == "ps" and WaitCLI.ps_text is not None:
            self.out = WaitCLI.ps_text
        elif args[1] == "logs":
            self.out = "side says fixture-secret-value is wrong\n"


@pytest.fixture(name="wcli")
def wcli_fixture(monkeypatch):
    WaitCLI.calls = []
    FakeCLI.calls = WaitCLI.calls
    WaitCLI.up_result, WaitCLI.ps_text = (0, "", ""), None
    monkeypatch.setattr(c.subprocess, "Popen", WaitCLI)
    monkeypatch.setattr(c, "local_socket", lambda env: None)
    return WaitCLI


def _stack(tmp_path, **params):
    compose = tmp_path / "compose.yaml"
    compose.write_text("{}")
    return c.ComposeStack(FakeModule(tmp_path, files=[str(compose)], **params))


def test_up_runs_with_compose_wait_and_its_timeout(tmp_path, wcli):
    result = _stack(tmp_path, wait=True, wait_timeout=17).apply()
    ups = _ups(wcli)
    assert len(ups) == 1 and ups[0][-6:] == ["up", "-d", "--wait", "--wait-timeout", "17", "side"]
    assert result["commands"][0][-6:] == ups[0][-6:]
    assert result["changed"] and result["services"]["side"]["health"] == "healthy"


def test_check_mode_predicts_the_up_with_wait(tmp_path, wcli):
    result = _stack(tmp_path, check_mode=True, wait=True).apply()
    assert "--wait" in result["commands"][0] and _ups(wcli) == []


def test_no_wait_no_compose_wait(tmp_path, wcli):
    _stack(tmp_path).apply()
    assert "--wait" not in _ups(wcli)[0]


def test_up_with_wait_gets_wait_timeout_on_top_of_apply_timeout(tmp_path, wcli, monkeypatch):
    seen = []
    real = c.ComposeStack._start

    def spy(self, args, stdin=None, apply=False, extra=0):
        handle = real(self, args, stdin, apply, extra)
        seen.append((args, handle[3] - c.time.monotonic()))
        return handle
    monkeypatch.setattr(c.ComposeStack, "_start", spy)
    _stack(tmp_path, wait=True, wait_timeout=40, apply_timeout=10).apply()
    budget = [left for args, left in seen if "up" in args][0]
    assert 49 < budget <= 50


def test_compose_wait_failure_fails_with_the_module_message_and_logs(tmp_path, wcli):
    """Compose said no: the failure names the service, quotes Compose, attaches the (redacted) log
    lines and says what was applied; no waiting on for wait_timeout after Compose's verdict."""
    wcli.up_result = (1, "", fixture_wait("2.40.3", "unhealthy.stderr").replace("w27exp-app-1", "cstp-side-1"))
    wcli.ps_text = fixture("ps.txt").replace("Up 14 seconds (healthy)\tside", "Up 14 seconds (unhealthy)\tside")
    started = c.time.monotonic()
    with pytest.raises(c.ComposeError) as err:
        _stack(tmp_path, wait=True, wait_timeout=60).apply()
    assert c.time.monotonic() - started < 5
    msg = str(err.value)
    assert "service side did not become healthy: it is running (Up 14 seconds (unhealthy))" in msg
    assert "Compose: container cstp-side-1 is unhealthy" in msg
    assert "fixture-secret-value" not in msg and err.value.details["logs"] == ["side says %s is wrong" % c.MASK]
    assert err.value.details["changed"] is True and err.value.details["actions"] == ["side recreate"]


def test_other_up_failure_stays_an_up_failure(tmp_path, wcli):
    wcli.up_result = (1, "", "Error response from daemon: driver failed programming external connectivity")
    with pytest.raises(c.ComposeError, match=r"'docker compose .* up -d --wait .*' failed \(rc=1\): Error response"):
        _stack(tmp_path, wait=True).apply()


def test_compose_timeout_success_is_checked_again(tmp_path, wcli):
    """Compose before 5.6.0 returns 0 when its --wait-timeout runs out (waitDependencies returns nil
    on ctx.Done): the module's own check still fails the service that is still starting."""
    wcli.ps_text = fixture("ps.txt").replace("Up 14 seconds (healthy)\tside", "Up 14 seconds (health: starting)\tside")
    with pytest.raises(c.ComposeError, match="service side did not become healthy within wait_timeout=1s"):
        _stack(tmp_path, wait=True, wait_timeout=1).apply()


# --- the module's own check (no up, or what Compose did not wait for) ---------------------------
def _bare(wait_timeout, containers_seq):
    st = object.__new__(c.ComposeStack)
    st.p, st.docker, st.secrets = {"wait_timeout": wait_timeout, "scale": None}, "/usr/bin/docker", []
    st.run = lambda *a, **k: (0, "log line\n", "")
    seq = list(containers_seq)
    st.read_containers = lambda: seq.pop(0) if len(seq) > 1 else seq[0]
    return st


def _ctr(state, status, health):
    return {"id": "1" * 64, "service": "app", "state": state, "status": status, "health": health, "exit_code": None}


def test_unhealthy_fails_at_once_as_compose_does(monkeypatch):
    """Compose's --wait (and its service_healthy dependencies) fail at once on unhealthy
    (isServiceHealthy@v2.26.1 / @v2.40.3 / @v5.6.0); so does the check without an up now."""
    monkeypatch.setattr(c.time, "sleep", lambda s: pytest.fail("waited on an unhealthy container"))
    st = _bare(60, [[]])
    with pytest.raises(c.ComposeError, match=r"service app did not become healthy: it is running \(Up 3 s \(unhealthy\)\)"):
        st.wait(_config(app={}), ["app"], [_ctr("running", "Up 3 s (unhealthy)", "unhealthy")])


def test_starting_is_waited_on_until_healthy(monkeypatch):
    monkeypatch.setattr(c.time, "sleep", lambda s: None)
    healthy = [_ctr("running", "Up 5 s (healthy)", "healthy")]
    st = _bare(60, [healthy])
    assert st.wait(_config(app={}), ["app"], [_ctr("running", "Up 1 s (health: starting)", "starting")]) == healthy


def fixture_wait(version, name):
    with open(os.path.join(WAIT_FIXTURES, version, name), encoding="utf-8") as handle:
        return handle.read()


# --- what Compose prints when its wait fails (recorded) -----------------------------------------
FAILURES = {
    "starting-past-timeout": "application not healthy after 5s",
    "unhealthy": "container w27exp-app-1 is unhealthy",
    "exits-3": "container w27exp-app-1 exited (3)",
    "oneshot-alone": "container w27exp-init-1 exited (0)",
    "oneshot-fails-dependent": 'service "init" didn\'t complete successfully: exit 4',
    "healthcheck-disabled": "container w27exp-app-1 has no healthcheck configured",
}


@pytest.mark.parametrize("version", ["2.26.1", "2.40.3"])
@pytest.mark.parametrize("case", sorted(FAILURES) + ["oneshot-dependent"])
def test_recorded_compose_wait_outcomes(version, case):
    rc = int(fixture_wait(version, case + ".rc"))
    said = c.compose_wait_failure(fixture_wait(version, case + ".stderr"))
    if case == "oneshot-dependent":
        assert rc == 0 and said == []
    else:
        assert rc == 1 and said == [FAILURES[case]]


def test_recorded_cases_match_the_decision():
    """The two recorded cases where Compose's verdict differs from this module's are the ones
    compose_wait keeps away from --wait (the exit 0 of a one-shot, a disabled healthcheck)."""
    oneshot = _config(init={"command": ["sh", "-c", "sleep 1"]})
    assert c.compose_wait(oneshot, ["init"], True, (2, 40, 3)) == ["init"]  # alone: nothing waits for it
    disabled = _config(app={"healthcheck": {"disable": True}})
    assert c.compose_wait(disabled, ["app"], True, (2, 26, 1)) is None

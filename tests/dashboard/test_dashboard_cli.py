"""`queuectl dashboard` as a real subprocess: binding rules, token, start-up message."""

from __future__ import annotations

import httpx
import pytest

from tests.dashboard.conftest import free_port


def test_non_local_bind_without_token_is_refused(cli):
    res = cli("dashboard", "--host", "0.0.0.0", "--port", "1")
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: refusing to serve")
    assert "--token" in lines[0] and "QUEUECTL_DASHBOARD_TOKEN" in lines[0]


def test_token_and_no_auth_together_are_a_usage_error(cli):
    res = cli("dashboard", "--token", "x", "--no-auth")
    assert res.returncode == 2 and res.stderr.count("\n") == 1


def test_bad_port_is_a_usage_error(cli):
    res = cli("dashboard", "--port", "70000")
    assert res.returncode == 2 and "--port" in res.stderr and res.stderr.count("\n") == 1


def test_non_local_bind_with_token_from_the_environment(serve, clean):
    server = serve(host="0.0.0.0", token="t0k",
                   extra_env={"QUEUECTL_DASHBOARD_TOKEN": "t0k"})
    assert "token required" in server.output()
    assert httpx.get(server.url + "/api/overview").status_code == 401
    ok = httpx.get(server.url + "/api/overview", headers={"Authorization": "Bearer t0k"})
    assert ok.status_code == 200 and ok.json()["total"] == 0


def test_no_auth_warns_at_start_up(serve, clean):
    server = serve("--no-auth", host="0.0.0.0")
    assert "WARNING: --no-auth" in server.output()
    assert httpx.get(server.url + "/api/config").status_code == 200


def test_local_bind_needs_no_token(serve, clean):
    server = serve()
    assert "local connections only" in server.output()
    assert httpx.get(server.url + "/api/health").json() == {"ok": True}


def test_starts_and_serves_a_banner_when_the_database_is_down(serve):
    server = serve(global_args=("--database-url", "postgresql://postgres@127.0.0.1:1/none"))
    assert "warning: cannot connect" in server.output()
    res = httpx.get(server.url + "/api/overview")
    assert res.status_code == 503 and "cannot connect" in res.json()["error"]
    assert httpx.get(server.url + "/").status_code == 200
    assert server.proc.poll() is None


@pytest.mark.parametrize(("args", "extra_env", "says"), [
    (["--token", ""], {}, "--token is empty"),
    (["--token", ""], {"QUEUECTL_DASHBOARD_TOKEN": "t0k"}, "--token is empty"),
    ([], {"QUEUECTL_DASHBOARD_TOKEN": ""}, "QUEUECTL_DASHBOARD_TOKEN is set but empty"),
], ids=["option", "option-over-variable", "variable"])
def test_an_empty_token_is_refused_not_taken_for_no_token(cli, args, extra_env, says):
    # Before, an empty token meant none: the dashboard started, open to anyone local.
    res = cli("dashboard", "--port", str(free_port()), *args, extra_env=extra_env, timeout=30)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {says}"), res.stderr


def test_a_loopback_dashboard_with_a_token_still_refuses_foreign_host_headers(serve, clean):
    server = serve("--token", "t0k", token="t0k")
    port = server.url.rsplit(":", 1)[1]
    bearer = {"Authorization": "Bearer t0k"}
    # A page on another site rebinding its name to 127.0.0.1 sends its own Host header.
    rebound = httpx.get(server.url + "/api/overview", headers={**bearer, "Host": "evil.example"})
    assert rebound.status_code == 421
    for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
        ok = httpx.get(server.url + "/api/overview", headers={**bearer, "Host": host})
        assert ok.status_code == 200, host
    assert httpx.get(server.url + "/api/overview").status_code == 401

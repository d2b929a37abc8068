"""The Docker files, checked without a Docker engine: hadolint, the compose specification, and
the promises the README makes about the stack (non-root image, healthchecks, ports)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    """A tool from this virtualenv (the test extras ship them), else from PATH."""
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed; pip install -e '.[test]'")
    return found


@pytest.fixture(scope="module")
def compose() -> dict:
    """docker-compose.yml, parsed."""
    return YAML(typ="safe").load((ROOT / "docker-compose.yml").read_text())


def test_hadolint_passes_clean() -> None:
    proc = subprocess.run([tool("hadolint"), "--no-color", "Dockerfile"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_compose_file_matches_the_compose_specification() -> None:
    proc = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
         "docker-compose.yml"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_database_is_postgres_16_with_a_named_volume_and_healthcheck(compose: dict) -> None:
    db = compose["services"]["db"]
    assert db["image"].startswith("postgres:16")
    assert "pgdata" in compose["volumes"]
    assert any(v.startswith("pgdata:") for v in db["volumes"])
    check = " ".join(db["healthcheck"]["test"])
    # Over TCP: the first-start init server listens on the Unix socket only.
    assert "pg_isready" in check and "-h 127.0.0.1" in check


def test_app_waits_for_healthy_db_and_publishes_the_dashboard_on_localhost(compose: dict) -> None:
    app = compose["services"]["app"]
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert [p.split(":", 1)[0] for p in app["ports"]] == ["127.0.0.1"]
    assert app["ports"][0].endswith(":3000")
    assert "healthcheck" in app
    assert app["environment"]["QUEUECTL_DASHBOARD_TOKEN"]  # --host 0.0.0.0 refuses without one


def test_app_main_process_stops_on_sigterm(compose: dict) -> None:
    # An interactive bash as the main process ignores SIGTERM: every stop waited 10 s.
    app = compose["services"]["app"]
    assert app["command"] == ["sleep", "infinity"] and app["init"] is True


def test_the_image_is_built_once(compose: dict) -> None:
    services = compose["services"]
    assert [name for name, s in services.items() if "build" in s] == ["app"]
    assert services["worker"]["image"] == services["app"]["image"]
    assert services["worker"]["pull_policy"] == "never"


def test_the_password_never_goes_into_a_url(compose: dict) -> None:
    for name in ("app", "worker"):
        env = compose["services"][name]["environment"]
        assert env["PGPASSWORD"] == "${POSTGRES_PASSWORD:-queuectl-local}"
        urls = [v for k, v in env.items() if k.endswith("DATABASE_URL")]
        assert urls and not any("PASSWORD" in url for url in urls)


def test_the_prepared_statements_switch_passes_through(compose: dict) -> None:
    for name in ("app", "worker"):
        env = compose["services"][name]["environment"]
        assert env["QUEUECTL_PREPARED_STATEMENTS"] == "${QUEUECTL_PREPARED_STATEMENTS:-off}"


def test_worker_runs_in_the_foreground_and_can_scale(compose: dict) -> None:
    worker = compose["services"]["worker"]
    assert worker["command"][:3] == ["queuectl", "worker", "start"]
    assert "--daemon" not in worker["command"]
    assert worker["depends_on"]["db"]["condition"] == "service_healthy"
    # Fixed names or host ports would stop `--scale worker=3`.
    assert "container_name" not in worker and "ports" not in worker


def test_credentials_come_from_env_with_local_defaults(compose: dict) -> None:
    if not (ROOT / ".env").exists() and Path("/.dockerenv").exists():
        pytest.skip(".env is not in the image (.dockerignore keeps local secrets out)")
    env = dict(line.split("=", 1) for line in (ROOT / ".env").read_text().splitlines()
               if line and not line.startswith("#"))
    assert {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"} <= set(env)
    assert env.get("QUEUECTL_DASHBOARD_TOKEN")
    assert "${POSTGRES_PASSWORD" in compose["services"]["db"]["environment"]["POSTGRES_PASSWORD"]


def test_dockerfile_essentials() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in text
    assert "requirements.lock" in text
    user = [line.split()[1] for line in text.splitlines() if line.startswith("USER ")]
    assert user and not user[-1].startswith(("root", "0"))
    assert "--show-completion bash" in text
    assert 'ENTRYPOINT ["/app/docker/entrypoint.sh"]' in text
    assert 'CMD ["bash"]' in text


def test_dockerignore_keeps_local_state_and_secrets_out() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".queuectl", ".env"} <= ignored
    assert "tests" not in ignored  # ./verify.sh runs inside the app container

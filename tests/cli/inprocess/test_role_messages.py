"""A wrong or under-privileged role: one line that names the user's own database (in process)."""

import uuid

import psycopg
from sqlalchemy.engine import make_url


def test_an_unknown_role_names_the_users_database(cli, db_url):
    url = make_url(db_url).set(username=f"nobody_{uuid.uuid4().hex[:8]}")
    result = cli("status", extra_env={"QUEUECTL_DATABASE_URL": url.render_as_string(False)})
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert f"/{url.database} (URL from QUEUECTL_DATABASE_URL)" in result.stderr
    # A trust server says the role does not exist; one that checks passwords says only that
    # authentication failed (it does not tell which roles exist).
    assert ("does not exist" in result.stderr
            or "password authentication failed" in result.stderr), result.stderr
    assert "engine URL" not in result.stderr


def test_a_role_without_privileges_is_one_line(cli, db_url):
    role = f"weak_{uuid.uuid4().hex[:8]}"
    admin = make_url(db_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD 'weak-pw'")
    try:
        url = make_url(db_url).set(username=role, password="weak-pw").render_as_string(False)
        result = cli("status", extra_env={"QUEUECTL_DATABASE_URL": url})
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
        assert f"role '{role}' may not use the queuectl tables" in result.stderr
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP ROLE "{role}"')

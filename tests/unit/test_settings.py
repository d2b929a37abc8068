"""Where the database URL comes from, and what a bad one says."""

import pytest

from queuectl import db, errors, settings


@pytest.fixture(autouse=True)
def _no_env(monkeypatch, tmp_path):
    for name in ("QUEUECTL_DATABASE_URL", "DATABASE_URL", "PGDATABASE",
                 "QUEUECTL_PREPARED_STATEMENTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def write_client_file(tmp_path, text):
    path = tmp_path / "xdg" / "queuectl" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_precedence(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://d@h3/x3")
    assert db.sa_url(settings.resolve_database()).host == "h3"
    monkeypatch.setenv("QUEUECTL_DATABASE_URL", "postgresql://q@h2/x2")
    target = settings.resolve_database()
    assert (db.sa_url(target).host, target.source) == ("h2", "QUEUECTL_DATABASE_URL")
    target = settings.resolve_database("postgres://c@h1:6543/x1")
    url = db.sa_url(target)
    assert (url.host, url.port, target.source) == ("h1", 6543, "--database-url")
    assert db.sa_url(target).drivername == "postgresql+psycopg"


def test_client_file_comes_after_the_environment_and_before_libpq(monkeypatch, tmp_path):
    path = write_client_file(tmp_path, '# from start.sh\ndatabase_url = "postgresql://f@h4:5433/x4"\n')
    assert settings.client_file() == path
    target = settings.resolve_database()
    # The file of earlier versions (one top-level database_url) is the context `default`.
    assert (target.where, target.source) == ("h4:5433/x4", f"context default in {path}")
    assert target.context == "default"
    monkeypatch.setenv("DATABASE_URL", "postgresql://d@h3/x3")
    assert settings.resolve_database().source == "DATABASE_URL"
    monkeypatch.setenv("QUEUECTL_DATABASE_URL", "postgresql://q@h2/x2")
    assert settings.resolve_database().source == "QUEUECTL_DATABASE_URL"
    assert settings.resolve_database("postgresql://c@h1/x1").source == "--database-url"


def test_a_client_file_that_names_no_queue_never_falls_through_to_libpq(tmp_path):
    path = write_client_file(tmp_path, "# nothing recorded\n")
    with pytest.raises(errors.DatabaseUnavailable) as info:
        settings.resolve_database()
    assert f"{path} names no current queue" in str(info.value)
    assert settings.resolve_database(context="libpq").source.startswith("libpq defaults")


@pytest.mark.parametrize(("text", "needle"), [
    ("database_url = ", "is not valid TOML"),
    ("database_url = 5", "database_url must be a string"),
    ('database_url = "mysql://x@y/z"', "unsupported database URL scheme 'mysql'"),
])
def test_bad_client_file_is_one_clear_error(tmp_path, text, needle):
    path = write_client_file(tmp_path, text)
    with pytest.raises(errors.DatabaseUnavailable) as info:
        settings.resolve_database()
    assert needle in str(info.value) and str(path) in str(info.value)
    assert info.value.exit_code == 2


def test_where_never_shows_a_password():
    target = settings.resolve_database("postgresql://u:s3cret@db.example:6432/q?sslmode=require")
    assert target.where == "db.example:6432/q"
    assert target.conninfo == "postgresql://u:s3cret@db.example:6432/q?sslmode=require"
    assert db.sa_url(target).password == "s3cret"  # SQLAlchemy's view of the same URL


def test_libpq_defaults(monkeypatch):
    target = settings.resolve_database()
    assert db.sa_url(target).database == "queuectl" and db.sa_url(target).host is None
    monkeypatch.setenv("PGHOST", "dbhost")
    monkeypatch.setenv("PGPORT", "6000")
    assert settings.resolve_database().where == "dbhost:6000/queuectl"


@pytest.mark.parametrize("url", ["mysql://root@localhost/x", "::::", "sqlite:///x.db"])
def test_bad_urls(url):
    with pytest.raises(errors.DatabaseUnavailable) as info:
        settings.resolve_database(url)
    assert "postgresql://" in str(info.value)
    assert info.value.exit_code == 2


def test_auto_migrate_switch(monkeypatch):
    assert settings.auto_migrate()
    monkeypatch.setenv("QUEUECTL_AUTO_MIGRATE", "0")
    assert not settings.auto_migrate()


def test_prepared_statements_switch_is_removed_from_the_url():
    target = settings.resolve_database("postgresql://u@h/x?sslmode=disable")
    assert not target.prepared_statements
    target = settings.resolve_database(
        "postgresql://u@h/x?prepared_statements=ON&sslmode=disable")
    assert target.prepared_statements
    assert dict(db.sa_url(target).query) == {"sslmode": "disable"}  # libpq never sees it
    again = settings.resolve_database(target.render())
    assert again.prepared_statements and db.sa_url(again) == db.sa_url(target)
    off = settings.resolve_database("postgresql://u@h/x?prepared_statements=off")
    assert not off.prepared_statements and "prepared" not in off.render()


@pytest.mark.parametrize("env, url, expected", [
    ("on", "postgresql://u@h/x", True),
    ("OFF", "postgresql://u@h/x", False),
    ("", "postgresql://u@h/x", False),
    ("on", "postgresql://u@h/x?prepared_statements=off", False),  # the URL wins
    ("off", "postgresql://u@h/x?sslmode=disable&prepared_statements=on", True),
])
def test_prepared_statements_variable_is_the_default_the_url_overrides(
        monkeypatch, env, url, expected):
    monkeypatch.setenv("QUEUECTL_PREPARED_STATEMENTS", env)
    target = settings.resolve_database(url)
    assert target.prepared_statements is expected
    assert "prepared" not in db.sa_url(target).render_as_string()
    # Another process handed the URL (with the same environment) resolves the same switch.
    assert settings.resolve_database(target.render()).prepared_statements is expected


def test_prepared_statements_variable_applies_to_the_libpq_defaults(monkeypatch):
    monkeypatch.setenv("QUEUECTL_PREPARED_STATEMENTS", "on")
    assert settings.resolve_database().prepared_statements


@pytest.mark.parametrize("value", ["maybe", "on,off"])
def test_bad_prepared_statements_variable(monkeypatch, value):
    monkeypatch.setenv("QUEUECTL_PREPARED_STATEMENTS", value)
    with pytest.raises(errors.DatabaseUnavailable) as info:
        settings.resolve_database("postgresql://u@h/x")
    assert str(info.value) == f"invalid QUEUECTL_PREPARED_STATEMENTS={value!r}: use on or off"


@pytest.mark.parametrize("query", ["prepared_statements=maybe",
                                   "prepared_statements=on&prepared_statements=off"])
def test_bad_prepared_statements_switch(query):
    with pytest.raises(errors.DatabaseUnavailable) as info:
        settings.resolve_database(f"postgresql://u@h/x?{query}")
    assert "prepared_statements" in str(info.value) and "on or off" in str(info.value)

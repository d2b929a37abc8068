"""Where the database URL comes from, and what a bad one says."""

import pytest

from queuectl import errors, settings


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    for name in ("QUEUECTL_DATABASE_URL", "DATABASE_URL", "PGDATABASE"):
        monkeypatch.delenv(name, raising=False)


def test_precedence(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://d@h3/x3")
    assert settings.resolve_database().url.host == "h3"
    monkeypatch.setenv("QUEUECTL_DATABASE_URL", "postgresql://q@h2/x2")
    target = settings.resolve_database()
    assert (target.url.host, target.source) == ("h2", "QUEUECTL_DATABASE_URL")
    target = settings.resolve_database("postgres://c@h1:6543/x1")
    assert (target.url.host, target.url.port, target.source) == ("h1", 6543, "--database-url")
    assert target.url.drivername == "postgresql+psycopg"


def test_libpq_defaults(monkeypatch):
    target = settings.resolve_database()
    assert target.url.database == "queuectl" and target.url.host is None
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
    assert dict(target.url.query) == {"sslmode": "disable"}  # libpq never sees it
    again = settings.resolve_database(target.render())
    assert again.prepared_statements and again.url == target.url
    off = settings.resolve_database("postgresql://u@h/x?prepared_statements=off")
    assert not off.prepared_statements and "prepared" not in off.render()


@pytest.mark.parametrize("query", ["prepared_statements=maybe",
                                   "prepared_statements=on&prepared_statements=off"])
def test_bad_prepared_statements_switch(query):
    with pytest.raises(errors.DatabaseUnavailable) as info:
        settings.resolve_database(f"postgresql://u@h/x?{query}")
    assert "prepared_statements" in str(info.value) and "on or off" in str(info.value)

"""Multi-host URLs (libpq's comma lists and `host=`/`port=` parameters): what queuectl reads
from them agrees with libpq, and every message names the hosts as given."""

import pytest
from psycopg.conninfo import conninfo_to_dict

from queuectl import db, settings

URLS = [
    "postgresql://app@db1:5432,db2:5432,db3:5432/queuectl?target_session_attrs=read-write",
    "postgresql://app:pw%40x@db1,db2:6432/q?connect_timeout=3&sslmode=prefer",
    "postgresql://app@/queuectl?host=db1,db2,db3&port=5432,5433,5434",
    "postgresql://app@/queuectl?host=db1,db2&port=6000",
    "postgresql://u@[::1]:5433,db2/q",
    "postgresql://u@%2Ftmp:5433/q",
    "postgresql:///q?host=/var/run/postgresql",
    "postgresql://u@a:1/db?port=7",
    "postgresql://a/db?dbname=other",
    "postgresql://a/db?hostaddr=10.0.0.9",
]


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    for name in ("PGHOST", "PGPORT", "PGHOSTADDR", "PGDATABASE"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("url", URLS)
def test_parameters_are_what_libpq_reads(url):
    assert settings.resolve_database(url).params == conninfo_to_dict(url)


@pytest.mark.parametrize(("url", "where"), [
    (URLS[0], "db1:5432,db2:5432,db3:5432/queuectl"),
    (URLS[1], "db1:5432,db2:6432/q"),
    (URLS[2], "db1:5432,db2:5433,db3:5434/queuectl"),
    (URLS[3], "db1:6000,db2:6000/queuectl"),
    (URLS[4], "[::1]:5433,db2:5432/q"),
    (URLS[7], "a:7/db"),
    (URLS[8], "a:5432/other"),
])
def test_where_names_every_host_as_given(url, where):
    target = settings.resolve_database(url)
    assert target.where == where
    assert "pw" not in target.where and "127.0.0.1" not in target.where


@pytest.mark.parametrize("url", URLS)
def test_render_and_with_database_keep_every_host_and_parameter(url):
    target = settings.resolve_database(url)
    again = settings.resolve_database(target.render())
    assert again.params == target.params
    other = target.with_database("postgres").params
    assert other == {**target.params, "dbname": "postgres"}


def test_sqlalchemy_is_never_handed_the_host_list():
    target = settings.resolve_database(URLS[0])
    url = db.sa_url(target)  # SQLAlchemy's parser raised ValueError on the comma list
    assert (url.drivername, url.username, url.database, url.host) == (
        "postgresql+psycopg", "app", "queuectl", None)
    engine = db.create_engine(target)
    try:
        assert db.target_of(engine).where == "db1:5432,db2:5432,db3:5432/queuectl"
    finally:
        engine.dispose()

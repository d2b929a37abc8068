"""Migrations: upgrade, downgrade, upgrade on an empty database; the schema matches models."""

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from queuectl import db, settings
from queuectl.db import migrate, models
from tests.conftest import create_database, drop_database


def _config(conn):
    cfg = Config()
    cfg.set_main_option("script_location", str(migrate.script_location()))
    cfg.attributes["connection"] = conn
    return cfg


def test_head_constant_matches_scripts():
    cfg = Config()
    cfg.set_main_option("script_location", str(migrate.script_location()))
    assert ScriptDirectory.from_config(cfg).get_current_head() == models.SCHEMA_HEAD


def test_upgrade_downgrade_upgrade_and_check(pg_server, template_db):
    url = create_database(pg_server, "template0", "migrations")
    try:
        engine = db.create_engine(settings.resolve_database(url))
        assert migrate.migrate(engine) == models.SCHEMA_HEAD
        with engine.connect() as conn:
            command.downgrade(_config(conn), "base")
            conn.commit()
            tables = set(sa.inspect(conn).get_table_names())
            assert tables <= {"alembic_version"}
            command.upgrade(_config(conn), "head")
            conn.commit()
            command.check(_config(conn))  # raises if models and migrations disagree
        engine.dispose()
    finally:
        drop_database(pg_server, url)


def test_concurrent_first_runs_do_not_race(pg_server, template_db):
    import threading

    url = create_database(pg_server, "template0", "migrate_race")
    try:
        engines = [db.create_engine(settings.resolve_database(url)) for _ in range(4)]
        failures = []

        def run(e):
            try:
                migrate.ensure_schema(e)
            except Exception as exc:  # collect for the assertion below
                failures.append(exc)

        threads = [threading.Thread(target=run, args=(e,)) for e in engines]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == []
        with engines[0].connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() \
                == models.SCHEMA_HEAD
        for e in engines:
            e.dispose()
    finally:
        drop_database(pg_server, url)

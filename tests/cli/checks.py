"""Checks shared by the CLI tests, in process (tests/cli/inprocess) and as a subprocess."""

import sqlalchemy as sa
from sqlalchemy.engine import make_url


def snapshot(engine):
    """Everything a bad command must leave unchanged."""
    with engine.connect() as conn:
        return [conn.execute(sa.text(f"SELECT md5(coalesce(string_agg(t::text, '|' "
                                     f"ORDER BY t::text), '')) FROM {table} t")).scalar()
                for table in ("jobs", "config", "metrics")]


def one_error_line(result, code):
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr
    return lines[0]


def host_port(db_url: str) -> str:
    """`host:port` of a database URL, as `status` and `doctor` print it."""
    url = make_url(db_url)
    return f"{url.host}:{url.port or 5432}"


def userinfo(url: str) -> str:
    """`user` or `user:password` of a database URL, percent-encoded for another URL's
    authority (a testcontainers server needs its password)."""
    from urllib.parse import quote

    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    user = quote(parsed.username or "", safe="")
    return f"{user}:{quote(parsed.password, safe='')}" if parsed.password else user

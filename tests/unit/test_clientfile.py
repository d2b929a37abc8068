"""The client file's named contexts: several queues in one file, each checkout's own, written
atomically under a lock; which one a command uses, and what it says when it cannot tell."""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from queuectl import clientfile, errors, settings
from tests.conftest import ROOT


@pytest.fixture(autouse=True)
def _no_env(monkeypatch, tmp_path):
    for name in ("QUEUECTL_DATABASE_URL", "DATABASE_URL", "QUEUECTL_CONTEXT", "QUEUECTL_HOME",
                 "PGDATABASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def _record(checkout, url, base="queuectl", home=None):
    return clientfile.record(clientfile.path(), base=base, url=url, checkout=checkout, home=home)


def test_two_checkouts_keep_both_contexts_and_forget_removes_only_its_own():
    assert _record("/src/one", "postgresql://a@h1/q", base="one", home="/src/one/h") == "one"
    assert _record("/src/two", "postgresql://b@h2/q", base="two") == "two"
    parsed = clientfile.load(clientfile.path())
    assert (parsed.current, sorted(parsed.contexts)) == ("two", ["one", "two"])
    assert clientfile.forget(clientfile.path(), checkout="/src/two") == ["two"]
    parsed = clientfile.load(clientfile.path())
    assert (parsed.current, sorted(parsed.contexts)) == (None, ["one"])
    assert parsed.contexts["one"].home == "/src/one/h"
    assert os.stat(clientfile.path()).st_mode & 0o077 == 0  # URLs hold passwords


def test_two_clones_with_the_same_directory_name_get_two_contexts():
    first = _record("/a/queuectl", "postgresql://a@h1/q")
    second = _record("/b/queuectl", "postgresql://b@h2/q")
    assert first == "queuectl" and second.startswith("queuectl-") and second != first
    assert _record("/b/queuectl", "postgresql://b@h3/q") == second  # updated, not added
    contexts = clientfile.load(clientfile.path()).contexts
    assert contexts[second].database_url == "postgresql://b@h3/q" and len(contexts) == 2


def test_the_old_single_url_file_is_read_as_default_and_kept_on_the_first_write():
    path = clientfile.path()
    path.parent.mkdir(parents=True)
    path.write_text('# written by /old/start.sh\ndatabase_url = "postgresql://old@h0/q"\n')
    assert settings.resolve_database().context == "default"
    _record("/src/new", "postgresql://new@h1/q", base="new")
    data = tomllib.loads(path.read_text())
    assert data["current"] == "new" and "database_url" not in data
    assert data["contexts"]["default"]["database_url"] == "postgresql://old@h0/q"
    assert settings.resolve_database(context="default").where == "h0:5432/q"


def test_the_old_file_from_this_checkout_becomes_its_context():
    path = clientfile.path()
    path.parent.mkdir(parents=True)
    path.write_text("# written by /src/here/start.sh; ./stop.sh --purge removes it\n"
                    'database_url = "postgresql://old@h0/q"\n')
    assert clientfile.forget(path, checkout="/src/elsewhere") == []
    assert clientfile.load(path).contexts["default"].checkout == "/src/here"
    assert _record("/src/here", "postgresql://new@h1/q", base="here") == "here"
    assert sorted(clientfile.load(path).contexts) == ["here"]


def test_concurrent_writers_lose_no_context(tmp_path):
    code = ("import sys\nsys.path.insert(0, sys.argv[1])\nfrom queuectl import clientfile\n"
            "for i in range(30):\n"
            "    clientfile.record(clientfile.path(), base=f'{sys.argv[2]}{i}',"
            " url='postgresql://x@h/q', checkout=f'/{sys.argv[2]}/{i}', home=None)\n")
    procs = [subprocess.Popen([sys.executable, "-I", "-c", code, str(ROOT), who],
                              env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg")})
             for who in ("a", "b")]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    assert len(clientfile.load(clientfile.path()).contexts) == 60
    assert sorted(p.name for p in clientfile.path().parent.iterdir()) == [
        "config.toml", "config.toml.lock"]


def test_resolution_order_with_contexts(monkeypatch):
    _record("/src/one", "postgresql://a@h1/q", base="one", home="/homes/one")
    _record("/src/two", "postgresql://b@h2/q", base="two")
    assert settings.resolve_database().context == "two"  # the current one
    monkeypatch.setenv("QUEUECTL_CONTEXT", "one")
    target = settings.resolve_database()
    assert (target.context, target.where) == ("one", "h1:5432/q")
    assert settings.data_dir(target) == Path("/homes/one")  # both terminals agree
    monkeypatch.setenv("QUEUECTL_DATABASE_URL", "postgresql://e@h3/q")
    assert settings.resolve_database().source == "QUEUECTL_DATABASE_URL"
    assert settings.resolve_database(context="two").context == "two"  # the flag wins
    assert settings.resolve_database("postgresql://f@h4/q").source == "--database-url"
    with pytest.raises(errors.DatabaseUnavailable, match="not both"):
        settings.resolve_database("postgresql://f@h4/q", "two")


@pytest.mark.parametrize("how", ["flag", "env", "current"])
def test_an_unknown_context_is_one_error_listing_the_known_ones(monkeypatch, how):
    _record("/src/one", "postgresql://a@h1/q", base="one")
    _record("/src/two", "postgresql://b@h2/q", base="two")
    if how == "current":
        clientfile.update(clientfile.path(), lambda parsed: setattr(parsed, "current", "gone"))
    if how == "env":
        monkeypatch.setenv("QUEUECTL_CONTEXT", "gone")
    with pytest.raises(errors.DatabaseUnavailable) as info:
        settings.resolve_database(context="gone" if how == "flag" else None)
    assert info.value.exit_code == 2
    assert "no context 'gone'" in str(info.value) and "known: one, two" in str(info.value)


def test_a_file_whose_last_context_was_removed_never_falls_through_to_libpq():
    _record("/src/one", "postgresql://a@h1/q", base="one")
    clientfile.forget(clientfile.path(), checkout="/src/one")
    assert clientfile.path().exists()  # the file stays, so the choice stays explicit
    with pytest.raises(errors.DatabaseUnavailable, match="names no current queue"):
        settings.resolve_database()
    clientfile.use(clientfile.path(), "libpq")  # the explicit choice
    assert settings.resolve_database().source == settings.LIBPQ_DEFAULTS


def test_only_a_named_server_may_get_a_database_created(monkeypatch):
    assert not settings.resolve_database().may_create  # no client file: libpq defaults
    assert settings.resolve_database("postgresql://a@h1/q").may_create
    monkeypatch.setenv("QUEUECTL_DATABASE_URL", "postgresql://a@h1/q")
    assert settings.resolve_database().may_create


@pytest.mark.parametrize(("how", "hint"), [
    ("flag", "check the URL given with --database-url"),
    ("env", "check QUEUECTL_DATABASE_URL"),
    ("context", "is context one's server running"),
    ("libpq", "no queue is named"),
])
def test_the_connection_hint_fits_where_the_url_came_from(monkeypatch, how, hint):
    _record("/src/one", "postgresql://a@h1/q", base="one")
    if how == "env":
        monkeypatch.setenv("QUEUECTL_DATABASE_URL", "postgresql://a@h1/q")
    if how == "libpq":
        clientfile.path().unlink()
    target = settings.resolve_database("postgresql://a@h1/q" if how == "flag" else None)
    assert hint in settings.connection_hint(target)
    if how != "flag":
        assert "--database-url" not in settings.connection_hint(target) or how == "libpq"


@pytest.mark.parametrize("name", ["", "has space", "libpq", "-dash", "a" * 70])
def test_bad_context_names(name):
    with pytest.raises(errors.DatabaseUnavailable, match="invalid context name"):
        clientfile.check_name(name)

"""The README's table of dashboard routes lists every route the app serves, and no other."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from fastapi.routing import APIRoute
from starlette.routing import Mount, Route

from queuectl.dashboard import app as dashboard_app
from queuectl.dashboard import security
from tests.conftest import ROOT

_PARAM = re.compile(r"\{[^}]*\}")
_ROW = re.compile(r"^\| (GET|POST|PUT|PATCH|DELETE) \| `([^`]+)` \|", re.MULTILINE)


def served() -> list[tuple[str, str]]:
    """(method, path) of every route of the app, `{param}` names blanked."""
    # Building the app connects to nothing: an engine that could never connect will do.
    engine = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    app = dashboard_app.create_app(engine, guard=security.Guard(token=None, local_only=True))
    found = []
    for route in app.routes:
        if isinstance(route, Mount):
            found.append(("GET", route.path + "/{}"))
        elif isinstance(route, APIRoute | Route):
            found += [(m, _PARAM.sub("{}", route.path)) for m in route.methods or ()
                      if m != "HEAD"]
        else:
            pytest.fail(f"a route this test cannot read: {route!r}")
    return found


def documented() -> list[tuple[str, str]]:
    """(method, path) of every row of the README's route table (query strings dropped)."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("\n## Web dashboard\n"):]
    section = section[:section.index("\n## ", 1)]
    return [(method, _PARAM.sub("{}", path.split("?")[0]))
            for method, path in _ROW.findall(section)]


def test_the_readme_lists_every_route_of_the_dashboard_and_no_other():
    app, doc = served(), documented()
    assert len(doc) == len(set(doc)), "a route is listed twice in the README"
    missing = sorted(set(app) - set(doc))
    assert not missing, f"routes missing from the README's dashboard table: {missing}"
    extra = sorted(set(doc) - set(app))
    assert not extra, f"the README lists routes the dashboard does not serve: {extra}"


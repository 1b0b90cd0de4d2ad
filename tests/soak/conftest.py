"""Fixtures of the soak test: a PostgreSQL database and a Redis DB of its own, gunicorn on top.

The servers come from tests/servers.sh (``SESSION_EPOCH_TEST_POSTGRES_URL``,
``SESSION_EPOCH_TEST_REDIS_URL``). Without them the test is skipped locally and fails
in CI, as the rest of the suite does.
"""

from __future__ import annotations

import os
import typing as t
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import soak_servers
from soak_servers import Database, Site

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
WORKERS = 4
SOAK_USERS = 20
#: A Redis database of our own (never 0, the default everybody else uses); flushed at start and end.
REDIS_DB = 5


def pytest_configure(config: pytest.Config) -> None:
    # Registered here so that --strict-markers accepts it before setup.cfg lists it (harmless after).
    config.addinivalue_line("markers", "soak: long-running load against gunicorn and real servers")


def _unavailable(message: str) -> t.NoReturn:
    if IN_CI:
        pytest.fail(message)
    pytest.skip(reason=message)


def _server(variable: str, what: str) -> str:
    url = os.environ.get(variable)
    if not url:
        _unavailable(f"no {what} server: set {variable} (bash tests/run.sh starts one)")
    if not soak_servers.is_loopback(url):
        _unavailable(f"{variable} is not on 127.0.0.1: the soak test only talks to loopback servers")
    return url


@pytest.fixture
def soak_database_url() -> t.Iterator[str]:
    """A fresh PostgreSQL database on the test server, dropped afterwards."""
    database = Database(_server("SESSION_EPOCH_TEST_POSTGRES_URL", "postgresql"))
    try:
        yield database.url
    finally:
        database.drop()


@pytest.fixture
def soak_redis_url() -> t.Iterator[str]:
    """Redis DB 5 of the test server, emptied before and after."""
    import redis

    parts = urlsplit(_server("SESSION_EPOCH_TEST_REDIS_URL", "redis"))
    url = urlunsplit(parts._replace(path=f"/{REDIS_DB}"))
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
        yield url
        client.flushdb()
    finally:
        client.close()


@pytest.fixture
def soak_site(request: pytest.FixtureRequest, soak_mode: str, soak_database_url: str,
              tmp_path: Path) -> t.Iterator[Site]:
    """The demo app set up on its own database and served by gunicorn with several workers.

    ``soak_mode`` "redis" keeps sessions in Redis (Flask-Session); "cookie" in Flask's signed cookie.
    """
    if not soak_servers.executable("gunicorn").exists():
        _unavailable("gunicorn is not installed next to this Python (pip install -e '.[test]')")
    redis_url = request.getfixturevalue("soak_redis_url") if soak_mode == "redis" else None
    env = soak_servers.environment(soak_database_url, redis_url, tmp_path / "demo-data")
    users = soak_servers.prepare(env, [f"soak{n:02d}" for n in range(SOAK_USERS)])
    site = Site(mode=soak_mode, base_url="", env=env, users=users, workers=WORKERS,
                access_log=tmp_path / "access.log", server_log=tmp_path / "gunicorn.log")
    try:
        soak_servers.start(site, tmp_path)
        yield site
    finally:
        soak_servers.stop(site)

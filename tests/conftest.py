from __future__ import annotations

import os
import shutil
import typing as t

import pytest
import sqlalchemy as sa
from databases import EPOCH_TABLES, prepare_database
from databases import dispose as _dispose
from fabapp import create_app
from flask import Flask
from flask.testing import FlaskClient

from flask_session_epoch.migrations import VERSION_TABLE

# Real servers come from tests/servers.sh (the README's test command starts them).
SERVER_URLS = {
    "postgresql": "SESSION_EPOCH_TEST_POSTGRES_URL",
    "mariadb": "SESSION_EPOCH_TEST_MARIADB_URL",
    "redis": "SESSION_EPOCH_TEST_REDIS_URL",
}
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def server_url(kind: str) -> str:
    """The URL of a real database server, or a skip (a failure in CI) if none runs.

    Under pytest-xdist each worker gets a database of its own on the server.
    """
    url = os.environ.get(SERVER_URLS[kind])
    if not url:
        message = f"no {kind} server: set {SERVER_URLS[kind]} (bash tests/run.sh starts one)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(reason=message)
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker and kind in ("postgresql", "mariadb"):
        return _worker_database(url, worker)
    return url


_worker_databases: dict[str, str] = {}


def _worker_database(url: str, worker: str) -> str:
    """``url`` with a database of this worker's, created on first use."""
    if url not in _worker_databases:
        base = sa.engine.make_url(url)
        name = f"{base.database}_{worker}"
        engine = sa.create_engine(base, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                if conn.dialect.name == "postgresql":
                    exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
                    if exists is None:
                        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
                else:
                    conn.execute(sa.text(f"CREATE DATABASE IF NOT EXISTS `{name}`"))
        finally:
            engine.dispose()
        _worker_databases[url] = base.set(database=name).render_as_string(hide_password=False)
    return _worker_databases[url]


def _drop_everything(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        meta.drop_all(engine)
    finally:
        engine.dispose()


# Tables that migration tests drop or rebuild in another layout.
RESHAPED = (*EPOCH_TABLES, VERSION_TABLE)


class Snapshot:
    """The rows of a freshly set-up app, put back before each test.

    Building a FAB schema with its permissions takes over a second; putting the rows
    back takes milliseconds, so every test still starts from the same state.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = sa.create_engine(url)
        self.meta = sa.MetaData()
        self.meta.reflect(self.engine)
        with self.engine.connect() as conn:
            self.rows = {
                table.name: [dict(row._mapping) for row in conn.execute(table.select())]
                for table in self.meta.sorted_tables
            }

    def restore(self) -> None:
        with self.engine.begin() as conn:
            if conn.dialect.name in ("mysql", "mariadb"):
                # ab_user refers to itself (changed_by_fk): MySQL checks row by row.
                conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS=0")
            # Tests may reshape our tables or add others (migration tests): rebuild those.
            present = set(sa.inspect(conn).get_table_names())
            extra = sa.MetaData()
            extra.reflect(conn, only=sorted(present - set(self.meta.tables)))
            extra.drop_all(conn)
            ours = [self.meta.tables[name] for name in RESHAPED if name in self.meta.tables]
            self.meta.drop_all(conn, tables=ours)
            self.meta.create_all(conn, tables=ours)
            for table in reversed(self.meta.sorted_tables):
                conn.execute(table.delete())
            for table in self.meta.sorted_tables:
                if self.rows[table.name]:
                    conn.execute(table.insert(), self.rows[table.name])
            if conn.dialect.name in ("mysql", "mariadb"):
                conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS=1")


#: The backends that tests marked all_databases run on; tests/run.sh narrows it for an
#: environment whose difference is not in the database (Flask-AppBuilder 5.0).
ALL_DATABASES = os.environ.get("SESSION_EPOCH_TEST_DATABASES", "sqlite,postgresql,mariadb").split(",")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Tests marked all_databases run once per backend; the rest on SQLite only.
    if "db_kind" in metafunc.fixturenames and metafunc.definition.get_closest_marker("all_databases"):
        metafunc.parametrize("db_kind", ALL_DATABASES)


@pytest.fixture
def db_kind() -> str:
    return "sqlite"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("template") / "app.db"
    prepare_database(f"sqlite:///{path}")
    return str(path)


@pytest.fixture(scope="session")
def server_snapshots() -> t.Iterator[dict[str, Snapshot]]:
    snapshots: dict[str, Snapshot] = {}
    yield snapshots
    for snapshot in snapshots.values():
        snapshot.engine.dispose()


@pytest.fixture
def db_url(db_kind: str, tmp_path: t.Any, sqlite_template: str, server_snapshots: dict[str, Snapshot]) -> str:
    """A database in the state a fresh app leaves it in."""
    if db_kind == "sqlite":
        path = tmp_path / "app.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite:///{path}"
    if db_kind not in server_snapshots:
        url = server_url(db_kind)
        _drop_everything(url)
        prepare_database(url)
        server_snapshots[db_kind] = Snapshot(url)
    snapshot = server_snapshots[db_kind]
    snapshot.restore()
    return snapshot.url


@pytest.fixture
def sqlite_url(tmp_path: t.Any) -> str:
    return f"sqlite:///{tmp_path / 'app.db'}"


def _marked_config(request: pytest.FixtureRequest) -> dict[str, t.Any]:
    config: dict[str, t.Any] = {}
    for marker in reversed(list(request.node.iter_markers("config"))):
        config.update(marker.kwargs)
    return config


@pytest.fixture
def app(request: pytest.FixtureRequest, db_url: str) -> t.Iterator[Flask]:
    app = create_app(db_url, **_marked_config(request))
    yield app
    _dispose(app)


@pytest.fixture
def make_app(request: pytest.FixtureRequest, db_url: str) -> t.Iterator[t.Callable[..., Flask]]:
    """Build more apps on the same database (other hosts, or the app without the extension)."""
    apps: list[Flask] = []

    def make(**config: t.Any) -> Flask:
        app = create_app(db_url, **{**_marked_config(request), **config})
        apps.append(app)
        return app

    yield make
    for app in apps:
        _dispose(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def redis_sessions() -> t.Callable[[Flask], None]:
    """A ``setup`` for :func:`fabapp.create_app`: server-side sessions in a real Redis (Flask-Session)."""
    import redis
    from flask_session import Session

    url = server_url("redis")

    def setup(app: Flask) -> None:
        app.config.update(SESSION_TYPE="redis", SESSION_REDIS=redis.Redis.from_url(url),
                          SESSION_KEY_PREFIX=f"fse-test-{os.getpid()}-{id(app)}:")
        Session(app)

    return setup

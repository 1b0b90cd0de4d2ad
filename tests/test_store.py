"""Stamping epochs in the database: upserts, concurrency, the forward-only rule."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa
from flask import Flask
from helpers import user_id

from flask_session_epoch import store
from flask_session_epoch.models import GlobalSessionEpoch, UserSessionEpoch

pytestmark = pytest.mark.all_databases


def rows(engine: sa.engine.Engine, table: sa.Table) -> list[sa.Row]:
    with engine.connect() as conn:
        return conn.execute(sa.select(table)).all()


@pytest.fixture
def engine(app: Flask, db_url: str) -> sa.engine.Engine:
    # No pool limit: sixteen threads must hold sixteen connections at once.
    engine = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
    yield engine
    engine.dispose()


def test_sixteen_concurrent_stamps_leave_one_row(app: Flask, engine: sa.engine.Engine) -> None:
    uid = user_id(app)
    barrier = threading.Barrier(16)
    errors: list[BaseException] = []

    def stamp() -> None:
        try:
            with engine.connect() as conn:
                barrier.wait(timeout=30)
                with conn.begin():
                    store.stamp_user(conn, uid, store.utcnow(), "test", "system")
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=stamp) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    (row,) = rows(engine, UserSessionEpoch.__table__)
    assert row.user_id == uid and row.generation == 16


def test_epoch_time_only_moves_forward(app: Flask, engine: sa.engine.Engine) -> None:
    uid = user_id(app)
    late = dt.datetime(2030, 1, 1, 12, 0, 0, 123456)
    with engine.begin() as conn:
        store.stamp_user(conn, uid, late, "first", "system")
        store.stamp_user(conn, uid, late - dt.timedelta(minutes=5), "second", "cli")
    (row,) = rows(engine, UserSessionEpoch.__table__)
    assert row.sessions_invalidated_at == late  # microseconds kept, on MariaDB too
    assert (row.generation, row.reason, row.actor) == (2, "second", "cli")


def test_global_stamp_is_one_row(app: Flask, engine: sa.engine.Engine) -> None:
    with engine.begin() as conn:
        for _ in range(3):
            store.stamp_global(conn, store.utcnow(), "revoke-all", "system")
    (row,) = rows(engine, GlobalSessionEpoch.__table__)
    assert row.generation == 3


def test_load_user_with_state_reads_both_epochs(app: Flask, engine: sa.engine.Engine) -> None:
    uid = user_id(app)
    at = dt.datetime(2030, 1, 1)
    with engine.begin() as conn:
        store.stamp_user(conn, uid, at, "a", "system")
        store.stamp_global(conn, at + dt.timedelta(seconds=1), "b", "system")
    with app.app_context():
        session = app.appbuilder.sm.session
        user, state = store.load_user_with_state(session, app.appbuilder.sm.user_model, uid)
        assert user.id == uid
        assert state.generations == (1, 1)
        assert state.effective_at == (at + dt.timedelta(seconds=1)).replace(tzinfo=dt.timezone.utc)
        assert store.load_state(session, app.appbuilder.sm.user_model, uid) == state
        assert store.load_user_with_state(session, app.appbuilder.sm.user_model, 10**6) == (None, store.NO_EPOCH)


def test_portable_upsert_matches_native(app: Flask, engine: sa.engine.Engine) -> None:
    """The fallback for other dialects behaves like the native upserts."""
    uid = user_id(app)
    table = UserSessionEpoch.__table__
    row = {"user_id": uid, "generation": 1, "sessions_invalidated_at": store.utcnow(), "reason": "x", "actor": "y"}
    with engine.begin() as conn:
        store._portable_upsert(conn, table, "user_id", row, store._bump(table))
        store._portable_upsert(conn, table, "user_id", row, store._bump(table))
    (stored,) = rows(engine, table)
    assert stored.generation == 2

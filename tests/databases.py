"""Database chores shared by the fixtures and the migration tests."""

from __future__ import annotations

import sqlalchemy as sa
from fabapp import create_app
from flask import Flask

from flask_session_epoch import migrate
from flask_session_epoch.migrations import VERSION_TABLE

#: Every table our migrations make.
EPOCH_TABLES = (
    "ab_user_session_epoch",
    "ab_session_epoch_global",
    "ab_session_epoch_oidc_subject",
    "ab_session_epoch_oidc_jti",
    "ab_session_epoch_session",
    "ab_session_epoch_oidc_ended_sid",  # made by revision 0002, dropped by 0004
    "ab_session_epoch_ssf_stream",
)


def dispose(app: Flask) -> None:
    with app.app_context():
        db = app.extensions["test_db"]
        db.session.remove()
        db.engine.dispose()


def drop_epoch_tables(url: str) -> None:
    """Undo what FAB's create_all made of our tables, and the migration's version table."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for table in (*EPOCH_TABLES, VERSION_TABLE):
                conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
    finally:
        engine.dispose()


def drop_all(url: str) -> None:
    """Drop every table of the database (a benchmark's scratch database, when it is done)."""
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        if connection.dialect.name in ("mysql", "mariadb"):
            connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS=0")
        meta = sa.MetaData()
        meta.reflect(connection)
        meta.drop_all(connection)
    engine.dispose()


def prepare_database(url: str) -> None:
    """A fresh FAB app's database, with our tables made by the migration (as operators do)."""
    app = create_app(url)
    drop_epoch_tables(url)
    with app.app_context():
        migrate.upgrade()
    dispose(app)

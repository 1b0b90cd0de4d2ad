"""Alembic environment for flask-session-epoch's own migration chain.

Run through ``flask session-epoch db ...`` the connection comes in
``config.attributes["connection"]``. Run as plain ``alembic``, the Flask app is loaded
the way the ``flask`` command loads it (``FLASK_APP``; Superset's ``create_app`` when
Superset is installed) and its ``SQLALCHEMY_DATABASE_URI`` is used: the URL is never
configured twice.
"""

from __future__ import annotations

import os
import typing as t

from alembic import context
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, pool

from flask_session_epoch.migrations import VERSION_TABLE
from flask_session_epoch.models import (
    GlobalSessionEpoch,
    OidcLogoutTokenUse,
    OidcSubject,
    SessionRecord,
    UserSessionEpoch,
)

OUR_MODELS = (UserSessionEpoch, GlobalSessionEpoch, OidcSubject, OidcLogoutTokenUse, SessionRecord)
OUR_TABLES = {model.__tablename__ for model in OUR_MODELS}

config = context.config


def _target_metadata() -> MetaData:
    # Our tables, and a stand-in for ab_user only so their foreign keys resolve:
    # _include_object keeps autogenerate away from the host's schema.
    metadata = MetaData()
    Table("ab_user", metadata, Column("id", Integer, primary_key=True))
    for model in OUR_MODELS:
        model.__table__.to_metadata(metadata)
    return metadata


def _include_object(obj: t.Any, name: str | None, type_: str, reflected: bool, compare_to: t.Any) -> bool:
    if type_ == "table":
        return name in OUR_TABLES
    table = getattr(obj, "table", None)
    return table is None or table.name in OUR_TABLES


def _database_url_from_app() -> str:
    from flask.cli import NoAppException, ScriptInfo

    try:
        app = ScriptInfo(app_import_path=os.environ.get("FLASK_APP")).load_app()
    except NoAppException:
        try:
            from superset.app import create_app  # type: ignore[import-not-found]
        except ImportError:
            raise SystemExit(
                "flask-session-epoch: set FLASK_APP to your application so its"
                " SQLALCHEMY_DATABASE_URI can be used."
            ) from None
        app = create_app()
    with app.app_context():
        return str(app.config["SQLALCHEMY_DATABASE_URI"])


def _configure(**kwargs: t.Any) -> None:
    context.configure(
        target_metadata=_target_metadata(),
        include_object=_include_object,
        version_table=VERSION_TABLE,
        render_as_batch=True,
        **kwargs,
    )


def run_offline() -> None:
    _configure(url=_database_url_from_app(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(_database_url_from_app(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()

"""Running the shipped Alembic chain against the app's own database.

The CLI (``flask session-epoch db ...``) is a thin layer over these functions; call
them from Python inside an app context.
"""

from __future__ import annotations

import contextlib
import io
import typing as t

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from flask import current_app

from .migrations import ALEMBIC_INI, SCRIPT_LOCATION, VERSION_TABLE


class MigrationError(Exception):
    """A migration could not run; the message says why and what to do."""


def _config(connection: sa.engine.Connection | None = None) -> Config:
    config = Config(str(ALEMBIC_INI), stdout=io.StringIO())
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.attributes["connection"] = connection
    return config


def _engine() -> sa.engine.Engine:
    """The engine of the app's Flask-SQLAlchemy extension, or one from its config."""
    extension = current_app.extensions.get("sqlalchemy")
    if extension is not None and hasattr(extension, "engine"):
        return t.cast(sa.engine.Engine, extension.engine)
    try:
        # No pool: nothing stays connected once the command is done.
        return sa.create_engine(current_app.config["SQLALCHEMY_DATABASE_URI"], poolclass=sa.pool.NullPool)
    except (KeyError, sa.exc.ArgumentError) as exc:
        raise MigrationError(f"SQLALCHEMY_DATABASE_URI is missing or not a database URL: {exc}") from None


def head() -> str:
    """The newest revision this package ships."""
    return t.cast(str, ScriptDirectory.from_config(_config()).get_current_head())


def _current(connection: sa.engine.Connection) -> str | None:
    return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()


def revision_of(connection: sa.engine.Connection) -> str | None:
    """The revision the connection's database is at, or None before the first upgrade."""
    return _current(connection)


def knows(revision: str) -> bool:
    """Whether this package ships ``revision``."""
    return revision in {rev.revision for rev in ScriptDirectory.from_config(_config()).walk_revisions()}


@contextlib.contextmanager
def _connection() -> t.Iterator[sa.engine.Connection]:
    engine = _engine()
    try:
        connection = engine.connect()
    except sa.exc.SQLAlchemyError as exc:
        url = engine.url.render_as_string(hide_password=True)
        raise MigrationError(f"Cannot connect to the database {url}: {getattr(exc, 'orig', exc)}") from None
    try:
        yield connection
    finally:
        connection.close()


def _known(connection: sa.engine.Connection) -> None:
    """Refuse a database stamped by a newer release instead of failing half-way."""
    current = _current(connection)
    scripts = ScriptDirectory.from_config(_config())
    if current is not None and current not in {rev.revision for rev in scripts.walk_revisions()}:
        raise MigrationError(
            f"The database is at session-epoch revision {current}, which this version of"
            f" flask-session-epoch does not know (its newest is {scripts.get_current_head()})."
            " Upgrade the flask-session-epoch package."
        )


def _run(action: t.Callable[[Config], None]) -> None:
    with _connection() as connection:
        try:
            with connection.begin():
                _known(connection)
                action(_config(connection))
        except CommandError as exc:
            raise MigrationError(str(exc)) from None
        except sa.exc.SQLAlchemyError as exc:
            raise MigrationError(f"The migration failed: {getattr(exc, 'orig', exc)}") from None


def upgrade(revision: str = "head") -> None:
    """Create or complete the epoch tables (``alembic upgrade``)."""
    _run(lambda config: command.upgrade(config, revision))


def downgrade(revision: str = "-1") -> None:
    """Undo revisions (``alembic downgrade``); ``base`` removes everything upgrade added."""
    _run(lambda config: command.downgrade(config, revision))


def current() -> str | None:
    """The revision the database is at, or None before the first upgrade."""
    with _connection() as connection:
        return _current(connection)


def history() -> list[str]:
    """One line per shipped revision, newest first."""
    scripts = ScriptDirectory.from_config(_config())
    return [f"{rev.revision}: {rev.doc}" for rev in scripts.walk_revisions()]

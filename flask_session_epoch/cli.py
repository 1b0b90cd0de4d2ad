"""``flask session-epoch ...`` (and ``superset session-epoch ...``): a thin layer over the Python API."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from . import migrate

cli = AppGroup("session-epoch", help="End Flask-AppBuilder sessions: flask-session-epoch.")


@cli.group("db")
def db() -> None:
    """Create and upgrade flask-session-epoch's tables (its own Alembic chain)."""


def _friendly(action: object) -> None:
    try:
        action()  # type: ignore[operator]
    except migrate.MigrationError as exc:
        raise click.ClickException(str(exc)) from None


@db.command()
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Upgrade the epoch tables to REVISION (default: head)."""
    _friendly(lambda: migrate.upgrade(revision))
    click.echo(f"session-epoch schema at {migrate.current()}")


@db.command()
@click.argument("revision", default="-1")
def downgrade(revision: str) -> None:
    """Undo revisions down to REVISION (default: -1; 'base' removes the tables)."""
    _friendly(lambda: migrate.downgrade(revision))
    click.echo(f"session-epoch schema at {migrate.current() or 'base (no tables)'}")


@db.command()
def current() -> None:
    """Show the revision the database is at."""
    revision: list[str | None] = []
    _friendly(lambda: revision.append(migrate.current()))
    click.echo(revision[0] or "base (not upgraded yet)")


@db.command()
def history() -> None:
    """List the shipped revisions, newest first."""
    for line in migrate.history():
        click.echo(line)

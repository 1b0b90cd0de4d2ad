"""``flask session-epoch ...`` (and ``superset session-epoch ...``): a thin layer over the Python API."""

from __future__ import annotations

import json
import typing as t

import click
from flask import current_app
from flask.cli import AppGroup, ScriptInfo

from . import accounts, config, in_use, migrate, schema, sessions
from .inbound.ssf_cli import ssf
from .revoke import MAX_REASON, check_reason, invalidate_all_sessions, invalidate_sessions


class _Group(AppGroup):
    """Our commands: a missing schema or a wrong setting is one message, not a traceback, and
    none runs in an app that does not use our security manager."""

    def invoke(self, ctx: click.Context) -> t.Any:
        try:
            # As Flask's with_appcontext: the app of a context already pushed (Airflow's
            # CLI runs us inside its FAB app), or the one `flask --app` names.
            app: t.Any = current_app if current_app else ctx.ensure_object(ScriptInfo).load_app()
            refusal = in_use.problem(app)
            if refusal is not None:
                raise click.ClickException(refusal)
            return super().invoke(ctx)
        except (schema.SchemaMissing, config.ConfigurationError) as exc:
            raise click.ClickException(str(exc)) from None


cli = _Group("session-epoch", help="End Flask-AppBuilder sessions: flask-session-epoch.")
cli.add_command(ssf)


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


# -- accounts -------------------------------------------------------------------

ACTOR = "cli"


def _user(spec: str) -> t.Any:
    try:
        return accounts.resolve_user(spec)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None


user_argument = click.argument("user", metavar="USER")


def _reason(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return check_reason(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def reason_option(default: str) -> t.Callable[[t.Any], t.Any]:
    return click.option("--reason", default=default, show_default=True, callback=_reason,
                        help=f"Recorded in the audit trail (at most {MAX_REASON} characters).")


@cli.command()
@user_argument
@reason_option("admin-revoke")
def revoke(user: str, reason: str) -> None:
    """End every session and token of USER; the account stays active.

    USER is a username, an e-mail address (exact, any case) or id:N.
    """
    account = _user(user)
    invalidate_sessions(account, reason=reason, actor=ACTOR)
    click.echo(f"Ended every session and token of {account.username} (id {account.id}).")


@cli.command("revoke-all")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@reason_option("revoke-all")
def revoke_all(yes: bool, reason: str) -> None:
    """End everyone's sessions and tokens (the global epoch)."""
    if not yes:
        click.confirm("End every session and token of every user?", abort=True)
    invalidate_all_sessions(reason=reason, actor=ACTOR)
    click.echo("Ended every session and token of every user.")


@cli.command()
@user_argument
def disable(user: str) -> None:
    """Disable USER and end their sessions (as unchecking "active" in the admin UI)."""
    account = _user(user)
    if not accounts.set_active(account, False, actor=ACTOR):
        click.echo(f"{account.username} (id {account.id}) is already disabled; nothing changed.")
        return
    click.echo(f"Disabled {account.username} (id {account.id}); their sessions and tokens have ended.")


@cli.command()
@user_argument
def enable(user: str) -> None:
    """Enable USER again; sessions from before the disable stay dead."""
    account = _user(user)
    if not accounts.set_active(account, True, actor=ACTOR):
        click.echo(f"{account.username} (id {account.id}) is already enabled; nothing changed.")
        return
    click.echo(f"Enabled {account.username} (id {account.id}); sessions from before the disable stay ended.")


@cli.command()
@user_argument
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def status(user: str, as_json: bool) -> None:
    """Show USER's active flag, epochs, last login and last revocation."""
    info = accounts.session_status(_user(user))
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    for key, value in info.items():
        click.echo(f"{key + ':':34} {'-' if value is None else value}")


# -- single sessions ------------------------------------------------------------------


@cli.command("sessions")
@user_argument
@click.option("--ended", is_flag=True, help="List ended sessions instead of active ones.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, sessions.MAX_PAGE_SIZE),
              help="How many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def list_sessions(user: str, ended: bool, limit: int, as_json: bool) -> None:
    """List USER's active sessions (or, with --ended, their ended ones)."""
    account = _user(user)
    state = sessions.ENDED if ended else sessions.ACTIVE
    found, count = sessions.list_sessions(user_id=account.id, state=state, page_size=limit)
    if as_json:
        click.echo(json.dumps({"result": [info.as_json() for info in found], "count": count}, indent=2))
        return
    click.echo(f"{count} {state} session(s) of {account.username} (id {account.id}):")
    for info in found:
        when = f"ended {info.ended_at:%Y-%m-%d %H:%M:%S} UTC ({info.end_reason})" if info.ended_at else (
            f"last active {info.last_active_at:%Y-%m-%d %H:%M:%S} UTC")
        click.echo(f"  {info.id}  {info.via:<11} {info.device or '-':<32} {info.ip or '-':<15} {when}")


@cli.command("end-session")
@click.argument("record_id", metavar="ID")
@reason_option("admin")
def end_session(record_id: str, reason: str) -> None:
    """End one session by its ID (from `session-epoch sessions`); the user's other sessions live on."""
    ended = sessions.end_session(record_id, reason, actor=ACTOR)
    if ended is None:
        raise click.ClickException(f"No session with id {record_id!r}.")
    click.echo(f"Ended session {record_id} of {ended.username} (id {ended.user_id}).")

"""Whether the database holds what this version reads: checked once, when the app starts.

Before ``flask session-epoch db upgrade`` has run (or after a package upgrade, before its
new revisions have), tables or columns of ours may be missing. The app then logs one
line that names the command, and goes on serving FAB's pages: nothing reads our tables.
Every credential is judged as when the check fails (let through, or refused under
``SESSION_EPOCH_FAIL_CLOSED``), stamps are not written, and our own pages and API
answer that the schema is missing. A database only behind by revisions that add no
table or column we read (an index, a data repair) keeps being checked; the line is
logged all the same.
"""

from __future__ import annotations

import dataclasses
import logging
import typing as t

import sqlalchemy as sa
from flask import current_app, flash, has_app_context, json, redirect, request

from . import migrate
from .models import metadata

if t.TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger("flask_session_epoch")

#: ``app.extensions`` key: whether every table and column of ours was there at start-up.
READY = "session_epoch_schema_ready"
# The endpoints that read or write our tables directly: refused while they are missing.
_OUR_ENDPOINTS = ("SessionEpochView.", "SessionRecordView.", "EndSessionView.", "SessionEpochApi.", "session_epoch.")


class SchemaMissing(RuntimeError):
    """Our tables or columns are missing: the message says which command to run."""


@dataclasses.dataclass(frozen=True)
class SchemaState:
    """What the database holds of our schema."""

    #: Its revision of our chain (None: never upgraded).
    current: str | None
    #: The newest revision this package ships.
    head: str
    #: Whether this package knows ``current`` (a newer release may have stamped it).
    known: bool
    #: Our tables (``name``) and columns (``table.column``) that it lacks.
    missing: tuple[str, ...]

    @property
    def usable(self) -> bool:
        return not self.missing

    def problem(self, command: str) -> str | None:
        """One line on what is wrong and what to run, or None if nothing is."""
        if self.current == self.head and self.usable:
            return None
        if not self.known:
            return (f"flask-session-epoch: the database is at session-epoch revision {self.current}, which this"
                    f" version does not know (its newest is {self.head}): upgrade the flask-session-epoch package.")
        where = f"at session-epoch revision {self.current}" if self.current else "without flask-session-epoch's tables"
        if self.usable:
            effect = "sessions are checked meanwhile (what is missing is not read)"
        else:
            shown = ", ".join(self.missing[:4]) + (", ..." if len(self.missing) > 4 else "")
            effect = (f"until then (missing: {shown}) sessions and tokens are not checked against epochs, and"
                      " SESSION_EPOCH_FAIL_CLOSED refuses them all")
        return (f"flask-session-epoch: the database is {where}, this version needs {self.head}:"
                f" run `{command}`; {effect}.")


def inspect_schema(connection: sa.engine.Connection) -> SchemaState:
    """Compare the database with our models and with the shipped chain."""
    current = migrate.revision_of(connection)
    head = migrate.head()
    inspector = sa.inspect(connection)
    missing: list[str] = []
    for table in metadata.tables.values():
        if not inspector.has_table(table.name):
            missing.append(table.name)
            continue
        present = {column["name"] for column in inspector.get_columns(table.name)}
        missing.extend(f"{table.name}.{column.name}" for column in table.columns if column.name not in present)
    return SchemaState(current, head, current is None or migrate.knows(current), tuple(missing))


def upgrade_command(sm: t.Any) -> str:
    """The command that upgrades our schema, in the host's own CLI."""
    modules = {cls.__module__.split(".", 1)[0] for cls in type(sm).__mro__}
    host = "superset" if "superset" in modules else "airflow" if "airflow" in modules else "flask"
    return f"{host} session-epoch db upgrade"


def check_at_startup(app: Flask, bind: t.Any, sm: t.Any) -> bool:
    """Inspect the schema once, log one line if it is missing or behind, and remember whether it is usable.

    A database that cannot be inspected counts as usable: each request then handles
    its errors as any failed check does.
    """
    command = upgrade_command(sm)
    try:
        with bind.connect() as connection:
            state = inspect_schema(connection)
    except sa.exc.SQLAlchemyError as exc:
        log.warning("flask-session-epoch: could not inspect the database's schema at start-up: %s",
                    str(getattr(exc, "orig", exc)).splitlines()[0] if str(getattr(exc, "orig", exc)) else exc)
        state = None
    usable = state is None or state.usable
    app.extensions[READY] = usable
    app.extensions[_COMMAND] = command
    problem = None if state is None else state.problem(command)
    if problem is not None:
        (log.warning if usable else log.error)(problem)
    if not usable:
        app.before_request(_refuse_our_endpoints)
    return usable


_COMMAND = "session_epoch_upgrade_command"


def ready() -> bool:
    """Whether our tables and columns were all there when this app started (outside an app: yes)."""
    return not has_app_context() or bool(current_app.extensions.get(READY, True))


def message() -> str:
    """What our pages, API and CLI say while the schema is missing."""
    command = current_app.extensions.get(_COMMAND, "flask session-epoch db upgrade")
    return f"flask-session-epoch's tables are missing or out of date: run `{command}`."


def require() -> None:
    """:raises SchemaMissing: while our tables or columns are missing."""
    if not ready():
        raise SchemaMissing(message())


def _refuse_our_endpoints() -> t.Any:
    """``before_request``, registered only while the schema is missing: our API says 503, our pages say why."""
    endpoint = request.endpoint or ""
    if not endpoint.startswith(_OUR_ENDPOINTS) or endpoint.endswith(".static"):
        return None
    if endpoint.startswith(("SessionEpochApi.", "session_epoch.")):
        return current_app.response_class(json.dumps({"message": message()}), status=503,
                                          mimetype="application/json")
    flash(message(), "danger")
    return redirect(current_app.appbuilder.get_url_for_index)  # type: ignore[attr-defined]

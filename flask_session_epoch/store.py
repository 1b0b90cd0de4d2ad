"""Reading and stamping epochs in the database.

Reads ride inside the query that loads the user anyway (a LEFT OUTER JOIN and two
scalar subqueries), so the
per-request check costs no extra statement. Stamps are single upserts, safe when
many workers stamp the same user at once.
"""

from __future__ import annotations

import datetime as dt
import typing as t

from sqlalchemy import bindparam, case, func, inspect, select, update
from sqlalchemy.exc import IntegrityError

from . import registry
from .models import GLOBAL_ROW_ID, GlobalSessionEpoch, SessionRecord, UserSessionEpoch

# Re-exported: their home is .state.
from .state import NO_EPOCH as NO_EPOCH
from .state import NO_LIMITS, Limits
from .state import EpochState as EpochState
from .state import RecordState as RecordState
from .state import as_utc as as_utc

if t.TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlalchemy.orm import Session

_U = UserSessionEpoch.__table__
_G = GlobalSessionEpoch.__table__
_RECORDS = SessionRecord.__table__


#: The reason of the stamp a user gets when created.
CREATED = "created"


def utcnow() -> dt.datetime:
    """The current time as stored in our tables: naive UTC with microseconds."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _global(column: t.Any) -> t.Any:
    # A scalar subquery rather than a join: the single global row relates to no user.
    return select(column).where(_G.c.id == GLOBAL_ROW_ID).scalar_subquery()


#: The epoch columns :func:`state_from_row` reads, last in a row.
STATE_COLUMNS = (
    _U.c.generation,
    _U.c.sessions_invalidated_at,
    _global(_G.c.generation),
    _global(_G.c.sessions_invalidated_at),
)


def state_from_row(row: t.Sequence[t.Any], record_id: str | None = None) -> EpochState:
    """Build an :class:`EpochState` from the last columns of a row: the record's (when
    ``record_id`` was looked up), then the four epoch columns."""
    user_gen, user_at, global_gen, global_at = row[-4:]
    record = None
    if record_id is not None:
        width = len(registry.REQUEST_COLUMNS)
        record = registry.from_row(row[-4 - width:-4])
    return EpochState(int(user_gen or 0), user_at, int(global_gen or 0), global_at, record_id, record)


def state_columns(record_id: t.Any | None) -> tuple[t.Any, ...]:
    """The columns :func:`state_from_row` reads: the record's if one is looked up, then the epochs."""
    return (*registry.REQUEST_COLUMNS, *STATE_COLUMNS) if record_id is not None else STATE_COLUMNS


def select_with_epochs(columns: t.Sequence[t.Any], user_model: t.Any, user_id: t.Any,
                        record_id: t.Any | None) -> t.Any:
    """``SELECT columns`` over the user, their epoch row and (when asked) the record, for one user."""
    joined: t.Any = inspect(user_model).local_table.outerjoin(_U, _U.c.user_id == user_model.id)
    if record_id is not None:
        joined = joined.outerjoin(_RECORDS, registry.join_condition(user_model, record_id))
    return select(*columns).select_from(joined).where(user_model.id == user_id)


# Built once per user model and kind: constructing the SELECT on every request costs more
# than running it on SQLite.
_USER_WITH_STATE: dict[tuple[t.Any, bool], t.Any] = {}


def load_user_with_state(session: Session, user_model: t.Any, user_id: int,
                         record_id: str | None = None) -> tuple[t.Any, EpochState]:
    """Load a user and their epochs in one statement; ``(None, NO_EPOCH)`` if no such user.

    This replaces FAB's ``session.get(User, pk)``, so it adds no round trip.

    :param record_id: also read this session record, if it is this user's.
    """
    cache_key = (user_model, record_id is not None)
    stmt = _USER_WITH_STATE.get(cache_key)
    if stmt is None:
        stmt = _USER_WITH_STATE[cache_key] = select_with_epochs(
            (user_model, *state_columns(record_id)), user_model, bindparam("session_epoch_user_id"),
            bindparam("session_epoch_record_id") if record_id is not None else None,
        )
    params: dict[str, t.Any] = {"session_epoch_user_id": user_id}
    if record_id is not None:
        params["session_epoch_record_id"] = record_id
    row = session.execute(stmt, params).first()
    if row is None:
        return None, NO_EPOCH
    return row[0], state_from_row(row, record_id)


def load_state(session: Session, user_model: t.Any, user_id: int, record_id: str | None = None) -> EpochState:
    """Read one user's epochs (and a record of theirs) without loading the user."""
    stmt = select_with_epochs(state_columns(record_id), user_model, user_id, record_id)
    row = session.execute(stmt).first()
    return NO_EPOCH if row is None else state_from_row(row, record_id)


def invalidated_at(session: Session, user_ids: t.Iterable[int]) -> dict[int, dt.datetime]:
    """When each of these users' sessions were last ended, for those whose were; one statement.

    The stamp every new user gets at creation ended nothing and is left out.
    """
    stmt = select(_U.c.user_id, _U.c.sessions_invalidated_at).where(
        _U.c.user_id.in_(sorted(user_ids)), _U.c.reason != CREATED
    )
    return {row[0]: row[1] for row in session.execute(stmt)}


def load_api_key_state(session: Session, api_key_model: t.Any, lookup_hash: str) -> tuple[t.Any, EpochState]:
    """``(created_on, epochs of its user)`` for an API key, in one statement."""
    joined: t.Any = inspect(api_key_model).local_table.outerjoin(_U, _U.c.user_id == api_key_model.user_id)
    stmt = (
        select(api_key_model.created_on, *STATE_COLUMNS)
        .select_from(joined)
        .where(api_key_model.lookup_hash == lookup_hash)
    )
    row = session.execute(stmt).first()
    return (None, NO_EPOCH) if row is None else (row[0], state_from_row(row))


def _forward(column: t.Any, candidate: t.Any) -> t.Any:
    """SQL for "the later of the stored value and ``candidate``": the epoch never moves back."""
    return case((column > candidate, column), else_=candidate)


def upsert(connection: Connection, table: t.Any, key: str, row: dict[str, t.Any],
           changes: t.Callable[[t.Any], dict[str, t.Any]]) -> None:
    """Insert ``row``, or change the row that has the same ``key``, in one atomic statement.

    A single statement, not UPDATE-then-INSERT, because on MySQL/MariaDB two of those
    for different keys lock the same index gap and deadlock each other.

    :param changes: given the proposed row's values (as SQL expressions), the columns to
        set on the existing row; they may refer to its current values through ``table.c``.
    """
    dialect = connection.dialect.name
    if dialect in ("postgresql", "sqlite"):
        from sqlalchemy.dialects import postgresql, sqlite

        insert: t.Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt: t.Any = insert(table).values(**row)
        connection.execute(stmt.on_conflict_do_update(index_elements=[table.c[key]], set_=changes(stmt.excluded)))
    elif dialect in ("mysql", "mariadb"):
        from sqlalchemy.dialects.mysql import insert as mysql_insert

        stmt = mysql_insert(table).values(**row)
        # A list keeps the order: MySQL applies the assignments left to right.
        connection.execute(stmt.on_duplicate_key_update(list(changes(stmt.inserted).items())))
    else:
        _portable_upsert(connection, table, key, row, changes)


def _portable_upsert(connection: Connection, table: t.Any, key: str, row: dict[str, t.Any],
                     changes: t.Callable[[t.Any], dict[str, t.Any]]) -> None:
    # Other dialects: UPDATE first; INSERT in a savepoint; a lost insert race retries the UPDATE.
    change = update(table).where(table.c[key] == row[key]).values(changes(_Literals(row)))
    if connection.execute(change).rowcount:
        return
    try:
        with connection.begin_nested():
            connection.execute(table.insert().values(**row))
    except IntegrityError:
        connection.execute(change)


class _Literals:
    """The proposed row's values by attribute, as ``excluded`` / ``inserted`` give them in SQL."""

    def __init__(self, row: dict[str, t.Any]) -> None:
        self.__dict__.update(row)


def _bump(table: t.Any) -> t.Callable[[t.Any], dict[str, t.Any]]:
    """What a stamp changes: one more generation, the time moved forward only, the new audit."""
    def changes(new: t.Any) -> dict[str, t.Any]:
        return {
            "generation": table.c.generation + 1,
            "sessions_invalidated_at": _forward(table.c.sessions_invalidated_at, new.sessions_invalidated_at),
            "reason": new.reason,
            "actor": new.actor,
        }

    return changes


def _stamp(connection: Connection, table: t.Any, key: str, key_value: int, values: dict[str, t.Any]) -> None:
    """Insert the row, or bump its generation and move its time forward, atomically."""
    upsert(connection, table, key, {key: key_value, "generation": 1, **values}, _bump(table))


def _generation_of(table: t.Any, condition: t.Any) -> t.Any:
    return func.coalesce(select(table.c.generation).where(condition).scalar_subquery(), 0)


def stamp_user(connection: Connection, user_id: int, at: dt.datetime, reason: str, actor: str,
               limits: Limits = NO_LIMITS, keep: str | None = None) -> None:
    """Stamp one user's epoch inside the caller's transaction, and mark the records it ends.

    The epoch's row is written first: concurrent stamps of one user queue on it.

    :param limits: the session limits in force (a record past one was ended by it, not by the stamp).
    :param keep: the user's own session record, carried over the stamp by the caller.
    """
    values = {"sessions_invalidated_at": at, "reason": reason, "actor": actor}
    _stamp(connection, _U, "user_id", user_id, values)
    before = (_generation_of(_U, _U.c.user_id == user_id) - 1, _generation_of(_G, _G.c.id == GLOBAL_ROW_ID))
    registry.end_by_stamp(connection, user_id, before, at, reason, actor, limits, keep)


def stamp_global(connection: Connection, at: dt.datetime, reason: str, actor: str,
                 limits: Limits = NO_LIMITS, keep: str | None = None) -> None:
    """Stamp the global epoch inside the caller's transaction (one row), and mark the records
    it ends (one UPDATE over the open ones)."""
    values = {"sessions_invalidated_at": at, "reason": reason, "actor": actor}
    _stamp(connection, _G, "id", GLOBAL_ROW_ID, values)
    before = (_generation_of(_U, _U.c.user_id == _RECORDS.c.user_id),
              _generation_of(_G, _G.c.id == GLOBAL_ROW_ID) - 1)
    registry.end_by_stamp(connection, None, before, at, reason, actor, limits, keep)

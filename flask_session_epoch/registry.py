"""The session registry: a record per login, so one session can be listed, ended or timed out.

A browser session and the JWTs of one API login each get a row in
``ab_session_epoch_session`` with an opaque random id. The session (or token) carries
the id inside its signed stamp; the request's user SELECT joins the row *on that
user*, so the id grants nothing by itself and another user's row never vouches.

A record holds while it is not ended, not past the last moment a copy of it could be
presented, and was started (or kept) under the epochs now in force: a stamp of a
user's epoch, or everyone's, ends their records by itself. It also marks them ended,
with its own time and reason (:func:`end_by_stamp`), so that how a session ended never
changes once written.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
import typing as t

from sqlalchemy import and_, case, delete, select, update

from . import check
from .models import SessionRecord
from .state import RecordState as RecordState  # re-exported: its home is .state

if t.TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from .state import EpochState, Limits

_R = SessionRecord.__table__
#: ``kind`` of a browser session (its cookie and its remember-me cookie).
BROWSER = "browser"
#: ``kind`` of the access and refresh tokens of one API login.
API = "api"


def new_id() -> str:
    """An opaque, unguessable record id (256 random bits), never starting with "-".

    Operators paste ids into ``session-epoch end-session ID``, where a leading "-" would
    be read as an option. Drawing again keeps every other id equally likely. Every
    entry point accepts only this shape (:func:`~.identity.parse_record_id`).
    """
    while True:
        value = secrets.token_urlsafe(32)
        if not value.startswith("-"):
            return value


def clip(name: str, value: str | None) -> str | None:
    """``value`` as the column ``name`` can store it: without NUL characters (PostgreSQL refuses
    them), cut to the column's length (PostgreSQL and strict MySQL refuse longer values)."""
    if value is None:
        return None
    return value.replace("\x00", "")[: _R.c[name].type.length]


#: The record's columns that the request's SELECT reads, in :class:`RecordState`'s order.
REQUEST_COLUMNS = (_R.c.id, _R.c.kind, _R.c.user_generation, _R.c.global_generation, _R.c.started_at,
                   _R.c.last_active_at, _R.c.expires_at, _R.c.ended_at, _R.c.end_reason)


def from_row(values: t.Sequence[t.Any]) -> RecordState | None:
    """A :class:`RecordState` from :data:`REQUEST_COLUMNS` of a row, or None if no record joined."""
    if values[0] is None:
        return None
    return RecordState(*values)


def join_condition(user_model: t.Any, record_id: t.Any) -> t.Any:
    """The join that finds a record only if it is this user's."""
    return and_(_R.c.id == record_id, _R.c.user_id == user_model.id)


@dataclasses.dataclass(frozen=True)
class Origin:
    """Where and how a login happened, as recorded."""

    auth_method: str
    provider: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    device: str | None = None
    sid_key: str | None = None
    #: The login's ID token, kept for RP-initiated logout.
    id_token: str | None = None


def start(connection: Connection, user_id: int, kind: str, origin: Origin, state: EpochState, now: dt.datetime,
          expires_at: dt.datetime) -> str:
    """Insert the record of a new login; returns its id.

    Every text from the client is stored as its column can hold it (see :func:`clip`):
    a value a database would refuse must not cost the login its record.
    """
    record_id = new_id()
    texts = {name: clip(name, getattr(origin, name))
             for name in ("auth_method", "provider", "ip", "user_agent", "device", "sid_key")}
    connection.execute(_R.insert().values(
        id=record_id, user_id=user_id, kind=kind, user_generation=state.user_generation,
        global_generation=state.global_generation, started_at=now, last_active_at=now, expires_at=expires_at,
        id_token=origin.id_token, **texts,
    ))
    return record_id


def _ending(at: dt.datetime, reason: str, by: str) -> dict[str, t.Any]:
    """The values every ending writes: when, why and by whom; and the ID token goes (it
    only served to sign this login out of its provider)."""
    return {"ended_at": at, "end_reason": clip("end_reason", reason), "ended_by": clip("ended_by", by),
            "id_token": None}


def end(connection: Connection, record_id: str, reason: str, by: str, now: dt.datetime,
        user_id: int | None = None) -> bool:
    """End one record that is still open; with ``user_id``, only if it is that user's.

    :returns: whether a record was ended.
    """
    conditions = [_R.c.id == record_id, _R.c.ended_at.is_(None)]
    if user_id is not None:
        conditions.append(_R.c.user_id == user_id)
    values = _ending(now, reason, by)
    return bool(connection.execute(update(_R).where(*conditions).values(values)).rowcount)


def end_by_stamp(connection: Connection, user_id: int | None, generations: t.Any, at: dt.datetime,
                 reason: str, by: str, limits: Limits, keep: str | None = None) -> None:
    """Mark the records a stamp is about to end, in the stamp's transaction, with its time,
    reason and actor: how a session ended never changes after (a later stamp finds it ended).

    Only records that hold until the stamp are its: one already past its expiry or a
    limit, or under older generations, was ended by that, and keeps it.

    :param user_id: the user stamped; None for everyone.
    :param generations: SQL for a record's generations in force, ``(user, global)``, before the stamp.
    :param keep: the record carried over the stamp (the stamping user's own session).
    """
    conditions = [_R.c.ended_at.is_(None), _R.c.expires_at > at, *within_limits(limits, at),
                  _R.c.user_generation == generations[0], _R.c.global_generation == generations[1]]
    if user_id is not None:
        conditions.append(_R.c.user_id == user_id)
    if keep is not None:
        conditions.append(_R.c.id != keep)
    values = _ending(at, reason, by)
    connection.execute(update(_R).where(*conditions).values(values))


def within_limits(limits: Limits, now: dt.datetime) -> list[t.Any]:
    """SQL: the record is inside the idle and the absolute limit (as :func:`check.record_refusal` judges)."""
    conditions = []
    if limits.idle is not None:
        conditions.append(_R.c.last_active_at > now - dt.timedelta(seconds=limits.idle))
    if limits.absolute is not None:
        conditions.append(_R.c.started_at > now - dt.timedelta(seconds=limits.absolute))
    return conditions


def open_ids(connection: Connection, user_id: int, state: EpochState, now: dt.datetime,
             limits: Limits) -> list[str]:
    """The ids of the user's records that still hold, oldest first.

    A locking read: on MySQL and MariaDB a plain one would answer from the transaction's
    snapshot, blind to a record another worker committed meanwhile.
    """
    conditions = [
        _R.c.user_id == user_id, _R.c.ended_at.is_(None), _R.c.expires_at > now,
        _R.c.user_generation == state.user_generation, _R.c.global_generation == state.global_generation,
        *within_limits(limits, now),
    ]
    query = select(_R.c.id).where(*conditions).order_by(_R.c.started_at, _R.c.id).with_for_update()
    return [row[0] for row in connection.execute(query)]


def end_provider_session(connection: Connection, sid_key: str, reason: str, by: str,
                         now: dt.datetime, user_id: int | None = None) -> list[tuple[str, int]]:
    """End every open record that logged in under this OpenID provider session.

    :param user_id: only that user's records (a signal that also names the user).
    :returns: ``(record id, user id)`` of each record ended.
    """
    conditions = [_R.c.sid_key == sid_key, _R.c.ended_at.is_(None)]
    if user_id is not None:
        conditions.append(_R.c.user_id == user_id)
    found = [(row[0], row[1]) for row in connection.execute(select(_R.c.id, _R.c.user_id).where(*conditions))]
    if found:
        values = _ending(now, reason, by)
        connection.execute(update(_R).where(_R.c.id.in_([record_id for record_id, _ in found]),
                                            _R.c.ended_at.is_(None)).values(values))
    return found


def sign_in_of(connection: Connection, record_id: str, user_id: int) -> tuple[str | None, str | None] | None:
    """``(provider, ID token)`` of the user's open record, or None if it is not open (or not theirs)."""
    row = connection.execute(select(_R.c.provider, _R.c.id_token).where(
        _R.c.id == record_id, _R.c.user_id == user_id, _R.c.ended_at.is_(None))).first()
    return None if row is None else (row[0], row[1])


def keep(connection: Connection, record_id: str, state: EpochState) -> None:
    """Carry a record over a stamp its own user made (a password change, "sign out others")."""
    connection.execute(update(_R).where(_R.c.id == record_id).values(
        user_generation=state.user_generation, global_generation=state.global_generation))


def touch(connection: Connection, record_id: str, now: dt.datetime, expires_at: dt.datetime | None) -> None:
    """Write the last activity, and move the expiry forward (never back) if given."""
    values: dict[str, t.Any] = {"last_active_at": now}
    if expires_at is not None:
        values["expires_at"] = case((_R.c.expires_at > expires_at, _R.c.expires_at), else_=expires_at)
    connection.execute(update(_R).where(_R.c.id == record_id, _R.c.ended_at.is_(None)).values(values))


def expire(connection: Connection, now: dt.datetime, batch: int, limits: Limits) -> int:
    """Mark at most ``batch`` open records that can no longer be presented as ended, with
    what ended them: the first to pass of their expiry and their idle and absolute limits."""
    rows = connection.execute(
        select(_R.c.id, _R.c.started_at, _R.c.last_active_at, _R.c.expires_at)
        .where(_R.c.ended_at.is_(None), _R.c.expires_at <= now).limit(batch)).all()
    by_expiry = []
    for record_id, started_at, last_active_at, expires_at in rows:
        at, reason = check.first_end(started_at, last_active_at, expires_at, limits)
        if reason == check.EXPIRED:
            by_expiry.append(record_id)
        else:
            end(connection, record_id, reason, "system", at)
    if by_expiry:
        connection.execute(update(_R).where(_R.c.id.in_(by_expiry), _R.c.ended_at.is_(None)).values(
            ended_at=_R.c.expires_at, end_reason=check.EXPIRED, ended_by="system", id_token=None))
    return len(rows)


def prune(connection: Connection, cutoff: dt.datetime, batch: int) -> int:
    """Delete at most ``batch`` records that ended before ``cutoff``.

    Expired records count once :func:`expire` has marked them (their end is their
    expiry), so the search is a range on the index of ``ended_at``, not a table scan.
    """
    ids = [row[0] for row in connection.execute(select(_R.c.id).where(_R.c.ended_at < cutoff).limit(batch))]
    if ids:
        connection.execute(delete(_R).where(_R.c.id.in_(ids)))
    return len(ids)

"""The Python API over the session registry: list sessions, end one.

The admin pages, the REST API and the CLI are thin layers over these functions. A
session counts as active while its record is open, has not expired, and was started
(or kept) under the epochs now in force; otherwise it shows as ended, with the reason
and time of whatever ended it (its own end, its expiry, or the user's or everyone's
epoch).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import typing as t

from flask import current_app, has_request_context, session
from sqlalchemy import and_, func, not_, select
from sqlalchemy.exc import SQLAlchemyError

from . import activity, check, config, registry, request_state, signals, store
from .identity import parse_record_id
from .models import GLOBAL_ROW_ID, GlobalSessionEpoch, SessionRecord, UserSessionEpoch
from .revoke import check_reason, db_session, security_manager

log = logging.getLogger("flask_session_epoch")

_R = SessionRecord.__table__
_U = UserSessionEpoch.__table__
_G = GlobalSessionEpoch.__table__
#: The values of ``state`` when listing.
ACTIVE, ENDED = "active", "ended"
MAX_PAGE_SIZE = 100


@dataclasses.dataclass(frozen=True)
class SessionInfo:
    """One session as the lists show it; times are naive UTC."""

    id: str
    user_id: int
    username: str
    kind: str
    via: str
    provider: str | None
    started_at: dt.datetime
    last_active_at: dt.datetime
    ip: str | None
    device: str | None
    user_agent: str | None
    ended_at: dt.datetime | None
    end_reason: str | None
    ended_by: str | None
    #: Whether this is the session (or token) of the request asking.
    current: bool = False

    @property
    def active(self) -> bool:
        return self.ended_at is None

    def as_json(self) -> dict[str, t.Any]:
        """The REST API's item: times in ISO 8601, UTC."""
        def iso(value: dt.datetime | None) -> str | None:
            return None if value is None else store.as_utc(value).isoformat()

        return {
            "id": self.id, "user_id": self.user_id, "username": self.username, "current": self.current,
            "kind": self.kind, "via": self.via, "provider": self.provider, "started_at": iso(self.started_at),
            "last_active_at": iso(self.last_active_at), "ip": self.ip, "device": self.device,
            "user_agent": self.user_agent, "active": self.active, "ended_at": iso(self.ended_at),
            "end_reason": self.end_reason, "ended_by": self.ended_by,
        }


def _global(column: t.Any) -> t.Any:
    return select(column).where(_G.c.id == GLOBAL_ROW_ID).scalar_subquery()


def _listing(user_model: t.Any) -> tuple[t.Any, t.Any, t.Any]:
    """The FROM clause, the "is active" condition and the columns of a listing."""
    joined = _R.join(user_model.__table__, user_model.id == _R.c.user_id).outerjoin(_U, _U.c.user_id == _R.c.user_id)
    user_generation = func.coalesce(_U.c.generation, 0)
    global_generation = func.coalesce(_global(_G.c.generation), 0)
    now = store.utcnow()
    active = and_(
        _R.c.ended_at.is_(None), _R.c.expires_at > now,
        _R.c.user_generation == user_generation, _R.c.global_generation == global_generation,
        *registry.within_limits(config.limits(), now),
    )
    columns = (
        *(_R.c[name] for name in ("id", "user_id", "kind", "auth_method", "provider", "started_at", "last_active_at",
                                  "ip", "device", "user_agent", "ended_at", "end_reason", "ended_by", "expires_at",
                                  "user_generation", "global_generation")),
        user_model.username, user_generation.label("epoch_generation"), _U.c.sessions_invalidated_at, _U.c.reason,
        _U.c.actor, global_generation.label("global_generation_now"), _global(_G.c.sessions_invalidated_at),
        _global(_G.c.reason), _global(_G.c.actor),
    )
    return joined, active, columns


class _Epoch(t.NamedTuple):
    generation: int
    at: dt.datetime | None
    reason: str | None
    actor: str | None


def _what_ended(ended: tuple[t.Any, t.Any, t.Any], times: tuple[dt.datetime, dt.datetime, dt.datetime],
                generations: tuple[int, int], user_epoch: _Epoch, global_epoch: _Epoch,
                now: dt.datetime) -> tuple[t.Any, t.Any, t.Any]:
    """``(ended at, reason, by)`` of a record; Nones while it holds.

    Its own end if it has one (a stamp writes it on the records it ends), else the
    first to pass of its expiry, its idle and absolute limits and, for a record under
    older generations that no stamp marked (one started while the stamp was being
    made), the epochs now in force.

    :param times: the record's ``(started_at, last_active_at, expires_at)``.
    """
    if ended[0] is not None:
        return ended
    at, reason = check.first_end(*times, config.limits())
    ends: list[tuple[t.Any, t.Any, t.Any]] = [(at, reason, "system")] if at <= now else []
    ends += [(epoch.at, epoch.reason, epoch.actor)
             for generation, epoch in ((generations[0], user_epoch), (generations[1], global_epoch))
             if generation != epoch.generation]
    # An epoch without a time (none is written so) counts as the earliest.
    return min(ends, key=lambda end: end[0] or dt.datetime.min, default=(None, None, None))


def _info(row: t.Any, now: dt.datetime, current_id: str | None) -> SessionInfo:
    """A listing row, with what ended the session if its record did not say."""
    (record_id, user_id, kind, via, provider, started, last_active, ip, device, agent, ended_at, reason, by,
     expires_at, user_gen, global_gen, username, *epochs) = row
    ended_at, reason, by = _what_ended((ended_at, reason, by), (started, last_active, expires_at),
                                       (user_gen, global_gen), _Epoch(*epochs[:4]), _Epoch(*epochs[4:]), now)
    return SessionInfo(record_id, user_id, username, kind, via, provider, started, last_active, ip, device, agent,
                       ended_at, reason, by, current=record_id == current_id)


def statuses(records: t.Sequence[t.Any]) -> dict[str, tuple[dt.datetime | None, str | None]]:
    """``(ended at, reason)`` of each record (Nones while it holds), reading their users' epochs at once."""
    db = db_session(security_manager())
    user_ids = sorted({record.user_id for record in records})
    rows = db.execute(select(_U.c.user_id, _U.c.generation, _U.c.sessions_invalidated_at, _U.c.reason, _U.c.actor)
                      .where(_U.c.user_id.in_(user_ids))).all()
    epochs = {row[0]: _Epoch(*row[1:]) for row in rows}
    everyone = db.execute(select(_G.c.generation, _G.c.sessions_invalidated_at, _G.c.reason, _G.c.actor)
                          .where(_G.c.id == GLOBAL_ROW_ID)).first()
    global_epoch = _Epoch(*everyone) if everyone is not None else _Epoch(0, None, None, None)
    now, none = store.utcnow(), _Epoch(0, None, None, None)
    found = {}
    for record in records:
        ended = _what_ended((record.ended_at, record.end_reason, record.ended_by),
                            (record.started_at, record.last_active_at, record.expires_at),
                            (record.user_generation, record.global_generation),
                            epochs.get(record.user_id, none), global_epoch, now)
        found[record.id] = (ended[0], ended[1])
    return found


def list_sessions(user_id: int | None = None, state: str | None = None, page: int = 0,
                  page_size: int = 20) -> tuple[list[SessionInfo], int]:
    """One page of sessions, newest first, and how many match in all.

    :param user_id: only this user's.
    :param state: ``"active"``, ``"ended"`` or None for both.
    """
    sm = security_manager()
    db = db_session(sm)
    joined, active, columns = _listing(sm.user_model)
    conditions = []
    if user_id is not None:
        conditions.append(_R.c.user_id == user_id)
    if state == ACTIVE:
        conditions.append(active)
    elif state == ENDED:
        conditions.append(not_(active))
    count = db.execute(select(func.count()).select_from(joined).where(*conditions)).scalar_one()
    rows = db.execute(
        select(*columns).select_from(joined).where(*conditions)
        .order_by(_R.c.started_at.desc(), _R.c.id.desc()).offset(page * page_size).limit(page_size)
    ).all()
    now, current_id = store.utcnow(), current_record_id()
    return [_info(row, now, current_id) for row in rows], int(count)


def get_session(record_id: str, user_id: int | None = None) -> SessionInfo | None:
    """One session by id (and, if given, only if it is that user's).

    An id of another shape than :func:`~.registry.new_id` draws finds nothing, without
    a query: every entry point (the pages, the REST API, the CLI) passes hostile input
    through here.
    """
    if parse_record_id(record_id) is None:
        return None
    sm = security_manager()
    joined, _, columns = _listing(sm.user_model)
    conditions = [_R.c.id == record_id]
    if user_id is not None:
        conditions.append(_R.c.user_id == user_id)
    row = db_session(sm).execute(select(*columns).select_from(joined).where(*conditions)).first()
    return None if row is None else _info(row, store.utcnow(), current_record_id())


def end_session(record_id: str, reason: str = "admin", *, actor: str | None = None,
                user_id: int | None = None) -> SessionInfo | None:
    """End one session, wherever its copies are: its cookie, its remember-me cookie, its tokens.

    :param user_id: only if it is this user's (self-service).
    :returns: the session as it is now, or None if there is no such session (of that user).
    :raises ValueError: for an unusable reason.
    """
    from .listeners import actor as current_actor

    reason = check_reason(reason)
    by = actor or current_actor()
    found = get_session(record_id, user_id)
    if found is None:
        return None
    end_one(record_id, reason=reason, by=by, user_id=found.user_id)
    return get_session(record_id, user_id)


def end_one(record_id: str, *, reason: str, by: str, user_id: int, credentials: tuple[str, ...] = ()) -> bool:
    """End the record if it is still open; log it and send ``session_ended`` once committed.

    :param credentials: the credentials of this request that named the record (a logout's).
    """
    db = db_session(security_manager())
    try:
        ended = registry.end(db.connection(), record_id, reason, by, store.utcnow(), user_id=user_id)
        db.commit()
    except SQLAlchemyError:
        db.rollback()
        raise
    if ended:
        log.info("Session %s… of user %s ended (reason=%s, by=%s)", record_id[:8], user_id, reason, by)
        signals.session_ended.send(current_app._get_current_object(), record_id=record_id,  # type: ignore[attr-defined]
                                   user_id=user_id, reason=reason, actor=by, credentials=credentials)
    return ended


def end_login(record_id: str | None, user_id: int | None, *, reason: str = check.LOGOUT,
              by: str | None = None, credentials: tuple[str, ...] = ()) -> bool:
    """End the record of a login being signed out, wherever the copies of its credentials are.

    Every way a login ends goes through here before its keys are forgotten: FAB's
    ``logout_user()``, Airflow's own logout, the proxy switching users or asserting what
    cannot be read. A credential without a record, or without a user, ends nothing.

    :param by: who ended it (default: the user, as at a logout).
    :param credentials: the credentials of the request that named it (see :mod:`.presented`).
    """
    if record_id is None or not isinstance(user_id, int):
        return False
    return end_one(record_id, reason=reason, by=by or str(user_id), user_id=user_id, credentials=credentials)


def verified_token_claims() -> dict[str, t.Any] | None:
    """The claims of the JWT this request was authenticated with, if any."""
    from flask_jwt_extended import get_jwt

    if not has_request_context():
        return None
    try:
        claims = get_jwt()
    except RuntimeError:
        return None
    return claims or None


def current_record_id() -> str | None:
    """The record of the session or token this request was authenticated with, if any."""
    claims = verified_token_claims()
    if claims is not None:
        return check.token_record_id(claims, config.get("JWT_CLAIM"))
    if has_request_context() and "_user_id" in session:
        return check.record_id_of_session(session)
    return None


def seconds_left(user_id: int) -> tuple[float | None, float | None]:
    """For the session or token of this request: seconds until its idle and its absolute limit.

    None for a limit that is off, or for a credential without a record. Read from what
    this request's check already loaded: no statement.
    """
    state = request_state.current().epochs.get(user_id)
    record = None if state is None else state.record
    if record is None:
        return None, None
    idle, absolute = config.limits().seconds_left(record.started_at, record.last_active_at, store.utcnow())
    return (None if idle is None else max(0.0, round(idle, 1)),
            None if absolute is None else max(0.0, round(absolute, 1)))


def keep_alive(user_id: int) -> None:
    """Write this request's session activity now, whatever the activity interval.

    What this request read of the record is brought up to date too, so the seconds
    left reported afterwards count from now.
    """
    epochs = request_state.current().epochs
    state = epochs.get(user_id)
    record = None if state is None else state.record
    if state is None or record is None or record.id != current_record_id():
        return
    db = db_session(security_manager())
    now = store.utcnow()
    registry.touch(db.connection(), record.id, now, activity.expiry_after_activity(record, now))
    db.commit()
    epochs[user_id] = dataclasses.replace(state, record=dataclasses.replace(record, last_active_at=now))

"""Airflow's own JWTs and the epoch: the claim they carry, and the check on every request.

Airflow checks each token's ``jti`` against its ``revoked_token`` table with one
SELECT. Here that SELECT also loads the token's user and their epochs, so the check
costs no statement of its own, and it runs on every request: the auth manager's
30-second user cache is never asked whether a token is still good.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import types
import typing as t

from airflow.models.revoked_token import RevokedToken
from sqlalchemy import bindparam, false, select

from .. import check, registry, store

if t.TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ..store import EpochState

_REVOKED = RevokedToken.__table__
# Built once per user model and kind of token (with or without a jti).
_STATEMENTS: dict[tuple[t.Any, bool, bool], t.Any] = {}


@dataclasses.dataclass(frozen=True)
class TokenSubject:
    """What one statement found about a token: its user (None if gone), their epochs, a revocation.

    ``user`` holds only what the check needs (id, username, creation time, active):
    loading the whole user would load their roles too, one statement more.
    """

    user: t.Any
    state: EpochState
    revoked: bool


# The user's columns the check reads, in this order.
_USER_COLUMNS = ("id", "username", "created_on", "active")


def _statement(user_model: t.Any, with_jti: bool, with_record: bool) -> t.Any:
    key = (user_model, with_jti, with_record)
    if key not in _STATEMENTS:
        revoked = (
            select(_REVOKED.c.jti).where(_REVOKED.c.jti == bindparam("session_epoch_jti")).exists()
            if with_jti
            else false()
        )
        record: t.Any = bindparam("session_epoch_record_id") if with_record else None
        columns = [getattr(user_model, name) for name in _USER_COLUMNS]
        _STATEMENTS[key] = store.select_with_epochs(
            (*columns, revoked, *store.state_columns(record)), user_model, bindparam("session_epoch_user_id"),
            record,
        )
    return _STATEMENTS[key]


def read_subject(session: Session, user_model: t.Any, user_id: int, jti: str | None,
                 record_id: str | None) -> TokenSubject:
    """The token's user, epochs and session record, and whether its ``jti`` was revoked, in one statement."""
    params: dict[str, t.Any] = {"session_epoch_user_id": user_id}
    if jti is not None:
        params["session_epoch_jti"] = jti
    if record_id is not None:
        params["session_epoch_record_id"] = record_id
    row = session.execute(_statement(user_model, jti is not None, record_id is not None), params).first()
    if row is None:
        return TokenSubject(None, store.NO_EPOCH, False)
    values = dict(zip(_USER_COLUMNS, row, strict=False))
    user = types.SimpleNamespace(**values, is_active=bool(values["active"]))
    return TokenSubject(user, store.state_from_row(row, record_id), bool(row[len(_USER_COLUMNS)]))


def refusal(claims: t.Mapping[str, t.Any], subject: TokenSubject, claim_name: str,
            limits: check.Limits) -> str | None:
    """Why a token must be refused, or None: revoked, its user gone or disabled, stale or its session ended."""
    if subject.revoked:
        return "Token has been revoked"
    if subject.user is None or not subject.user.is_active:
        return "The token's user does not exist or is disabled"
    if check.token_refusal(claims, subject.user, subject.state, claim_name, store.utcnow(), limits) is not None:
        return "The token was issued before the user's sessions ended, or its session ended"
    return None


#: What :func:`record_update` asks for on a token that holds: write its activity.
TOUCH = "touch"


def record_update(subject: TokenSubject, served: bool, limits: check.Limits, interval: dt.timedelta,
                  now: dt.datetime) -> str | None:
    """What this request must write to the token's session record: :data:`TOUCH`, an end reason, or None.

    Airflow's UI talks to the API with its ``_token``, never through a FAB page: its
    calls are the session's activity, recorded at most once per ``interval``. A token
    refused for being past the idle or absolute limit ends its record with that reason,
    as a FAB page would.
    """
    record = subject.state.record
    if record is None or subject.user is None or subject.revoked or not subject.user.is_active:
        return None
    if served:
        return TOUCH if now - record.last_active_at >= interval else None
    reason = check.record_refusal(record.id, subject.state, now, limits)
    return reason if check.first_to_pass_limit(record, reason) else None


def expiry_after_activity(moved: dt.datetime | None, claims: t.Mapping[str, t.Any]) -> dt.datetime | None:
    """The expiry to give a record after activity through a token: ``moved``, but no later than the token's.

    A browser's ``_token`` keeps its session going as a checked page keeps the cookie
    (``moved``, from :func:`flask_session_epoch.activity.expiry_after_activity`); the
    cookie itself is not re-signed by an API call, so the token presented is the last
    credential the record can count on. None (unchanged) without a readable ``exp``.
    """
    exp = claims.get("exp")
    if moved is None or isinstance(exp, bool) or not isinstance(exp, int):
        return None
    try:
        until = dt.datetime.fromtimestamp(exp, dt.timezone.utc).replace(tzinfo=None)
    except (OverflowError, OSError, ValueError):
        return None
    return min(moved, until)


def write_record_update(session: Session, record_id: str, update: str, now: dt.datetime,
                        expires_at: dt.datetime | None = None) -> bool:
    """Write what :func:`record_update` asked for; whether it ended the record (False for activity,
    or when another request ended it first).

    :param expires_at: for activity, the record's new expiry (never moved back); None: unchanged.
    """
    if update == TOUCH:
        registry.touch(session.connection(), record_id, now, expires_at)
        return False
    return registry.end(session.connection(), record_id, update, "system", now)


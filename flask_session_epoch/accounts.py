"""Operator actions on one account: find it, enable or disable it, show its epoch."""

from __future__ import annotations

import typing as t

from flask import has_request_context, session
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from . import check, registry, request_state, store
from .identity import find_users, parse_user_id
from .models import GLOBAL_ROW_ID, GlobalSessionEpoch, UserSessionEpoch
from .revoke import db_session, invalidate_sessions, security_manager
from .session_keys import SESSION_KEY_LOGIN_AT


class UnknownUserError(LookupError):
    """No user matches what was asked for."""


class AmbiguousUserError(LookupError):
    """Several users match what was asked for."""


def resolve_user(spec: str) -> t.Any:
    """Find one user by ``id:N``, username or e-mail address.

    Usernames and e-mail addresses are matched exactly (e-mail without regard to ASCII
    case, usernames as Flask-AppBuilder's ``AUTH_USERNAME_CI`` says): no wildcard and
    no Unicode case folding ever matches someone else.

    :raises UnknownUserError: if nobody matches.
    :raises AmbiguousUserError: if several users match.
    """
    sm = security_manager()
    db = db_session(sm)
    spec = spec.strip()
    if spec.lower().startswith("id:"):
        number = spec[3:].strip()
        user_id = parse_user_id(number)
        user = db.get(sm.user_model, user_id) if user_id is not None else None
        if user is None:
            raise UnknownUserError(f"No user with id {number!r}.")
        return user
    try:
        found = {user.id: user for field in ("username", "email") for user in find_users(sm, db, field, spec)}
    except SQLAlchemyError:
        db.rollback()
        found = {}  # a value the database cannot even compare names nobody
    if not found:
        raise UnknownUserError(f"No user with username or e-mail {spec!r}.")
    if len(found) > 1:
        names = ", ".join(f"id:{user.id} ({user.username})" for user in found.values())
        raise AmbiguousUserError(f"{spec!r} matches several users: {names}. Use id:N.")
    return next(iter(found.values()))


def set_active(user: t.Any, active: bool, *, actor: str | None = None, commit: bool = True) -> bool:
    """Enable or disable an account through the ORM, as the admin UI does.

    Disabling stamps the epoch through the same listener as the admin UI's checkbox.

    :param commit: commit the transaction; False flushes (the stamp is written) and
        leaves it open for more work.
    :returns: whether anything changed (False if it already was so).
    """
    if bool(user.active) == active:
        return False
    sm = security_manager()
    db = db_session(sm)
    if actor is not None:
        request_state.current().actor = actor
    try:
        user.active = active
        if commit:
            db.commit()
        else:
            db.flush()
    except Exception:
        db.rollback()
        raise
    finally:
        request_state.current().actor = None
    return True


def session_status(user: t.Any) -> dict[str, t.Any]:
    """What an operator wants to know about one user's sessions, JSON-ready."""
    sm = security_manager()
    db = db_session(sm)
    row = db.execute(select(UserSessionEpoch).where(UserSessionEpoch.user_id == user.id)).scalar_one_or_none()
    everyone = db.get(GlobalSessionEpoch, GLOBAL_ROW_ID)

    def stamp(value: t.Any) -> str | None:
        return None if value is None else store.as_utc(value).isoformat()

    last_login = getattr(user, "last_login", None)
    return {
        "id": user.id,
        "username": user.username,
        "active": bool(user.active),
        "last_login": last_login.isoformat() if last_login else None,
        "sessions_invalidated_at": stamp(row.sessions_invalidated_at) if row else None,
        "last_reason": row.reason if row else None,
        "last_actor": row.actor if row else None,
        "global_sessions_invalidated_at": stamp(everyone.sessions_invalidated_at) if everyone else None,
        "global_reason": everyone.reason if everyone else None,
    }


def sign_out_other_sessions(user: t.Any, *, reason: str = "self-service") -> None:
    """End every session and token of ``user`` except the session of this request.

    The current cookie session is stamped afresh after the revocation, so it lives on;
    every other session, remember-me cookie and JWT of the user ends.
    """
    invalidate_sessions(user, reason=reason, actor=str(user.id), keep_record=own_record(user.id))
    keep_current_session(user.id)


def own_record(user_id: int) -> str | None:
    """The session record of this request's cookie session, if it is ``user_id``'s."""
    if not has_request_context() or str(session.get("_user_id")) != str(user_id):
        return None
    return check.record_id_of_session(session)


def keep_current_session(user_id: int) -> None:
    """Re-stamp this request's cookie session with the user's new generations."""
    if str(session.get("_user_id")) != str(user_id):
        return
    sm = security_manager()
    db = db_session(sm)
    user = db.get(sm.user_model, user_id)
    if user is None:
        return
    record_id = check.record_id_of_session(session)
    state = store.load_state(db, sm.user_model, user_id)
    if record_id is not None:  # its record goes on under the new epochs too
        registry.keep(db.connection(), record_id, state)
        db.commit()
    login_at = session.get(SESSION_KEY_LOGIN_AT)
    stamp = check.stamp_for(user, state, record_id)
    check.stamp_session(session, stamp, login_at if isinstance(login_at, (int, float)) else None)

"""SQLAlchemy events: the disable trigger, and signals sent only after commit."""

from __future__ import annotations

import logging
import typing as t

from flask import current_app, g, has_app_context, has_request_context, session
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, object_session
from werkzeug.local import LocalProxy

from . import check, config, request_state, schema, signals, store

log = logging.getLogger("flask_session_epoch")

_PENDING = "session_epoch_pending"


def register(user_model: t.Any) -> None:
    """Install the listeners for ``user_model`` and for every session; idempotent."""
    if not event.contains(user_model, "after_update", _after_user_update):
        for attribute in (user_model.active, user_model.password, user_model.roles):
            event.listen(attribute, "set", _note_old_value, active_history=True)
        event.listen(user_model, "after_update", _after_user_update, propagate=True)
        event.listen(user_model, "after_insert", _after_user_insert, propagate=True)
    if not event.contains(Session, "after_commit", _send_pending):
        event.listen(Session, "after_commit", _send_pending)
        event.listen(Session, "after_rollback", _drop_pending)


def _note_old_value(target: t.Any, value: t.Any, oldvalue: t.Any, initiator: t.Any) -> t.Any:
    # Registered only for active_history: the old value must be known even when the
    # attribute was expired. The decision is taken at flush time.
    return value


def _setting(name: str) -> bool:
    """A stamping setting of the current app; outside an app every trigger but opt-in ones is on."""
    if not has_app_context():
        return name != "ON_ROLE_CHANGE"
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return "session_epoch" in app.extensions and bool(config.get(name, app))


def actor() -> str:
    """Who is stamping: an explicit override, the logged-in user's id, or ``system``."""
    if has_app_context():
        override = request_state.current().actor
        if override:
            return str(override)
        if has_request_context():
            # Only a user already loaded (a session's, or a token's in g.user): loading
            # one here could run SQL inside a flush, so proxies are left alone.
            for user in (g.get("_login_user"), g.get("user")):
                if user is None or type(user) is LocalProxy:
                    continue
                if getattr(user, "is_authenticated", False) and getattr(user, "id", None):
                    return str(user.id)
    return "system"


def _after_user_update(mapper: t.Any, connection: t.Any, target: t.Any) -> None:
    reason = _stamp_reason(inspect(target).attrs)
    if reason is None:
        return
    if not schema.ready():
        # The edit goes on (FAB refuses a disabled user anyway); start-up said what to run.
        log.warning("Not stamping the session epoch of user %s (reason=%s): %s", target.id, reason, schema.message())
        return
    at = store.utcnow()
    who = actor()
    # Users who change their own password stay logged in in this session.
    keep = reason == "password-change" and who == str(target.id) and has_request_context()
    own = check.record_id_of_session(session) if keep and str(session.get("_user_id")) == who else None
    store.stamp_user(connection, target.id, at, reason, who, config.limits(), keep=own)
    log.info("Stamped session epoch of user %s (reason=%s, actor=%s)", target.id, reason, who)
    queue_signal(object_session(target), user_id=target.id, reason=reason, actor=who, at=at)
    if keep:
        request_state.current().keep_user = target.id


def _after_user_insert(mapper: t.Any, connection: t.Any, target: t.Any) -> None:
    """Give every new user an epoch at once.

    A database may hand a deleted user's id out again (SQLite does). Sessions from
    before the stamp existed carry no proof of whose they are; with an epoch from
    the start, no such session can ever serve the new user.
    """
    # Only once the tables exist: creating the first admin works before our migration.
    if not has_app_context() or "session_epoch" not in current_app.extensions or not schema.ready():
        return
    store.stamp_user(connection, target.id, store.utcnow(), store.CREATED, actor())


def _stamp_reason(attrs: t.Any) -> str | None:
    """Why this flush of a user ends their sessions, or None: only real transitions count."""
    active = attrs.active.history
    was_active = any(bool(value) for value in active.deleted)
    now_inactive = bool(active.added) and not any(bool(value) for value in active.added)
    if was_active and now_inactive and _setting("STAMP_ON_DISABLE"):
        return "disable"
    password = attrs.password.history
    if password.added and list(password.added) != list(password.deleted) and _setting("STAMP_ON_PASSWORD_CHANGE"):
        return "password-change"
    if attrs.roles.history.deleted and _setting("ON_ROLE_CHANGE"):
        return "role-change"
    return None


def queue_signal(session: Session | None, **payload: t.Any) -> None:
    """Send :data:`~flask_session_epoch.signals.sessions_invalidated` once ``session`` commits."""
    sender = current_app._get_current_object() if has_app_context() else None  # type: ignore[attr-defined]
    if session is None:
        signals.sessions_invalidated.send(sender, **payload)
        return
    session.info.setdefault(_PENDING, []).append((sender, payload))


def _send_pending(session: Session) -> None:
    for sender, payload in session.info.pop(_PENDING, []):
        try:
            signals.sessions_invalidated.send(sender, **payload)
        except Exception:  # a receiver's bug must not undo a committed stamp
            log.exception("A sessions_invalidated receiver failed")


def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)

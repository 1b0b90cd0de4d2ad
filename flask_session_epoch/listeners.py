"""SQLAlchemy events: the disable trigger, and signals sent only after commit."""

from __future__ import annotations

import logging
import typing as t

from flask import current_app, g, has_app_context, has_request_context
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, object_session

from . import config, signals, store

log = logging.getLogger("flask_session_epoch")

_PENDING = "session_epoch_pending"


def register(user_model: t.Any) -> None:
    """Install the listeners for ``user_model`` and for every session; idempotent."""
    if not event.contains(user_model, "after_update", _after_user_update):
        # active_history: the old value of ``active`` must be known even when the
        # attribute was expired, or a True -> False change could go unnoticed.
        event.listen(user_model.active, "set", _note_active_set, active_history=True)
        event.listen(user_model, "after_update", _after_user_update, propagate=True)
    if not event.contains(Session, "after_commit", _send_pending):
        event.listen(Session, "after_commit", _send_pending)
        event.listen(Session, "after_rollback", _drop_pending)


def _note_active_set(target: t.Any, value: t.Any, oldvalue: t.Any, initiator: t.Any) -> t.Any:
    # Registered only for active_history; the decision is taken at flush time.
    return value


def _enabled_here() -> bool:
    if not has_app_context():
        return True
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return "session_epoch" in app.extensions and bool(config.get("STAMP_ON_DISABLE", app))


def actor() -> str:
    """Who is stamping: an explicit override, the logged-in user's id, or ``system``."""
    if has_app_context():
        override = g.get("session_epoch_actor")
        if override:
            return str(override)
        if has_request_context():
            # Only a user already loaded: loading one here could run SQL inside a flush.
            user = g.get("_login_user")
            if user is not None and getattr(user, "is_authenticated", False) and getattr(user, "id", None):
                return str(user.id)
    return "system"


def _after_user_update(mapper: t.Any, connection: t.Any, target: t.Any) -> None:
    history = inspect(target).attrs.active.history
    was_active = any(bool(value) for value in history.deleted)
    now_inactive = bool(history.added) and not any(bool(value) for value in history.added)
    if not (was_active and now_inactive) or not _enabled_here():
        return
    at = store.utcnow()
    who = actor()
    store.stamp_user(connection, target.id, at, "disable", who)
    log.info("Stamped session epoch of user %s (reason=disable, actor=%s)", target.id, who)
    queue_signal(object_session(target), user_id=target.id, reason="disable", actor=who, at=at)


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

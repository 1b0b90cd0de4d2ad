"""The Python API that stamps epochs: one user, or everyone."""

from __future__ import annotations

import logging
import typing as t

from flask import current_app, has_app_context

from . import config, listeners, request_state, schema, store
from .identity import MAX_USER_ID, parse_user_id

if t.TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = logging.getLogger("flask_session_epoch")

#: The longest reason the audit trail keeps.
MAX_REASON = 64


def security_manager() -> t.Any:
    """The app's security manager, for the Python API (which reads and writes our tables).

    :raises RuntimeError: if the extension is not set up for this app.
    :raises ~.schema.SchemaMissing: while our tables or columns are missing.
    """
    if "session_epoch" not in current_app.extensions:
        raise RuntimeError(
            "flask-session-epoch is not set up for this app: use SessionEpochSecurityManager"
            " (FAB_SECURITY_MANAGER_CLASS) or put SessionEpochMixin in front of your security manager."
        )
    schema.require()
    return current_app.appbuilder.sm  # type: ignore[attr-defined]


def db_session(sm: t.Any) -> Session:
    """The SQLAlchemy session FAB's security manager works with (its name changed across FAB 5)."""
    session = getattr(sm, "session", None)
    return session if session is not None else sm.get_session


def check_reason(reason: t.Any) -> str:
    """A reason for the audit trail, trimmed.

    :raises ValueError: unless it is a non-empty string of at most 64 characters.
    """
    if not isinstance(reason, str) or not reason.strip() or len(reason.strip()) > MAX_REASON:
        raise ValueError(f"reason must be a non-empty string of at most {MAX_REASON} characters")
    return reason.strip()


def user_id_of(user: t.Any) -> int:
    """The primary key of a user object or of an id given directly.

    :raises TypeError: for anything else, booleans included.
    :raises ValueError: for an integer no database of ours can hold as a user id.
    """
    value = getattr(user, "id", user)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected a user or an integer user id, got {user!r}")
    if parse_user_id(value) is None:
        raise ValueError(f"{value} is not a user id (0 to {MAX_USER_ID})")
    return value


def _stamp(session: Session, write: t.Callable[..., None], user_id: int | None, reason: str,
           who: str, commit: bool, **options: t.Any) -> None:
    at = store.utcnow()
    target = () if user_id is None else (user_id,)
    # Epochs this request read earlier are out of date now.
    if has_app_context():
        request_state.current().epochs.clear()
    try:
        write(session.connection(), *target, at, reason, who, config.limits(), **options)
        listeners.queue_signal(session, user_id=user_id, reason=reason, actor=who, at=at)
        if commit:
            session.commit()
    except Exception:
        session.rollback()
        raise


def invalidate_sessions(user: t.Any, reason: str = "api", *, actor: str | None = None,
                        commit: bool = True, keep_record: str | None = None) -> None:
    """End every session and token of one user; the account stays as it is.

    The stamp is written in the security manager's current transaction, and
    :data:`~flask_session_epoch.signals.sessions_invalidated` is sent once it commits.

    :param user: a user object or a user id.
    :param reason: why, for the audit trail (``disable``, ``password-change``, ...).
    :param actor: who did it; defaults to the logged-in user's id, or ``system``.
    :param commit: commit the transaction; pass False to keep it open for more work.
    :param keep_record: a session record of the user's that is not ended (their own
        session, which the caller then carries over the new epoch).
    :raises LookupError: if no such user exists.
    """
    sm = security_manager()
    user_id = user_id_of(user)
    reason = check_reason(reason)
    session = db_session(sm)
    if session.get(sm.user_model, user_id) is None:
        raise LookupError(f"no user with id {user_id}")
    who = actor or listeners.actor()
    _stamp(session, store.stamp_user, user_id, reason, who, commit, keep=keep_record)
    log.info("Stamped session epoch of user %s (reason=%s, actor=%s)", user_id, reason, who)


def invalidate_all_sessions(reason: str = "revoke-all", *, actor: str | None = None,
                            commit: bool = True, keep_record: str | None = None) -> None:
    """End everyone's sessions and tokens with one write to the global epoch.

    :param reason: why, for the audit trail.
    :param actor: who did it; defaults to the logged-in user's id, or ``system``.
    :param commit: commit the transaction; pass False to keep it open for more work.
    :param keep_record: a session record that is not ended (the caller's own session,
        which the caller then carries over the new epoch).
    """
    sm = security_manager()
    reason = check_reason(reason)
    session = db_session(sm)
    who = actor or listeners.actor()
    _stamp(session, store.stamp_global, None, reason, who, commit, keep=keep_record)
    log.warning("Stamped the global session epoch: every session ends (reason=%s, actor=%s)", reason, who)

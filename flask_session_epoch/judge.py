"""Judging credentials as the user loads: is this session, cookie or token its user's current one?

The security manager (see :mod:`.manager`) hands Flask-Login and flask-jwt-extended
the loaders below. Each reads the user and their epochs in one statement, asks
:mod:`.check` whether the credential is current, and, if not, ends it and says why
(the response itself is shaped in :mod:`.check`).
"""

from __future__ import annotations

import logging
import time
import typing as t

from flask import current_app, g, request, session
from sqlalchemy.exc import SQLAlchemyError

from . import check, config, remember, signals, store
from .identity import parse_user_id
from .remember import Remembered
from .revoke import db_session
from .session_keys import SESSION_KEY_EPOCH, SESSION_KEY_LOGIN_AT, SESSION_KEY_SID

if t.TYPE_CHECKING:
    from .store import EpochState

log = logging.getLogger("flask_session_epoch")
_T = t.TypeVar("_T")


def states() -> dict[int, EpochState | None]:
    """Epochs read during this request, keyed by user id (None: the read failed)."""
    if "session_epoch_states" not in g:
        g.session_epoch_states = {}
    return t.cast("dict[int, EpochState | None]", g.session_epoch_states)


class UserJudge:
    """The loaders and the judgement; mixed into the security manager."""

    user_model: t.Any

    def _session_epoch_read(self, user_id: int, read: t.Callable[[t.Any], _T]) -> _T | None:
        """Run one read of the epochs; on a database error log it, roll back and return None."""
        db = db_session(self)
        try:
            return read(db)
        except SQLAlchemyError:
            log.error("Could not read the session epoch of user %s", user_id, exc_info=True)
            db.rollback()
            return None

    def _session_epoch_load(self, pk: t.Any, sid_key: str | None = None) -> t.Any:
        """The user with id ``pk``, active or not (None if there is none), epochs read alongside.

        :param sid_key: a provider session whose logout is looked up in the same statement.
        """
        user_id = parse_user_id(pk)
        if user_id is None:
            return None
        loaded = self._session_epoch_read(
            user_id, lambda db: store.load_user_with_state(db, self.user_model, user_id, sid_key)
        )
        if loaded is None:  # FAB's own lookup, without the epochs
            user, state = self.get_user_by_id(user_id), None  # type: ignore[attr-defined]
        else:
            user, state = loaded
        states()[user_id] = state
        return user

    def load_user(self, pk: t.Any) -> t.Any:
        """Load an active user by id, reading their epochs in the same statement."""
        user = self._session_epoch_load(pk)
        return user if user is not None and user.is_active else None

    def _session_epoch_state(self, user_id: int, sid_key: str | None = None) -> EpochState | None:
        """The user's epochs as read in this request; None if they could not be read.

        :param sid_key: the session's provider session, which must have been looked up too.
        """
        read = states()
        known = read.get(user_id)
        if user_id not in read or (sid_key is not None and known is not None and known.sid_key != sid_key):
            # A subclass replaced load_user without calling ours: read the epochs apart.
            read[user_id] = self._session_epoch_read(
                user_id, lambda db: store.load_state(db, self.user_model, user_id, sid_key)
            )
        return read[user_id]

    def _session_epoch_refusal(self, user_id: int, is_current: t.Callable[[EpochState], bool],
                               via: str, sid_key: str | None = None) -> str | None:
        """Why the credentials must be refused (``stale`` / ``check-failed``), or None.

        A failing check lets the request through unless ``SESSION_EPOCH_FAIL_CLOSED``.
        """
        state = self._session_epoch_state(user_id, sid_key)
        try:
            if state is None:
                raise RuntimeError("the epoch could not be read")
            return None if is_current(state) else "stale"
        except Exception:
            fail_closed = bool(config.get("FAIL_CLOSED"))
            log.error(
                "Session epoch check failed for user %s via %s; %s",
                user_id,
                via,
                "ending the session" if fail_closed else "letting the request through",
                exc_info=True,
            )
            return "check-failed" if fail_closed else None

    def _session_epoch_admit(self, user: t.Any, is_current: t.Callable[[EpochState], bool], via: str,
                             sid_key: str | None = None) -> t.Any:
        """``user`` if they are active and their credentials (``via``) are current, else None.

        Refused credentials end: the session's keys go, and the response says why
        (a disabled user's older credentials too, so they read "your session has ended").
        Static files and health checks never end anything.
        """
        if user is None:
            return None
        if not user.is_active:
            state = states().get(user.id)
            stale = state is not None and not is_current(state)
            reason = "stale" if stale else None
        else:
            reason = self._session_epoch_refusal(user.id, is_current, via, sid_key)
            if reason is None:
                return user
        if reason is not None and not check.is_exempt_request():
            if via in ("session", "remember"):
                check.end_session(session)
            self._session_epoch_refuse(user.id, via, reason)
        return None

    def _session_epoch_refuse(self, user_id: int, via: str, reason: str) -> None:
        log.info("Refused the %s of user %s at %s: %s", via, user_id, request.path, reason)
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        signals.session_rejected.send(app, user_id=user_id, via=via, reason=reason)
        check.mark_ended(via)

    def _session_epoch_load_session_user(self, pk: t.Any) -> t.Any:
        """Flask-Login's user loader for the session: the user, unless it is not their current login."""
        sid_key = session.get(SESSION_KEY_SID)
        sid_key = sid_key if isinstance(sid_key, str) else None
        user = self._session_epoch_load(pk, sid_key)
        return self._session_epoch_admit(
            user, lambda state: check.session_is_current(session, user, state), "session", sid_key
        )

    def _session_epoch_load_remembered_user(self, user_id: int, remembered: Remembered | None) -> t.Any:
        """A restore from Flask-Login's remember-me cookie: judged by our cookie next to it alone."""
        sid_key = remembered.sid_key if remembered is not None else None
        user = self._session_epoch_load(user_id, sid_key)

        def is_current(state: EpochState) -> bool:
            return remembered.vouches_for(user, state) if remembered is not None else not state.has_epoch

        admitted = self._session_epoch_admit(user, is_current, "remember", sid_key)
        if admitted is not None:
            state = self._session_epoch_state(user_id, sid_key)
            if state is None:  # fail-open: unstamped, so it ends once the user has an epoch
                session.pop(SESSION_KEY_EPOCH, None)
                session[SESSION_KEY_LOGIN_AT] = time.time()
            else:
                remember.restore_session(remembered, check.stamp_for(admitted, state))
        return admitted

    def load_user_jwt(self, _jwt_header: dict[str, t.Any], jwt_data: dict[str, t.Any]) -> t.Any:
        """flask-jwt-extended's user lookup: refuse access and refresh tokens older than the epoch."""
        user = self._session_epoch_load(jwt_data.get("sub"))
        claim_name = config.get("JWT_CLAIM")
        user = self._session_epoch_admit(
            user, lambda state: check.token_is_current(jwt_data, user, state, claim_name), "jwt"
        )
        if user is None:
            return None
        # A valid token wins over a stale cookie sent along with it.
        check.forget_ended()
        g.user = user
        return user

    def _session_epoch_claim(self, identity: t.Any) -> list[t.Any] | None:
        """Our claim for a JWT being minted for ``identity``, or None if the epochs cannot be read."""
        user_id = parse_user_id(identity)
        if user_id is None:
            return None
        # Minting follows a login or a refresh that loaded the user: no new statement.
        user = db_session(self).get(self.user_model, user_id)
        state = self._session_epoch_state(user_id)
        return None if user is None or state is None else check.token_claim(user, state)

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

from . import activity, check, config, remember, request_state, responses, schema, signals, store
from .identity import parse_user_id
from .remember import Remembered
from .revoke import db_session
from .session_keys import SESSION_KEY_EPOCH, SESSION_KEY_LOGIN_AT

if t.TYPE_CHECKING:
    from .store import EpochState

log = logging.getLogger("flask_session_epoch")
_T = t.TypeVar("_T")


def states() -> dict[int, EpochState | None]:
    """Epochs read during this request, keyed by user id (None: the read failed)."""
    return request_state.current().epochs


Refusal = t.Callable[["EpochState"], "str | None"]


class UserJudge:
    """The loaders and the judgement; mixed into the security manager."""

    user_model: t.Any

    def _session_epoch_read(self, user_id: int, read: t.Callable[[t.Any], _T]) -> _T | None:
        """Run one read of the epochs; on a database error log it, roll back and return None.

        None without reading while our schema is missing (:mod:`.schema`): FAB's pages
        go on working, and start-up has already said what to run.
        """
        if not schema.ready():
            return None
        db = db_session(self)
        try:
            return read(db)
        except SQLAlchemyError:
            log.error("Could not read the session epoch of user %s", user_id, exc_info=True)
            db.rollback()
            return None

    def _session_epoch_load(self, pk: t.Any, record_id: str | None = None) -> t.Any:
        """The user with id ``pk``, active or not (None if there is none), epochs read alongside.

        :param record_id: a session record of theirs to read in the same statement.
        """
        user_id = parse_user_id(pk)
        if user_id is None:
            return None
        loaded = self._session_epoch_read(
            user_id, lambda db: store.load_user_with_state(db, self.user_model, user_id, record_id)
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

    def _session_epoch_state(self, user_id: int, record_id: str | None = None) -> EpochState | None:
        """The user's epochs as read in this request; None if they could not be read.

        :param record_id: the credential's session record, which must have been read too.
        """
        read = states()
        known = read.get(user_id)
        if user_id not in read or (record_id is not None and known is not None and known.record_id != record_id):
            # A subclass replaced load_user without calling ours: read the epochs apart.
            read[user_id] = self._session_epoch_read(
                user_id, lambda db: store.load_state(db, self.user_model, user_id, record_id)
            )
        return read[user_id]

    def _session_epoch_refusal(self, user_id: int, refusal: Refusal, via: str,
                               record_id: str | None = None) -> str | None:
        """Why the credentials must be refused (``stale``, a record's end, ``check-failed``), or None.

        A failing check lets the request through unless ``SESSION_EPOCH_FAIL_CLOSED``.
        """
        state = self._session_epoch_state(user_id, record_id)
        fail_closed = bool(config.get("FAIL_CLOSED"))
        if state is None and not schema.ready():
            return "check-failed" if fail_closed else None
        try:
            if state is None:
                raise RuntimeError("the epoch could not be read")
            return refusal(state)
        except Exception:
            log.error(
                "Session epoch check failed for user %s via %s; %s",
                user_id,
                via,
                "ending the session" if fail_closed else "letting the request through",
                exc_info=True,
            )
            return "check-failed" if fail_closed else None

    def _session_epoch_admit(self, user: t.Any, refusal: Refusal, via: str, record_id: str | None = None) -> t.Any:
        """``user`` if they are active and their credentials (``via``) hold, else None.

        Refused credentials end: the session's keys go, and the response says why
        (a disabled user's older credentials too, so they read "your session has ended").
        Static files and health checks never end anything. A credential that holds
        has its record's activity noted.
        """
        if user is None:
            return None
        if not user.is_active:
            state = states().get(user.id)
            reason = None if state is None else refusal(state)
        else:
            reason = self._session_epoch_refusal(user.id, refusal, via, record_id)
            if reason is None:
                if not responses.is_status_check():  # an open tab asking is not activity
                    activity.note(states().get(user.id), store.utcnow())
                return user
        if reason is not None and not responses.is_exempt_request():
            if via in ("session", "remember"):
                responses.end_session(session)
            state = states().get(user.id)
            record = None if state is None else state.record
            if record_id is not None and check.first_to_pass_limit(record, reason):
                activity.end_after_response(record_id, user.id, reason)
            self._session_epoch_refuse(user.id, via, reason)
        return None

    def _session_epoch_refuse(self, user_id: int, via: str, reason: str) -> None:
        log.info("Refused the %s of user %s at %s: %s", via, user_id, request.path, reason)
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        signals.session_rejected.send(app, user_id=user_id, via=via, reason=reason)
        responses.mark_ended(via, reason)

    def _session_epoch_load_session_user(self, pk: t.Any) -> t.Any:
        """Flask-Login's user loader for the session: the user, unless it is not their current login."""
        record_id = check.record_id_of_session(session)
        user = self._session_epoch_load(pk, record_id)
        now = store.utcnow()
        return self._session_epoch_admit(
            user, lambda state: check.session_refusal(session, user, state, now, config.limits()), "session", record_id
        )

    def _session_epoch_load_remembered_user(self, user_id: int, remembered: Remembered | None) -> t.Any:
        """A restore from Flask-Login's remember-me cookie: judged by our cookie next to it alone.

        The restored session goes on under the record of the login it came from. A bare
        remember-me cookie (without ours) names no record, so nothing could ever end it:
        it is refused, whether or not its user has an epoch.
        """
        record_id = remembered.stamp.record_id if remembered is not None else None
        user = self._session_epoch_load(user_id, record_id)
        now = store.utcnow()

        def refusal(state: EpochState) -> str | None:
            if remembered is not None:
                return remembered.stamp.refusal(user, state, now, config.limits())
            return check.STALE

        admitted = self._session_epoch_admit(user, refusal, "remember", record_id)
        if admitted is not None:
            state = self._session_epoch_state(user_id, record_id)
            if state is None:  # fail-open: unstamped, so it ends once the user has an epoch
                session.pop(SESSION_KEY_EPOCH, None)
                session[SESSION_KEY_LOGIN_AT] = time.time()
            else:
                remember.restore_session(remembered, check.stamp_for(admitted, state, record_id))
        return admitted

    def load_user_jwt(self, _jwt_header: dict[str, t.Any], jwt_data: dict[str, t.Any]) -> t.Any:
        """flask-jwt-extended's user lookup: refuse access and refresh tokens whose login ended."""
        claim_name = config.get("JWT_CLAIM")
        record_id = check.token_record_id(jwt_data, claim_name)
        user = self._session_epoch_load(jwt_data.get("sub"), record_id)
        now = store.utcnow()
        user = self._session_epoch_admit(
            user, lambda state: check.token_refusal(jwt_data, user, state, claim_name, now, config.limits()), "jwt",
            record_id
        )
        if user is None:
            return None
        # A valid token wins over a stale cookie sent along with it.
        responses.forget_ended()
        g.user = user
        return user

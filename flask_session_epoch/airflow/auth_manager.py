"""``[core] auth_manager = flask_session_epoch.airflow.SessionEpochFabAuthManager``."""

from __future__ import annotations

import datetime as dt
import logging
import typing as t
from functools import cached_property

from airflow.configuration import conf
from airflow.exceptions import AirflowConfigException
from airflow.models.revoked_token import RevokedToken
from airflow.providers.fab.auth_manager.fab_auth_manager import FabAuthManager
from airflow.utils.session import create_session
from fastapi import HTTPException, status
from flask import current_app
from jwt import InvalidTokenError
from sqlalchemy.exc import SQLAlchemyError

from .. import activity, check, config, logins, signals, store
from ..identity import parse_user_id
from . import logout, records, tokens
from .security_manager import SessionEpochAirflowSecurityManager

if t.TYPE_CHECKING:
    from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
    from fastapi import FastAPI
    from flask import Flask

log = logging.getLogger("flask_session_epoch")


class SessionEpochFabAuthManager(FabAuthManager):
    """The FAB provider's auth manager, whose JWTs end with the user's sessions.

    Airflow's JWTs (the UI's ``_token`` cookie, ``POST /auth/token``, the refresh
    middleware) carry the epoch generations, and every request checks them in the
    statement that looks up the token's revocation: a revoked, disabled or re-enabled
    user's older tokens are refused at once, on every worker.
    """

    @cached_property
    def security_manager(self) -> SessionEpochAirflowSecurityManager:
        """Ours, or ``SECURITY_MANAGER_CLASS`` from ``webserver_config.py`` if it derives from ours."""
        if not self.appbuilder:
            raise AirflowConfigException("AppBuilder is not initialized.")
        configured = current_app.config.get("SECURITY_MANAGER_CLASS")
        if configured is None:
            return SessionEpochAirflowSecurityManager(self.appbuilder)
        if not (isinstance(configured, type) and issubclass(configured, SessionEpochAirflowSecurityManager)):
            raise AirflowConfigException(
                "SECURITY_MANAGER_CLASS in webserver_config.py must derive from"
                " flask_session_epoch.airflow.SessionEpochAirflowSecurityManager when [core] auth_manager is"
                f" flask_session_epoch.airflow.SessionEpochFabAuthManager; it is {configured!r}."
            )
        return configured(self.appbuilder)

    def _settings_app(self) -> Flask:
        """The FAB app whose checked ``SESSION_EPOCH_*`` settings apply (FastAPI requests have no app context)."""
        app = getattr(self, "flask_app", None)
        return t.cast("Flask", app if app is not None else current_app._get_current_object())  # type: ignore[attr-defined]

    def generate_jwt(self, user: t.Any, *,
                     expiration_time_in_seconds: int = conf.getint("api_auth", "jwt_expiration_time")) -> str:
        """A token for ``user``, with our claim naming the session record it belongs to (see :mod:`.records`)."""
        claims = self._claims(user, dt.timedelta(seconds=expiration_time_in_seconds))
        return self._get_token_signer(expiration_time_in_seconds=expiration_time_in_seconds).generate(claims)

    def serialize_user(self, user: t.Any) -> dict[str, t.Any]:
        """The claims of a token minted now with Airflow's default lifetime: see :meth:`generate_jwt`."""
        return self._claims(user, dt.timedelta(seconds=conf.getint("api_auth", "jwt_expiration_time")))

    def _claims(self, user: t.Any, lifetime: dt.timedelta) -> dict[str, t.Any]:
        """The provider's ``sub``, and the generations and session record the token is minted under.

        The UI's ``_token``, handed out by a FAB page of a signed-in browser, belongs to
        that browser's session record; a token minted for whoever a token authenticated
        belongs to that token's; a password login's to a new record of its own. Ending
        the record (logout, *End session*, a timeout) ends them all.
        """
        claims = super().serialize_user(user)
        app = self._settings_app()
        try:
            with create_session() as session:
                state = store.load_state(session, self.security_manager.user_model, user.id)
        except SQLAlchemyError:
            # Without the claim the token is judged by its iat, like one minted before install.
            log.error("Could not read the session epoch of user %s for a new token", user.id, exc_info=True)
            return claims
        try:
            record_id = records.for_new_token(app, self.security_manager, user, state, lifetime)
        except logins.LoginRefused as refused:  # the cap, or a record that cannot be written
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=refused.description) from None
        claims[config.get("JWT_CLAIM", app)] = check.token_claim(user, state, record_id)
        return claims

    def get_fastapi_app(self) -> FastAPI | None:
        """The provider's API, whose ``GET /logout`` also ends the session it signs out (see :mod:`.logout`)."""
        api = super().get_fastapi_app()
        if api is not None:
            logout.install(api, self._settings_app(), self._get_token_validator)
        return api

    def revoke_token(self, token: str) -> None:
        """Airflow's API logout (``GET /api/v2/auth/logout``): the token's id is revoked, and its session ends."""
        super().revoke_token(token)
        app = self._settings_app()
        logout.end(app, [logout.of_token(app, self._get_token_validator(), token)])

    def create_token(self, headers: dict[str, str], body: dict[str, t.Any]) -> t.Any:
        """A password login for a token (``POST /auth/token``): its token gets a record of its own."""
        user = super().create_token(headers=headers, body=body)
        if user is not None:
            user_agent = next((value for name, value in headers.items() if name.lower() == "user-agent"), None)
            records.note_presented(records.Credential(user.id, None, user_agent or None))
        return user

    async def get_user_from_token(self, token: str) -> BaseUser:
        """The token's user, unless the token is invalid, revoked, or older than the user's epoch."""
        try:
            payload: dict[str, t.Any] = await self._get_token_validator().avalidated_claims(token)
        except InvalidTokenError as exc:
            log.error("JWT token is not valid: %s", exc)
            raise
        user_id = parse_user_id(payload.get("sub"))
        if user_id is None:
            raise InvalidTokenError("The token names no user")
        reason = self._refusal(payload, user_id)
        if reason is not None:
            raise InvalidTokenError(reason)
        # The tokens this request mints belong to this token's record.
        record_id = check.token_record_id(payload, config.get("JWT_CLAIM", self._settings_app()))
        records.note_presented(records.Credential(user_id, record_id))
        try:
            return t.cast("BaseUser", self.deserialize_user(payload))
        except (ValueError, KeyError) as exc:
            log.error("Couldn't deserialize user from token, JWT token is not valid: %s", exc)
            raise InvalidTokenError(str(exc)) from None

    def _refusal(self, payload: dict[str, t.Any], user_id: int) -> str | None:
        """Why this token must be refused, read in place of Airflow's revocation lookup; None if current."""
        app = self._settings_app()
        jti = payload.get("jti") if isinstance(payload.get("jti"), str) else None
        try:
            with create_session() as session:
                cleanup = getattr(RevokedToken, "_maybe_cleanup_expired", None)
                if cleanup is not None:  # Airflow's own lookup prunes expired revocations
                    cleanup(session)
                record_id = check.token_record_id(payload, config.get("JWT_CLAIM", app))
                subject = tokens.read_subject(session, self.security_manager.user_model, user_id, jti, record_id)
        except SQLAlchemyError:
            fail_closed = bool(config.get("FAIL_CLOSED", app))
            log.error("Session epoch check of a token of user %s failed; %s", user_id,
                      "refusing it" if fail_closed else "falling back to Airflow's own check", exc_info=True)
            if fail_closed:
                return "The token could not be checked"
            return "Token has been revoked" if jti and RevokedToken.is_revoked(jti) else None
        reason = tokens.refusal(payload, subject, config.get("JWT_CLAIM", app), config.limits(app))
        self._keep_record(app, subject, payload, served=reason is None)
        if reason is not None and not subject.revoked:
            log.info("Refused the Airflow token of user %s: %s", user_id, reason)
            signals.session_rejected.send(app, user_id=user_id, via="jwt", reason="stale")
        return reason

    @staticmethod
    def _keep_record(app: Flask, subject: tokens.TokenSubject, claims: t.Mapping[str, t.Any], *,
                     served: bool) -> None:
        """Record the session's activity (at most once per interval), or its end at a limit.

        Activity through a browser's token moves its expiry as a checked FAB page does
        (as plain Airflow serves a busy UI for as long as its ``_token`` lives), but never
        past that token's own expiry. In a transaction of its own: a failed write never
        decides whether the token holds.
        """
        now = store.utcnow()
        interval = dt.timedelta(seconds=config.get("ACTIVITY_INTERVAL", app))
        update = tokens.record_update(subject, served, config.limits(app), interval, now)
        record = subject.state.record
        if update is None or record is None:
            return
        expires_at = None
        if update == tokens.TOUCH:
            expires_at = tokens.expiry_after_activity(activity.expiry_after_activity(record, now, app), claims)
        try:
            with create_session() as session:
                ended = tokens.write_record_update(session, record.id, update, now, expires_at)
        except SQLAlchemyError:
            log.error("Could not write to the session record of user %s", subject.user.id, exc_info=True)
            return
        if ended:
            log.info("Session %s… of user %s ended: %s", record.id[:8], subject.user.id, update)
            signals.session_ended.send(app, record_id=record.id, user_id=subject.user.id, reason=update,
                                       actor="system", credentials=())

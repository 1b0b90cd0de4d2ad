"""The REST API: revoke one user, revoke everyone, show a user's status, self-service."""

from __future__ import annotations

import typing as t

from flask import current_app, g, request
from flask_appbuilder.api import BaseApi, expose, safe
from flask_appbuilder.security.decorators import protect
from flask_jwt_extended import verify_jwt_in_request
from flask_jwt_extended.exceptions import JWTExtendedException
from flask_login import current_user
from flask_wtf.csrf import validate_csrf
from jwt import PyJWTError
from wtforms.validators import ValidationError

from . import sessions, tokens
from .accounts import session_status, sign_out_other_sessions
from .identity import parse_user_id
from .idp_logout import openapi
from .revoke import db_session, invalidate_all_sessions, invalidate_sessions, security_manager
from .sessions_api import SessionsApiMixin
from .views import PERMISSION_VIEW


class SessionEpochApi(SessionsApiMixin, BaseApi):
    """``/api/v1/session_epoch/``: session or JWT auth, FAB permissions on ``SessionEpoch``."""

    resource_name = "session_epoch"
    class_permission_name = PERMISSION_VIEW
    allow_browser_login = True
    method_permission_name = {"revoke": "revoke", "revoke_all": "revoke_all", "status": "read",
                              "list_sessions": "read", "end_session": "revoke"}
    openapi_spec_tag = "Session epoch"

    def add_api_spec(self, api_spec: t.Any) -> None:
        """FAB's spec of these endpoints, and of the provider-facing logout routes beside them."""
        super().add_api_spec(api_spec)
        openapi.add_paths(api_spec)

    @staticmethod
    def _user(raw_id: str) -> t.Any:
        """The user a path names, or None. Werkzeug's ``int`` converter would take any
        Unicode digit (Arabic-Indic, full-width) and ids beyond 64 bits."""
        user_id = parse_user_id(raw_id)
        if user_id is None:
            return None
        sm = security_manager()
        return db_session(sm).get(sm.user_model, user_id)

    @expose("/revoke/<user_id>", methods=["POST"])
    @protect()
    @safe
    def revoke(self, user_id: str) -> t.Any:
        """End every session and token of one user.
        ---
        post:
          summary: End every session and token of one user; the account stays active.
          parameters:
          - in: path
            name: user_id
            required: true
            schema:
              type: integer
          responses:
            200:
              description: The user's sessions and tokens have ended.
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/401'
            404:
              $ref: '#/components/responses/404'
        """
        refused = self._csrf_refusal()
        if refused is not None:
            return refused
        user = self._user(user_id)
        if user is None:
            return self.response_404()
        invalidate_sessions(user, reason="api")
        return self.response(200, message="sessions ended", user_id=user.id)

    @expose("/revoke_all", methods=["POST"])
    @protect()
    @safe
    def revoke_all(self) -> t.Any:
        """End everyone's sessions and tokens.
        ---
        post:
          summary: End every session and token of every user (the global epoch).
          responses:
            200:
              description: Every session and token has ended.
            401:
              $ref: '#/components/responses/401'
        """
        refused = self._csrf_refusal()
        if refused is not None:
            return refused
        invalidate_all_sessions(reason="revoke-all")
        return self.response(200, message="every session ended")

    @expose("/status/<user_id>", methods=["GET"])
    @protect()
    @safe
    def status(self, user_id: str) -> t.Any:
        """A user's active flag, epochs, last login and last revocation.
        ---
        get:
          summary: Show a user's session status.
          parameters:
          - in: path
            name: user_id
            required: true
            schema:
              type: integer
          responses:
            200:
              description: The status.
            401:
              $ref: '#/components/responses/401'
            404:
              $ref: '#/components/responses/404'
        """
        user = self._user(user_id)
        if user is None:
            return self.response_404()
        return self.response(200, result=session_status(user))

    @expose("/signout_others", methods=["POST"])
    @safe
    def signout_others(self) -> t.Any:
        """End every other session and every token of the calling user.
        ---
        post:
          summary: Sign out of all other sessions (self-service).
          description: The calling cookie session survives; every other session and JWT ends.
          responses:
            200:
              description: The other sessions have ended.
            401:
              $ref: '#/components/responses/401'
        """
        user = self._caller()
        if user is None:
            return self.response_401()
        refused = self._csrf_refusal()
        if refused is not None:
            return refused
        sign_out_other_sessions(user)
        return self.response(200, message="other sessions ended")

    @expose("/check", methods=["GET"])
    @safe
    def check(self) -> t.Any:
        """Whether the caller's session or token is still good, and for how long (for open tabs).
        ---
        get:
          summary: Check that the calling session or token is still signed in.
          description: >-
            An ended session answers 401 with the header X-Session-Ended. The seconds left
            until the idle and the absolute limit are null when that limit is off. Asking
            is not activity: it does not hold off the idle limit.
          responses:
            200:
              description: Still signed in, with idle_seconds_left and absolute_seconds_left.
            401:
              $ref: '#/components/responses/401'
        """
        user = self._caller()
        if user is None:
            return self.response_401()
        idle_left, absolute_left = sessions.seconds_left(user.id)
        response = self.response(200, signed_in=True, idle_seconds_left=idle_left,
                                 absolute_seconds_left=absolute_left)
        response.headers["Cache-Control"] = "no-store"
        return response

    @expose("/keep_alive", methods=["GET"])
    @safe
    def keep_alive(self) -> t.Any:
        """Count as activity now: the idle limit starts over (the banner's *Stay signed in*).

        A GET, like any page the user loads, which counts as activity too.
        ---
        get:
          summary: Record activity for the calling session now.
          responses:
            200:
              description: Recorded, with the seconds left as GET check answers them.
            401:
              $ref: '#/components/responses/401'
        """
        user = self._caller()
        if user is None:
            return self.response_401()
        sessions.keep_alive(user.id)
        idle_left, absolute_left = sessions.seconds_left(user.id)
        return self.response(200, signed_in=True, idle_seconds_left=idle_left, absolute_seconds_left=absolute_left)

    @staticmethod
    def _caller() -> t.Any:
        # Self-service needs no permission, only an authenticated caller: cookie or JWT.
        if current_user.is_authenticated:
            return current_user._get_current_object()
        try:
            verify_jwt_in_request()
        except (JWTExtendedException, PyJWTError):  # an invalid or missing token: not signed in
            return None
        return g.get("user")

    def _csrf_refusal(self) -> t.Any:
        """A 400 for a state change that a browser's cookie authenticated without Flask-WTF's CSRF token.

        FAB exempts its APIs from CSRF protection, yet this one also takes the session
        cookie, which another site can make a browser send. A JWT or an API key cannot
        be sent that way: their calls need no token. Off with ``WTF_CSRF_ENABLED = False``.
        """
        app_config = current_app.config
        if not app_config.get("WTF_CSRF_ENABLED", True) or tokens.authenticate_request(security_manager()):
            return None
        headers = app_config.get("WTF_CSRF_HEADERS", ["X-CSRFToken", "X-CSRF-Token"])
        submitted = next((request.headers[name] for name in headers if request.headers.get(name)), None)
        submitted = submitted or request.form.get(app_config.get("WTF_CSRF_FIELD_NAME", "csrf_token"))
        try:
            validate_csrf(submitted)
        except ValidationError as exc:
            return self.response_400(message=f"{exc.args[0] if exc.args else 'The CSRF token is invalid.'}"
                                     " Send it in the X-CSRFToken header.")
        return None

"""The security-manager mixin that wires the epoch into Flask-AppBuilder."""

from __future__ import annotations

import datetime as dt
import logging
import time
import typing as t

from flask import Blueprint, current_app, flash, g, redirect, request, session
from flask_babel import lazy_gettext
from flask_login import logout_user, user_logged_in, user_logged_out
from flask_wtf.csrf import generate_csrf

from . import (
    accounts,
    activity,
    check,
    config,
    i18n,
    idp_logout,
    in_use,
    inbound,
    listeners,
    logins,
    minting,
    oidc,
    presented,
    proxy,
    remember,
    request_state,
    responses,
    schema,
    session_keys,
    session_views,
    sessions,
    store,
)
from .api import SessionEpochApi
from .identity import parse_user_id
from .idp_logout import rp_initiated
from .judge import UserJudge, states
from .revoke import db_session
from .session_keys import SESSION_KEY_LOGIN_AT
from .views import SessionEpochView, ended_at, my_sessions_url, with_epoch_actions

if t.TYPE_CHECKING:
    from flask import Flask
    from flask_jwt_extended import JWTManager
    from flask_login import LoginManager

    from .store import EpochState

log = logging.getLogger("flask_session_epoch")

EXTENSION_KEY = in_use.EXTENSION_KEY
# The security manager's user views that get the "Sign out everywhere" action.
_USER_VIEWS = ("userdbmodelview", "userldapmodelview", "useroauthmodelview", "userremoteusermodelview",
               "usersamlmodelview")
_T = t.TypeVar("_T")


def _init_app(app: Flask, sm: t.Any) -> None:
    if EXTENSION_KEY in app.extensions:
        return
    config.validate(app)
    app.extensions[EXTENSION_KEY] = sm
    # Before FAB starts Flask-Babel: our catalogs are found next to FAB's and the host's.
    i18n.register(app)
    listeners.register(sm.user_model)
    schema.check_at_startup(app, db_session(sm).get_bind(), sm)
    user_logged_in.connect(sm._session_epoch_on_login, app, weak=False)
    user_logged_out.connect(_forget_on_logout, app, weak=False)
    app.before_request(responses.carry_ended_over)
    # Flask runs these last-registered first: activity's goes on the response actually sent.
    app.after_request(_after_request)
    if config.get("PROXY_HEADER", app):
        app.before_request(proxy.follow_proxy_identity)
    # Templates, static files such as the fetch helper for single-page apps, and the
    # back-channel logout route when OpenID providers may send logouts.
    blueprint = Blueprint("session_epoch", __name__, template_folder="templates", static_folder="static",
                          url_prefix="/session_epoch")
    inbound.install(app, blueprint, sm)
    idp_logout.install(app, blueprint, sm)
    app.register_blueprint(blueprint)
    app.jinja_env.globals.setdefault("session_epoch_csrf_token", generate_csrf)
    app.jinja_env.globals.setdefault("session_epoch_sessions", session_views.sessions_of)
    app.jinja_env.globals.setdefault("session_epoch_my_sessions_url", my_sessions_url)
    if not hasattr(sm.user_model, "session_epoch_ended_at"):
        sm.user_model.session_epoch_ended_at = property(ended_at)


def _forget_on_logout(sender: Flask, user: t.Any = None, **extra: t.Any) -> None:
    """Flask-Login's ``logout_user()`` (FAB's ``/logout/``): the session's record ends, and so
    do those of the JWTs sent along, so every copy is dead; our keys go with Flask-Login's.

    A login through a provider of ``SESSION_EPOCH_RP_LOGOUT`` is read first: the response
    then sends the browser on to sign out there too.
    """
    user_id = getattr(user, "id", None)
    state = request_state.current()
    state.rp_logout = rp_initiated.prepare(check.record_id_of_session(session), user_id)
    reason = check.RP_LOGOUT if state.rp_logout is not None and state.rp_logout.to_provider else check.LOGOUT
    presented.end_all([*presented.of_session(session, user_id), *presented.of_jwts()], reason)
    session_keys.forget(session)


def _after_request(response: t.Any) -> t.Any:
    """Our steps after the view, in order, over this request's state (read once)."""
    state = request_state.current()
    response = _back_to_login_after_refusal(response, state)
    _keep_session_after_own_password_change(state)
    response = rp_initiated.after_logout(response, state.rp_logout)
    response = responses.shape_response(response, state)
    # Last: its writes go on the response actually sent.
    return activity.after_request(response, state)


def _keep_session_after_own_password_change(state: request_state.RequestState) -> None:
    user_id, state.keep_user = state.keep_user, None
    if user_id is not None:
        accounts.keep_current_session(user_id)


def _back_to_login_after_refusal(response: t.Any, state: request_state.RequestState) -> t.Any:
    """A refused login's redirect (to the index, or ``next``) goes to the login page, which shows why."""
    if not state.login_refused or response.status_code not in (301, 302, 303, 307, 308):
        return response
    appbuilder = current_app.extensions[EXTENSION_KEY].appbuilder
    login_path = appbuilder.get_url_for_login
    if not login_path or (request.method == "GET" and request.script_root + request.path == login_path):
        return response  # a login page that logs in by itself (remote user) would refuse again: no loop
    next_url = request.args.get("next")
    return redirect(appbuilder.get_url_for_login_with(next_url) if next_url else login_path)


class SessionEpochMixin(UserJudge):
    """Put in front of a Flask-AppBuilder security manager to enforce session epochs.

    For Superset::

        class SecurityManager(SessionEpochMixin, SupersetSecurityManager):
            pass

        CUSTOM_SECURITY_MANAGER = SecurityManager

    The user's epochs are read by the same statement that loads the user, so the
    check adds no SQL to any request.
    """

    user_model: t.Any
    #: The session keys that survive the new session each login starts. A host whose own
    #: ``user_logged_in`` receiver writes the session adds its keys: receivers run in no
    #: set order, and ours may come second.
    session_epoch_kept_at_login: tuple[str, ...] = session_keys.KEPT_AT_LOGIN

    def __init__(self, appbuilder: t.Any) -> None:
        super().__init__(appbuilder)  # type: ignore[call-arg]
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        _init_app(app, self)

    # -- wiring -------------------------------------------------------------

    # FAB passes the app; Airflow's FAB provider calls both without it, and its
    # create_jwt_manager returns None.

    def create_login_manager(self, *app: Flask) -> LoginManager:
        lm = super().create_login_manager(*app)  # type: ignore[misc]
        lm.user_loader(self._session_epoch_load_session_user)
        remember.install(lm, self._session_epoch_load_remembered_user)
        return lm

    def create_jwt_manager(self, *app: Flask) -> JWTManager | None:
        made = super().create_jwt_manager(*app)  # type: ignore[misc]
        jwt_manager = made or (app[0] if app else current_app).extensions["flask-jwt-extended"]
        host_claims = jwt_manager._user_claims_callback

        def claims(identity: t.Any) -> dict[str, t.Any]:
            extra = dict(host_claims(identity) or {})
            claim = self._session_epoch_claim(identity)
            if claim is not None:
                extra[config.get("JWT_CLAIM")] = claim
            return extra

        jwt_manager.additional_claims_loader(claims)
        minting.install_encoder(jwt_manager, sessions.verified_token_claims)
        return t.cast("JWTManager | None", made)

    def register_views(self) -> None:
        """FAB's (or Superset's) views, with our action on the users pages, our page and API."""
        for name in _USER_VIEWS:
            view = getattr(self, name, None)
            if view is not None:
                setattr(self, name, with_epoch_actions(view))
        super().register_views()  # type: ignore[misc]
        if not current_app.config.get("FAB_ADD_SECURITY_VIEWS", True):
            return
        appbuilder = self.appbuilder  # type: ignore[attr-defined]
        appbuilder.add_view(
            SessionEpochView, "Sign out everyone", icon="fa-sign-out", category="Security",
            category_label=lazy_gettext("Security"),
        )
        session_views.install(self.user_model)
        appbuilder.add_view(
            session_views.sessions_view(), "Sessions", icon="fa-desktop", category="Security",
            category_label=lazy_gettext("Security"),
        )
        appbuilder.add_view_no_menu(session_views.EndSessionView)
        appbuilder.add_api(SessionEpochApi)

    def validate_api_key(self, api_key_string: str) -> t.Any:
        """FAB 5.3 API keys: refuse keys created before the user's epoch.

        Costs one indexed SELECT per API-key request, on top of FAB's own lookup and
        update. A key is judged once per request: following a proxy asks before FAB's
        ``protect`` does.
        """
        judged = request_state.current().api_keys
        if api_key_string not in judged:
            judged[api_key_string] = self._session_epoch_validate_api_key(api_key_string)
        user = judged[api_key_string]
        if user is not None:  # as FAB's own validation leaves them
            g.user = user
            g._api_key_user = True
        return user

    def _session_epoch_validate_api_key(self, api_key_string: str) -> t.Any:
        user = super().validate_api_key(api_key_string)  # type: ignore[misc]
        if user is None:
            return None
        lookup = self._compute_lookup_hash(api_key_string)  # type: ignore[attr-defined]
        loaded = self._session_epoch_read(
            user.id, lambda db: store.load_api_key_state(db, self.api_key_model, lookup)  # type: ignore[attr-defined]
        )
        created, states()[user.id] = loaded if loaded is not None else (None, None)

        def refusal(state: EpochState) -> str | None:
            effective = state.effective_at
            if effective is None:
                return None
            # FAB stamps created_on with the host's naive local time.
            current = created is not None and created.astimezone(dt.timezone.utc) > effective
            return None if current else check.STALE

        reason = self._session_epoch_refusal(user.id, refusal, "api-key")
        if reason is None:
            return user
        g.pop("user", None)
        g._api_key_user = False
        self._session_epoch_refuse(user.id, "api-key", reason)
        return None

    # -- logging in ---------------------------------------------------------

    def _session_epoch_on_login(self, sender: Flask, user: t.Any = None, **extra: t.Any) -> None:
        """A fresh interactive login: its session record, and its stamp in the session.

        The keys of any earlier login in this session are dropped first.
        """
        if user is None or not isinstance(user, self.user_model):
            return  # Superset's embedded dashboards log in an anonymous user
        # A new session at every login: nothing from before it survives, not even its id.
        session_keys.renew(session, keep=self.session_epoch_kept_at_login)
        provider_login = oidc.take_provider_login()
        # Read afresh: a revocation earlier in this request must not be forgotten.
        state = self._session_epoch_read(user.id, lambda db: store.load_state(db, self.user_model, user.id))
        try:
            if state is None:
                logins.go_on_without_record(user.id)
                # Without the stamp this session ends as soon as the user has an epoch.
                session[SESSION_KEY_LOGIN_AT] = time.time()
            else:
                record_id = logins.start_browser(self, user.id, state, store.utcnow(), oidc.sid_key_of(provider_login),
                                                 None if provider_login is None else provider_login.id_token)
                check.stamp_session(session, check.stamp_for(user, state, record_id))
        except logins.LoginRefused as refused:
            logout_user()  # the login does not happen: the request goes on anonymous
            flash(refused.description, "danger")
            request_state.current().login_refused = True
            return
        states()[user.id] = state
        oidc.record_login(self, user, provider_login)
        responses.forget_ended()

    def _session_epoch_claim(self, identity: t.Any) -> list[t.Any] | None:
        """Our claim for a JWT being minted for ``identity``, or None if the epochs cannot be read.

        An API login's access and refresh tokens share one new record; a refresh mints
        under the record of the refresh token it was given.
        """
        user_id = parse_user_id(identity)
        if user_id is None:
            return None
        # Minting follows a login or a refresh that loaded the user: no new statement.
        user = db_session(self).get(self.user_model, user_id)
        state = self._session_epoch_state(user_id)
        if user is None:
            return None
        if state is None:
            logins.go_on_without_record(user_id)  # or a token judged by its iat alone
            return None
        record_id = minting.api_record(self, user_id, state, sessions.verified_token_claims())
        return check.token_claim(user, state, record_id)

    def set_oauth_session(self, provider: str, oauth_response: t.Any) -> None:
        """FAB's hook after an OAuth token exchange: also note the ID token's subject and session."""
        super().set_oauth_session(provider, oauth_response)  # type: ignore[misc]
        oidc.note_oauth_login(provider, oauth_response)

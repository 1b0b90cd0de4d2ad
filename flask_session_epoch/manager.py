"""The security-manager mixin that wires the epoch into Flask-AppBuilder."""

from __future__ import annotations

import datetime as dt
import logging
import time
import typing as t

from flask import Blueprint, current_app, g, request, session
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_babel import lazy_gettext
from flask_login import user_logged_in, user_logged_out
from flask_wtf.csrf import generate_csrf
from sqlalchemy.exc import SQLAlchemyError

from . import backchannel, check, config, listeners, oidc, proxy, remember, session_keys, signals, store
from .api import SessionEpochApi
from .identity import parse_user_id
from .remember import Remembered
from .revoke import db_session
from .session_keys import SESSION_KEY_EPOCH, SESSION_KEY_LOGIN_AT, SESSION_KEY_SID
from .views import SessionEpochView, ended_at, with_epoch_actions

if t.TYPE_CHECKING:
    from flask import Flask
    from flask_jwt_extended import JWTManager
    from flask_login import LoginManager

    from .store import EpochState

log = logging.getLogger("flask_session_epoch")

EXTENSION_KEY = "session_epoch"
# The security manager's user views that get the "Sign out everywhere" action.
_USER_VIEWS = ("userdbmodelview", "userldapmodelview", "useroauthmodelview", "userremoteusermodelview",
               "usersamlmodelview")
_T = t.TypeVar("_T")


def _states() -> dict[int, EpochState | None]:
    """Epochs read during this request, keyed by user id (None: the read failed)."""
    if "session_epoch_states" not in g:
        g.session_epoch_states = {}
    return g.session_epoch_states


def _init_app(app: Flask, sm: t.Any) -> None:
    if EXTENSION_KEY in app.extensions:
        return
    config.validate(app)
    app.extensions[EXTENSION_KEY] = sm
    listeners.register(sm.user_model)
    app.extensions[listeners.TABLES_READY] = store.tables_exist(db_session(sm))
    user_logged_in.connect(sm._session_epoch_on_login, app, weak=False)
    user_logged_out.connect(_forget_on_logout, app, weak=False)
    app.before_request(check.carry_ended_over)
    app.after_request(check.shape_response)
    app.after_request(_keep_session_after_own_password_change)
    if config.get("PROXY_HEADER", app):
        app.before_request(proxy.follow_proxy_identity)
    # Templates, static files such as the fetch helper for single-page apps, and the
    # back-channel logout route when OpenID providers may send logouts.
    blueprint = Blueprint("session_epoch", __name__, template_folder="templates", static_folder="static",
                          url_prefix="/session_epoch")
    backchannel.install(app, blueprint, sm)
    app.register_blueprint(blueprint)
    app.jinja_env.globals.setdefault("session_epoch_csrf_token", generate_csrf)
    if not hasattr(sm.user_model, "session_epoch_ended_at"):
        sm.user_model.session_epoch_ended_at = property(ended_at)


def _forget_on_logout(sender: Flask, **extra: t.Any) -> None:
    """Flask-Login's ``logout_user()`` (FAB's ``/logout/``) leaves our keys: forget them too."""
    session_keys.forget(session)


def _keep_session_after_own_password_change(response: t.Any) -> t.Any:
    user_id = g.pop("session_epoch_keep", None)
    if user_id is not None:
        from .accounts import keep_current_session

        keep_current_session(user_id)
    return response


class SessionEpochMixin:
    """Put in front of a Flask-AppBuilder security manager to enforce session epochs.

    For Superset::

        class SecurityManager(SessionEpochMixin, SupersetSecurityManager):
            pass

        CUSTOM_SECURITY_MANAGER = SecurityManager

    The user's epochs are read by the same statement that loads the user, so the
    check adds no SQL to any request.
    """

    user_model: t.Any

    def __init__(self, appbuilder: t.Any) -> None:
        super().__init__(appbuilder)  # type: ignore[call-arg]
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        _init_app(app, self)

    # -- wiring -------------------------------------------------------------

    def create_login_manager(self, app: Flask) -> LoginManager:
        lm = super().create_login_manager(app)  # type: ignore[misc]
        lm.user_loader(self._session_epoch_load_session_user)
        remember.install(lm, self._session_epoch_load_remembered_user)
        return lm

    def create_jwt_manager(self, app: Flask) -> JWTManager:
        jwt_manager = super().create_jwt_manager(app)  # type: ignore[misc]
        host_claims = jwt_manager._user_claims_callback

        def claims(identity: t.Any) -> dict[str, t.Any]:
            extra = dict(host_claims(identity) or {})
            claim = self._session_epoch_claim(identity)
            if claim is not None:
                extra[config.get("JWT_CLAIM")] = claim
            return extra

        jwt_manager.additional_claims_loader(claims)
        return jwt_manager

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
        appbuilder.add_api(SessionEpochApi)

    # -- loading users ------------------------------------------------------

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
        _states()[user_id] = state
        return user

    def load_user(self, pk: t.Any) -> t.Any:
        """Load an active user by id, reading their epochs in the same statement."""
        user = self._session_epoch_load(pk)
        return user if user is not None and user.is_active else None

    def _session_epoch_state(self, user_id: int, sid_key: str | None = None) -> EpochState | None:
        """The user's epochs as read in this request; None if they could not be read.

        :param sid_key: the session's provider session, which must have been looked up too.
        """
        states = _states()
        known = states.get(user_id)
        if user_id not in states or (sid_key is not None and known is not None and known.sid_key != sid_key):
            # A subclass replaced load_user without calling ours: read the epochs apart.
            states[user_id] = self._session_epoch_read(
                user_id, lambda db: store.load_state(db, self.user_model, user_id, sid_key)
            )
        return states[user_id]

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
            state = _states().get(user.id)
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
        user = self._session_epoch_admit(user, lambda state: check.token_is_current(jwt_data, user, state), "jwt")
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

    def validate_api_key(self, api_key_string: str) -> t.Any:
        """FAB 5.3 API keys: refuse keys created before the user's epoch.

        Costs one indexed SELECT per API-key request, on top of FAB's own lookup and
        update. A key is judged once per request: following a proxy asks before FAB's
        ``protect`` does.
        """
        judged: dict[str, t.Any] = g.setdefault("session_epoch_api_keys", {})
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
        created, _states()[user.id] = loaded if loaded is not None else (None, None)

        def is_current(state: EpochState) -> bool:
            effective = state.effective_at
            if effective is None:
                return True
            # FAB stamps created_on with the host's naive local time.
            return created is not None and created.astimezone(dt.timezone.utc) > effective

        reason = self._session_epoch_refusal(user.id, is_current, "api-key")
        if reason is None:
            return user
        g.pop("user", None)
        g._api_key_user = False
        self._session_epoch_refuse(user.id, "api-key", reason)
        return None

    # -- logging in ---------------------------------------------------------

    def _session_epoch_on_login(self, sender: Flask, user: t.Any = None, **extra: t.Any) -> None:
        """Stamp a fresh interactive login into the session, dropping the keys of any earlier one."""
        if user is None or not isinstance(user, self.user_model):
            return  # Superset's embedded dashboards log in an anonymous user
        session_keys.forget_login(session)
        # Read afresh: a revocation earlier in this request must not be forgotten.
        state = self._session_epoch_read(user.id, lambda db: store.load_state(db, self.user_model, user.id))
        if state is None:
            # Without the stamp this session ends as soon as the user has an epoch.
            session[SESSION_KEY_LOGIN_AT] = time.time()
        else:
            check.stamp_session(session, check.stamp_for(user, state))
        _states()[user.id] = state
        oidc.on_login(self, user)
        check.forget_ended()

    def set_oauth_session(self, provider: str, oauth_response: t.Any) -> None:
        """FAB's hook after an OAuth token exchange: also note the ID token's subject and session."""
        super().set_oauth_session(provider, oauth_response)  # type: ignore[misc]
        oidc.note_oauth_login(provider, oauth_response)


class SessionEpochSecurityManager(SessionEpochMixin, SecurityManager):
    """Flask-AppBuilder's SQLAlchemy security manager with session epochs.

    ``FAB_SECURITY_MANAGER_CLASS = "flask_session_epoch.SessionEpochSecurityManager"``
    """

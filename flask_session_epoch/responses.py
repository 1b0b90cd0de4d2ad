"""What an ended credential's request looks like: a login redirect with a flash, or a 401.

The decision whether a credential holds is :mod:`.check`'s; the loaders in :mod:`.judge`
tell this module when one was refused (:func:`mark_ended`), and :func:`shape_response`
turns the response into what the user (or a single-page app) should see.
"""

from __future__ import annotations

import typing as t

from flask import current_app, flash, json, redirect, request, url_for
from flask import session as flask_session
from flask_babel import gettext, lazy_gettext

from . import config, request_state, session_keys
from .check import ABSOLUTE_TIMEOUT, IDLE_TIMEOUT, SESSION_LIMIT, STALE
from .session_keys import SESSION_KEY_ENDED

if t.TYPE_CHECKING:
    from flask.sessions import SessionMixin
    from werkzeug.wrappers import Response

# The endpoints where an identity provider logs users out or revokes them (back- and
# front-channel logout, Shared Signals pushes, Global Token Revocation).
_PROVIDER_LOGOUTS = frozenset({"session_epoch.backchannel_logout", "session_epoch.frontchannel_logout",
                               "session_epoch.ssf_push", "session_epoch.global_token_revocation"})
#: Header set on a response whose session or token was ended.
ENDED_HEADER = "X-Session-Ended"


def is_api_request() -> bool:
    return request.path.startswith(tuple(config.get("API_PATH_PREFIXES")))


def is_status_check() -> bool:
    """Whether this is an open tab asking whether its session still holds (not activity)."""
    return request.endpoint == "SessionEpochApi.check"


def is_exempt_request() -> bool:
    endpoint = request.endpoint or ""
    exempt = config.get("EXEMPT_ENDPOINTS")
    # Blueprint endpoints match by their last part too: Superset's is "health.health".
    # A provider's logout calls answer alike whatever credentials come along.
    return endpoint in exempt or endpoint.rsplit(".", 1)[-1] in exempt or endpoint in _PROVIDER_LOGOUTS


def end_session(session: SessionMixin) -> None:
    """Forget the logged-in user, their login's keys and their remember-me cookie.

    Runs inside the user loader, where ``logout_user()`` would re-enter the loader.
    """
    session_keys.forget(session)
    # Flask-Login deletes the remember-me cookie when it sees this.
    session["_remember"] = "clear"


def mark_ended(via: str, reason: str = STALE) -> None:
    """Note in the request's state that its credentials were ended, for :func:`shape_response`.

    Pages get the flash at once, so a login page rendered by this very request shows it.
    """
    state = request_state.current()
    if state.ended_via is not None:
        return
    state.ended_via, state.ended_reason = via, reason
    if via in ("session", "remember") and is_api_request():
        # The page that reloads after this 401 should say why, not "Access is Denied".
        flask_session[SESSION_KEY_ENDED] = reason
    elif via in ("session", "remember"):
        category, message = _ended_flash(reason)
        if all(tuple(item) != (category, message) for item in flask_session.get("_flashes", [])):
            flash(message, category)
        state.flashes = list(flask_session.get("_flashes", []))


def carry_ended_over() -> None:
    """``before_request``: the first page after an API call ended the session says so."""
    if SESSION_KEY_ENDED in flask_session and not is_api_request() and not is_exempt_request():
        reason = flask_session.pop(SESSION_KEY_ENDED)
        if "_user_id" not in flask_session:
            mark_ended("session", reason if reason in _MESSAGES else STALE)


def forget_ended() -> None:
    """Clear the mark and our queued message: the user has just logged in again.

    Superset's login page never shows flashes, so without this they would pile up.
    """
    state = request_state.current()
    state.ended_via = state.flashes = None
    if not flask_session:
        return  # nothing to forget (and no session to touch)
    flask_session.pop(SESSION_KEY_ENDED, None)
    queued = flask_session.get("_flashes")
    if queued:
        ours = {_ended_flash(reason) for reason in (STALE, *_MESSAGES)}
        kept = [item for item in queued if tuple(item) not in ours]
        if len(kept) != len(queued):
            flask_session["_flashes"] = kept


def shape_response(response: Response, state: request_state.RequestState) -> Response:
    """After a request whose session ended: 401 for API calls, a login redirect for pages."""
    via = state.ended_via
    if via is None:
        return response
    if is_api_request() or via in ("jwt", "api-key"):
        if response.status_code != 401:
            return response  # served anyway: a public endpoint, or other valid credentials
        # One body for every ended credential, so a client can tell it from other 401s.
        reason = state.ended_reason or STALE
        response = current_app.response_class(
            json.dumps({"message": _ended_flash(reason)[1], "session_ended": True, "reason": reason}),
            status=401,
            mimetype="application/json",
        )
        response.headers[ENDED_HEADER] = "1"
        return response
    login_endpoint = _login_endpoint()
    if login_endpoint is None or request.endpoint == login_endpoint:
        response.headers[ENDED_HEADER] = "1"
        return response
    # Messages the now-anonymous view added (FAB's "Access is Denied") would only confuse.
    if state.flashes is not None:
        flask_session["_flashes"] = state.flashes
    # With the script root: an app mounted under a prefix (Airflow's /auth) comes back to it.
    target = request.script_root + request.full_path.rstrip("?") if request.method == "GET" else None
    new = redirect(url_for(login_endpoint, next=target))
    new.headers[ENDED_HEADER] = "1"
    return new


def _login_endpoint() -> str | None:
    auth_view = getattr(current_app.appbuilder.sm, "auth_view", None)  # type: ignore[attr-defined]
    return None if auth_view is None else f"{auth_view.endpoint}.login"


# Messages that say why a session ended, where the reason is worth telling; any other
# reason gets SESSION_EPOCH_FLASH_MESSAGE, which _ended_flash translates when it is the
# default: that default is marked here so that pybabel puts it in our catalogs.
_DEFAULT_FLASH = lazy_gettext("Your session has ended. Please sign in again.")
_MESSAGES = {
    IDLE_TIMEOUT: lazy_gettext("Your session has ended after a period of inactivity. Please sign in again."),
    ABSOLUTE_TIMEOUT: lazy_gettext("Your session has reached its maximum length. Please sign in again."),
    SESSION_LIMIT: lazy_gettext("This session was ended because you signed in on another device."
                                " Please sign in again."),
}


def _ended_flash(reason: str = STALE) -> tuple[str, str]:
    """``(category, message)`` of our flash for why the session ended, translated for this request."""
    message = _MESSAGES.get(reason)
    text = str(message) if message is not None else str(gettext(config.get("FLASH_MESSAGE")))
    return config.get("FLASH_CATEGORY"), text

"""The request-time check: is this session or token still current?

A login remembers the epoch *generations* it saw (the user's and the global one)
next to the login time. A later stamp bumps a generation, so the session no longer
matches, whatever the clocks of the hosts involved say and however precisely the
database stores time. Tokens carry the same pair in a claim.
"""

from __future__ import annotations

import datetime as dt
import math
import time
import typing as t

from flask import current_app, flash, g, json, redirect, request, url_for
from flask import session as flask_session
from flask_babel import gettext

from . import config

if t.TYPE_CHECKING:
    from flask.sessions import SessionMixin
    from werkzeug.wrappers import Response

    from .store import EpochState

#: Session key holding the login time (UNIX seconds, UTC).
SESSION_KEY_LOGIN_AT = "_login_at"
#: Session key holding ``[user_generation, global_generation]`` seen at login.
SESSION_KEY_EPOCH = "_session_epoch"
#: Session key holding a key for the OpenID provider session it logged in under
#: (only for providers that send back-channel logouts).
SESSION_KEY_SID = "_session_epoch_sid"
#: Flask-Login's keys for the logged-in user, removed when a session ends.
_FLASK_LOGIN_KEYS = ("_user_id", "_fresh", "_id", "_remember_seconds")

#: Session key telling the next page view that an API call ended this session.
SESSION_KEY_ENDED = "_session_epoch_ended"
#: Header set on a response whose session or token was ended by an epoch.
ENDED_HEADER = "X-Session-Ended"

# A generation beyond this cannot come from our integer column: tampering.
_MAX_GENERATION = 2**53
# A login time further ahead than this is not a clock skew but a forged value.
_FUTURE_LEEWAY_SECONDS = 24 * 3600


def parse_generations(value: t.Any) -> tuple[int, int] | None:
    """Return the ``(user, global)`` generations stored in a session or claim, or None if malformed."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return None
    if not all(type(part) is int and 0 <= part < _MAX_GENERATION for part in value):
        return None
    return (value[0], value[1])


def login_at_is_sane(value: t.Any) -> bool:
    """Whether a ``_login_at`` value could be a real login time.

    Numbers are UNIX seconds; datetimes are accepted because other extensions
    (Airflow's FAB provider) keep their own values under the same key.
    """
    if isinstance(value, dt.datetime):
        return True
    if type(value) is float and not math.isfinite(value):
        return False
    if type(value) not in (int, float):
        return False
    # Compared without converting to float: a huge int must not overflow.
    return 0 < value < time.time() + _FUTURE_LEEWAY_SECONDS


def session_is_current(session: SessionMixin, state: EpochState) -> bool:
    """Whether a session is not older than the user's effective epoch.

    A session that logged in under an OpenID provider session is also over once the
    provider logged that session out; ``state`` must have been read for its key.
    """
    sid_key = session.get(SESSION_KEY_SID)
    if sid_key is not None and (sid_key != state.sid_key or state.sid_ended):
        return False
    if not state.has_epoch:
        return True
    if parse_generations(session.get(SESSION_KEY_EPOCH)) != state.generations:
        return False
    return SESSION_KEY_LOGIN_AT not in session or login_at_is_sane(session[SESSION_KEY_LOGIN_AT])


def token_is_current(claims: t.Mapping[str, t.Any], state: EpochState) -> bool:
    """Whether a decoded JWT was issued under the user's current epoch.

    Tokens minted by us carry the generations; older ones are judged by ``iat``,
    which counts whole seconds, so a token from the stamp's own second is refused.
    """
    if not state.has_epoch:
        return True
    claim = config.get("JWT_CLAIM")
    if claim in claims:
        return parse_generations(claims[claim]) == state.generations
    iat = claims.get("iat")
    effective = state.effective_at
    if isinstance(iat, bool) or not isinstance(iat, (int, float)) or effective is None:
        return False
    return math.isfinite(iat) and iat > effective.timestamp()


def stamp_session(session: SessionMixin, state: EpochState, login_at: float | None = None) -> None:
    """Record a fresh login: its time and the generations it saw."""
    session[SESSION_KEY_LOGIN_AT] = time.time() if login_at is None else login_at
    session[SESSION_KEY_EPOCH] = list(state.generations)


def is_api_request() -> bool:
    return request.path.startswith(tuple(config.get("API_PATH_PREFIXES")))


def is_exempt_request() -> bool:
    endpoint = request.endpoint or ""
    exempt = config.get("EXEMPT_ENDPOINTS")
    # Blueprint endpoints match by their last part too: Superset's is "health.health".
    return endpoint in exempt or endpoint.rsplit(".", 1)[-1] in exempt


def end_session(session: SessionMixin) -> None:
    """Forget the logged-in user, their login stamp and their remember-me cookie.

    Runs inside the user loader, where ``logout_user()`` would re-enter the loader,
    so the keys are removed here directly.
    """
    for key in (*_FLASK_LOGIN_KEYS, SESSION_KEY_LOGIN_AT, SESSION_KEY_EPOCH, SESSION_KEY_SID):
        session.pop(key, None)
    # Flask-Login deletes the remember-me cookie when it sees this.
    session["_remember"] = "clear"


def mark_ended(via: str) -> None:
    """Note on ``g`` that this request's credentials were ended, for :func:`shape_response`.

    Pages get the flash at once, so a login page rendered by this very request shows it.
    """
    if "session_epoch_ended" in g:
        return
    g.session_epoch_ended = via
    if via in ("session", "remember") and is_api_request():
        # The page that reloads after this 401 should say why, not "Access is Denied".
        flask_session[SESSION_KEY_ENDED] = True
    elif via in ("session", "remember"):
        category, message = _ended_flash()
        if all(tuple(item) != (category, message) for item in flask_session.get("_flashes", [])):
            flash(message, category)
        g.session_epoch_flashes = list(flask_session.get("_flashes", []))


def carry_ended_over() -> None:
    """``before_request``: the first page after an API call ended the session says so."""
    if SESSION_KEY_ENDED in flask_session and not is_api_request() and not is_exempt_request():
        flask_session.pop(SESSION_KEY_ENDED)
        if "_user_id" not in flask_session:
            mark_ended("session")


def forget_ended() -> None:
    """Clear the mark and our queued message: the user has just logged in again.

    Superset's login page never shows flashes, so without this they would pile up.
    """
    flask_session.pop(SESSION_KEY_ENDED, None)
    g.pop("session_epoch_ended", None)
    g.pop("session_epoch_flashes", None)
    queued = flask_session.get("_flashes")
    if queued:
        ours = _ended_flash()
        kept = [item for item in queued if tuple(item) != ours]
        if len(kept) != len(queued):
            flask_session["_flashes"] = kept


def shape_response(response: Response) -> Response:
    """After a request whose session ended: 401 for API calls, a login redirect for pages."""
    via = g.get("session_epoch_ended")
    if via is None:
        return response
    if is_api_request() or via in ("jwt", "api-key"):
        if response.status_code != 401:
            return response  # served anyway: a public endpoint, or other valid credentials
        # One body for every ended credential, so a client can tell it from other 401s.
        response = current_app.response_class(
            json.dumps({"message": _ended_flash()[1], "session_ended": True}),
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
    if "session_epoch_flashes" in g:
        flask_session["_flashes"] = g.session_epoch_flashes
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    new = redirect(url_for(login_endpoint, next=target))
    new.headers[ENDED_HEADER] = "1"
    return new


def _login_endpoint() -> str | None:
    auth_view = getattr(current_app.appbuilder.sm, "auth_view", None)  # type: ignore[attr-defined]
    return None if auth_view is None else f"{auth_view.endpoint}.login"


def _ended_flash() -> tuple[str, str]:
    """``(category, message)`` of our flash, translated for this request."""
    return config.get("FLASH_CATEGORY"), str(gettext(config.get("FLASH_MESSAGE")))

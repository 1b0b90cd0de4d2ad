"""Binding Flask-Login's remember-me cookie to the epoch it was issued under.

Flask-Login's cookie says only who the user is. Next to it we set a signed cookie
with the generations the login saw; a restore from a remember cookie without a
matching one is refused once the user has an epoch.
"""

from __future__ import annotations

import datetime as dt
import typing as t

from flask import current_app, request, session
from flask_login.config import COOKIE_DURATION
from itsdangerous import BadData, URLSafeSerializer

from . import check, config

if t.TYPE_CHECKING:
    from flask_login import LoginManager
    from werkzeug.wrappers import Response

    from .store import EpochState

_SALT = "flask-session-epoch.remember"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(t.cast(str, current_app.secret_key), salt=_SALT)


def install(login_manager: LoginManager) -> None:
    """Make ``login_manager`` set and clear our cookie together with its own."""
    set_cookie = login_manager._set_cookie
    clear_cookie = login_manager._clear_cookie

    def _set_cookie(response: Response) -> None:
        set_cookie(response)
        _write(response)

    def _clear_cookie(response: Response) -> None:
        clear_cookie(response)
        app_config = current_app.config
        response.delete_cookie(
            config.get("REMEMBER_COOKIE_NAME"),
            path=app_config.get("REMEMBER_COOKIE_PATH", "/"),
            domain=app_config.get("REMEMBER_COOKIE_DOMAIN"),
        )

    login_manager._set_cookie = _set_cookie
    login_manager._clear_cookie = _clear_cookie


def _write(response: Response) -> None:
    generations = check.parse_generations(session.get(check.SESSION_KEY_EPOCH))
    if generations is None or "_user_id" not in session:
        return
    app_config = current_app.config
    seconds = session.get("_remember_seconds")
    duration = (
        dt.timedelta(seconds=seconds)
        if isinstance(seconds, (int, float))
        else app_config.get("REMEMBER_COOKIE_DURATION", COOKIE_DURATION)
    )
    if isinstance(duration, int):
        duration = dt.timedelta(seconds=duration)
    value = _serializer().dumps(
        [str(session["_user_id"]), list(generations), session.get(check.SESSION_KEY_LOGIN_AT)]
    )
    response.set_cookie(
        config.get("REMEMBER_COOKIE_NAME"),
        value=value,
        expires=dt.datetime.now(dt.timezone.utc) + duration,
        domain=app_config.get("REMEMBER_COOKIE_DOMAIN"),
        path=app_config.get("REMEMBER_COOKIE_PATH", "/"),
        secure=app_config.get("REMEMBER_COOKIE_SECURE", False),
        httponly=app_config.get("REMEMBER_COOKIE_HTTPONLY", True),
        samesite=app_config.get("REMEMBER_COOKIE_SAMESITE"),
    )


def restore(user_id: t.Any, state: EpochState) -> bool:
    """Re-stamp a session restored from a remember cookie issued under the current epoch."""
    raw = request.cookies.get(config.get("REMEMBER_COOKIE_NAME"))
    if not raw:
        return False
    try:
        cookie_user, generations, login_at = _serializer().loads(raw)
    except (BadData, TypeError, ValueError):
        return False
    if cookie_user != str(user_id) or check.parse_generations(generations) != state.generations:
        return False
    login_at = login_at if check.login_at_is_sane(login_at) else None
    check.stamp_session(session, state, login_at)
    return True

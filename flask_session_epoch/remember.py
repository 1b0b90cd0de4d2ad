"""Binding Flask-Login's remember-me cookie to the login it came from.

Flask-Login's cookie says only who the user is, and never changes. Next to it we
set a signed cookie with that login's stamp (the user's key, the generations it saw
and its session record). A restore is taken over from Flask-Login's own restore path
and judged by that cookie alone: nothing left in the session by another login can
vouch for it, and ending the login's record ends its remember-me cookie too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing as t

from flask import current_app, request, session
from flask_login import user_loaded_from_cookie
from flask_login.config import COOKIE_DURATION
from flask_login.utils import decode_cookie
from itsdangerous import BadData, URLSafeSerializer

from . import check, config
from .identity import parse_user_id
from .session_keys import SESSION_KEY_LOGIN_AT

if t.TYPE_CHECKING:
    from flask_login import LoginManager
    from werkzeug.wrappers import Response


_SALT = "flask-session-epoch.remember"


@dataclasses.dataclass(frozen=True)
class Remembered:
    """What our cookie says about the login a remember-me cookie came from."""

    stamp: check.Stamp
    login_at: float | None


#: ``(user id, what our cookie says)``: the user, or None to refuse the restore.
RestoreLoader = t.Callable[[int, "Remembered | None"], t.Any]


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(t.cast(str, current_app.secret_key), salt=_SALT)


def install(login_manager: LoginManager, load_remembered: RestoreLoader) -> None:
    """Make ``login_manager`` set and clear our cookie with its own, and restore through us."""
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

    def _load_user_from_remember_cookie(cookie: str) -> t.Any:
        # Flask-Login's own restore, with our judgement: the session's keys play no part.
        decoded = decode_cookie(cookie)
        user_id = parse_user_id(decoded)
        if user_id is None:
            return None
        user = load_remembered(user_id, _read(user_id))
        if user is None:
            return None
        session["_user_id"] = decoded
        session["_fresh"] = False
        user_loaded_from_cookie.send(current_app._get_current_object(), user=user)  # type: ignore[attr-defined]
        return user

    login_manager._set_cookie = _set_cookie
    login_manager._clear_cookie = _clear_cookie
    login_manager._load_user_from_remember_cookie = _load_user_from_remember_cookie


def _write(response: Response) -> None:
    stamp = check.session_stamp(session)
    if stamp is None or str(stamp.user_id) != str(session.get("_user_id")):
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
    login_at = session.get(SESSION_KEY_LOGIN_AT)
    login_at = login_at if type(login_at) in (int, float) else None  # Airflow keeps a datetime there
    value = _serializer().dumps([stamp.as_session_value(), login_at])
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


def _read(user_id: int) -> Remembered | None:
    """Our cookie for ``user_id``'s remember-me cookie, or None if absent, forged or another's."""
    raw = request.cookies.get(config.get("REMEMBER_COOKIE_NAME"))
    if not raw:
        return None
    try:
        value, login_at = _serializer().loads(raw)
    except (BadData, TypeError, ValueError):
        return None
    stamp = check.read_stamp(value)
    if stamp is None or stamp.user_id != user_id:
        return None
    return Remembered(stamp, login_at if check.login_at_is_sane(login_at) else None)


def restore_session(remembered: Remembered | None, stamp: check.Stamp) -> None:
    """Stamp a session restored from a remember-me cookie as the login it came from."""
    check.stamp_session(session, stamp, remembered.login_at if remembered else None)

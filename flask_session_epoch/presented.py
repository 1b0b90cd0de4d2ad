"""What a logout ends: the record of every credential presented with it.

A logout ends the session's record, and the record of every JWT sent along (the
``Authorization`` header, and JWT cookies where flask-jwt-extended reads them); the
refresh token of an API login shares its access token's record, so it ends too. Each
record ends once, through :func:`.sessions.end_login`, and its ``session_ended`` signal
lists the credentials of this request that named it. A JWT counts only if it is one of
ours and still valid (signature and expiry checked): anything else names nothing.

An API key is not a session: a logout leaves it alone.
"""

from __future__ import annotations

import logging
import typing as t

from flask import current_app, request
from flask_jwt_extended import decode_token
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt import PyJWTError

from . import check, config, sessions
from .identity import parse_user_id

if t.TYPE_CHECKING:
    from flask.sessions import SessionMixin

log = logging.getLogger("flask_session_epoch")

#: ``(record id, user id, credential)``: a credential of the request and the record it names.
Named = tuple[str | None, int | None, str]
#: Credential names in ``session_ended``'s ``credentials``.
SESSION, REMEMBER = "session", "remember-me"


def of_session(session: SessionMixin, user_id: int | None) -> list[Named]:
    """The session cookie's record (and its remember-me cookie, which restores the same one)."""
    record_id = check.record_id_of_session(session)
    named: list[Named] = [(record_id, user_id, SESSION)]
    remember = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
    if record_id is not None and remember in request.cookies:
        named.append((record_id, user_id, REMEMBER))
    return named


def _presented_jwts() -> list[str]:
    found = []
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        found.append(value.strip())
    locations = current_app.config.get("JWT_TOKEN_LOCATION", ("headers",))
    if "cookies" in (locations if isinstance(locations, (list, tuple, set)) else (locations,)):
        for name in (current_app.config.get("JWT_ACCESS_COOKIE_NAME", "access_token_cookie"),
                     current_app.config.get("JWT_REFRESH_COOKIE_NAME", "refresh_token_cookie")):
            cookie = request.cookies.get(name)
            if cookie:
                found.append(cookie)
    return found


def of_jwts() -> list[Named]:
    """The records of the valid JWTs of ours that the request carries."""
    if "flask-jwt-extended" not in current_app.extensions:
        return []
    named: list[Named] = []
    for token in dict.fromkeys(_presented_jwts()):
        try:
            claims = decode_token(token)
        except (PyJWTError, JWTExtendedException, ValueError, TypeError):
            continue  # not ours, or no longer valid: nothing to end
        record_id = check.token_record_id(claims, config.get("JWT_CLAIM"))
        kind = claims.get("type")
        named.append((record_id, parse_user_id(claims.get("sub")), f"jwt-{kind}" if kind in ("access", "refresh")
                      else "jwt"))
    return named


def end_all(named: t.Iterable[Named], reason: str = check.LOGOUT) -> list[str]:
    """End each record named once, with the credentials that named it; returns the ids ended."""
    grouped: dict[tuple[str, int], list[str]] = {}
    for record_id, user_id, credential in named:
        if record_id is not None and isinstance(user_id, int):
            credentials = grouped.setdefault((record_id, user_id), [])
            if credential not in credentials:
                credentials.append(credential)
    return [record_id for (record_id, user_id), credentials in grouped.items()
            if sessions.end_login(record_id, user_id, reason=reason, credentials=tuple(credentials))]

"""Following an authenticating proxy (oauth2-proxy, ForwardAuth, nginx ``auth_request``).

The proxy asserts who the user is on every request (a header, or ``REMOTE_USER``).
FAB reads it only at login, so after someone else signs in at the proxy the app's own
cookie would keep serving the previous user. Here the session follows the proxy: a
different identity drops the old session before the view runs, then logs in the new one.
"""

from __future__ import annotations

import ipaddress
import logging
import typing as t

from flask import current_app, request, session
from flask_login import current_user, login_user, logout_user
from sqlalchemy import func, select

from . import check, config
from .revoke import db_session

log = logging.getLogger("flask_session_epoch")

#: Session key holding the proxy identity the session was matched against.
SESSION_KEY_PROXY = "_session_epoch_proxy"


def _asserted_identity() -> str | None:
    header = config.get("PROXY_HEADER")
    value = request.environ.get("REMOTE_USER") if header == "REMOTE_USER" else request.headers.get(header)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _trusted(address: str | None) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(network, strict=False) for network in config.get("TRUSTED_PROXIES"))


def identity_of(user: t.Any) -> str:
    """The identity a proxy would assert for ``user``: trimmed and lower-cased."""
    value = user.email if config.get("PROXY_IDENTITY") == "email" else user.username
    return (value or "").strip().lower()


def _find(sm: t.Any, asserted: str) -> t.Any:
    """The one user the proxy means, by exact match only (no LIKE, so no wildcards)."""
    if config.get("PROXY_IDENTITY") == "email":
        model = sm.user_model
        users = db_session(sm).execute(select(model).where(func.lower(model.email) == asserted.lower())).scalars()
        matches = list(users)
        if len(matches) > 1:
            log.warning("Proxy identity %r matches %d users; none is logged in", asserted, len(matches))
        return matches[0] if len(matches) == 1 else None
    return sm.find_user(username=asserted)


def _register(sm: t.Any, asserted: str) -> t.Any:
    """Create the user when FAB's ``AUTH_USER_REGISTRATION`` allows it, as its remote-user login does."""
    if not sm.auth_user_registration:
        return None
    role = sm.find_role(sm.auth_user_registration_role)
    if config.get("PROXY_IDENTITY") == "email":
        local = asserted.split("@", 1)[0] or asserted
        return sm.add_user(username=asserted, first_name=local, last_name="-", email=asserted, role=role) or None
    return sm.auth_user_remote_user(asserted)


def follow_proxy_identity() -> None:
    """``before_request``: make the session's user the one the trusted proxy asserts."""
    if check.is_exempt_request() or request.endpoint in config.get("PROXY_EXEMPT_ENDPOINTS"):
        return
    if "Authorization" in request.headers:
        return  # JWTs and API keys speak for themselves
    asserted = _asserted_identity()
    if asserted is None:
        return  # absence is not a logout: health checks and internal calls come without it
    if not _trusted(request.remote_addr):
        log.warning("Ignored proxy identity %r from untrusted address %s", asserted, request.remote_addr)
        return
    wanted = asserted.lower()
    if "_user_id" in session:
        if session.get(SESSION_KEY_PROXY) == wanted:
            return
        # A session from another way in: compare once, then remember the answer.
        if current_user.is_authenticated and identity_of(current_user) == wanted:
            session[SESSION_KEY_PROXY] = wanted
            return
        previous = session.get("_user_id")
        logout_user()
        for key in (check.SESSION_KEY_LOGIN_AT, check.SESSION_KEY_EPOCH, check.SESSION_KEY_SID, SESSION_KEY_PROXY):
            session.pop(key, None)
        log.info("Proxy now asserts %r: dropped the session of user %s", asserted, previous)
    sm = current_app.appbuilder.sm  # type: ignore[attr-defined]
    user = _find(sm, asserted)
    if user is not None and user.is_active:
        sm.update_user_auth_stat(user)
    elif user is None:
        user = _register(sm, asserted)  # FAB counts the login of a user it registers
    if user is None or not user.is_active:
        log.info("Proxy asserts %r, who is unknown or inactive: the request stays anonymous", asserted)
        return
    login_user(user)
    session[SESSION_KEY_PROXY] = wanted
    log.info("Logged in user %s as asserted by the proxy", user.id)

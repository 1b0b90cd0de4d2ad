"""Following an authenticating proxy (oauth2-proxy, ForwardAuth, nginx ``auth_request``).

The proxy asserts who the user is on every request (a header, or ``REMOTE_USER``).
FAB reads it only at login, so after someone else signs in at the proxy the app's own
cookie would keep serving the previous user. Here the session follows the proxy: a
different identity drops the old session before the view runs (a new, empty session
under a new id), then logs in the new one.
"""

from __future__ import annotations

import ipaddress
import logging
import typing as t

from flask import current_app, request, session
from flask_login import current_user, login_user, logout_user
from sqlalchemy.exc import SQLAlchemyError

from . import check, config, request_state, responses, session_keys, sessions, tokens
from .identity import find_users, fold, username_is_case_insensitive
from .revoke import db_session
from .session_keys import SESSION_KEY_EPOCH, SESSION_KEY_PROXY, SESSION_KEY_PROXY_PENDING

log = logging.getLogger("flask_session_epoch")

#: Endpoints that never follow the proxy whatever the settings: the provider's
#: back-channel logout POST authenticates with its own token, and the README tells
#: operators to let it past the proxy.
ALWAYS_EXEMPT = ("session_epoch.backchannel_logout",)


def _asserted_value() -> str | None:
    """The identity header (or ``REMOTE_USER``) as the WSGI server handed it over, if any."""
    header = config.get("PROXY_HEADER")
    value = request.environ.get("REMOTE_USER") if header == "REMOTE_USER" else request.headers.get(header)
    return value if isinstance(value, str) else None


def _read(value: str) -> str | None:
    """The identity in a header value, read as UTF-8 (WSGI hands header bytes over as Latin-1).

    :raises UnicodeError: when the value is not UTF-8, or holds what no WSGI server
        could have handed over (a character beyond Latin-1).
    """
    return value.encode("latin-1").decode("utf-8").strip() or None


def _trusted(address: str | None) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in network for network in config.get("TRUSTED_PROXIES"))


def _field() -> str:
    return "email" if config.get("PROXY_IDENTITY") == "email" else "username"


def canonical(sm: t.Any, identity: str) -> str:
    """An identity as the proxy comparison sees it: e-mail without regard to ASCII case,
    usernames as FAB's ``AUTH_USERNAME_CI`` says; nothing else is folded."""
    return fold(identity, _field() == "email" or username_is_case_insensitive(sm))


def _find(sm: t.Any, asserted: str) -> t.Any:
    """The one user the proxy means, by exact match only (no LIKE, no Unicode case folding).

    A database that cannot even compare the value (a Latin-1 column and a character
    beyond it) finds nobody.
    """
    db = db_session(sm)
    try:
        matches = find_users(sm, db, _field(), asserted)
    except SQLAlchemyError:
        log.warning("Could not look up the proxy identity %r; the request stays anonymous", asserted, exc_info=True)
        db.rollback()
        return None
    if len(matches) > 1:
        log.warning("Proxy identity %r matches %d users; none is logged in", asserted, len(matches))
    return matches[0] if len(matches) == 1 else None


def _register(sm: t.Any, asserted: str) -> t.Any:
    """Create the user when FAB's ``AUTH_USER_REGISTRATION`` allows it, named as its remote-user login does.

    Not through FAB's ``auth_user_remote_user``: its lookup folds case in SQL, which
    on some databases folds more than ASCII.
    """
    if not sm.auth_user_registration:
        return None
    role = sm.find_role(sm.auth_user_registration_role)
    if _field() == "email":
        first_name, email = asserted.split("@", 1)[0] or asserted, asserted
    else:
        first_name, email = asserted, f"{asserted}@email.notfound"
    return sm.add_user(username=asserted, first_name=first_name, last_name="-", email=email, role=role) or None


def follow_proxy_identity() -> None:
    """``before_request``: make the session's user the one the trusted proxy asserts."""
    endpoint = request.endpoint
    if responses.is_exempt_request() or endpoint in ALWAYS_EXEMPT or endpoint in config.get("PROXY_EXEMPT_ENDPOINTS"):
        return
    value = _asserted_value()
    if value is None:
        return  # absence is not a logout: health checks and internal calls come without it
    if not _trusted(request.remote_addr):
        log.warning("Ignored proxy identity %r from untrusted address %s", value, request.remote_addr)
        return
    sm = current_app.appbuilder.sm  # type: ignore[attr-defined]
    try:
        asserted = _read(value)
    except UnicodeError:
        # The proxy vouches for someone we cannot name: nobody stays logged in.
        log.warning("Proxy identity %r cannot be read as UTF-8: the request is anonymous", value)
        _drop_session(check.PROXY_UNREADABLE)
        return
    if asserted is None:
        return
    wanted = canonical(sm, asserted)
    if "_user_id" in session:
        if _session_matches(sm, wanted):
            return
        _drop_session(check.PROXY_SWITCH)
        log.info("Proxy now asserts %r: dropped the previous session", asserted)
    if tokens.authenticate_request(sm):
        return  # the token speaks for itself; the proxy's user gets no session from this request
    _log_in(sm, asserted, wanted)


def _drop_session(reason: str) -> None:
    """End the session's login (its record first, so no copy of the cookie lives on), and
    start over with an empty session under a new id; this request is anonymous from here on."""
    if "_user_id" not in session:
        return
    stamp = check.read_stamp(session.get(SESSION_KEY_EPOCH))
    if stamp is not None:
        sessions.end_login(stamp.record_id, stamp.user_id, reason=reason, by="proxy")
    session_keys.renew(session)  # nothing of the previous session survives, not even its id
    logout_user()  # the previous user's remember-me cookie goes too


def _session_matches(sm: t.Any, wanted: str) -> bool:
    """Whether the session's user is the one the proxy asserts (compared once, then remembered)."""
    remembered = session.get(SESSION_KEY_PROXY)
    if isinstance(remembered, list) and remembered == [str(session.get("_user_id")), wanted]:
        return True
    # A session from another way in.
    if current_user.is_authenticated and canonical(sm, getattr(current_user, _field()) or "") == wanted:
        session[SESSION_KEY_PROXY] = [str(session.get("_user_id")), wanted]
        return True
    return False


def _log_in(sm: t.Any, asserted: str, wanted: str) -> None:
    """Serve the request as the proxy's user; log them in, with a session record, only
    when the client brings back the cookie of an earlier request under the same identity.

    Scripts and monitors behind the proxy keep no cookie: each of their requests is
    served on the proxy's word alone and leaves no record (nor takes a place under
    ``SESSION_EPOCH_MAX_SESSIONS``).
    """
    user = _find(sm, asserted)
    if user is None:
        user = _register(sm, asserted)
    if user is None or not user.is_active:
        log.info("Proxy asserts %r, who is unknown or inactive: the request stays anonymous", asserted)
        return
    if session.get(SESSION_KEY_PROXY_PENDING) != wanted:
        # This request only; the cookie remembers whom the proxy named.
        current_app.login_manager._update_request_context_with_user(user)  # type: ignore[attr-defined]
        session[SESSION_KEY_PROXY_PENDING] = wanted
        return
    sm.update_user_auth_stat(user)
    request_state.current().login_method = "proxy"  # for the session record that login_user starts
    login_user(user)
    session[SESSION_KEY_PROXY] = [str(session.get("_user_id")), wanted]
    log.info("Logged in user %s as asserted by the proxy", user.id)

"""Every way in starts a session record: form, LDAP, OAuth, SAML and remote-user logins,
a proxy's switch of user, and an API login's tokens.

Browser logins arrive through Flask-Login's ``user_logged_in``; API logins through the
claims of the tokens FAB mints at ``/api/v1/security/login``.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import logging
import math
import re
import typing as t

from flask import current_app, request, session
from flask_appbuilder import const
from flask_babel import lazy_gettext, ngettext
from sqlalchemy import false, select, update
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import BadRequest

from . import activity, check, config, registry, request_state, signals
from .models import SessionRecord
from .revoke import db_session

if t.TYPE_CHECKING:
    from .store import EpochState

log = logging.getLogger("flask_session_epoch")

_AUTH_METHODS = {
    const.AUTH_DB: "db",
    const.AUTH_LDAP: "ldap",
    const.AUTH_OAUTH: "oauth",
    const.AUTH_REMOTE_USER: "remote-user",
    getattr(const, "AUTH_SAML", -1): "saml",
}
# Tokens that never expire (JWT_*_TOKEN_EXPIRES = False) still need a last moment.
NO_EXPIRY = dt.timedelta(days=3650)
_RECORDS = SessionRecord.__table__
# The port after an address in brackets ("[2001:db8::1]:443").
_PORT = re.compile(r":[0-9]{1,5}")
# No address, in any notation we accept, is longer.
_LONGEST_ADDRESS = 128


def client_address(value: str | None) -> str | None:
    """The client's IP address in its canonical form, or None if ``value`` is not one.

    ``request.remote_addr`` is whatever a proxy fix took from ``X-Forwarded-For``, so
    possibly the client's own choice. Proxies also write ``203.0.113.9:4711`` and
    ``[2001:db8::1]:443``; an IPv6 scope id (``fe80::1%eth0``) names an interface of
    the proxy, not the client, and is dropped; an IPv4-mapped IPv6 address is stored as
    the IPv4 address it is.
    """
    text = (value or "").strip()
    if not text or len(text) > _LONGEST_ADDRESS:
        return None
    if text.startswith("["):
        text, closed, port = text[1:].partition("]")
        if not closed or (port and not _PORT.fullmatch(port)):
            return None
    elif text.count(":") == 1:
        text, _, port = text.partition(":")
        if not _PORT.fullmatch(":" + port):
            return None
    if ":" in text:
        text = text.partition("%")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


@functools.lru_cache(maxsize=4096)
def describe(user_agent: str) -> str | None:
    """A readable browser and device for a user agent, from ua-parser: "Firefox 120 on Ubuntu"."""
    from ua_parser import parse

    if not user_agent:
        return None
    parsed = parse(user_agent)
    browser = parsed.user_agent
    if browser is None:
        return None
    name = f"{browser.family} {browser.major}" if browser.major else browser.family
    if parsed.os is not None and parsed.os.family not in ("Other", ""):
        name += f" on {parsed.os.family}"
    if parsed.device is not None and parsed.device.family not in ("Other", "", "Mac", "Spider"):
        name += f" ({parsed.device.family})"
    return name


def origin(sm: t.Any, *, method: str | None = None, sid_key: str | None = None,
           id_token: str | None = None) -> registry.Origin:
    """Where and how the login under way happens, from the request and FAB's auth type."""
    how = method or request_state.current().login_method or _AUTH_METHODS.get(sm.auth_type, "custom")
    user_agent = registry.clip("user_agent", request.user_agent.string) or None
    provider = session.get("oauth_provider") if how == "oauth" else None
    return registry.Origin(
        auth_method=how,
        provider=provider if isinstance(provider, str) else None,
        ip=client_address(request.remote_addr),
        user_agent=user_agent,
        device=describe(user_agent) if user_agent else None,
        sid_key=sid_key,
        id_token=id_token,
    )


class LoginRefused(BadRequest):
    """A login that must not happen after all, though its password was right.

    A ``BadRequest``: FAB's login API answers it with a 400 and this message; a browser
    login is undone and the message is flashed on the login page.
    """

    def __init__(self, message: t.Any) -> None:
        super().__init__(description=str(message))


class SessionLimitReached(LoginRefused):
    """A login beyond ``SESSION_EPOCH_MAX_SESSIONS`` with the policy ``refuse``.

    Its message says what the user can do: sign out elsewhere, or wait for an unused
    session to pass ``SESSION_EPOCH_IDLE_TIMEOUT`` (which ``refuse`` requires).
    """

    def __init__(self) -> None:
        idle = config.get("IDLE_TIMEOUT")
        message = str(REFUSED_MESSAGE) if idle is None else str(REFUSED_MESSAGE_IDLE) % {"idle": _duration(idle)}
        super().__init__(message)


def _duration(seconds: float) -> str:
    """``seconds`` as a person would say it: "30 minutes", "2 hours", "14 days" (rounded up to a minute)."""
    minutes = math.ceil(seconds / 60)
    if minutes % (24 * 60) == 0:
        return ngettext("%(num)d day", "%(num)d days", minutes // (24 * 60))
    if minutes % 60 == 0:
        return ngettext("%(num)d hour", "%(num)d hours", minutes // 60)
    return ngettext("%(num)d minute", "%(num)d minutes", minutes)


class SessionNotRecorded(LoginRefused):
    """A login whose session record cannot be written, while a policy needs the record."""

    def __init__(self) -> None:
        super().__init__(NOT_RECORDED_MESSAGE)


#: What a login refused beyond the cap is told (translatable).
REFUSED_MESSAGE = lazy_gettext("You are signed in on too many devices. Sign out on one of them, then sign in again.")
#: ... and how long an unused session lasts, ``%(idle)s`` (translatable).
REFUSED_MESSAGE_IDLE = lazy_gettext(
    "You are signed in on too many devices. Sign out on one of them, then sign in again."
    " A session you no longer use ends by itself after %(idle)s without activity.")
#: What a login is told when its session could not be recorded (translatable).
NOT_RECORDED_MESSAGE = lazy_gettext("Your sign-in could not be recorded, so it did not happen. Please try again later.")


def record_required() -> bool:
    """Whether a login needs its session record: a policy that only the record enforces is on.

    Timeouts and the cap are enforced on records; ``SESSION_EPOCH_FAIL_CLOSED`` asks that
    nothing be let through unchecked.
    """
    return bool(config.get("FAIL_CLOSED")) or any(
        config.get(name) is not None for name in ("IDLE_TIMEOUT", "ABSOLUTE_TIMEOUT", "MAX_SESSIONS"))


def go_on_without_record(user_id: int) -> None:
    """A login whose record cannot be written (or whose epochs cannot be read) goes on, governed
    by the epoch alone as before the registry, unless :func:`record_required`.

    :raises SessionNotRecorded: when a policy needs the record.
    """
    if record_required():
        log.error("Refused the login of user %s: its session could not be recorded", user_id)
        raise SessionNotRecorded()


def _take_turn(connection: t.Any, sm: t.Any, user_id: int) -> None:
    """Make the logins of this user take turns from here to the commit: each counts, then inserts.

    PostgreSQL and MySQL lock the user's row (``SELECT ... FOR UPDATE``). SQLite has no
    row locks and ignores ``FOR UPDATE``, and its driver begins a transaction only at the
    first write, so a count would run unlocked: a write that changes nothing comes first
    and takes the database's write lock. Another login then waits for this one's commit
    (up to the driver's busy timeout, 5 s by default).
    """
    if connection.dialect.name == "sqlite":
        connection.execute(update(_RECORDS).where(false()).values(user_id=_RECORDS.c.user_id))
    else:
        connection.execute(select(sm.user_model.id).where(sm.user_model.id == user_id).with_for_update())


def _make_room(connection: t.Any, sm: t.Any, user_id: int, state: EpochState, now: dt.datetime) -> list[str]:
    """Keep the user within ``SESSION_EPOCH_MAX_SESSIONS`` for one more session: the records ended.

    Logins of the same user take turns (see :func:`_take_turn`), so two racing on two
    workers never exceed the cap, on any database.

    :raises SessionLimitReached: with the policy ``refuse``, when the user has no room.
    """
    cap = config.get("MAX_SESSIONS")
    if cap is None:
        return []
    _take_turn(connection, sm, user_id)
    open_ids = registry.open_ids(connection, user_id, state, now, config.limits())
    excess = len(open_ids) - cap + 1
    if excess <= 0:
        return []
    if config.get("MAX_SESSIONS_POLICY") == "refuse":
        raise SessionLimitReached()
    for record_id in open_ids[:excess]:
        registry.end(connection, record_id, check.SESSION_LIMIT, "system", now)
    return open_ids[:excess]


def _start(sm: t.Any, user_id: int, kind: str, where: registry.Origin, state: EpochState,
           expires_at: dt.datetime, now: dt.datetime) -> str | None:
    """Insert the record in a transaction of its own; None (and a logged error) if it cannot be written.

    :raises SessionLimitReached: when the user is at ``SESSION_EPOCH_MAX_SESSIONS`` and
        the policy is ``refuse``.
    :raises SessionNotRecorded: when it cannot be written and :func:`record_required`.
    """
    db = db_session(sm)
    try:
        evicted = _make_room(db.connection(), sm, user_id, state, now)
        record_id = registry.start(db.connection(), user_id, kind, where, state, now, expires_at)
        db.commit()
    except SessionLimitReached:
        db.rollback()
        log.info("Refused the login of user %s: at the limit of sessions", user_id)
        raise
    except SQLAlchemyError:
        log.error("Could not record the new session of user %s", user_id, exc_info=True)
        db.rollback()
        go_on_without_record(user_id)
        return None
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    for old in evicted:
        log.info("Session %s… of user %s ended: over the limit of sessions", old[:8], user_id)
        signals.session_ended.send(app, record_id=old, user_id=user_id, reason=check.SESSION_LIMIT, actor="system",
                                   credentials=())
    log.info("Session %s… of user %s started (%s, %s)", record_id[:8], user_id, kind, where.auth_method)
    signals.session_started.send(app, record_id=record_id, user_id=user_id, kind=kind, auth_method=where.auth_method)
    return record_id


def start_browser(sm: t.Any, user_id: int, state: EpochState, now: dt.datetime, sid_key: str | None,
                  id_token: str | None = None) -> str | None:
    """The record of a browser login; it lasts as long as its cookie (or remember-me cookie) can."""
    last = activity.browser_expiry(now)
    if session.get("_remember") == "set":
        seconds = session.get("_remember_seconds")
        duration = current_app.config.get("REMEMBER_COOKIE_DURATION", dt.timedelta(days=365))
        if isinstance(seconds, (int, float)):
            duration = dt.timedelta(seconds=seconds)
        elif isinstance(duration, (int, float)):
            duration = dt.timedelta(seconds=duration)
        last = max(last, now + duration)
    return _start(sm, user_id, registry.BROWSER, origin(sm, sid_key=sid_key, id_token=id_token), state, last,
                  now)


def _fallback_expiry(now: dt.datetime) -> dt.datetime:
    """For tokens minted past our encoder (see :func:`.minting.install_encoder`): the longer lifetime."""
    def lifetime(value: t.Any, default: dt.timedelta) -> dt.timedelta:
        if value is False:
            return NO_EXPIRY
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return dt.timedelta(seconds=value)
        return value if isinstance(value, dt.timedelta) else default

    app_config = current_app.config
    access = lifetime(app_config.get("JWT_ACCESS_TOKEN_EXPIRES"), dt.timedelta(minutes=15))
    return now + max(access, lifetime(app_config.get("JWT_REFRESH_TOKEN_EXPIRES"), dt.timedelta(days=30)))


def start_api(sm: t.Any, user_id: int, state: EpochState, now: dt.datetime,
              expires_at: dt.datetime | None = None) -> str | None:
    """The record of an API login, which lasts until ``expires_at`` (its first token's expiry).

    Without it (a token minted past :func:`.minting.install_encoder`), as long as the
    longer of the access and the refresh token lifetimes.
    """
    payload = request.get_json(silent=True) if request.is_json else None
    provider = payload.get("provider") if isinstance(payload, dict) else None
    method = {"db": "api", "ldap": "api-ldap"}.get(provider if isinstance(provider, str) else "", "api")
    last = expires_at or _fallback_expiry(now)
    return _start(sm, user_id, registry.API, origin(sm, method=method), state, last, now)


def start_minted(sm: t.Any, user_id: int, state: EpochState, now: dt.datetime, expires_at: dt.datetime,
                 where: registry.Origin) -> str | None:
    """The record of an API login whose token the host mints itself (Airflow's ``POST /auth/token``).

    It lasts until ``expires_at``, the token's expiry; ``where`` is what the host tells
    of the client.
    """
    return _start(sm, user_id, registry.API, where, state, expires_at, now)

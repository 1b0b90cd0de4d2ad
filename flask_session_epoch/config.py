"""Configuration keys, their defaults, and the one accessor that reads them."""

from __future__ import annotations

import typing as t

from flask import current_app

if t.TYPE_CHECKING:
    from flask import Flask

PREFIX = "SESSION_EPOCH_"

DEFAULTS: dict[str, t.Any] = {
    # End the session when the check itself fails (database down, bad row),
    # instead of logging the error and letting the request through.
    "FAIL_CLOSED": False,
    # Endpoints whose requests are never checked or logged out.
    "EXEMPT_ENDPOINTS": ("static", "appbuilder.static", "health", "healthcheck", "ping"),
    # Requests whose path starts with one of these are API calls: an ended session
    # answers 401 there instead of redirecting to the login page.
    "API_PATH_PREFIXES": ("/api/",),
    # Flash shown on the login page after a session was ended. Translatable.
    "FLASH_MESSAGE": "Your session has ended. Please sign in again.",
    # Flash category used for that message.
    "FLASH_CATEGORY": "warning",
    # Stamp the epoch when an ORM change turns a user's ``active`` from true to false.
    "STAMP_ON_DISABLE": True,
    # Stamp the epoch when an ORM change sets a user's password (the changing session lives on).
    "STAMP_ON_PASSWORD_CHANGE": True,
    # Stamp the epoch when an ORM change removes a role from a user.
    "ON_ROLE_CHANGE": False,
    # The header an authenticating proxy sets (or "REMOTE_USER" for the WSGI variable);
    # None turns following the proxy off.
    "PROXY_HEADER": None,
    # What the proxy asserts: "username" or "email" (matched exactly, without regard to case).
    "PROXY_IDENTITY": "username",
    # Addresses or networks allowed to assert an identity; anyone else's header is ignored.
    "TRUSTED_PROXIES": ("127.0.0.1/32", "::1/128"),
    # Endpoints that never follow the proxy (besides EXEMPT_ENDPOINTS).
    "PROXY_EXEMPT_ENDPOINTS": (),
    # Name of the signed cookie that binds a remember-me cookie to the epoch it saw.
    "REMEMBER_COOKIE_NAME": "session_epoch_remember",
    # Names of OAUTH_PROVIDERS entries (OpenID providers) allowed to POST back-channel
    # logout tokens to /session_epoch/backchannel-logout/<name>; empty turns it off.
    "BACKCHANNEL_PROVIDERS": (),
    # Signing algorithms accepted on logout tokens ("none" never is; HMAC is left out).
    "BACKCHANNEL_ALGORITHMS": ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
                               "ES512", "EdDSA"),
    # Clock skew, in seconds, allowed when checking a logout token's iat and exp.
    "BACKCHANNEL_LEEWAY": 60,
    # Logout tokens issued longer ago than this many seconds are refused.
    "BACKCHANNEL_MAX_AGE": 600,
    # Name of the JWT claim that carries the epoch generations a token was issued under.
    "JWT_CLAIM": "sep",
}


def config_key(name: str) -> str:
    """Return the Flask config key for a short ``name`` such as ``"FAIL_CLOSED"``.

    :raises KeyError: if ``name`` is not one of our settings.
    """
    if name not in DEFAULTS:
        raise KeyError(f"unknown flask-session-epoch setting {name!r}")
    return PREFIX + name


def get(name: str, app: Flask | None = None) -> t.Any:
    """Read one setting from ``app`` (default: the current app), falling back to its default."""
    key = config_key(name)
    return (app or current_app).config.get(key, DEFAULTS[name])


def validate(app: Flask) -> None:
    """Fail at start-up on a ``SESSION_EPOCH_*`` key that we do not know.

    A typo in a security setting should not silently fall back to the default.
    """
    unknown = sorted(
        key for key in app.config if key.startswith(PREFIX) and key[len(PREFIX) :] not in DEFAULTS
    )
    if unknown:
        known = ", ".join(PREFIX + name for name in DEFAULTS)
        raise RuntimeError(
            f"Unknown flask-session-epoch setting(s): {', '.join(unknown)}. Known settings: {known}."
        )

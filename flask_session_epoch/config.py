"""Configuration keys: their defaults, their types, and the one accessor that reads them.

Every ``SESSION_EPOCH_*`` value is checked once, when the extension starts: a wrong
type or value stops the app with an error that names the key, instead of failing
later on requests. The checked values are kept in ``app.extensions``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import re
import typing as t
from urllib.parse import urlsplit

from flask import current_app

from .state import Limits

if t.TYPE_CHECKING:
    from flask import Flask

PREFIX = "SESSION_EPOCH_"
_SETTINGS_KEY = "session_epoch_settings"
# In the checked settings: the Limits made from them.
_LIMITS_KEY = "_limits"

# Claims a JWT library or FAB sets itself: our claim must not overwrite one.
_RESERVED_CLAIMS = {"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "type", "fresh", "csrf"}
# An HTTP header name (RFC 9110 token) and a cookie name (RFC 6265 token).
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_KNOWN_ALGORITHMS = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES256K", "ES384",
                     "ES512", "EdDSA", "HS256", "HS384", "HS512"}


class _Invalid(ValueError):
    """A setting's value is unusable; the message says what is expected."""


def _boolean(value: t.Any) -> bool:
    if not isinstance(value, bool):
        raise _Invalid("must be True or False")
    return value


def _text(value: t.Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid("must be a non-empty string")
    return value


def _texts(value: t.Any) -> tuple[str, ...]:
    # A lone string would otherwise be taken as a sequence of one-character names.
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, set, frozenset)):
        raise _Invalid("must be a list of strings")
    for item in value:
        if not isinstance(item, str) or not item:
            raise _Invalid(f"must be a list of non-empty strings, not one holding {item!r}")
    return tuple(value)


def _path_prefixes(value: t.Any) -> tuple[str, ...]:
    prefixes = _texts(value)
    for prefix in prefixes:
        if not prefix.startswith("/"):
            raise _Invalid(f"must hold URL paths starting with '/', not {prefix!r}")
    return prefixes


def _token(value: t.Any) -> str:
    if not isinstance(value, str) or not _TOKEN.match(value):
        raise _Invalid(f"must be a header or cookie name (letters, digits, '-', '_'), not {value!r}")
    return value


def _proxy_header(value: t.Any) -> str | None:
    return None if value is None else _token(value)


def _proxy_identity(value: t.Any) -> str:
    if value not in ("username", "email"):
        raise _Invalid('must be "username" or "email"')
    return t.cast(str, value)


def _networks(value: t.Any) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    networks = []
    for item in _texts(value):
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise _Invalid(f"must hold IP addresses or networks (10.0.3.7/32, fd00::/8), not {item!r}") from None
    return tuple(networks)


def _algorithms(value: t.Any) -> tuple[str, ...]:
    algorithms = _texts(value)
    if not algorithms:
        raise _Invalid("must name at least one algorithm")
    for name in algorithms:
        if name not in _KNOWN_ALGORITHMS:
            raise _Invalid(f"names {name!r}, which is not a JWS signing algorithm we know ('none' never is)")
    return algorithms


def _seconds(low: float, high: float) -> t.Callable[[t.Any], float]:
    def parse(value: t.Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _Invalid("must be a number of seconds")
        if not low <= value <= high:
            raise _Invalid(f"must be between {low:g} and {high:g} seconds")
        return float(value)

    return parse


def _days(low: float, high: float) -> t.Callable[[t.Any], float]:
    seconds = _seconds(low, high)

    def parse(value: t.Any) -> float:
        try:
            return seconds(value)
        except _Invalid as exc:
            raise _Invalid(str(exc).replace("seconds", "days")) from None

    return parse


def _count(low: int, high: int) -> t.Callable[[t.Any], int]:
    def parse(value: t.Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _Invalid(f"must be a whole number from {low} to {high}")
        return value

    return parse


def _optional(parse: t.Callable[[t.Any], t.Any]) -> t.Callable[[t.Any], t.Any]:
    """None (off), or what ``parse`` accepts."""
    def parse_optional(value: t.Any) -> t.Any:
        return None if value is None else parse(value)

    return parse_optional


def _policy(value: t.Any) -> str:
    if value not in ("evict-oldest", "refuse"):
        raise _Invalid('must be "evict-oldest" or "refuse"')
    return t.cast(str, value)


def _mapping(value: t.Any) -> dict[str, t.Any]:
    # What the entries hold is checked where they are used, at start-up (inbound.settings).
    if not isinstance(value, dict) or not all(isinstance(key, str) and key for key in value):
        raise _Invalid("must be a dict keyed by names")
    return value


def _claim(value: t.Any) -> str:
    name = _text(value)
    if name in _RESERVED_CLAIMS:
        raise _Invalid(f"must not be a claim that JWTs already use ({', '.join(sorted(_RESERVED_CLAIMS))})")
    return name


@dataclasses.dataclass(frozen=True)
class RpLogout:
    """How logging out signs a provider's users out of it too (``SESSION_EPOCH_RP_LOGOUT``)."""

    #: Where the provider sends the browser back: a path of this app, or an absolute URL
    #: of it; None for the app's login page.
    post_logout_redirect_uri: str | None = None
    #: Seconds to wait for the provider's discovery document at logout.
    timeout: float = 5.0


def _return_uri(value: t.Any) -> str | None:
    if value is None:
        return None
    text = _text(value)
    parts = urlsplit(text)
    local = text.startswith("/") and not text.startswith(("//", "/\\")) and not parts.scheme
    if not (local or (parts.scheme in ("http", "https") and parts.hostname)) or parts.fragment \
            or any(c in text for c in "\r\n\x00\\"):
        raise _Invalid("post_logout_redirect_uri must be a path of this app ('/login/') or an absolute http(s) URL"
                       f" of it without a fragment, not {value!r}")
    return text


def _rp_logout(value: t.Any) -> dict[str, RpLogout]:
    if not isinstance(value, dict):
        raise _Invalid('must be a dict of OAUTH_PROVIDERS names to options, e.g. {"keycloak": {}}')
    parsed = {}
    for name, options in value.items():
        if not isinstance(name, str) or not name or not isinstance(options, dict):
            raise _Invalid(f"must map provider names to dicts of options, not {name!r}: {options!r}")
        unknown = sorted(set(options) - {"post_logout_redirect_uri", "timeout"})
        if unknown:
            raise _Invalid(f"{name!r} has unknown option(s) {', '.join(map(repr, unknown))}"
                           " (known: 'post_logout_redirect_uri', 'timeout')")
        parsed[name] = RpLogout(_return_uri(options.get("post_logout_redirect_uri")),
                                _seconds(0.1, 60)(options.get("timeout", 5.0)))
    return parsed


@dataclasses.dataclass(frozen=True)
class _Setting:
    default: t.Any
    parse: t.Callable[[t.Any], t.Any]


_SCHEMA: dict[str, _Setting] = {
    # End the session when the check itself fails (database down, bad row),
    # instead of logging the error and letting the request through.
    "FAIL_CLOSED": _Setting(False, _boolean),
    # Endpoints whose requests are never checked or logged out.
    "EXEMPT_ENDPOINTS": _Setting(("static", "appbuilder.static", "health", "healthcheck", "ping"), _texts),
    # Requests whose path starts with one of these are API calls: an ended session
    # answers 401 there instead of redirecting to the login page.
    "API_PATH_PREFIXES": _Setting(("/api/",), _path_prefixes),
    # Flash shown on the login page after a session was ended. Translatable.
    "FLASH_MESSAGE": _Setting("Your session has ended. Please sign in again.", _text),
    # Flash category used for that message.
    "FLASH_CATEGORY": _Setting("warning", _text),
    # Stamp the epoch when an ORM change turns a user's ``active`` from true to false.
    "STAMP_ON_DISABLE": _Setting(True, _boolean),
    # Stamp the epoch when an ORM change sets a user's password (the changing session lives on).
    "STAMP_ON_PASSWORD_CHANGE": _Setting(True, _boolean),
    # Stamp the epoch when an ORM change removes a role from a user.
    "ON_ROLE_CHANGE": _Setting(False, _boolean),
    # The header an authenticating proxy sets (or "REMOTE_USER" for the WSGI variable);
    # None turns following the proxy off.
    "PROXY_HEADER": _Setting(None, _proxy_header),
    # What the proxy asserts: "username" or "email".
    "PROXY_IDENTITY": _Setting("username", _proxy_identity),
    # Addresses or networks allowed to assert an identity; anyone else's header is ignored.
    "TRUSTED_PROXIES": _Setting(("127.0.0.1/32", "::1/128"), _networks),
    # Endpoints that never follow the proxy (besides EXEMPT_ENDPOINTS).
    "PROXY_EXEMPT_ENDPOINTS": _Setting((), _texts),
    # Name of the signed cookie that binds a remember-me cookie to the epoch it saw.
    "REMEMBER_COOKIE_NAME": _Setting("session_epoch_remember", _token),
    # Names of OAUTH_PROVIDERS entries (OpenID providers) allowed to POST back-channel
    # logout tokens to /session_epoch/backchannel-logout/<name>; empty turns it off.
    "BACKCHANNEL_PROVIDERS": _Setting((), _texts),
    # Names of OAUTH_PROVIDERS entries (OpenID providers) whose front-channel logout may GET
    # /session_epoch/frontchannel-logout/<name>?iss=...&sid=...; empty turns it off.
    "FRONTCHANNEL_PROVIDERS": _Setting((), _texts),
    # OAUTH_PROVIDERS entries whose users are signed out of the provider too when they log
    # out (OpenID Connect RP-Initiated Logout): {"name": {"post_logout_redirect_uri": ...}}.
    "RP_LOGOUT": _Setting({}, _rp_logout),
    # Signing algorithms accepted on logout tokens ("none" never is; HMAC is left out).
    "BACKCHANNEL_ALGORITHMS": _Setting(("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
                                        "ES384", "ES512", "EdDSA"), _algorithms),
    # Clock skew, in seconds, allowed when checking a logout token's iat and exp.
    "BACKCHANNEL_LEEWAY": _Setting(60, _seconds(0, 3600)),
    # Logout tokens issued longer ago than this many seconds are refused.
    "BACKCHANNEL_MAX_AGE": _Setting(600, _seconds(1, 7 * 24 * 3600)),
    # Shared Signals transmitters whose SETs may end sessions: {"name": {"issuer": ..., ...}}.
    "SSF_TRANSMITTERS": _Setting({}, _mapping),
    # SETs issued longer ago than this many seconds are refused (a poll may bring old ones).
    "SSF_MAX_AGE": _Setting(86400, _seconds(60, 30 * 24 * 3600)),
    # Who may call the Global Token Revocation endpoint: {"bearer_token_env": ...} or {"jwt": {...}}.
    "GLOBAL_TOKEN_REVOCATION": _Setting({}, _mapping),
    # Name of the JWT claim that carries the epoch generations a token was issued under.
    "JWT_CLAIM": _Setting("sep", _claim),
    # A session's last activity is written at most once per this many seconds.
    "ACTIVITY_INTERVAL": _Setting(60, _seconds(1, 3600)),
    # Ended sessions stay listed, with their reason, for this many days.
    "HISTORY_DAYS": _Setting(30, _days(1, 3650)),
    # Each process marks expired sessions and prunes old ones at most once per this many seconds.
    "PRUNE_INTERVAL": _Setting(600, _seconds(1, 7 * 24 * 3600)),
    # How many session records one round of marking or pruning touches at most.
    "PRUNE_BATCH": _Setting(1000, _count(1, 100_000)),
    # End a session this many seconds after its last recorded activity (None: never).
    "IDLE_TIMEOUT": _Setting(None, _optional(_seconds(60, 366 * 24 * 3600))),
    # End a session this many seconds after it started, whatever its activity (None: never).
    "ABSOLUTE_TIMEOUT": _Setting(None, _optional(_seconds(60, 10 * 366 * 24 * 3600))),
    # The most sessions one user may have at once (None: no limit).
    "MAX_SESSIONS": _Setting(None, _optional(_count(1, 10_000))),
    # What a login beyond MAX_SESSIONS does: "evict-oldest" ends the oldest, "refuse" refuses it
    # ("refuse" needs IDLE_TIMEOUT, so that abandoned sessions make room again).
    "MAX_SESSIONS_POLICY": _Setting("evict-oldest", _policy),
}

#: Every setting's default, by short name.
DEFAULTS: dict[str, t.Any] = {name: setting.default for name, setting in _SCHEMA.items()}


def config_key(name: str) -> str:
    """Return the Flask config key for a short ``name`` such as ``"FAIL_CLOSED"``.

    :raises KeyError: if ``name`` is not one of our settings.
    """
    if name not in _SCHEMA:
        raise KeyError(f"unknown flask-session-epoch setting {name!r}")
    return PREFIX + name


def get(name: str, app: Flask | None = None) -> t.Any:
    """One setting of ``app`` (default: the current app), as checked at start-up."""
    key = config_key(name)
    app = app or current_app
    settings = app.extensions.get(_SETTINGS_KEY)
    if settings is not None:
        return settings[name]
    return _SCHEMA[name].parse(app.config.get(key, _SCHEMA[name].default))


def limits(app: Flask | None = None) -> Limits:
    """The session lifetimes the app enforces (``IDLE_TIMEOUT`` and ``ABSOLUTE_TIMEOUT``).

    Made once from the settings checked at start-up: every request asks.
    """
    app = app or current_app
    settings = app.extensions.get(_SETTINGS_KEY)
    if settings is None:
        return Limits(get("IDLE_TIMEOUT", app), get("ABSOLUTE_TIMEOUT", app))
    made = settings.get(_LIMITS_KEY)
    if made is None:
        made = settings[_LIMITS_KEY] = Limits(settings["IDLE_TIMEOUT"], settings["ABSOLUTE_TIMEOUT"])
    return t.cast(Limits, made)


def validate(app: Flask) -> None:
    """Check every ``SESSION_EPOCH_*`` setting of ``app`` and keep the checked values.

    A typo or a wrongly typed security setting must not silently fall back to a
    default or fail later on requests.

    :raises RuntimeError: naming each key that is unknown or has an unusable value.
    """
    unknown = sorted(key for key in app.config if key.startswith(PREFIX) and key[len(PREFIX):] not in _SCHEMA)
    if unknown:
        known = ", ".join(PREFIX + name for name in _SCHEMA)
        raise RuntimeError(f"Unknown flask-session-epoch setting(s): {', '.join(unknown)}. Known settings: {known}.")
    settings, problems = {}, []
    for name, setting in _SCHEMA.items():
        value = app.config.get(PREFIX + name, setting.default)
        try:
            settings[name] = setting.parse(value)
        except _Invalid as exc:
            problems.append(f"{PREFIX}{name} {exc} (got {value!r})")
    idle, interval = settings.get("IDLE_TIMEOUT"), settings.get("ACTIVITY_INTERVAL")
    if idle is not None and interval is not None and idle < 2 * interval:
        problems.append(f"{PREFIX}IDLE_TIMEOUT must be at least twice {PREFIX}ACTIVITY_INTERVAL ({interval:g} s):"
                        " activity is recorded only that often")
    if settings.get("MAX_SESSIONS") is not None and settings.get("MAX_SESSIONS_POLICY") == "refuse" \
            and settings.get("IDLE_TIMEOUT") is None:
        problems.append(f'{PREFIX}MAX_SESSIONS_POLICY "refuse" needs {PREFIX}IDLE_TIMEOUT: without it, sessions'
                        " abandoned on other devices would lock the user out until they expire")
    if problems:
        raise RuntimeError("Invalid flask-session-epoch setting(s): " + "; ".join(problems) + ".")
    app.extensions[_SETTINGS_KEY] = settings

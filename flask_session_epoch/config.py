"""Configuration keys: their defaults, their types, and the one accessor that reads them.

Every ``SESSION_EPOCH_*`` value is checked once, when the extension starts: a wrong
type or value stops the app with an error that names the key, instead of failing
later on requests. The checked values are kept in ``app.extensions``.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing as t

from flask import current_app

from . import setting_values as v
from .configuration_error import ConfigurationError as ConfigurationError
from .setting_values import RpLogout as RpLogout
from .state import Limits

if t.TYPE_CHECKING:
    from flask import Flask

PREFIX = "SESSION_EPOCH_"
_SETTINGS_KEY = "session_epoch_settings"
# In the checked settings: the Limits made from them.
_LIMITS_KEY = "_limits"

@dataclasses.dataclass(frozen=True)
class _Setting:
    default: t.Any
    parse: v.Check[t.Any]
    #: What the setting does, for the configuration reference (plain sentences).
    doc: str


@dataclasses.dataclass(frozen=True)
class Reference:
    """One setting as the configuration reference shows it."""

    #: The Flask config key, e.g. ``SESSION_EPOCH_IDLE_TIMEOUT``.
    key: str
    #: The default as written in a config file, with its duration when it is one.
    default: str
    #: What any value must be.
    allowed: str
    #: What the setting does.
    doc: str


_SCHEMA: dict[str, _Setting] = {
    "FAIL_CLOSED": _Setting(False, v.boolean,
        "End the session when the check itself fails (database down, bad row), instead of logging the error and "
        "letting the request through."),
    "EXEMPT_ENDPOINTS": _Setting(("static", "appbuilder.static", "health", "healthcheck", "ping"), v.texts,
        "Endpoints whose requests are never checked or logged out."),
    "API_PATH_PREFIXES": _Setting(("/api/",), v.path_prefixes,
        "Requests whose path starts with one of these are API calls: an ended session answers 401 there instead of "
        "redirecting to the login page."),
    "FLASH_MESSAGE": _Setting("Your session has ended. Please sign in again.", v.text,
        "Flash shown on the login page after a session was ended. Translatable."),
    "FLASH_CATEGORY": _Setting("warning", v.text,
        "Flash category used for that message."),
    "STAMP_ON_DISABLE": _Setting(True, v.boolean,
        "Stamp the epoch when an ORM change turns a user's ``active`` from true to false."),
    "STAMP_ON_PASSWORD_CHANGE": _Setting(True, v.boolean,
        "Stamp the epoch when an ORM change sets a user's password (the changing session lives on)."),
    "ON_ROLE_CHANGE": _Setting(False, v.boolean,
        "Stamp the epoch when an ORM change removes a role from a user."),
    "PROXY_HEADER": _Setting(None, v.proxy_header,
        "The header an authenticating proxy sets (or \"REMOTE_USER\" for the WSGI variable); None turns following the "
        "proxy off."),
    "PROXY_IDENTITY": _Setting("username", v.proxy_identity,
        "What the proxy asserts: \"username\" or \"email\"."),
    "TRUSTED_PROXIES": _Setting(("127.0.0.1/32", "::1/128"), v.networks,
        "Addresses or networks allowed to assert an identity; anyone else's header is ignored."),
    "PROXY_EXEMPT_ENDPOINTS": _Setting((), v.texts,
        "Endpoints that never follow the proxy (besides EXEMPT_ENDPOINTS)."),
    "REMEMBER_COOKIE_NAME": _Setting("session_epoch_remember", v.token,
        "Name of the signed cookie that binds a remember-me cookie to the epoch it saw."),
    "BACKCHANNEL_PROVIDERS": _Setting((), v.texts,
        "Names of OAUTH_PROVIDERS entries (OpenID providers) allowed to POST back-channel logout tokens to "
        "/session_epoch/backchannel-logout/<name>; empty turns it off."),
    "FRONTCHANNEL_PROVIDERS": _Setting((), v.texts,
        "Names of OAUTH_PROVIDERS entries (OpenID providers) whose front-channel logout may GET "
        "/session_epoch/frontchannel-logout/<name>?iss=...&sid=...; empty turns it off."),
    "RP_LOGOUT": _Setting({}, v.rp_logout,
        "OAUTH_PROVIDERS entries whose users are signed out of the provider too when they log out (OpenID Connect "
        "RP-Initiated Logout): {\"name\": {\"post_logout_redirect_uri\": ...}}."),
    "BACKCHANNEL_ALGORITHMS": _Setting(("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
                                        "ES384", "ES512", "EdDSA"), v.algorithms,
        "Signing algorithms accepted on logout tokens (\"none\" never is; HMAC is left out)."),
    "BACKCHANNEL_LEEWAY": _Setting(60, v.seconds(0, 3600),
        "Clock skew, in seconds, allowed when checking a logout token's iat and exp."),
    "BACKCHANNEL_MAX_AGE": _Setting(600, v.seconds(1, 7 * 24 * 3600),
        "Logout tokens issued longer ago than this many seconds are refused."),
    "SSF_TRANSMITTERS": _Setting({}, v.mapping,
        "Shared Signals transmitters whose SETs may end sessions: {\"name\": {\"issuer\": ..., ...}}."),
    "SSF_MAX_AGE": _Setting(86400, v.seconds(60, 30 * 24 * 3600),
        "SETs issued longer ago than this many seconds are refused (a poll may bring old ones)."),
    "GLOBAL_TOKEN_REVOCATION": _Setting({}, v.mapping,
        "Who may call the Global Token Revocation endpoint: {\"bearer_token_env\": ...} or {\"jwt\": {...}}."),
    "JWT_CLAIM": _Setting("sep", v.claim,
        "Name of the JWT claim that carries the epoch generations a token was issued under."),
    "ACTIVITY_INTERVAL": _Setting(60, v.seconds(1, 3600),
        "A session's last activity is written at most once per this many seconds."),
    "HISTORY_DAYS": _Setting(30, v.days(1, 3650),
        "Ended sessions stay listed, with their reason, for this many days."),
    "PRUNE_INTERVAL": _Setting(600, v.seconds(1, 7 * 24 * 3600),
        "Each process marks expired sessions and prunes old ones at most once per this many seconds."),
    "PRUNE_BATCH": _Setting(1000, v.count(1, 100_000),
        "How many session records one round of marking or pruning touches at most."),
    "IDLE_TIMEOUT": _Setting(None, v.optional(v.seconds(60, 366 * 24 * 3600)),
        "End a session this many seconds after its last recorded activity (None: never)."),
    "ABSOLUTE_TIMEOUT": _Setting(None, v.optional(v.seconds(60, 10 * 366 * 24 * 3600)),
        "End a session this many seconds after it started, whatever its activity (None: never)."),
    "MAX_SESSIONS": _Setting(None, v.optional(v.count(1, 10_000)),
        "The most sessions one user may have at once (None: no limit)."),
    "MAX_SESSIONS_POLICY": _Setting("evict-oldest", v.policy,
        "What a login beyond MAX_SESSIONS does: \"evict-oldest\" ends the oldest, \"refuse\" refuses it (\"refuse\" "
        "needs IDLE_TIMEOUT, so that abandoned sessions make room again)."),
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


def reference() -> list[Reference]:
    """Every setting, in the schema's order, as the documentation's configuration reference lists it."""
    return [Reference(PREFIX + name, _shown(setting.default, setting.parse, quote='"'), v.allowed(setting.parse),
                      setting.doc) for name, setting in _SCHEMA.items()]


def _shown(value: t.Any, check: v.Check[t.Any], quote: str = "'") -> str:
    """``value`` as Python writes it, with the duration it stands for if it is one."""
    if value is None:
        return "None (off)"
    written = repr(value).replace("'", quote)
    if len(written) > 80:
        written = written[:77] + "..."
    per = v.unit(check)
    if per is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{written} ({v.duration(value * per)})"
    return written


def _unknown(key: str) -> str:
    near = difflib.get_close_matches(key, [PREFIX + name for name in _SCHEMA], n=1, cutoff=0.75)
    hint = f"did you mean {near[0]}?" if near else "see the configuration reference for the known settings"
    return f"{key} is not a flask-session-epoch setting: {hint}"


def validate(app: Flask) -> None:
    """Check every ``SESSION_EPOCH_*`` setting of ``app`` and keep the checked values.

    A typo or a wrongly typed security setting must not silently fall back to a
    default or fail later on requests.

    :raises ConfigurationError: one line for each key that is unknown or has an unusable
        value, naming the key, the value and what is allowed.
    """
    problems = [_unknown(key) for key in sorted(app.config)
                if key.startswith(PREFIX) and key[len(PREFIX):] not in _SCHEMA]
    settings = {}
    for name, setting in _SCHEMA.items():
        value = app.config.get(PREFIX + name, setting.default)
        try:
            settings[name] = setting.parse(value)
        except v.Invalid as exc:
            problems.append(f"{PREFIX}{name} = {_shown(value, setting.parse)}: {exc}")
    idle, interval = settings.get("IDLE_TIMEOUT"), settings.get("ACTIVITY_INTERVAL")
    if idle is not None and interval is not None and idle < 2 * interval:
        problems.append(f"{PREFIX}IDLE_TIMEOUT = {_shown(idle, _SCHEMA['IDLE_TIMEOUT'].parse)}: must be at least"
                        f" twice {PREFIX}ACTIVITY_INTERVAL ({v.duration(interval)}), since activity is recorded"
                        " only that often")
    if settings.get("MAX_SESSIONS") is not None and settings.get("MAX_SESSIONS_POLICY") == "refuse" \
            and settings.get("IDLE_TIMEOUT") is None:
        problems.append(f'{PREFIX}MAX_SESSIONS_POLICY = "refuse": needs {PREFIX}IDLE_TIMEOUT, or sessions'
                        " abandoned on other devices would lock the user out until they expire")
    if problems:
        raise ConfigurationError("\n".join(problems))
    app.extensions[_SETTINGS_KEY] = settings

"""The checks of ``SESSION_EPOCH_*`` values: each one parses a value and says what it allows.

A check is a function that returns the parsed value or raises :class:`Invalid` with what
was expected; its ``allowed`` attribute says, for the configuration reference, what any
value must be. Durations are shown as people write them ("1 year"), not as seconds.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import re
import typing as t
from urllib.parse import urlsplit

_T = t.TypeVar("_T")
Check = t.Callable[[t.Any], _T]

# Claims a JWT library or FAB sets itself: our claim must not overwrite one.
_RESERVED_CLAIMS = {"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "type", "fresh", "csrf"}
# An HTTP header name (RFC 9110 token) and a cookie name (RFC 6265 token).
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_KNOWN_ALGORITHMS = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES256K", "ES384",
                     "ES512", "EdDSA", "HS256", "HS384", "HS512"}
_DAY = 86400
# The units a duration is shown in, largest first.
_UNITS = (("year", 365 * _DAY), ("week", 7 * _DAY), ("day", _DAY), ("hour", 3600), ("minute", 60), ("second", 1))


class Invalid(ValueError):
    """A setting's value is unusable; the message says what is expected."""


def duration(seconds: float) -> str:
    """``seconds`` in the largest unit that says it exactly: "1 minute", "1 week", "90 seconds".

    A year is 365 days give or take 1 %, so that a bound of 366 days reads "1 year".
    """
    for unit, size in _UNITS:
        amount = seconds / size
        slack = amount / 100 if unit == "year" else 1e-9
        if amount >= 1 and abs(amount - round(amount)) <= slack:
            return f"{round(amount)} {unit}{'' if round(amount) == 1 else 's'}"
    return f"{seconds:g} seconds"


def _allows(text: str, unit: float | None = None) -> t.Callable[[Check[_T]], Check[_T]]:
    """Mark a check with what it accepts, and, for a duration, the seconds in one of its units."""
    def mark(check: Check[_T]) -> Check[_T]:
        check.allowed = text  # type: ignore[attr-defined]
        check.unit = unit  # type: ignore[attr-defined]
        return check

    return mark


def allowed(check: Check[t.Any]) -> str:
    """What ``check`` accepts, as a phrase ("True or False")."""
    return t.cast(str, check.allowed)  # type: ignore[attr-defined]


def unit(check: Check[t.Any]) -> float | None:
    """The seconds in one of the numbers ``check`` takes (1, or a day's); None if not a duration."""
    return t.cast("float | None", check.unit)  # type: ignore[attr-defined]


@_allows("True or False")
def boolean(value: t.Any) -> bool:
    if not isinstance(value, bool):
        raise Invalid("must be True or False")
    return value


@_allows("a non-empty string")
def text(value: t.Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid("must be a non-empty string")
    return value


@_allows("a list of non-empty strings")
def texts(value: t.Any) -> tuple[str, ...]:
    # A lone string would otherwise be taken as a sequence of one-character names.
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, set, frozenset)):
        raise Invalid("must be a list of strings")
    for item in value:
        if not isinstance(item, str) or not item:
            raise Invalid(f"must be a list of non-empty strings, not one holding {item!r}")
    return tuple(value)


@_allows("a list of URL paths starting with '/'")
def path_prefixes(value: t.Any) -> tuple[str, ...]:
    prefixes = texts(value)
    for prefix in prefixes:
        if not prefix.startswith("/"):
            raise Invalid(f"must hold URL paths starting with '/', not {prefix!r}")
    return prefixes


@_allows("a header or cookie name (letters, digits, '-', '_')")
def token(value: t.Any) -> str:
    if not isinstance(value, str) or not _TOKEN.match(value):
        raise Invalid("must be a header or cookie name (letters, digits, '-', '_')")
    return value


@_allows("None (off), or a header name, or \"REMOTE_USER\"")
def proxy_header(value: t.Any) -> str | None:
    return None if value is None else token(value)


@_allows('"username" or "email"')
def proxy_identity(value: t.Any) -> str:
    if value not in ("username", "email"):
        raise Invalid('must be "username" or "email"')
    return t.cast(str, value)


@_allows("a list of IP addresses or networks (10.0.3.7/32, fd00::/8)")
def networks(value: t.Any) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    parsed = []
    for item in texts(value):
        try:
            parsed.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise Invalid(f"must hold IP addresses or networks (10.0.3.7/32, fd00::/8), not {item!r}") from None
    return tuple(parsed)


@_allows("a non-empty list of JWS algorithm names (RS256, ES256, EdDSA, ...; never 'none')")
def algorithms(value: t.Any) -> tuple[str, ...]:
    names = texts(value)
    if not names:
        raise Invalid("must name at least one algorithm")
    for name in names:
        if name not in _KNOWN_ALGORITHMS:
            raise Invalid(f"names {name!r}, which is not a JWS signing algorithm we know ('none' never is)")
    return names


def seconds(low: float, high: float) -> Check[float]:
    """A number of seconds from ``low`` to ``high``."""
    expected = f"a number of seconds from {duration(low)} to {duration(high)}"

    @_allows(expected, unit=1)
    def parse(value: t.Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not low <= value <= high:
            raise Invalid(f"must be {expected}")
        return float(value)

    return parse


def days(low: float, high: float) -> Check[float]:
    """A number of days from ``low`` to ``high``."""
    expected = f"a number of days from {duration(low * _DAY)} to {duration(high * _DAY)}"
    in_range = seconds(low, high)

    @_allows(expected, unit=_DAY)
    def parse(value: t.Any) -> float:
        try:
            return in_range(value)
        except Invalid:
            raise Invalid(f"must be {expected}") from None

    return parse


def count(low: int, high: int) -> Check[int]:
    expected = f"a whole number from {low} to {high}"

    @_allows(expected)
    def parse(value: t.Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise Invalid(f"must be {expected}")
        return value

    return parse


def optional(check: Check[_T]) -> Check[_T | None]:
    """None (off), or what ``check`` accepts."""
    @_allows(f"None (off), or {allowed(check)}", unit(check))
    def parse_optional(value: t.Any) -> _T | None:
        if value is None:
            return None
        try:
            return check(value)
        except Invalid as exc:
            raise Invalid(f"{exc} (or None for off)") from None

    return parse_optional


@_allows('"evict-oldest" or "refuse"')
def policy(value: t.Any) -> str:
    if value not in ("evict-oldest", "refuse"):
        raise Invalid('must be "evict-oldest" or "refuse"')
    return t.cast(str, value)


@_allows("a dict keyed by names (see its own section)")
def mapping(value: t.Any) -> dict[str, t.Any]:
    # What the entries hold is checked where they are used, at start-up (inbound.settings).
    if not isinstance(value, dict) or not all(isinstance(key, str) and key for key in value):
        raise Invalid("must be a dict keyed by names")
    return value


@_allows(f"a claim name that JWTs do not already use (not {', '.join(sorted(_RESERVED_CLAIMS))})")
def claim(value: t.Any) -> str:
    name = text(value)
    if name in _RESERVED_CLAIMS:
        raise Invalid(f"must not be a claim that JWTs already use ({', '.join(sorted(_RESERVED_CLAIMS))})")
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
    given = text(value)
    parts = urlsplit(given)
    local = given.startswith("/") and not given.startswith(("//", "/\\")) and not parts.scheme
    if not (local or (parts.scheme in ("http", "https") and parts.hostname)) or parts.fragment \
            or any(c in given for c in "\r\n\x00\\"):
        raise Invalid("post_logout_redirect_uri must be a path of this app ('/login/') or an absolute http(s) URL"
                      f" of it without a fragment, not {value!r}")
    return given


@_allows('a dict of OAUTH_PROVIDERS names to options ("post_logout_redirect_uri", "timeout")')
def rp_logout(value: t.Any) -> dict[str, RpLogout]:
    if not isinstance(value, dict):
        raise Invalid('must be a dict of OAUTH_PROVIDERS names to options, e.g. {"keycloak": {}}')
    parsed = {}
    for name, options in value.items():
        if not isinstance(name, str) or not name or not isinstance(options, dict):
            raise Invalid(f"must map provider names to dicts of options, not {name!r}: {options!r}")
        unknown = sorted(set(options) - {"post_logout_redirect_uri", "timeout"})
        if unknown:
            raise Invalid(f"{name!r} has unknown option(s) {', '.join(map(repr, unknown))}"
                          " (known: 'post_logout_redirect_uri', 'timeout')")
        parsed[name] = RpLogout(_return_uri(options.get("post_logout_redirect_uri")),
                                seconds(0.1, 60)(options.get("timeout", 5.0)))
    return parsed

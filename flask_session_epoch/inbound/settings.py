"""The settings of the Shared Signals receiver and of Global Token Revocation, checked at start-up.

``SESSION_EPOCH_SSF_TRANSMITTERS`` names each transmitter whose SETs may end sessions::

    {"okta": {"issuer": "https://example.okta.com",
              "jwks_uri": "https://example.okta.com/oauth2/v1/keys",
              "audience": "https://superset.example.org",
              "push_authorization_env": "SSF_OKTA_PUSH_AUTH",
              "provider": "okta",
              "claims_change": "ignore"}}

``SESSION_EPOCH_GLOBAL_TOKEN_REVOCATION`` says who may call the revocation endpoint:
``{"bearer_token_env": "GTR_TOKEN"}`` (a static secret, from the environment) or
``{"jwt": {"issuer": ..., "jwks_uri": ..., "audience": ...}}`` (a signed JWT, as Okta's
Universal Logout sends), and optionally ``"provider"``.

Secrets are only ever read from the environment (``*_env`` names a variable), so that
they stay out of configuration files; a variable that is named but unset or empty stops
the app.
"""

from __future__ import annotations

import dataclasses
import os
import typing as t
from urllib.parse import urlsplit

from ..configuration_error import ConfigurationError

#: What the CAEP ``token-claims-change`` and ``assurance-level-change`` events do.
CLAIMS_CHANGE_ACTIONS = ("ignore", "stamp")
_TRANSMITTER_OPTIONS = {"issuer", "jwks_uri", "audience", "push_authorization_env", "provider", "claims_change",
                        "configuration_url", "management_token_env", "delivery", "push_url"}
#: How SETs reach us: pushed (RFC 8935) or polled (RFC 8936).
DELIVERIES = ("push", "poll")
_GTR_OPTIONS = {"bearer_token_env", "jwt", "provider"}
_JWT_OPTIONS = {"issuer", "jwks_uri", "audience"}
# The longest secret or URL we take from a setting.
_MAX_LENGTH = 2048


@dataclasses.dataclass(frozen=True)
class Transmitter:
    """One Shared Signals transmitter (``SESSION_EPOCH_SSF_TRANSMITTERS`` entry)."""

    name: str
    #: The ``iss`` of its SETs, exactly.
    issuer: str
    jwks_uri: str
    #: The ``aud`` its SETs must carry: who we are to it.
    audience: str
    #: The ``Authorization`` header its pushes must carry; None: pushes are not taken.
    push_authorization: str | None
    #: The ``OAUTH_PROVIDERS`` entry whose subjects ``opaque`` identifiers and sessions are.
    provider: str | None
    claims_change: str
    #: ``push`` or ``poll``: what ``session-epoch ssf add`` asks the transmitter for.
    delivery: str = "push"
    #: The transmitter's ``/.well-known/ssf-configuration``: needed to manage the stream.
    configuration_url: str | None = None
    #: The operator's bearer token for the transmitter's stream management API and poll endpoint.
    management_token: str | None = None
    #: This app's public push URL, given to the transmitter (``.../session_epoch/ssf/events/<name>``).
    push_url: str | None = None


@dataclasses.dataclass(frozen=True)
class JwtIssuer:
    """Who signs the JWTs that authenticate a request, and for whom."""

    issuer: str
    jwks_uri: str
    audience: str


@dataclasses.dataclass(frozen=True)
class RevocationAuth:
    """Who may call Global Token Revocation (``SESSION_EPOCH_GLOBAL_TOKEN_REVOCATION``)."""

    bearer_token: str | None
    jwt: JwtIssuer | None
    provider: str | None


def _problem(setting: str, message: str) -> ConfigurationError:
    return ConfigurationError(f"SESSION_EPOCH_{setting}: {message}")


def _url(setting: str, where: str, value: t.Any) -> str:
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or len(value) > _MAX_LENGTH \
            or any(c in value for c in "\r\n\x00 "):
        raise _problem(setting, f"{where} must be an absolute http(s) URL, not {value!r}")
    return t.cast(str, value)


def _text(setting: str, where: str, value: t.Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_LENGTH:
        raise _problem(setting, f"{where} must be a non-empty string, not {value!r}")
    return value


def _secret(setting: str, where: str, variable: t.Any) -> str:
    name = _text(setting, where, variable)
    value = os.environ.get(name, "")
    if not value.strip():
        raise _problem(setting, f"{where} names the environment variable {name}, which is unset or empty")
    if len(value) > _MAX_LENGTH or any(c in value for c in "\r\n\x00"):
        raise _problem(setting, f"the environment variable {name} does not hold a usable secret")
    return value


def _options(setting: str, where: str, value: t.Any, known: set[str]) -> dict[str, t.Any]:
    if not isinstance(value, dict):
        raise _problem(setting, f"{where} must be a dict of options")
    unknown = sorted(str(key) for key in set(value) - known)
    if unknown:
        raise _problem(setting, f"{where} has unknown option(s) {', '.join(map(repr, unknown))}"
                                f" (known: {', '.join(map(repr, sorted(known)))})")
    return value


def transmitters(value: dict[str, t.Any], oauth_names: t.Collection[str]) -> dict[str, Transmitter]:
    """``SESSION_EPOCH_SSF_TRANSMITTERS``, checked.

    :param oauth_names: the names in ``OAUTH_PROVIDERS``, which ``provider`` must be one of.
    :raises ConfigurationError: saying what is wrong.
    """
    setting = "SSF_TRANSMITTERS"
    parsed = {}
    for name, raw in value.items():
        options = _options(setting, repr(name), raw, _TRANSMITTER_OPTIONS)
        for required in ("issuer", "jwks_uri", "audience"):
            if required not in options:
                raise _problem(setting, f"{name!r} needs {required!r}")
        claims_change = options.get("claims_change", "ignore")
        if claims_change not in CLAIMS_CHANGE_ACTIONS:
            raise _problem(setting, f"{name!r}: claims_change must be 'ignore' or 'stamp', not {claims_change!r}")
        provider = options.get("provider")
        if provider is not None and provider not in oauth_names:
            raise _problem(setting, f"{name!r}: provider {provider!r} is not in OAUTH_PROVIDERS")
        env = options.get("push_authorization_env")
        delivery = options.get("delivery", "push")
        if delivery not in DELIVERIES:
            raise _problem(setting, f"{name!r}: delivery must be 'push' or 'poll', not {delivery!r}")
        management = options.get("management_token_env")
        configuration_url, push_url = options.get("configuration_url"), options.get("push_url")
        parsed[name] = Transmitter(
            name=name,
            issuer=_text(setting, f"{name!r}: issuer", options["issuer"]),
            jwks_uri=_url(setting, f"{name!r}: jwks_uri", options["jwks_uri"]),
            audience=_text(setting, f"{name!r}: audience", options["audience"]),
            push_authorization=None if env is None else _secret(setting, f"{name!r}: push_authorization_env", env),
            provider=provider,
            claims_change=claims_change,
            delivery=delivery,
            configuration_url=None if configuration_url is None
            else _url(setting, f"{name!r}: configuration_url", configuration_url),
            management_token=None if management is None
            else _secret(setting, f"{name!r}: management_token_env", management),
            push_url=None if push_url is None else _url(setting, f"{name!r}: push_url", push_url),
        )
    return parsed


def revocation(value: dict[str, t.Any], oauth_names: t.Collection[str]) -> RevocationAuth | None:
    """``SESSION_EPOCH_GLOBAL_TOKEN_REVOCATION``, checked; None when it is off (empty).

    :raises ConfigurationError: saying what is wrong.
    """
    setting = "GLOBAL_TOKEN_REVOCATION"
    if not value:
        return None
    options = _options(setting, "the setting", value, _GTR_OPTIONS)
    if ("bearer_token_env" in options) == ("jwt" in options):
        raise _problem(setting, "give exactly one of 'bearer_token_env' and 'jwt'")
    provider = options.get("provider")
    if provider is not None and provider not in oauth_names:
        raise _problem(setting, f"provider {provider!r} is not in OAUTH_PROVIDERS")
    issuer = None
    if "jwt" in options:
        jwt_options = _options(setting, "'jwt'", options["jwt"], _JWT_OPTIONS)
        missing = sorted(_JWT_OPTIONS - set(jwt_options))
        if missing:
            raise _problem(setting, f"'jwt' needs {', '.join(map(repr, missing))}")
        issuer = JwtIssuer(_text(setting, "'jwt': issuer", jwt_options["issuer"]),
                           _url(setting, "'jwt': jwks_uri", jwt_options["jwks_uri"]),
                           _url(setting, "'jwt': audience", jwt_options["audience"]))
    token = _secret(setting, "bearer_token_env", options["bearer_token_env"]) if "bearer_token_env" in options \
        else None
    if token is not None and len(token) < 32:
        raise _problem(setting, "the bearer token must be at least 32 characters long")
    return RevocationAuth(token, issuer, provider)

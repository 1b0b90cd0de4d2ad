"""Checking an OpenID Connect back-channel logout token (Back-Channel Logout 1.0, 2.6).

:func:`validate` says whether a token is a valid logout token from a provider, and
what it names; :mod:`.backchannel` is the endpoint that receives it and carries it out.
Keys come from the provider's JWKS (PyJWT); no JOSE is done by hand here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import time
import typing as t

import jwt

from .. import config, oidc
from .errors import InboundError
from .keys import Keys

#: The member of ``events`` that makes a JWT a back-channel logout token.
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
# Header ``typ`` values we accept: the explicit type, and none or plain JWT from
# providers that predate explicit typing.
_ACCEPTED_TYPES = {None, "jwt", "logout+jwt", "application/logout+jwt"}
# A logout token is a few hundred bytes; anything this long is not one.
_MAX_TOKEN_LENGTH = 16 * 1024


class LogoutTokenError(InboundError):
    """A logout request that must be refused; the message says why (and is sent back)."""


@dataclasses.dataclass(frozen=True)
class LogoutToken:
    """The claims of a validated logout token that decide what ends."""

    issuer: str
    jti: str
    subject: str | None
    sid: str | None
    #: Until when the token could still be presented: its ``jti`` is kept that long.
    usable_until: dt.datetime


class Provider:
    """One OpenID provider that may send logout tokens: where its keys are, who we are to it."""

    def __init__(self, remote: t.Any, client_id: str) -> None:
        self.client_id = client_id
        self._remote = remote
        self._keys = Keys(lambda: self.metadata()["jwks_uri"], "logout token", "provider")

    def metadata(self) -> t.Mapping[str, t.Any]:
        """The provider's discovery document, as Authlib's client loaded (and cached) it."""
        metadata = self._remote.load_server_metadata()
        if not isinstance(metadata.get("issuer"), str) or not isinstance(metadata.get("jwks_uri"), str):
            raise LogoutTokenError("the provider's metadata has no issuer or jwks_uri")
        return t.cast("t.Mapping[str, t.Any]", metadata)

    def signing_key(self, kid: str | None) -> jwt.PyJWK:
        """The provider's public key with this ``kid`` (see :class:`.keys.Keys`)."""
        return self._keys.signing_key(kid)


def _claims_error(exc: jwt.PyJWTError) -> str:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "the logout token has expired"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "the logout token was issued in the future"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "the logout token comes from another issuer"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "the logout token is meant for another client"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"the logout token has no {exc.claim} claim"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "the logout token's signature is invalid"
    # PyJWT 2.10 and later check the type of sub and jti itself.
    for claim in ("Subject", "JTI"):
        error = getattr(jwt.exceptions, f"Invalid{claim}Error", None)
        if error is not None and isinstance(exc, error):
            return f"the logout token's {'sub' if claim == 'Subject' else 'jti'} claim is not a valid string"
    return f"the logout token is invalid ({exc})"


def _optional_string(claims: t.Mapping[str, t.Any], name: str) -> str | None:
    """The claim, None if absent; present but unusable is a refusal."""
    value = oidc.claim(claims, name)
    if value is None and claims.get(name) is not None:
        raise LogoutTokenError(f"the logout token's {name} claim is not a valid string")
    return value


def validate(token: t.Any, provider: Provider) -> LogoutToken:
    """Check a logout token the way Back-Channel Logout 1.0 (section 2.6) asks.

    :raises LogoutTokenError: saying what is wrong with it.
    """
    if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_LENGTH:
        raise LogoutTokenError("the request has no usable logout_token")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise LogoutTokenError("the logout_token is not a JWT") from None
    algorithm = header.get("alg")
    if not isinstance(algorithm, str) or algorithm.lower() == "none":
        raise LogoutTokenError("the logout token is not signed")
    if algorithm not in config.get("BACKCHANNEL_ALGORITHMS"):
        raise LogoutTokenError(f"the logout token is signed with {algorithm}, which is not accepted")
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.lower() not in _ACCEPTED_TYPES):
        raise LogoutTokenError(f"a token of type {typ!r} is not a logout token")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise LogoutTokenError("the logout token's kid is not a string")
    issuer = provider.metadata()["issuer"]
    leeway = float(config.get("BACKCHANNEL_LEEWAY"))
    # Checked before the signature, so a token that could never pass fetches no keys.
    _precheck(token, issuer, provider.client_id, leeway)
    key = provider.signing_key(kid)
    try:
        claims = jwt.decode(
            token, key.key, algorithms=[algorithm], audience=provider.client_id, issuer=issuer,
            leeway=leeway, options={"require": ["iss", "aud", "iat", "jti"]},
        )
    except jwt.PyJWTError as exc:
        raise LogoutTokenError(_claims_error(exc)) from None
    return _checked_claims(claims, issuer, leeway)


def _precheck(token: str, issuer: str, client_id: str, leeway: float) -> None:
    """Issuer, audience and freshness from the payload as sent, before any key is looked up.

    Nothing here is trusted: the same checks run again on the verified claims.
    """
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise LogoutTokenError("the logout_token is not a JWT") from None
    for name in ("iss", "aud"):
        if name not in claims:
            raise LogoutTokenError(f"the logout token has no {name} claim")
    if claims["iss"] != issuer:
        raise LogoutTokenError("the logout token comes from another issuer")
    audience = claims["aud"]
    if audience != client_id and not (isinstance(audience, list) and client_id in audience):
        raise LogoutTokenError("the logout token is meant for another client")
    _check_iat(claims.get("iat"), leeway)


def _check_iat(iat: t.Any, leeway: float) -> float:
    if iat is None:
        raise LogoutTokenError("the logout token has no iat claim")
    if isinstance(iat, bool) or not isinstance(iat, (int, float)) or not math.isfinite(iat):
        raise LogoutTokenError("the logout token's iat is not a number")
    now = time.time()
    if iat > now + leeway:
        raise LogoutTokenError("the logout token was issued in the future")
    if iat < now - float(config.get("BACKCHANNEL_MAX_AGE")) - leeway:
        raise LogoutTokenError("the logout token is too old")
    return float(iat)


def _checked_claims(claims: dict[str, t.Any], issuer: str, leeway: float) -> LogoutToken:
    """The checks PyJWT does not make: freshness, events, nonce, sub/sid, jti."""
    iat = _check_iat(claims["iat"], leeway)
    max_age = float(config.get("BACKCHANNEL_MAX_AGE"))
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_EVENT), dict):
        raise LogoutTokenError("the logout token has no back-channel logout event")
    if "nonce" in claims:
        raise LogoutTokenError("a logout token must not contain a nonce")
    subject, sid = _optional_string(claims, "sub"), _optional_string(claims, "sid")
    if subject is None and sid is None:
        raise LogoutTokenError("the logout token names neither a subject (sub) nor a session (sid)")
    jti = t.cast(str, _optional_string(claims, "jti"))  # PyJWT made sure it is there
    exp = claims.get("exp")  # PyJWT refused the token if this has passed
    until = max(float(exp) if isinstance(exp, (int, float)) else 0.0, iat + max_age) + leeway
    usable_until = dt.datetime.fromtimestamp(until, dt.timezone.utc).replace(tzinfo=None)
    return LogoutToken(issuer, jti, subject, sid, usable_until)

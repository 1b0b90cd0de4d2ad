"""Checking a Security Event Token (RFC 8417) from a Shared Signals transmitter.

Everything is checked before anything is ended, and cheaply first: size, the JOSE
header (a signing algorithm we accept, ``typ`` ``secevent+jwt``), ``iss`` and ``aud``
exactly as configured, ``iat`` within ``SESSION_EPOCH_SSF_MAX_AGE`` (and not in the
future beyond the leeway), no ``exp``, a ``jti``, and ``events`` an object of objects.
Only then is a key looked up and the signature verified (PyJWT), and the same claims
are checked again on the verified payload. The ``jti`` is made unusable again by the
caller, in the transaction that carries the SET out.

The subject is the top-level ``sub_id`` (Shared Signals 1.0); older transmitters put
a ``subject`` in the event instead (with ``subject_type`` for ``format``, RFC 8417
§2.1.4), which is read when there is no ``sub_id``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import time
import typing as t

import jwt

from .. import config
from .errors import InboundError

if t.TYPE_CHECKING:
    from .keys import Keys
    from .settings import Transmitter

#: The largest SET taken, in bytes.
MAX_SET_BYTES = 64 * 1024
_TYPES = {"secevent+jwt", "application/secevent+jwt"}
_MAX_JTI = 256


@dataclasses.dataclass(frozen=True)
class SecurityEvent:
    """A verified SET: who sent it, its id, and its events with their subject."""

    issuer: str
    jti: str
    issued_at: float
    #: Event type URI → the event's claims, as sent.
    events: dict[str, dict[str, t.Any]]
    #: The subject identifier (``sub_id``), or None if the SET has none.
    sub_id: t.Any
    #: Until when the SET could still be accepted: its ``jti`` is kept that long.
    usable_until: dt.datetime


def _refuse(description: str, code: str = "invalid_request") -> t.NoReturn:
    raise InboundError(description, code)


def _check_claims(claims: t.Mapping[str, t.Any], transmitter: Transmitter, leeway: float) -> float:
    """What PyJWT does not check, on claims verified or not: the caller checks both."""
    if claims.get("iss") != transmitter.issuer:
        _refuse("the SET comes from another issuer", "invalid_issuer")
    audience = claims.get("aud")
    if audience != transmitter.audience and not (isinstance(audience, list) and transmitter.audience in audience):
        _refuse("the SET is meant for another audience", "invalid_audience")
    if "exp" in claims:
        _refuse("a SET must not have an exp claim")
    iat = claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, (int, float)) or not math.isfinite(iat):
        _refuse("the SET has no numeric iat")
    now = time.time()
    if iat > now + leeway:
        _refuse("the SET was issued in the future")
    if iat < now - float(config.get("SSF_MAX_AGE")) - leeway:
        _refuse("the SET is too old")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > _MAX_JTI:
        _refuse("the SET has no usable jti")
    events = claims.get("events")
    if not isinstance(events, dict) or not events \
            or not all(isinstance(uri, str) and isinstance(body, dict) for uri, body in events.items()):
        _refuse("the SET's events must be an object of event objects")
    return float(iat)


def _legacy(subject: t.Any) -> t.Any:
    """A pre-SSF subject (``subject_type``, hyphenated: ``iss-sub``) in RFC 9493's shape."""
    if not isinstance(subject, dict) or "format" in subject or not isinstance(subject.get("subject_type"), str):
        return subject
    members = {name: value for name, value in subject.items() if name != "subject_type"}
    return {**members, "format": subject["subject_type"].replace("-", "_")}


def _header(token: str) -> tuple[str, str | None]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        _refuse("the body is not a JWT")
    algorithm = header.get("alg")
    if not isinstance(algorithm, str) or algorithm.lower() == "none":
        _refuse("the SET is not signed")
    if algorithm not in config.get("BACKCHANNEL_ALGORITHMS"):
        _refuse(f"the SET is signed with {algorithm[:20]}, which is not accepted", "invalid_key")
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in _TYPES:
        _refuse("the JWT is not typed secevent+jwt")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        _refuse("the SET's kid is not a string", "invalid_key")
    return algorithm, kid


def validate(body: bytes | str, transmitter: Transmitter, keys: Keys) -> SecurityEvent:
    """Check a SET from ``transmitter``, signed with one of ``keys``.

    :raises InboundError: with the RFC 8935 error code, saying what is wrong.
    """
    if isinstance(body, bytes):
        if len(body) > MAX_SET_BYTES:
            _refuse("the SET is too large")
        try:
            body = body.decode("ascii")
        except UnicodeDecodeError:
            _refuse("the body is not a JWT")
    token = body.strip()
    if not token or len(token) > MAX_SET_BYTES:
        _refuse("the body is empty or too large")
    algorithm, kid = _header(token)
    leeway = float(config.get("BACKCHANNEL_LEEWAY"))
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        _refuse("the body is not a JWT")
    # Checked before the signature, so a SET that could never pass fetches no keys.
    _check_claims(unverified, transmitter, leeway)
    key = keys.signing_key(kid)
    try:
        claims = jwt.decode(token, key.key, algorithms=[algorithm], audience=transmitter.audience,
                            issuer=transmitter.issuer, leeway=leeway,
                            options={"require": ["iss", "aud", "iat", "jti"], "verify_exp": False})
    except jwt.InvalidSignatureError:
        _refuse("the SET's signature is invalid", "invalid_key")
    except jwt.PyJWTError as exc:
        _refuse(f"the SET is invalid ({type(exc).__name__})")
    iat = _check_claims(claims, transmitter, leeway)
    events: dict[str, dict[str, t.Any]] = claims["events"]
    sub_id = claims.get("sub_id")
    if sub_id is None:
        sub_id = _legacy(next((body["subject"] for body in events.values() if "subject" in body), None))
    until = iat + float(config.get("SSF_MAX_AGE")) + leeway
    return SecurityEvent(transmitter.issuer, claims["jti"], iat, events, sub_id,
                         dt.datetime.fromtimestamp(until, dt.timezone.utc).replace(tzinfo=None))

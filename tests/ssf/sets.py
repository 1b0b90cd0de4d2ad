"""Security Event Tokens as the loopback SSF transmitter makes them: vocabulary, keys, signing.

What SSF 1.0 and RFC 8417 ask of a SET, and what :func:`set_claims` and
:meth:`SigningKeys.sign` produce by default:

* The JOSE header carries ``typ: secevent+jwt`` (SSF 1.0 §4.1.1, RFC 8417 §2.3).
* The claims hold ``iss``, ``iat``, ``jti`` and ``events`` (REQUIRED, RFC 8417 §2.2) and
  ``aud`` (RECOMMENDED there; a string or an array of strings, SSF 1.0 §4.1.8).
* The primary subject is the top-level ``sub_id`` claim, an RFC 9493 Subject Identifier
  (SSF 1.0 §3.1). ``sub`` MUST NOT be present (§4.1.2), nor ``exp`` (§4.1.7).
* ``events`` maps event type URIs to event objects; it SHOULD hold one event (§4.2.1).

Every default can be broken on purpose: any claim or header member given the value
:data:`OMIT` is left out, ``alg="none"`` makes an unsecured JWT with an empty signature,
``alg="HS256"`` an HMAC keyed with the signing key's public PEM (the algorithm-confusion
attack), and ``sign_with_unpublished=True`` a valid-looking signature from a key that
is never in the JWKS while the header names a published ``kid``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import typing as t
import uuid

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

SET_TYP = "secevent+jwt"
SET_MEDIA_TYPE = "application/secevent+jwt"
PUSH = "urn:ietf:rfc:8935"
POLL = "urn:ietf:rfc:8936"

CAEP = "https://schemas.openid.net/secevent/caep/event-type/"
RISC = "https://schemas.openid.net/secevent/risc/event-type/"
SSF = "https://schemas.openid.net/secevent/ssf/event-type/"

SESSION_REVOKED = CAEP + "session-revoked"
CREDENTIAL_CHANGE = CAEP + "credential-change"
TOKEN_CLAIMS_CHANGE = CAEP + "token-claims-change"
ASSURANCE_LEVEL_CHANGE = CAEP + "assurance-level-change"
ACCOUNT_DISABLED = RISC + "account-disabled"
ACCOUNT_ENABLED = RISC + "account-enabled"
ACCOUNT_PURGED = RISC + "account-purged"
ACCOUNT_CREDENTIAL_CHANGE_REQUIRED = RISC + "account-credential-change-required"
# Deprecated by RISC 1.0 §2.11: new implementations use CAEP session-revoked.
SESSIONS_REVOKED = RISC + "sessions-revoked"
IDENTIFIER_CHANGED = RISC + "identifier-changed"
VERIFICATION = SSF + "verification"
STREAM_UPDATED = SSF + "stream-updated"

CAEP_EVENTS = (SESSION_REVOKED, CREDENTIAL_CHANGE, TOKEN_CLAIMS_CHANGE, ASSURANCE_LEVEL_CHANGE)
RISC_EVENTS = (
    ACCOUNT_DISABLED,
    ACCOUNT_ENABLED,
    ACCOUNT_PURGED,
    ACCOUNT_CREDENTIAL_CHANGE_REQUIRED,
    SESSIONS_REVOKED,
    IDENTIFIER_CHANGED,
)

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
Claims = dict[str, t.Any]


class _Omit:
    def __repr__(self) -> str:
        return "OMIT"


OMIT: t.Final = _Omit()
"""Given as a claim or header value: leave that member out."""


def without_omitted(members: dict[str, t.Any]) -> dict[str, t.Any]:
    return {name: value for name, value in members.items() if value is not OMIT}


# Subject Identifiers (RFC 9493 §3.2 formats; "complex" is SSF 1.0 §3.3).


def email(address: str) -> dict[str, str]:
    return {"format": "email", "email": address}


def iss_sub(iss: str, sub: str) -> dict[str, str]:
    return {"format": "iss_sub", "iss": iss, "sub": sub}


def opaque(identifier: str) -> dict[str, str]:
    return {"format": "opaque", "id": identifier}


def phone_number(number: str) -> dict[str, str]:
    return {"format": "phone_number", "phone_number": number}


def complex_subject(**members: dict[str, t.Any]) -> dict[str, t.Any]:
    """``complex_subject(user=iss_sub(...), session=opaque(...))``: one principal, several facets."""
    return {"format": "complex", **members}


# Events: {event type URI: event object}, ready for the ``events`` claim.


def event(uri: str, **fields: t.Any) -> dict[str, dict[str, t.Any]]:
    return {uri: dict(fields)}


def session_revoked(**fields: t.Any) -> dict[str, dict[str, t.Any]]:
    """CAEP 1.0 §3.1; no event-specific claims (``event_timestamp``, ``reason_admin``... optional)."""
    return event(SESSION_REVOKED, **fields)


def credential_change(credential_type: str = "password", change_type: str = "update",
                      **fields: t.Any) -> dict[str, dict[str, t.Any]]:
    """CAEP 1.0 §3.3; ``credential_type`` and ``change_type`` are REQUIRED."""
    return event(CREDENTIAL_CHANGE, credential_type=credential_type, change_type=change_type, **fields)


def token_claims_change(claims: dict[str, t.Any], **fields: t.Any) -> dict[str, dict[str, t.Any]]:
    """CAEP 1.0 §3.2; ``claims`` (the new values) is REQUIRED."""
    return event(TOKEN_CLAIMS_CHANGE, claims=claims, **fields)


def assurance_level_change(namespace: str, current_level: str, **fields: t.Any) -> dict[str, dict[str, t.Any]]:
    """CAEP 1.0 §3.4; ``namespace`` and ``current_level`` are REQUIRED."""
    return event(ASSURANCE_LEVEL_CHANGE, namespace=namespace, current_level=current_level, **fields)


def account_disabled(reason: str | None = None) -> dict[str, dict[str, t.Any]]:
    """RISC 1.0 §2.3; ``reason`` is optional, ``hijacking`` or ``bulk-account``."""
    return event(ACCOUNT_DISABLED, **({"reason": reason} if reason else {}))


def identifier_changed(new_value: str | None = None) -> dict[str, dict[str, t.Any]]:
    """RISC 1.0 §2.5; the subject names the old value, ``new-value`` (hyphen) the new one."""
    return event(IDENTIFIER_CHANGED, **({"new-value": new_value} if new_value else {}))


def verification(state: str | None = None) -> dict[str, dict[str, t.Any]]:
    """SSF 1.0 §8.1.4.1; ``state`` echoes the Receiver's request and is absent when it gave none."""
    return event(VERIFICATION, **({"state": state} if state is not None else {}))


def stream_updated(status: str, reason: str | None = None) -> dict[str, dict[str, t.Any]]:
    """SSF 1.0 §8.1.5; ``status`` is REQUIRED, ``reason`` optional."""
    return event(STREAM_UPDATED, status=status, **({"reason": reason} if reason else {}))


def set_claims(*, iss: str | _Omit, aud: str | list[str] | _Omit, events: dict[str, t.Any] | _Omit,
               sub_id: dict[str, t.Any] | None = None, jti: str | _Omit | None = None,
               iat: int | _Omit | None = None, txn: str | None = None,
               extra_claims: dict[str, t.Any] | None = None) -> Claims:
    """The claims of a SET: a fresh ``jti`` (UUID4 hex) and ``iat`` (now) unless given."""
    claims: Claims = {
        "iss": iss,
        "iat": int(time.time()) if iat is None else iat,
        "jti": uuid.uuid4().hex if jti is None else jti,
        "aud": aud,
    }
    if txn is not None:
        claims["txn"] = txn
    if sub_id is not None:
        claims["sub_id"] = sub_id
    claims["events"] = events
    claims.update(extra_claims or {})
    return without_omitted(claims)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def compact_json(value: t.Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def header_of(set_jwt: str) -> dict[str, t.Any]:
    """The JOSE header of a compact JWS, unverified."""
    return json.loads(b64url_decode(set_jwt.split(".")[0]))


def claims_of(set_jwt: str) -> Claims:
    """The claims of a compact JWS, unverified."""
    return json.loads(b64url_decode(set_jwt.split(".")[1]))


def tampered(set_jwt: str, **changes: t.Any) -> str:
    """``set_jwt`` with claims changed after signing; header and signature are kept as they were."""
    header, _, signature = set_jwt.split(".")
    claims = without_omitted({**claims_of(set_jwt), **changes})
    return f"{header}.{b64url(compact_json(claims))}.{signature}"


class SigningKeys:
    """Signing keys with kids: one RSA (``kid``) and one EC P-256 (``ec_kid``) to start with.

    ``published`` lists the kids served in the JWKS; ``jwks_fetches`` counts JWKS requests.
    """

    keys: dict[str, PrivateKey]
    published: list[str]
    jwks_fetches: int
    kid: str
    ec_kid: str

    def _init_keys(self) -> None:
        self.keys = {}
        self.published = []
        self.jwks_fetches = 0
        self._impostors: dict[str, PrivateKey] = {}
        self.kid = self.add_key("RSA")
        self.ec_kid = self.add_key("EC")

    def add_key(self, kind: str = "RSA", publish: bool = True) -> str:
        """Make an RSA-2048 or EC P-256 signing key; publish it unless told not to. Returns its kid."""
        kid = f"{kind.lower()}-{uuid.uuid4().hex[:10]}"
        self.keys[kid] = _new_key(kind)
        if publish:
            self.published.append(kid)
        return kid

    def publish(self, kid: str) -> None:
        if kid not in self.published:
            self.published.append(kid)

    def unpublish(self, kid: str) -> None:
        """Drop ``kid`` from the JWKS (key rotation); SETs can still be signed with it."""
        if kid in self.published:
            self.published.remove(kid)

    def jwks(self) -> dict[str, list[dict[str, t.Any]]]:
        """The public JWKS: each published key with ``kid``, ``use: sig`` and its ``alg``."""
        keys = []
        for kid in self.published:
            public = self.keys[kid].public_key()
            rsa_key = isinstance(public, rsa.RSAPublicKey)
            jwk = json.loads((jwt.algorithms.RSAAlgorithm if rsa_key else jwt.algorithms.ECAlgorithm).to_jwk(public))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": self.algorithm_for(kid)})
        return {"keys": keys}

    def algorithm_for(self, kid: str) -> str:
        return "RS256" if isinstance(self.keys[kid], rsa.RSAPrivateKey) else "ES256"

    def sign(self, claims: Claims, *, kid: str | None = None, alg: str | None = None, typ: str | None = SET_TYP,
             headers: dict[str, t.Any] | None = None, sign_with_unpublished: bool = False) -> str:
        """A compact JWS of ``claims``; header ``{"alg", "kid", "typ"}`` then ``headers`` (OMIT removes).

        ``alg`` defaults to the key's (RS256 or ES256); ``typ=None`` leaves ``typ`` out.
        """
        kid = kid or self.kid
        alg = alg or self.algorithm_for(kid)
        header: dict[str, t.Any] = {"alg": alg, "kid": kid}
        if typ is not None:
            header["typ"] = typ
        if alg == "none":
            del header["kid"]
        header = without_omitted({**header, **(headers or {})})
        signing_input = f"{b64url(compact_json(header))}.{b64url(compact_json(claims))}".encode()
        if alg == "none":
            signature = b""
        elif alg.startswith("HS"):
            pem = self.keys[kid].public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            signature = hmac.new(pem, signing_input, getattr(hashlib, f"sha{alg[2:]}")).digest()
        else:
            key = self._impostor(kid) if sign_with_unpublished else self.keys[kid]
            signature = jwt.get_algorithm_by_name(alg).sign(signing_input, key)
        return f"{signing_input.decode()}.{b64url(signature)}"

    def _impostor(self, kid: str) -> PrivateKey:
        # A key of the same kind that no JWKS will ever hold.
        kind = "RSA" if isinstance(self.keys[kid], rsa.RSAPrivateKey) else "EC"
        if kind not in self._impostors:
            self._impostors[kind] = _new_key(kind)
        return self._impostors[kind]


def _new_key(kind: str) -> PrivateKey:
    if kind == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "EC":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"kind must be 'RSA' or 'EC', not {kind!r}")

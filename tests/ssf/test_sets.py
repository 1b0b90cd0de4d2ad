"""SETs made by the loopback transmitter: valid ones verify, each wrong one is wrong in one way only."""

from __future__ import annotations

import hashlib
import hmac
import time
import typing as t

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization

from ssf import sets
from ssf.sets import OMIT, claims_of, header_of
from ssf.transmitter import Transmitter

JTI = "0123456789abcdef0123456789abcdef"
IAT = 1_700_000_000
SUBJECT = sets.complex_subject(user=sets.iss_sub("https://idp.example", "alice"), session=sets.opaque("sid-1"))
EVENTS = sets.session_revoked(event_timestamp=IAT)


def key_for(tx: Transmitter, set_jwt: str) -> t.Any:
    return jwt.PyJWKClient(tx.jwks_uri, cache_keys=False).get_signing_key_from_jwt(set_jwt).key


def decode(tx: Transmitter, set_jwt: str, **options: t.Any) -> dict[str, t.Any]:
    return jwt.decode(set_jwt, key_for(tx, set_jwt), algorithms=["RS256", "ES256"], audience=tx.audience,
                      issuer=tx.issuer, options={"verify_iat": False, **options})


def test_default_set_verifies_against_the_served_jwks(tx: Transmitter) -> None:
    before = int(time.time())
    set_jwt = tx.make_set(EVENTS, SUBJECT, txn="txn-1")
    assert header_of(set_jwt) == {"alg": "RS256", "kid": tx.kid, "typ": "secevent+jwt"}
    claims = decode(tx, set_jwt)
    assert list(claims) == ["iss", "iat", "jti", "aud", "txn", "sub_id", "events"]
    assert (claims["iss"], claims["aud"], claims["txn"]) == (tx.issuer, tx.audience, "txn-1")
    assert before <= claims["iat"] <= int(time.time())
    assert len(claims["jti"]) == 32 and int(claims["jti"], 16) >= 0
    assert (claims["sub_id"], claims["events"]) == (SUBJECT, EVENTS)
    assert claims_of(tx.make_set(EVENTS, SUBJECT))["jti"] != claims["jti"]


def test_ec_key_signs_es256(tx: Transmitter) -> None:
    set_jwt = tx.make_set(EVENTS, SUBJECT, kid=tx.ec_kid)
    assert header_of(set_jwt)["alg"] == "ES256"
    assert decode(tx, set_jwt)["events"] == EVENTS


def test_stream_audience_is_the_default(tx: Transmitter, api: requests.Session) -> None:
    config = api.post(tx.configuration_endpoint, json={}).json()
    tx.streams[config["stream_id"]].config["aud"] = ["https://web.example", "https://mobile.example"]
    claims = claims_of(tx.make_set(EVENTS, SUBJECT, stream_id=config["stream_id"]))
    assert claims["aud"] == ["https://web.example", "https://mobile.example"]


def baseline(tx: Transmitter, **changes: t.Any) -> str:
    return tx.make_set(EVENTS, SUBJECT, **{"jti": JTI, "iat": IAT, **changes})


# name -> (make_set arguments, expected header changes, expected claim changes); None: member absent.
CLAIM_AND_HEADER_VARIANTS: dict[str, tuple[dict[str, t.Any], dict[str, t.Any], dict[str, t.Any]]] = {
    "typ JWT": ({"typ": "JWT"}, {"typ": "JWT"}, {}),
    "typ missing": ({"typ": None}, {"typ": None}, {}),
    "typ with application/ prefix": ({"typ": "application/secevent+jwt"}, {"typ": "application/secevent+jwt"}, {}),
    "wrong iss": ({"iss": "https://evil.example"}, {}, {"iss": "https://evil.example"}),
    "wrong aud": ({"aud": "https://other-rp.example"}, {}, {"aud": "https://other-rp.example"}),
    "iat a day old": ({"iat": IAT - 86400}, {}, {"iat": IAT - 86400}),
    "iat in the future": ({"iat": IAT + 3600}, {}, {"iat": IAT + 3600}),
    "exp present": ({"extra_claims": {"exp": IAT + 60}}, {}, {"exp": IAT + 60}),
    "sub present": ({"extra_claims": {"sub": "alice"}}, {}, {"sub": "alice"}),
    "jti missing": ({"jti": OMIT}, {}, {"jti": None}),
    "iss missing": ({"iss": OMIT}, {}, {"iss": None}),
    "aud missing": ({"aud": OMIT}, {}, {"aud": None}),
    "events missing": ({"extra_claims": {"events": OMIT}}, {}, {"events": None}),
    "kid missing": ({"headers": {"kid": OMIT}}, {"kid": None}, {}),
    "crit header": ({"headers": {"crit": ["urn:example:must-understand"]}},
                    {"crit": ["urn:example:must-understand"]}, {}),
}


def with_changes(members: dict[str, t.Any], changes: dict[str, t.Any]) -> dict[str, t.Any]:
    changed = {**members, **changes}
    return {name: value for name, value in changed.items() if value is not None}


@pytest.mark.parametrize("name", CLAIM_AND_HEADER_VARIANTS)
def test_each_variant_differs_only_as_intended(tx: Transmitter, name: str) -> None:
    arguments, header_changes, claim_changes = CLAIM_AND_HEADER_VARIANTS[name]
    good, bad = baseline(tx), baseline(tx, **arguments)
    assert header_of(bad) == with_changes(header_of(good), header_changes)
    assert claims_of(bad) == with_changes(claims_of(good), claim_changes)
    # Still signed by the published key: only the intended difference makes it wrong.
    signing_input, signature = bad.rsplit(".", 1)
    algorithm = jwt.get_algorithm_by_name("RS256")
    assert algorithm.verify(signing_input.encode(), key_for(tx, good), sets.b64url_decode(signature))


def test_pyjwt_refuses_an_unknown_crit_extension(tx: Transmitter) -> None:
    with pytest.raises(jwt.InvalidTokenError, match="critical extension"):
        decode(tx, baseline(tx, headers={"crit": ["urn:example:must-understand"]}))


def test_events_omitted_by_the_events_argument(tx: Transmitter) -> None:
    assert "events" not in claims_of(tx.make_set(OMIT, SUBJECT))


def test_sign_with_unpublished_fails_the_signature_only(tx: Transmitter) -> None:
    good, bad = baseline(tx), baseline(tx, sign_with_unpublished=True)
    assert (header_of(bad), claims_of(bad)) == (header_of(good), claims_of(good))
    assert bad.rsplit(".", 1)[1] != good.rsplit(".", 1)[1]
    decode(tx, good)
    with pytest.raises(jwt.InvalidSignatureError):
        decode(tx, bad)


def test_unpublished_kid_is_not_in_the_jwks(tx: Transmitter) -> None:
    hidden = tx.add_key(publish=False)
    bad = baseline(tx, kid=hidden)
    assert header_of(bad)["kid"] == hidden
    assert claims_of(bad) == claims_of(baseline(tx))
    with pytest.raises(jwt.PyJWKClientError):
        key_for(tx, bad)
    jwt.decode(bad, tx.keys[hidden].public_key(), algorithms=["RS256"], audience=tx.audience,
               options={"verify_iat": False})


def test_tampered_claims_break_the_signature(tx: Transmitter) -> None:
    good = baseline(tx)
    bad = sets.tampered(good, sub_id=sets.email("mallory@example.com"))
    assert bad.split(".")[0] == good.split(".")[0] and bad.split(".")[2] == good.split(".")[2]
    assert claims_of(bad) == {**claims_of(good), "sub_id": sets.email("mallory@example.com")}
    with pytest.raises(jwt.InvalidSignatureError):
        decode(tx, bad)


def test_alg_none_is_unsecured(tx: Transmitter) -> None:
    bad = baseline(tx, alg="none")
    assert header_of(bad) == {"alg": "none", "typ": "secevent+jwt"}
    assert claims_of(bad) == claims_of(baseline(tx))
    assert bad.endswith(".") and bad.count(".") == 2
    assert jwt.decode(bad, options={"verify_signature": False})["jti"] == JTI
    with pytest.raises(jwt.InvalidAlgorithmError):
        jwt.decode(bad, key_for(tx, baseline(tx)), algorithms=["RS256"], audience=tx.audience)


def test_hs256_keyed_with_the_public_key(tx: Transmitter) -> None:
    bad = baseline(tx, alg="HS256")
    assert header_of(bad) == {"alg": "HS256", "kid": tx.kid, "typ": "secevent+jwt"}
    with pytest.raises(jwt.InvalidAlgorithmError):
        jwt.decode(bad, key_for(tx, bad), algorithms=["RS256"], audience=tx.audience)
    pem = tx.keys[tx.kid].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input, signature = bad.rsplit(".", 1)
    expected = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    assert sets.b64url_decode(signature) == expected


def test_oversized_set(tx: Transmitter) -> None:
    bad = baseline(tx, extra_claims={"padding": "x" * 300_000})
    assert len(bad) > 300_000
    assert decode(tx, bad)["padding"] == "x" * 300_000

"""The spec examples in ``ssf.vectors`` are well-formed and say what their fields claim."""

from __future__ import annotations

import typing as t

import jwt
import pytest
import requests

from ssf import poll, sets
from ssf.transmitter import Transmitter
from ssf.vectors import NOT_PRINTED, POLL_VECTORS, PUSH_VECTORS, SET_ERROR_CODES, SET_VECTORS, SetVector

BY_NAME = {vector.name: vector for vector in SET_VECTORS}
DOCUMENTS = ("RFC 8417 ", "RFC 8935 ", "SSF 1.0 ", "CAEP 1.0 ", "RISC 1.0 ")


def test_names_are_unique() -> None:
    assert len(BY_NAME) == len(SET_VECTORS)
    assert len({example.name for example in POLL_VECTORS + PUSH_VECTORS}) == len(POLL_VECTORS + PUSH_VECTORS)


@pytest.mark.parametrize("vector", SET_VECTORS, ids=lambda vector: vector.name)
def test_set_vector_is_well_formed(vector: SetVector) -> None:
    claims = vector.claims
    assert vector.source.startswith(DOCUMENTS) and "§" in vector.source
    # Every printed example has the claims RFC 8417 §2.2 requires.
    assert isinstance(claims["iss"], str) and isinstance(claims["jti"], str) and isinstance(claims["iat"], int)
    assert isinstance(claims["events"], dict) and claims["events"]
    assert all(":" in uri and isinstance(payload, dict) for uri, payload in claims["events"].items())
    assert vector.event_types == tuple(claims["events"])
    assert vector.ssf_1_0 == ("sub_id" in claims and "sub" not in claims and "exp" not in claims)
    if vector.subject_at == "sub_id":
        assert vector.subject_format == claims["sub_id"]["format"]
    elif vector.subject_at == "event":
        [payload] = claims["events"].values()
        assert vector.subject_format == payload["subject"]["subject_type"]
    elif vector.subject_at == "sub":
        assert "sub_id" not in claims and isinstance(claims["sub"], str)
    else:
        assert vector.subject_at is None and "sub" not in claims and "sub_id" not in claims
    if vector.source.startswith(("SSF", "CAEP", "RISC")):
        assert vector.ssf_1_0 and len(claims["events"]) == 1


@pytest.mark.parametrize("vector", [v for v in SET_VECTORS if v.compact], ids=lambda vector: vector.name)
def test_printed_compact_sets_decode_to_the_printed_claims(vector: SetVector) -> None:
    assert vector.compact is not None
    assert sets.header_of(vector.compact) == vector.header
    assert sets.claims_of(vector.compact) == vector.claims


def test_rfc8936_poll_response_carries_rfc8417_examples() -> None:
    [response] = [example for example in POLL_VECTORS if example.name == "rfc8936-poll-response"]
    assert isinstance(response.body, dict)
    printed = response.body["sets"]
    for jti, set_jwt in printed.items():
        assert sets.header_of(set_jwt) == {"alg": "none"}
        assert sets.claims_of(set_jwt)["jti"] == jti
    create, reset = BY_NAME["rfc8417-scim-create-unsecured"], BY_NAME["rfc8417-scim-password-reset"]
    assert sets.claims_of(printed["4d3559ec67504aaba65d40b0363faad8"]) == create.claims
    assert sets.claims_of(printed["3d0c3cf797584bd193bd0fb1bd4e7d30"]) == reset.claims


def test_rfc8935_example_is_the_rfc8417_risc_example() -> None:
    assert BY_NAME["rfc8935-risc-account-disabled"].claims == BY_NAME["rfc8417-risc-account-disabled"].claims


def test_every_event_constant_has_a_vector_or_is_listed_as_not_printed() -> None:
    printed = {uri for vector in SET_VECTORS for uri in vector.event_types}
    constants = set(sets.CAEP_EVENTS + sets.RISC_EVENTS) | {sets.VERIFICATION, sets.STREAM_UPDATED}
    assert constants - printed == {sets.ACCOUNT_PURGED, sets.SESSIONS_REVOKED}
    assert [what for what, _ in NOT_PRINTED] == ["RISC account-purged", "RISC account-enabled", "RISC sessions-revoked"]


def test_session_revoked_with_user_and_session() -> None:
    sub_id = BY_NAME["caep-session-revoked-user-session"].claims["sub_id"]
    assert sub_id["format"] == "complex"
    assert (sub_id["user"]["format"], sub_id["session"]["format"]) == ("iss_sub", "opaque")


def test_verification_vector_names_its_stream() -> None:
    claims = BY_NAME["ssf-verification"].claims
    assert claims["sub_id"] == {"format": "opaque", "id": "f67e39a0a4d34d56b3aa1bc4cff0069f"}
    assert set(claims["events"][sets.VERIFICATION]) == {"state"}


@pytest.mark.parametrize("vector", [v for v in SET_VECTORS if v.ssf_1_0], ids=lambda vector: vector.name)
def test_ssf_vectors_can_be_signed_by_the_transmitter(tx: Transmitter, vector: SetVector) -> None:
    set_jwt = tx.sign(vector.claims)
    key = jwt.PyJWKClient(tx.jwks_uri).get_signing_key_from_jwt(set_jwt).key
    options: dict[str, t.Any] = {"verify_aud": False, "verify_iat": False}
    assert jwt.decode(set_jwt, key, algorithms=["RS256"], options=options) == vector.claims


def test_poll_request_vectors_are_accepted_by_the_transmitter(tx: Transmitter, api: requests.Session) -> None:
    stream_id = api.post(tx.configuration_endpoint, json={}).json()["stream_id"]
    tx.long_poll_timeout = 0.1
    for example in POLL_VECTORS:
        if example.kind != "request":
            continue
        assert isinstance(example.body, dict)
        poll.parse(example.body)
        answer = api.post(tx.poll_url(stream_id), json=example.body)
        assert answer.json() == {"sets": {}, "moreAvailable": False}, example.name
    assert tx.acked.count("3d0c3cf797584bd193bd0fb1bd4e7d30") == 3
    assert tx.set_errors["4d3559ec67504aaba65d40b0363faad8"]["err"] == "authentication_failed"


def test_push_error_vectors_use_registered_codes() -> None:
    errors = [example for example in PUSH_VECTORS if example.status == 400]
    assert errors and all(isinstance(e.body, dict) and e.body["err"] in SET_ERROR_CODES for e in errors)
    assert all(e.headers["Content-Language"] == "en-US" for e in errors)
    [accepted] = [example for example in PUSH_VECTORS if example.status == 202]
    assert accepted.body is None

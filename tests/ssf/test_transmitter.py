"""The loopback SSF transmitter over real HTTP: discovery, JWKS, stream management, push, verification."""

from __future__ import annotations

import json
import time
import typing as t

import jwt
import pytest
import requests
from loopback import Loopback
from werkzeug.wrappers import Request, Response

from ssf import sets
from ssf.transmitter import Transmitter


class PushReceiver(Loopback):
    """An RFC 8935 push endpoint on loopback that records each POST and answers ``status`` (and ``body``)."""

    def __init__(self, status: int = 202, body: dict[str, t.Any] | None = None) -> None:
        self.status = status
        self.body = body
        self.posts: list[tuple[dict[str, str], str]] = []
        super().__init__()
        self.url = f"{self.base}/events"

    def _app(self, environ: dict[str, t.Any], start_response: t.Any) -> t.Iterable[bytes]:
        request = Request(environ)
        self.posts.append((dict(request.headers), request.get_data(as_text=True)))
        if self.body is None:
            return Response(status=self.status)(environ, start_response)
        answer = Response(json.dumps(self.body), status=self.status, mimetype="application/json")
        return answer(environ, start_response)


@pytest.fixture
def receiver() -> t.Iterator[PushReceiver]:
    endpoint = PushReceiver()
    yield endpoint
    endpoint.close()


def create(api: requests.Session, tx: Transmitter, **body: t.Any) -> dict[str, t.Any]:
    answer = api.post(tx.configuration_endpoint, json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def push_stream(api: requests.Session, tx: Transmitter, receiver: PushReceiver, **body: t.Any) -> str:
    delivery = {"method": sets.PUSH, "endpoint_url": receiver.url, "authorization_header": "Bearer rcv-token"}
    return create(api, tx, delivery=delivery, **body)["stream_id"]


def verified(tx: Transmitter, set_jwt: str) -> dict[str, t.Any]:
    """The claims of ``set_jwt`` checked by PyJWT against the JWKS the transmitter serves."""
    key = jwt.PyJWKClient(tx.jwks_uri, cache_keys=False).get_signing_key_from_jwt(set_jwt)
    return jwt.decode(set_jwt, key.key, algorithms=["RS256", "ES256"], audience=tx.audience, issuer=tx.issuer)


def test_discovery_document(tx: Transmitter) -> None:
    answer = requests.get(tx.configuration_url)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == {
        "spec_version": "1_0",
        "issuer": tx.issuer,
        "jwks_uri": f"{tx.issuer}/jwks.json",
        "delivery_methods_supported": ["urn:ietf:rfc:8935", "urn:ietf:rfc:8936"],
        "configuration_endpoint": f"{tx.issuer}/ssf/stream",
        "status_endpoint": f"{tx.issuer}/ssf/status",
        "add_subject_endpoint": f"{tx.issuer}/ssf/subjects:add",
        "remove_subject_endpoint": f"{tx.issuer}/ssf/subjects:remove",
        "verification_endpoint": f"{tx.issuer}/ssf/verify",
        "authorization_schemes": [{"spec_urn": "urn:ietf:rfc:6750"}],
        "default_subjects": "ALL",
    }
    assert tx.issuer.startswith("http://127.0.0.1:")
    assert tx.requests == [("GET", "/.well-known/ssf-configuration")]


def test_metadata_overrides_change_or_remove_members(tx: Transmitter) -> None:
    tx.metadata_overrides = {"issuer": "https://elsewhere.example", "jwks_uri": sets.OMIT}
    document = requests.get(tx.configuration_url).json()
    assert document["issuer"] == "https://elsewhere.example"
    assert "jwks_uri" not in document


def test_jwks_serves_published_keys_and_counts_fetches(tx: Transmitter) -> None:
    hidden = tx.add_key("EC", publish=False)
    extra = tx.add_key("RSA")
    keys = {key["kid"]: key for key in requests.get(tx.jwks_uri).json()["keys"]}
    assert set(keys) == {tx.kid, tx.ec_kid, extra}
    assert (keys[tx.kid]["kty"], keys[tx.kid]["alg"], keys[tx.kid]["use"]) == ("RSA", "RS256", "sig")
    assert (keys[tx.ec_kid]["kty"], keys[tx.ec_kid]["crv"], keys[tx.ec_kid]["alg"]) == ("EC", "P-256", "ES256")
    assert not any("d" in key for key in keys.values())
    tx.unpublish(extra)
    tx.publish(hidden)
    assert {key["kid"] for key in requests.get(tx.jwks_uri).json()["keys"]} == {tx.kid, tx.ec_kid, hidden}
    assert tx.jwks_fetches == 2


@pytest.mark.parametrize(
    ("method", "endpoint"),
    [
        ("GET", "configuration_endpoint"),
        ("POST", "configuration_endpoint"),
        ("GET", "status_endpoint"),
        ("POST", "verification_endpoint"),
        ("POST", "add_subject_endpoint"),
        ("POST", "remove_subject_endpoint"),
    ],
)
@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "Basic Zm9vOmJhcg=="])
def test_management_api_needs_the_bearer_token(tx: Transmitter, method: str, endpoint: str,
                                               authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    answer = requests.request(method, getattr(tx, endpoint), json={}, headers=headers)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert tx.streams == {}


def test_create_push_stream(tx: Transmitter, api: requests.Session, receiver: PushReceiver) -> None:
    requested = [sets.SESSION_REVOKED, "urn:example:unknown", sets.ACCOUNT_DISABLED]
    config = create(api, tx, delivery={"method": sets.PUSH, "endpoint_url": receiver.url, "authorization_header": "X"},
                    events_requested=requested, description="RP stream")
    assert config["stream_id"] in tx.streams
    assert config["iss"] == tx.issuer
    assert config["aud"] == "https://rp.example.test/ssf"
    assert config["delivery"] == {"method": sets.PUSH, "endpoint_url": receiver.url, "authorization_header": "X"}
    assert config["events_supported"] == list(sets.CAEP_EVENTS + sets.RISC_EVENTS)
    assert config["events_requested"] == requested
    assert config["events_delivered"] == [sets.SESSION_REVOKED, sets.ACCOUNT_DISABLED]
    assert config["description"] == "RP stream"
    assert config["min_verification_interval"] == 0
    assert tx.streams[config["stream_id"]].config == config


def test_create_without_delivery_is_poll_at_the_transmitters_url(tx: Transmitter, api: requests.Session) -> None:
    config = create(api, tx, delivery={"method": sets.POLL, "endpoint_url": "https://ignored.example"})
    assert config["delivery"] == {"method": sets.POLL, "endpoint_url": tx.poll_url(config["stream_id"])}
    assert create(api, tx)["delivery"]["method"] == sets.POLL
    assert len(tx.streams) == 2


@pytest.mark.parametrize(
    "body",
    [
        {"delivery": {"method": "urn:example:smoke-signals"}},
        {"delivery": {"method": sets.PUSH}},
        {"events_requested": sets.SESSION_REVOKED},
        "not an object",
    ],
)
def test_create_refuses_bad_requests(tx: Transmitter, api: requests.Session, body: t.Any) -> None:
    assert api.post(tx.configuration_endpoint, json=body).status_code == 400
    assert api.post(tx.configuration_endpoint, data="{not json").status_code == 400
    assert tx.streams == {}


def test_one_stream_per_receiver_answers_409() -> None:
    with Transmitter(multiple_streams=False) as single, requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {single.bearer_token}"
        assert session.post(single.configuration_endpoint, json={}).status_code == 201
        assert session.post(single.configuration_endpoint, json={}).status_code == 409


def test_read_streams(tx: Transmitter, api: requests.Session) -> None:
    assert api.get(tx.configuration_endpoint).json() == []
    first, second = create(api, tx), create(api, tx, description="two")
    answer = api.get(tx.configuration_endpoint, params={"stream_id": second["stream_id"]})
    assert answer.json() == second
    assert answer.headers["Cache-Control"] == "no-store"
    assert api.get(tx.configuration_endpoint).json() == [first, second]
    assert api.get(tx.configuration_endpoint, params={"stream_id": "nope"}).status_code == 404


def test_patch_changes_only_what_it_names(tx: Transmitter, api: requests.Session) -> None:
    config = create(api, tx, events_requested=[sets.SESSION_REVOKED], description="old")
    answer = api.patch(tx.configuration_endpoint, json={"stream_id": config["stream_id"], "description": "new"})
    assert answer.status_code == 200
    assert answer.json() == {**config, "description": "new"}
    answer = api.patch(tx.configuration_endpoint, json={
        "stream_id": config["stream_id"], "events_requested": [sets.CREDENTIAL_CHANGE, sets.SESSION_REVOKED],
        "events_delivered": config["events_delivered"], "iss": tx.issuer,
    })
    assert answer.json()["events_delivered"] == [sets.CREDENTIAL_CHANGE, sets.SESSION_REVOKED]
    assert answer.json()["description"] == "new"


@pytest.mark.parametrize("change", [{"iss": "https://other.example"}, {"aud": "x"}, {"events_delivered": []}])
def test_patch_refuses_wrong_transmitter_supplied_values(tx: Transmitter, api: requests.Session,
                                                         change: dict[str, t.Any]) -> None:
    config = create(api, tx, events_requested=[sets.SESSION_REVOKED])
    assert api.patch(tx.configuration_endpoint, json={"stream_id": config["stream_id"], **change}).status_code == 400
    assert tx.streams[config["stream_id"]].config == config


def test_patch_and_put_need_a_known_stream_id(tx: Transmitter, api: requests.Session) -> None:
    assert api.patch(tx.configuration_endpoint, json={"description": "x"}).status_code == 400
    assert api.put(tx.configuration_endpoint, json={"stream_id": "nope"}).status_code == 404


def test_put_replaces_receiver_supplied_properties(tx: Transmitter, api: requests.Session,
                                                   receiver: PushReceiver) -> None:
    stream_id = push_stream(api, tx, receiver, events_requested=[sets.SESSION_REVOKED], description="old")
    replacement = {"stream_id": stream_id, "events_requested": [sets.ACCOUNT_PURGED]}
    answer = api.put(tx.configuration_endpoint, json=replacement)
    assert answer.status_code == 200
    config = answer.json()
    assert "description" not in config
    assert config["delivery"] == {"method": sets.POLL, "endpoint_url": tx.poll_url(stream_id)}
    assert (config["events_requested"], config["events_delivered"]) == ([sets.ACCOUNT_PURGED], [sets.ACCOUNT_PURGED])


def test_delete_stream(tx: Transmitter, api: requests.Session) -> None:
    stream_id = create(api, tx)["stream_id"]
    assert api.delete(tx.configuration_endpoint).status_code == 400
    answer = api.delete(tx.configuration_endpoint, params={"stream_id": stream_id})
    assert (answer.status_code, answer.content) == (204, b"")
    assert api.get(tx.configuration_endpoint, params={"stream_id": stream_id}).status_code == 404
    assert api.delete(tx.configuration_endpoint, params={"stream_id": stream_id}).status_code == 404


def test_status_pause_holds_and_enable_delivers(tx: Transmitter, api: requests.Session,
                                                receiver: PushReceiver) -> None:
    stream_id = push_stream(api, tx, receiver)
    assert api.get(tx.status_endpoint, params={"stream_id": stream_id}).json() == {
        "stream_id": stream_id, "status": "enabled"}
    answer = api.post(tx.status_endpoint, json={"stream_id": stream_id, "status": "paused", "reason": "maintenance"})
    assert answer.json() == {"stream_id": stream_id, "status": "paused", "reason": "maintenance"}
    set_jwt = tx.make_set(sets.session_revoked(), sets.email("alice@example.com"), stream_id=stream_id)
    assert tx.send(set_jwt) is None
    assert receiver.posts == []
    api.post(tx.status_endpoint, json={"stream_id": stream_id, "status": "enabled"})
    assert [body for _, body in receiver.posts] == [set_jwt]
    assert api.post(tx.status_endpoint, json={"stream_id": stream_id, "status": "asleep"}).status_code == 400
    assert api.get(tx.status_endpoint, params={"stream_id": "nope"}).status_code == 404


def test_disabled_stream_drops(tx: Transmitter, api: requests.Session, receiver: PushReceiver) -> None:
    stream_id = push_stream(api, tx, receiver)
    api.post(tx.status_endpoint, json={"stream_id": stream_id, "status": "disabled"})
    set_jwt = tx.make_set(sets.account_disabled("hijacking"), sets.email("a@example.com"))
    tx.send(set_jwt, stream_id)
    api.post(tx.status_endpoint, json={"stream_id": stream_id, "status": "enabled"})
    assert (receiver.posts, tx.dropped) == ([], [set_jwt])


def test_transmitter_pause_sends_stream_updated_first(tx: Transmitter, api: requests.Session,
                                                      receiver: PushReceiver) -> None:
    stream_id = push_stream(api, tx, receiver)
    tx.change_status(stream_id, "paused", "maintenance")
    tx.change_status(stream_id, "enabled")
    events = [verified(tx, body)["events"] for _, body in receiver.posts]
    assert events == [
        {sets.STREAM_UPDATED: {"status": "paused", "reason": "maintenance"}},
        {sets.STREAM_UPDATED: {"status": "enabled"}},
    ]


def test_add_and_remove_subjects(tx: Transmitter, api: requests.Session) -> None:
    stream_id = create(api, tx)["stream_id"]
    alice = sets.email("alice@example.com")
    answer = api.post(tx.add_subject_endpoint, json={"stream_id": stream_id, "subject": alice, "verified": True})
    assert (answer.status_code, answer.content) == (200, b"")
    assert tx.streams[stream_id].subjects == [alice]
    assert api.post(tx.remove_subject_endpoint, json={"stream_id": stream_id, "subject": alice}).status_code == 204
    assert tx.streams[stream_id].subjects == []
    assert api.post(tx.add_subject_endpoint, json={"stream_id": stream_id}).status_code == 400
    assert api.post(tx.add_subject_endpoint, json={"stream_id": "nope", "subject": alice}).status_code == 404


def test_verification_is_pushed_before_204(tx: Transmitter, api: requests.Session, receiver: PushReceiver) -> None:
    stream_id = push_stream(api, tx, receiver)
    answer = api.post(tx.verification_endpoint, json={"stream_id": stream_id, "state": "c3RhdGU"})
    assert (answer.status_code, answer.content) == (204, b"")
    [(headers, body)] = receiver.posts
    assert headers["Content-Type"] == "application/secevent+jwt"
    assert headers["Accept"] == "application/json"
    assert headers["Authorization"] == "Bearer rcv-token"
    assert jwt.get_unverified_header(body) == {"alg": "RS256", "kid": tx.kid, "typ": "secevent+jwt"}
    claims = verified(tx, body)
    assert claims["sub_id"] == {"format": "opaque", "id": stream_id}
    assert claims["events"] == {sets.VERIFICATION: {"state": "c3RhdGU"}}
    assert claims["aud"] == tx.audience
    assert [(p.status, p.body, p.set_jwt) for p in tx.pushed] == [(202, None, body)]
    assert tx.streams[stream_id].verifications == ["c3RhdGU"]


def test_verification_without_state_and_async(receiver: PushReceiver) -> None:
    with Transmitter(async_verification=True) as tx, requests.Session() as api:
        api.headers["Authorization"] = f"Bearer {tx.bearer_token}"
        stream_id = push_stream(api, tx, receiver)
        assert api.post(tx.verification_endpoint, json={"stream_id": stream_id}).status_code == 204
        deadline = time.monotonic() + 5
        while not receiver.posts and time.monotonic() < deadline:
            time.sleep(0.02)
        [(_, body)] = receiver.posts
        assert verified(tx, body)["events"] == {sets.VERIFICATION: {}}


def test_verification_is_queued_for_poll(tx: Transmitter, api: requests.Session) -> None:
    stream_id = create(api, tx)["stream_id"]
    assert api.post(tx.verification_endpoint, json={"stream_id": stream_id, "state": "s1"}).status_code == 204
    [set_jwt] = api.post(tx.poll_url(stream_id), json={"returnImmediately": True}).json()["sets"].values()
    assert verified(tx, set_jwt)["events"] == {sets.VERIFICATION: {"state": "s1"}}


def test_verification_errors() -> None:
    with Transmitter(min_verification_interval=60) as tx, requests.Session() as api:
        api.headers["Authorization"] = f"Bearer {tx.bearer_token}"
        stream_id = create(api, tx)["stream_id"]
        assert api.post(tx.verification_endpoint, json={"stream_id": "nope"}).status_code == 404
        assert api.post(tx.verification_endpoint, json={"stream_id": stream_id, "state": 7}).status_code == 400
        assert api.post(tx.verification_endpoint, json={"stream_id": stream_id}).status_code == 204
        assert api.post(tx.verification_endpoint, json={"stream_id": stream_id}).status_code == 429
        assert len(tx.streams[stream_id].pending) == 1


def test_push_reports_the_receivers_error() -> None:
    error = {"err": "invalid_key", "description": "Key ID 12345 has been revoked."}
    refusing = PushReceiver(status=400, body=error)
    try:
        with Transmitter() as tx:
            status, body = tx.push(tx.make_set(sets.session_revoked(), sets.email("a@example.com")),
                                   endpoint_url=refusing.url, authorization="Bearer abc")
            assert (status, body) == (400, error)
            assert refusing.posts[0][0]["Authorization"] == "Bearer abc"
    finally:
        refusing.close()


def test_push_to_nowhere_is_recorded(tx: Transmitter) -> None:
    gone = PushReceiver()
    gone.close()
    set_jwt = tx.make_set(sets.session_revoked(), sets.email("a@example.com"))
    assert tx.push(set_jwt, endpoint_url=gone.url) == (None, None)
    [record] = tx.pushed
    assert (record.url, record.status, record.claims["jti"]) == (gone.url, None, sets.claims_of(set_jwt)["jti"])
    assert "Connection" in (record.error or "")

"""RFC 8936 poll delivery from the loopback transmitter: queue, ack, redelivery, errors, outages."""

from __future__ import annotations

import threading
import time
import typing as t

import pytest
import requests

from ssf import sets
from ssf.transmitter import Transmitter


@pytest.fixture
def stream_id(tx: Transmitter, api: requests.Session) -> str:
    answer = api.post(tx.configuration_endpoint, json={"events_requested": list(sets.CAEP_EVENTS)})
    return answer.json()["stream_id"]


def queued(tx: Transmitter, stream_id: str, n: int) -> list[str]:
    """Queue ``n`` session-revoked SETs; returns their jtis, oldest first."""
    return [
        tx.queue(tx.make_set(sets.session_revoked(), sets.opaque(f"session-{i}"), stream_id=stream_id), stream_id)
        for i in range(n)
    ]


def poll(tx: Transmitter, api: requests.Session, stream_id: str, **body: t.Any) -> dict[str, t.Any]:
    answer = api.post(tx.poll_url(stream_id), json={"returnImmediately": True, **body})
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "application/json"
    return answer.json()


def test_poll_needs_the_bearer_token(tx: Transmitter, stream_id: str) -> None:
    assert requests.post(tx.poll_url(stream_id), json={}).status_code == 401
    bad = {"Authorization": "Bearer nope"}
    assert requests.post(tx.poll_url(stream_id), json={}, headers=bad).status_code == 401


def test_sets_stay_until_acknowledged(tx: Transmitter, api: requests.Session, stream_id: str) -> None:
    first, second = queued(tx, stream_id, 2)
    answer = poll(tx, api, stream_id)
    assert list(answer["sets"]) == [first, second]
    assert answer["moreAvailable"] is False
    assert sets.claims_of(answer["sets"][first])["jti"] == first
    assert list(poll(tx, api, stream_id, ack=[first])["sets"]) == [second]
    assert poll(tx, api, stream_id, ack=[second]) == {"sets": {}, "moreAvailable": False}
    assert tx.acked == [first, second]
    assert tx.streams[stream_id].pending == {}


def test_max_events_and_more_available(tx: Transmitter, api: requests.Session, stream_id: str) -> None:
    jtis = queued(tx, stream_id, 5)
    answer = poll(tx, api, stream_id, maxEvents=2)
    assert (list(answer["sets"]), answer["moreAvailable"]) == (jtis[:2], True)
    answer = poll(tx, api, stream_id, maxEvents=2, ack=jtis[:2])
    assert (list(answer["sets"]), answer["moreAvailable"]) == (jtis[2:4], True)
    answer = poll(tx, api, stream_id, maxEvents=2, ack=jtis[2:4])
    assert (list(answer["sets"]), answer["moreAvailable"]) == (jtis[4:], False)


def test_acknowledge_only(tx: Transmitter, api: requests.Session, stream_id: str) -> None:
    jtis = queued(tx, stream_id, 3)
    answer = poll(tx, api, stream_id, maxEvents=0, ack=jtis[:1])
    assert answer == {"sets": {}, "moreAvailable": True}
    assert list(tx.streams[stream_id].pending) == jtis[1:]


def test_set_errors_remove_and_are_recorded(tx: Transmitter, api: requests.Session, stream_id: str) -> None:
    good, bad = queued(tx, stream_id, 2)
    error = {"err": "authentication_failed", "description": "The SET could not be authenticated"}
    assert poll(tx, api, stream_id, ack=[good], setErrs={bad: error})["sets"] == {}
    assert (tx.acked, tx.set_errors) == ([good], {bad: error})
    assert tx.poll_requests[-1] == {"returnImmediately": True, "ack": [good], "setErrs": {bad: error}}


def test_unknown_jtis_are_recorded_without_harm(tx: Transmitter, api: requests.Session, stream_id: str) -> None:
    [jti] = queued(tx, stream_id, 1)
    assert list(poll(tx, api, stream_id, ack=["never-sent"])["sets"]) == [jti]
    assert tx.acked == ["never-sent"]


@pytest.mark.parametrize(
    "body",
    [{"maxEvents": -1}, {"maxEvents": "2"}, {"maxEvents": True}, {"returnImmediately": "yes"},
     {"ack": "jti"}, {"ack": [1]}, {"setErrs": {"jti": "bad"}}, ["not", "an", "object"]],
)
def test_bad_poll_bodies_are_400(tx: Transmitter, api: requests.Session, stream_id: str, body: t.Any) -> None:
    [jti] = queued(tx, stream_id, 1)
    assert api.post(tx.poll_url(stream_id), json=body).status_code == 400
    assert list(tx.streams[stream_id].pending) == [jti]


def test_poll_of_unknown_or_push_stream(tx: Transmitter, api: requests.Session) -> None:
    assert api.post(tx.poll_url("nope"), json={}).status_code == 404
    push = api.post(tx.configuration_endpoint, json={
        "delivery": {"method": sets.PUSH, "endpoint_url": "http://127.0.0.1:9/events"}}).json()
    assert api.post(tx.poll_url(push["stream_id"]), json={}).status_code == 400


def test_long_poll_waits_at_most_the_timeout(tx: Transmitter, api: requests.Session, stream_id: str) -> None:
    tx.long_poll_timeout = 0.4
    started = time.monotonic()
    answer = api.post(tx.poll_url(stream_id), json={})
    elapsed = time.monotonic() - started
    assert answer.json() == {"sets": {}, "moreAvailable": False}
    assert 0.4 <= elapsed < 2
    started = time.monotonic()
    poll(tx, api, stream_id)
    assert time.monotonic() - started < 0.3


def test_long_poll_answers_when_a_set_is_queued(tx: Transmitter, api: requests.Session, stream_id: str) -> None:
    tx.long_poll_timeout = 10
    set_jwt = tx.make_set(sets.credential_change(), sets.email("a@example.com"), stream_id=stream_id)
    timer = threading.Timer(0.3, tx.queue, args=(set_jwt, stream_id))
    timer.start()
    started = time.monotonic()
    answer = api.post(tx.poll_url(stream_id), json={"returnImmediately": False})
    timer.join()
    assert list(answer.json()["sets"].values()) == [set_jwt]
    assert 0.25 <= time.monotonic() - started < 5


def test_queue_a_set_without_jti_under_a_given_key(tx: Transmitter, api: requests.Session, stream_id: str) -> None:
    set_jwt = tx.make_set(sets.session_revoked(), sets.email("a@example.com"), jti=sets.OMIT)
    assert tx.queue(set_jwt, stream_id, jti="no-jti-1") == "no-jti-1"
    assert poll(tx, api, stream_id)["sets"] == {"no-jti-1": set_jwt}


def test_fail_next_answers_errors_and_keeps_the_queue(tx: Transmitter, api: requests.Session, stream_id: str) -> None:
    jtis = queued(tx, stream_id, 2)
    tx.fail_next(2, status=503, retry_after=1)
    for _ in range(2):
        answer = api.post(tx.poll_url(stream_id), json={"returnImmediately": True, "ack": jtis})
        assert (answer.status_code, answer.headers["Retry-After"]) == (503, "1")
    assert tx.acked == []
    assert list(poll(tx, api, stream_id)["sets"]) == jtis


def test_fail_next_can_drop_the_connection(tx: Transmitter, api: requests.Session, stream_id: str) -> None:
    jtis = queued(tx, stream_id, 1)
    tx.fail_next(1, drop=True)
    with pytest.raises(requests.ConnectionError):
        api.post(tx.poll_url(stream_id), json={"returnImmediately": True, "ack": jtis})
    assert list(poll(tx, api, stream_id)["sets"]) == jtis
    assert tx.requests.count(("POST", f"/ssf/poll/{stream_id}")) == 2


def test_fail_next_applies_to_polls_only(tx: Transmitter, api: requests.Session, stream_id: str) -> None:
    tx.fail_next(1, status=500)
    assert api.get(tx.configuration_endpoint).status_code == 200
    assert api.post(tx.poll_url(stream_id), json={"returnImmediately": True}).status_code == 500


def test_down_and_up_on_the_same_port(tx: Transmitter, api: requests.Session, stream_id: str) -> None:
    jtis = queued(tx, stream_id, 1)
    url = tx.poll_url(stream_id)
    tx.down()
    with pytest.raises(requests.ConnectionError):
        api.post(url, json={"returnImmediately": True}, timeout=2)
    tx.up()
    assert tx.poll_url(stream_id) == url
    assert list(poll(tx, api, stream_id)["sets"]) == jtis

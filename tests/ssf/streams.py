"""The SSF 1.0 §8.1 Event Stream Management API of the loopback transmitter.

Each handler takes the :class:`~ssf.transmitter.Transmitter` and the request (bearer
authentication already checked) and answers as the spec's tables say:

* Configuration endpoint (§8.1.1): POST creates (201, or 409 when the transmitter was made
  with ``multiple_streams=False`` and a stream exists); GET with ``stream_id`` reads one,
  without it lists all (``[]`` when none); PATCH updates the Receiver-Supplied properties
  present; PUT replaces them (missing ones are deleted); DELETE ``?stream_id=`` answers 204.
  Transmitter-Supplied properties in PATCH/PUT must equal the current values (400
  otherwise; ``events_delivered`` is compared before the update). Unknown ids are 404.
* A request without ``delivery`` gets poll (§8.1.1.1); for poll the transmitter sets
  ``endpoint_url`` to its own poll URL, whatever the Receiver sent.
* ``events_delivered`` is ``events_requested`` filtered to ``events_supported``, in the
  requested order (unknown URIs are ignored, §8.1.1).
* Status endpoint (§8.1.2): GET ``?stream_id=`` and POST ``{stream_id, status, reason}``,
  status one of enabled, paused, disabled. Going back to enabled delivers what was held.
* Add subject answers an empty 200, remove subject 204 (§8.1.3.2, §8.1.3.3); subjects are
  recorded in :attr:`Stream.subjects`, not used for filtering.
* Verification (§8.1.4.2) answers 204 after the verification SET was delivered (push) or
  queued (poll); 429 when ``min_verification_interval`` seconds have not passed.
"""

from __future__ import annotations

import json
import time
import typing as t
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field

from werkzeug.wrappers import Request, Response

from ssf.sets import POLL, PUSH, opaque, verification

if t.TYPE_CHECKING:
    from ssf.transmitter import Transmitter

STATUSES = ("enabled", "paused", "disabled")
RECEIVER_SUPPLIED = ("events_requested", "delivery", "description")
TRANSMITTER_SUPPLIED = ("iss", "aud", "events_supported", "events_delivered", "min_verification_interval")


@dataclass
class Stream:
    """One stream: its configuration as served, status, subjects, and SETs waiting for it.

    ``pending`` is the poll queue (jti -> SET, oldest first); ``held`` the SETs kept while
    paused; ``verifications`` the ``state`` of each verification requested (None: no state).
    """

    config: dict[str, t.Any]
    status: str = "enabled"
    reason: str | None = None
    subjects: list[dict[str, t.Any]] = field(default_factory=list)
    pending: OrderedDict[str, str] = field(default_factory=OrderedDict)
    held: list[str] = field(default_factory=list)
    verifications: list[str | None] = field(default_factory=list)
    last_verification: float | None = None

    @property
    def stream_id(self) -> str:
        return self.config["stream_id"]

    @property
    def method(self) -> str:
        return self.config["delivery"]["method"]


class BadRequest(Exception):
    """Answered with ``status`` and a JSON ``{"description": ...}`` body."""

    def __init__(self, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.status = status


def json_response(body: t.Any, status: int = 200) -> Response:
    response = Response(json.dumps(body), status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def empty(status: int) -> Response:
    return Response(status=status, headers={"Cache-Control": "no-store"})


def json_body(request: Request) -> dict[str, t.Any]:
    try:
        body = json.loads(request.get_data(as_text=True) or "null")
    except ValueError as error:
        raise BadRequest(f"body is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


def find(tx: Transmitter, stream_id: t.Any) -> Stream:
    if not isinstance(stream_id, str) or not stream_id:
        raise BadRequest("stream_id is required")
    if stream_id not in tx.streams:
        raise BadRequest(f"no stream {stream_id!r}", status=404)
    return tx.streams[stream_id]


def configuration(tx: Transmitter, request: Request) -> Response:
    if request.method == "POST":
        return _create(tx, json_body(request))
    if request.method == "GET":
        if "stream_id" not in request.args:
            return json_response([stream.config for stream in tx.streams.values()])
        return json_response(find(tx, request.args["stream_id"]).config)
    if request.method in ("PATCH", "PUT"):
        return _update(tx, json_body(request), replace=request.method == "PUT")
    if request.method == "DELETE":
        stream = find(tx, request.args.get("stream_id"))
        with tx.changed:
            del tx.streams[stream.stream_id]
            tx.changed.notify_all()
        return empty(204)
    return empty(405)


def _create(tx: Transmitter, body: dict[str, t.Any]) -> Response:
    if tx.streams and not tx.multiple_streams:
        raise BadRequest("this transmitter allows one stream per receiver", status=409)
    stream_id = uuid.uuid4().hex
    config: dict[str, t.Any] = {
        "stream_id": stream_id,
        "iss": tx.issuer,
        "aud": tx.audience,
        "delivery": _delivery(tx, stream_id, body.get("delivery")),
        "events_supported": list(tx.events_supported),
        "events_requested": _events_requested(body.get("events_requested", [])),
        "min_verification_interval": tx.min_verification_interval,
    }
    if "description" in body:
        config["description"] = _description(body["description"])
    config["events_delivered"] = _delivered(tx, config["events_requested"])
    tx.streams[stream_id] = Stream(config)
    return json_response(config, status=201)


def _update(tx: Transmitter, body: dict[str, t.Any], *, replace: bool) -> Response:
    stream = find(tx, body.get("stream_id"))
    config = stream.config
    for name in TRANSMITTER_SUPPLIED:
        if name in body and body[name] != config.get(name):
            raise BadRequest(f"{name} is Transmitter-Supplied and must equal {config.get(name)!r}")
    updated = dict(config)
    if replace:
        updated["events_requested"] = []
        updated.pop("description", None)
        updated["delivery"] = _delivery(tx, stream.stream_id, None)
    if "events_requested" in body:
        updated["events_requested"] = _events_requested(body["events_requested"])
    if "delivery" in body:
        updated["delivery"] = _delivery(tx, stream.stream_id, body["delivery"])
    if "description" in body:
        updated["description"] = _description(body["description"])
    updated["events_delivered"] = _delivered(tx, updated["events_requested"])
    stream.config = updated
    return json_response(updated)


def _delivery(tx: Transmitter, stream_id: str, value: t.Any) -> dict[str, t.Any]:
    if value is None:
        value = {"method": POLL}
    if not isinstance(value, dict) or value.get("method") not in tx.delivery_methods:
        raise BadRequest(f"delivery.method must be one of {list(tx.delivery_methods)}")
    if value["method"] == POLL:
        return {"method": POLL, "endpoint_url": tx.poll_url(stream_id)}
    if not isinstance(value.get("endpoint_url"), str):
        raise BadRequest("push delivery needs an endpoint_url")
    delivery = {"method": PUSH, "endpoint_url": value["endpoint_url"]}
    if value.get("authorization_header") is not None:
        if not isinstance(value["authorization_header"], str):
            raise BadRequest("authorization_header must be a string")
        delivery["authorization_header"] = value["authorization_header"]
    return delivery


def _events_requested(value: t.Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(uri, str) for uri in value):
        raise BadRequest("events_requested must be an array of URIs")
    return list(value)


def _description(value: t.Any) -> str:
    if not isinstance(value, str):
        raise BadRequest("description must be a string")
    return value


def _delivered(tx: Transmitter, requested: list[str]) -> list[str]:
    return [uri for uri in requested if uri in tx.events_supported]


def status(tx: Transmitter, request: Request) -> Response:
    if request.method == "GET":
        return json_response(_status_of(find(tx, request.args.get("stream_id"))))
    if request.method != "POST":
        return empty(405)
    body = json_body(request)
    stream = find(tx, body.get("stream_id"))
    if body.get("status") not in STATUSES:
        raise BadRequest(f"status must be one of {list(STATUSES)}")
    if "reason" in body and not isinstance(body["reason"], str):
        raise BadRequest("reason must be a string")
    tx.change_status(stream.stream_id, body["status"], body.get("reason"), notify=False)
    return json_response(_status_of(stream))


def _status_of(stream: Stream) -> dict[str, t.Any]:
    answer = {"stream_id": stream.stream_id, "status": stream.status}
    if stream.reason is not None:
        answer["reason"] = stream.reason
    return answer


def add_subject(tx: Transmitter, request: Request) -> Response:
    body = json_body(request)
    stream = find(tx, body.get("stream_id"))
    if not isinstance(body.get("subject"), dict) or not isinstance(body.get("verified", True), bool):
        raise BadRequest("subject must be a Subject Identifier object, verified a boolean")
    if body["subject"] not in stream.subjects:
        stream.subjects.append(body["subject"])
    return empty(200)


def remove_subject(tx: Transmitter, request: Request) -> Response:
    body = json_body(request)
    stream = find(tx, body.get("stream_id"))
    if not isinstance(body.get("subject"), dict):
        raise BadRequest("subject must be a Subject Identifier object")
    if body["subject"] in stream.subjects:
        stream.subjects.remove(body["subject"])
    return empty(204)


def verify(tx: Transmitter, request: Request) -> Response:
    body = json_body(request)
    stream = find(tx, body.get("stream_id"))
    state = body.get("state")
    if state is not None and not isinstance(state, str):
        raise BadRequest("state must be a string")
    now = time.monotonic()
    interval = stream.config.get("min_verification_interval") or 0
    if stream.last_verification is not None and now - stream.last_verification < interval:
        raise BadRequest(f"at most one verification every {interval} s", status=429)
    stream.last_verification = now
    stream.verifications.append(state)
    set_jwt = tx.make_set(verification(state), opaque(stream.stream_id), stream_id=stream.stream_id)
    tx.deliver_verification(set_jwt, stream.stream_id)
    return empty(204)

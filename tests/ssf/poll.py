"""The RFC 8936 poll endpoint of the loopback transmitter, one per poll stream.

A poll is a POST with a JSON object (RFC 8936 §2.2), every member optional:
``maxEvents`` (a non-negative integer; 0 acknowledges only), ``returnImmediately``
(default false: a long poll), ``ack`` (jtis received) and ``setErrs`` (jti ->
``{"err", "description"}``). The answer (§2.3) is ``{"sets": {jti: SET}, "moreAvailable": bool}``.

What this endpoint does with them, in order:

1. ``ack`` removes each jti from the stream's queue and appends it to ``tx.acked``;
   ``setErrs`` removes it and stores the error in ``tx.set_errors``. Unknown jtis are
   recorded all the same. Every parsed body is appended to ``tx.poll_requests``.
2. With nothing queued and ``returnImmediately`` not true, it waits until a SET is queued,
   the stream is deleted, or ``tx.long_poll_timeout`` seconds pass (RFC 8936 §2.5 leaves
   the timeout to the parties), then answers what it has, perhaps nothing.
3. It answers the oldest ``maxEvents`` queued SETs (all of them without ``maxEvents``),
   and ``moreAvailable`` true when more stay queued. Answered SETs stay queued until
   acknowledged, so an unacknowledged SET is answered again by the next poll.

``tx.fail_next`` answers the next polls with an error status or a dropped connection,
before authentication and without touching any queue.
"""

from __future__ import annotations

import socket
import typing as t
from dataclasses import dataclass

from werkzeug.wrappers import Request, Response

from ssf.sets import POLL
from ssf.streams import BadRequest, json_body, json_response

if t.TYPE_CHECKING:
    from ssf.transmitter import Transmitter


@dataclass(frozen=True)
class Failure:
    """One poll answered badly: an HTTP ``status`` (with ``Retry-After`` if given) or a dropped connection."""

    status: int = 503
    drop: bool = False
    retry_after: int | None = None


def serve_failure(request: Request, failure: Failure) -> Response:
    if failure.drop:
        # Read the body (else the server reads it as the next request), then close the
        # socket before any byte of a response; werkzeug takes the error raised here
        # for a connection dropped by the peer and stays quiet.
        request.get_data()
        connection = request.environ["werkzeug.socket"]
        connection.shutdown(socket.SHUT_RDWR)
        raise ConnectionAbortedError("fail_next(drop=True)")
    headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
    return Response(status=failure.status, headers=headers)


def parse(body: dict[str, t.Any]) -> tuple[int | None, bool, list[str], dict[str, dict[str, t.Any]]]:
    max_events = body.get("maxEvents")
    if max_events is not None and (type(max_events) is not int or max_events < 0):
        raise BadRequest("maxEvents must be a non-negative integer")
    return_immediately = body.get("returnImmediately", False)
    if not isinstance(return_immediately, bool):
        raise BadRequest("returnImmediately must be a boolean")
    ack = body.get("ack", [])
    if not isinstance(ack, list) or not all(isinstance(jti, str) for jti in ack):
        raise BadRequest("ack must be an array of jti strings")
    set_errs = body.get("setErrs", {})
    if not isinstance(set_errs, dict) or not all(isinstance(error, dict) for error in set_errs.values()):
        raise BadRequest("setErrs must map jti strings to error objects")
    return max_events, return_immediately, ack, set_errs


def serve_poll(tx: Transmitter, request: Request, stream_id: str) -> Response:
    """Answer one authenticated poll of ``stream_id``."""
    if request.method != "POST":
        return Response(status=405)
    stream = tx.streams.get(stream_id)
    if stream is None:
        raise BadRequest(f"no stream {stream_id!r}", status=404)
    if stream.method != POLL:
        raise BadRequest("this stream is delivered by push, not poll")
    body = json_body(request)
    max_events, return_immediately, ack, set_errs = parse(body)
    with tx.changed:
        tx.poll_requests.append(body)
        for jti in ack:
            stream.pending.pop(jti, None)
            tx.acked.append(jti)
        for jti, error in set_errs.items():
            stream.pending.pop(jti, None)
            tx.set_errors[jti] = error
        if not stream.pending and not return_immediately:
            tx.changed.wait_for(
                lambda: bool(stream.pending) or stream_id not in tx.streams, timeout=tx.long_poll_timeout
            )
        queued = list(stream.pending.items())
    batch = queued if max_events is None else queued[:max_events]
    return json_response({"sets": dict(batch), "moreAvailable": len(queued) > len(batch)})

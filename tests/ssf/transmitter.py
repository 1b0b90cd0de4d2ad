"""A Shared Signals Framework 1.0 transmitter on loopback, for testing SSF receivers.

::

    with Transmitter(audience="https://rp.example.test/") as tx:
        tx.configuration_url            # GET: the SSF 1.0 §7.1 Transmitter Configuration Metadata
        headers = {"Authorization": f"Bearer {tx.bearer_token}"}   # every management and poll call
        ...                             # the receiver creates a stream at tx.configuration_endpoint
        set_jwt = tx.make_set(session_revoked(), complex_subject(user=..., session=...))
        tx.send(set_jwt)                # push, or queue for poll, as the stream's delivery says
        tx.fail_next(2, status=503)     # the next two polls fail; the queue is untouched
        tx.down(); tx.up()              # stop and resume serving on the same port

Paths under ``issuer``: ``/.well-known/ssf-configuration``, ``/jwks.json``, ``/ssf/stream``
(configuration endpoint), ``/ssf/status``, ``/ssf/verify``, ``/ssf/subjects:add``,
``/ssf/subjects:remove`` and ``/ssf/poll/<stream_id>``. The management API is in
``ssf.streams``, the poll endpoint in ``ssf.poll``, SET making in ``ssf.sets``.

The socket is bound when the object is made (``issuer`` is known before ``start()``);
``down()``/``up()`` stop and resume serving on the same port (``ssf.server``).
The issuer is ``http://127.0.0.1:PORT``: SSF 1.0 §7.1 wants https URLs, so a receiver
under test has to be told to accept http for loopback.

Records, for assertions: ``requests`` ((method, path) of every request), ``streams``
(stream_id -> :class:`~ssf.streams.Stream`), ``pushed`` (:class:`Pushed`), ``acked``
(jtis acknowledged by polls, in order), ``set_errors`` (jti -> the ``setErrs`` error),
``poll_requests`` (each poll body), ``dropped`` (SETs sent to a disabled stream).
"""

from __future__ import annotations

import collections
import secrets
import threading
import typing as t
from dataclasses import dataclass

import requests
from werkzeug.wrappers import Request, Response

from ssf import poll, streams
from ssf.server import LoopbackServer
from ssf.sets import (
    CAEP_EVENTS,
    OMIT,
    POLL,
    PUSH,
    RISC_EVENTS,
    SET_MEDIA_TYPE,
    SET_TYP,
    SigningKeys,
    claims_of,
    opaque,
    set_claims,
    stream_updated,
    without_omitted,
)

Handler = t.Callable[["Transmitter", Request], Response]
MANAGEMENT: dict[str, Handler] = {
    "/ssf/stream": streams.configuration,
    "/ssf/status": streams.status,
    "/ssf/verify": streams.verify,
    "/ssf/subjects:add": streams.add_subject,
    "/ssf/subjects:remove": streams.remove_subject,
}


@dataclass(frozen=True)
class Pushed:
    """One RFC 8935 push: what was POSTed where, and the answer (``status`` None: no HTTP answer)."""

    url: str
    set_jwt: str
    headers: dict[str, str]
    status: int | None
    body: t.Any
    error: str | None = None

    @property
    def claims(self) -> dict[str, t.Any]:
        return claims_of(self.set_jwt)


class Transmitter(LoopbackServer, SigningKeys):
    """The transmitter: discovery, JWKS, stream management, push and poll delivery.

    :param audience: the ``aud`` of every stream and the default ``aud`` of SETs (a string
        or a list of strings).
    :param bearer_token: the token the management API and poll endpoints accept; random
        by default.
    :param events_supported: the stream configurations' ``events_supported``.
    :param multiple_streams: False answers a second create with 409 (SSF 1.0 §8.1.1.1).
    :param min_verification_interval: seconds between verification requests; closer ones
        get 429. Served in each stream configuration.
    :param long_poll_timeout: how long a long poll waits for a SET (also an attribute).
    :param async_verification: push verification SETs from a thread after answering 204,
        instead of before (SSF 1.0 §8.1.4.2 allows either).
    """

    def __init__(
        self,
        audience: str | list[str] = "https://receiver.example.test/ssf",
        *,
        bearer_token: str | None = None,
        events_supported: t.Iterable[str] = CAEP_EVENTS + RISC_EVENTS,
        multiple_streams: bool = True,
        min_verification_interval: int = 0,
        long_poll_timeout: float = 2.0,
        async_verification: bool = False,
        default_subjects: str = "ALL",
        push_timeout: float = 5.0,
    ) -> None:
        self._init_keys()
        self.audience = audience
        self.bearer_token = bearer_token or secrets.token_urlsafe(24)
        self.events_supported = list(events_supported)
        self.delivery_methods = (PUSH, POLL)
        self.multiple_streams = multiple_streams
        self.min_verification_interval = min_verification_interval
        self.long_poll_timeout = long_poll_timeout
        self.async_verification = async_verification
        self.default_subjects = default_subjects
        self.push_timeout = push_timeout
        self.metadata_overrides: dict[str, t.Any] = {}
        self.streams: dict[str, streams.Stream] = {}
        self.requests: list[tuple[str, str]] = []
        self.pushed: list[Pushed] = []
        self.acked: list[str] = []
        self.set_errors: dict[str, dict[str, t.Any]] = {}
        self.poll_requests: list[dict[str, t.Any]] = []
        self.dropped: list[str] = []
        self.changed = threading.Condition()
        self._failures: collections.deque[poll.Failure] = collections.deque()
        LoopbackServer.__init__(self)
        self.issuer = f"http://127.0.0.1:{self.port}"

    @property
    def configuration_url(self) -> str:
        return f"{self.issuer}/.well-known/ssf-configuration"

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/jwks.json"

    @property
    def configuration_endpoint(self) -> str:
        return f"{self.issuer}/ssf/stream"

    @property
    def status_endpoint(self) -> str:
        return f"{self.issuer}/ssf/status"

    @property
    def verification_endpoint(self) -> str:
        return f"{self.issuer}/ssf/verify"

    @property
    def add_subject_endpoint(self) -> str:
        return f"{self.issuer}/ssf/subjects:add"

    @property
    def remove_subject_endpoint(self) -> str:
        return f"{self.issuer}/ssf/subjects:remove"

    def poll_url(self, stream_id: str) -> str:
        return f"{self.issuer}/ssf/poll/{stream_id}"

    def metadata(self) -> dict[str, t.Any]:
        """The Transmitter Configuration Metadata, with ``metadata_overrides`` applied (OMIT removes)."""
        metadata = {
            "spec_version": "1_0",
            "issuer": self.issuer,
            "jwks_uri": self.jwks_uri,
            "delivery_methods_supported": list(self.delivery_methods),
            "configuration_endpoint": self.configuration_endpoint,
            "status_endpoint": self.status_endpoint,
            "add_subject_endpoint": self.add_subject_endpoint,
            "remove_subject_endpoint": self.remove_subject_endpoint,
            "verification_endpoint": self.verification_endpoint,
            "authorization_schemes": [{"spec_urn": "urn:ietf:rfc:6750"}],
            "default_subjects": self.default_subjects,
        }
        return without_omitted({**metadata, **self.metadata_overrides})

    def make_set(self, events: dict[str, t.Any] | t.Any, sub_id: dict[str, t.Any] | None = None, *,
                 stream_id: str | None = None, jti: t.Any = None, iat: t.Any = None, aud: t.Any = None,
                 iss: t.Any = None, typ: str | None = SET_TYP, kid: str | None = None, alg: str | None = None,
                 txn: str | None = None, extra_claims: dict[str, t.Any] | None = None,
                 headers: dict[str, t.Any] | None = None, sign_with_unpublished: bool = False) -> str:
        """A signed SET; see ``ssf.sets`` for the defaults and how each can be made wrong.

        ``aud`` defaults to the stream's ``aud`` (``stream_id``) or ``audience``; ``iss`` to
        ``issuer``; ``alg`` to the key's (RS256, ES256 for EC keys); ``kid`` to ``self.kid``.
        ``OMIT`` for ``events``, ``jti``, ``iat``, ``aud`` or ``iss`` leaves that claim out.
        """
        if aud is None:
            aud = self.streams[stream_id].config["aud"] if stream_id else self.audience
        claims = set_claims(iss=self.issuer if iss is None else iss, aud=aud, events=events, sub_id=sub_id,
                            jti=jti, iat=iat, txn=txn, extra_claims=extra_claims)
        return self.sign(claims, kid=kid, alg=alg, typ=typ, headers=headers,
                         sign_with_unpublished=sign_with_unpublished)

    def _stream(self, stream_id: str | None) -> streams.Stream:
        if stream_id is None:
            if len(self.streams) != 1:
                raise LookupError(f"{len(self.streams)} streams: say which with stream_id")
            return next(iter(self.streams.values()))
        return self.streams[stream_id]

    def push(self, set_jwt: str, stream_id: str | None = None, endpoint_url: str | None = None,
             authorization: str | None = None) -> tuple[int | None, t.Any]:
        """POST ``set_jwt`` as RFC 8935 §2.1 says; returns (status, parsed JSON body or None).

        The URL and ``Authorization`` come from the stream's delivery unless given. A
        connection failure answers ``(None, None)``; every attempt is recorded in ``pushed``.
        """
        delivery = self._stream(stream_id).config["delivery"] if endpoint_url is None or stream_id else {}
        url = endpoint_url or delivery["endpoint_url"]
        headers = {"Content-Type": SET_MEDIA_TYPE, "Accept": "application/json"}
        authorization = authorization if authorization is not None else delivery.get("authorization_header")
        if authorization:
            headers["Authorization"] = authorization
        try:
            answer = requests.post(url, data=set_jwt.encode(), headers=headers, timeout=self.push_timeout)
        except requests.RequestException as error:
            self.pushed.append(Pushed(url, set_jwt, headers, None, None, repr(error)))
            return None, None
        try:
            body = answer.json() if answer.content else None
        except ValueError:
            body = None
        self.pushed.append(Pushed(url, set_jwt, headers, answer.status_code, body))
        return answer.status_code, body

    def queue(self, set_jwt: str, stream_id: str | None = None, *, jti: str | None = None) -> str:
        """Queue ``set_jwt`` for polling under its ``jti`` (or ``jti``, for a SET without one)."""
        stream = self._stream(stream_id)
        key = jti or claims_of(set_jwt)["jti"]
        with self.changed:
            stream.pending[key] = set_jwt
            self.changed.notify_all()
        return key

    def send(self, set_jwt: str, stream_id: str | None = None) -> tuple[int | None, t.Any] | None:
        """Transmit as SSF 1.0 §8.1.2 says for the stream's status, by its delivery method.

        enabled: push now (returns what :meth:`push` does) or queue; paused: hold until
        enabled again; disabled: drop (recorded in ``dropped``).
        """
        stream = self._stream(stream_id)
        if stream.status == "disabled":
            self.dropped.append(set_jwt)
            return None
        if stream.status == "paused":
            stream.held.append(set_jwt)
            return None
        if stream.method == PUSH:
            return self.push(set_jwt, stream.stream_id)
        self.queue(set_jwt, stream.stream_id)
        return None

    def deliver_verification(self, set_jwt: str, stream_id: str) -> None:
        if self.async_verification:
            threading.Thread(target=self.send, args=(set_jwt, stream_id), daemon=True).start()
        else:
            self.send(set_jwt, stream_id)

    def change_status(self, stream_id: str, status: str, reason: str | None = None, *, notify: bool = True) -> None:
        """Set a stream's status; with ``notify`` (a Transmitter decision), send a stream-updated SET.

        SSF 1.0 §8.1.5: the event goes out before a stream stops and after it is
        re-enabled. Re-enabling delivers the SETs held while paused; disabling drops them.
        """
        stream = self.streams[stream_id]
        event = self.make_set(stream_updated(status, reason), opaque(stream_id), stream_id=stream_id)
        if notify and stream.status == "enabled" and status != "enabled":
            self.send(event, stream_id)
        stream.status, stream.reason = status, reason
        if status == "disabled":
            self.dropped.extend(stream.held)
            stream.held.clear()
        if status == "enabled":
            held, stream.held = stream.held, []
            if notify:
                self.send(event, stream_id)
            for set_jwt in held:
                self.send(set_jwt, stream_id)

    def fail_next(self, n: int, status: int = 503, *, drop: bool = False, retry_after: int | None = None) -> None:
        """Answer the next ``n`` poll requests with ``status`` (or close the connection: ``drop``)."""
        self._failures.extend(poll.Failure(status, drop, retry_after) for _ in range(n))

    def _authorized(self, request: Request) -> bool:
        return secrets.compare_digest(request.headers.get("Authorization", ""), f"Bearer {self.bearer_token}")

    @Request.application
    def _wsgi(self, request: Request) -> Response:
        self.requests.append((request.method, request.path))
        if request.path == "/.well-known/ssf-configuration":
            return streams.json_response(self.metadata())
        if request.path == "/jwks.json":
            self.jwks_fetches += 1
            return streams.json_response(self.jwks())
        is_poll = request.path.startswith("/ssf/poll/")
        if is_poll and self._failures:
            return poll.serve_failure(request, self._failures.popleft())
        if not is_poll and request.path not in MANAGEMENT:
            return Response("not found", status=404)
        if not self._authorized(request):
            return Response(status=401, headers={"WWW-Authenticate": 'Bearer realm="ssf"'})
        try:
            if is_poll:
                return poll.serve_poll(self, request, request.path.removeprefix("/ssf/poll/"))
            return MANAGEMENT[request.path](self, request)
        except streams.BadRequest as error:
            return streams.json_response({"description": str(error)}, status=error.status)


__all__ = ["OMIT", "Pushed", "Transmitter"]

"""Shared Signals poll delivery (RFC 8936): fetch SETs from the transmitter, carry them out, acknowledge them.

No inbound network exposure is needed: the app calls the transmitter. Each round asks
for at most ``max_events`` SETs and acknowledges (``ack``) the ``jti`` of every SET of
the round before that was carried out, or already had been (a replay: applied before,
so acknowledged again); a SET that is refused goes back in ``setErrs`` with its RFC
8935 code. Nothing is acknowledged before it is applied: a SET whose transaction
failed is neither acked nor reported, so the transmitter sends it again.

A transmitter that cannot be reached, or answers 429 or 5xx, is retried with
exponential backoff (0.5 s doubling up to 30 s, or its ``Retry-After``), the
acknowledgements held meanwhile; the run ends when ``duration`` seconds have passed,
or, with ``return_immediately``, once nothing more is queued. Acknowledgements still
held at the end go out in one last request.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import typing as t

from sqlalchemy.exc import SQLAlchemyError

from . import sets, ssf_receiver
from .errors import InboundError
from .ssf_streams import StreamError, stream

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from .ssf_receiver import Receiver

log = logging.getLogger("flask_session_epoch")

MAX_EVENTS = 1000
_BACKOFF_START, _BACKOFF_MAX = 0.5, 30.0


@dataclasses.dataclass
class PollReport:
    """What one ``poll`` run did."""

    applied: int = 0
    refused: int = 0
    requests: int = 0
    failures: int = 0
    acked: list[str] = dataclasses.field(default_factory=list)
    last_error: str | None = None


class _Held:
    def __init__(self) -> None:
        self.acks: list[str] = []
        self.errors: dict[str, dict[str, str]] = {}

    def body(self, max_events: int, return_immediately: bool) -> dict[str, t.Any]:
        body: dict[str, t.Any] = {"maxEvents": max_events, "returnImmediately": return_immediately}
        if self.acks:
            body["ack"] = list(self.acks)
        if self.errors:
            body["setErrs"] = dict(self.errors)
        return body


def _post(receiver: Receiver, url: str, body: dict[str, t.Any]) -> tuple[int, t.Any, float | None]:
    import requests  # the oidc extra's HTTP client

    token = receiver.transmitter.management_token
    headers = {"Accept": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    try:
        response = requests.post(url, json=body, headers=headers, timeout=60)
    except requests.RequestException as exc:
        return 0, type(exc).__name__, None
    retry_after = response.headers.get("Retry-After", "")
    wait = float(retry_after) if retry_after.isdigit() else None
    try:
        parsed = response.json() if response.content else None
    except ValueError:
        parsed = None
    return response.status_code, parsed, wait


def _carry_out(receiver: Receiver, found: t.Mapping[str, t.Any], held: _Held, report: PollReport) -> bool:
    """Apply the SETs of one answer; whether every one was dealt with (False: stop and retry later)."""
    for jti, token in found.items():
        try:
            event = sets.validate(token if isinstance(token, str) else "", receiver.transmitter, receiver.keys)
            if event.jti != jti:
                raise InboundError("the SET's jti is not the one it was delivered under")
            ssf_receiver.receive(receiver, event)
        except InboundError as exc:
            if str(exc).endswith("already used"):
                held.acks.append(jti)  # applied before: say so again
                continue
            log.warning("Refused a polled SET from %s: %s", receiver.transmitter.name, exc)
            held.errors[str(jti)[:256]] = {"err": exc.code, "description": str(exc)}
            report.refused += 1
            continue
        except (SQLAlchemyError, ConnectionError) as exc:
            log.error("A polled SET from %s could not be carried out (%s); it will come again",
                      receiver.transmitter.name, type(exc).__name__)
            return False
        held.acks.append(jti)
        report.applied += 1
    return True


def poll(receiver: Receiver, *, max_events: int = 100, duration: float = 60.0, return_immediately: bool = True,
         sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> PollReport:
    """Poll the transmitter's stream for ``duration`` seconds at most (see the module docstring).

    :raises StreamError: if no stream is set up, or the transmitter refuses us (4xx).
    """
    if not 1 <= max_events <= MAX_EVENTS:
        raise ValueError(f"max_events must be between 1 and {MAX_EVENTS}")
    url = stream(receiver.transmitter)["endpoint_url"]
    if not url:
        raise StreamError(f"the stream of {receiver.transmitter.name} has no poll endpoint")
    deadline, backoff = clock() + duration, _BACKOFF_START
    held, report = _Held(), PollReport()
    while True:
        finishing = clock() >= deadline
        if finishing and not (held.acks or held.errors):
            break
        body = held.body(0 if finishing else max_events, return_immediately or finishing)
        status, answer, retry_after = _post(receiver, url, body)
        report.requests += 1
        if status == 0 or status == 429 or status >= 500:
            report.failures += 1
            report.last_error = f"the transmitter answered {status or answer}"
            if finishing or clock() + backoff > deadline:
                break
            sleep(min(retry_after or backoff, _BACKOFF_MAX))
            backoff = min(backoff * 2, _BACKOFF_MAX)
            continue
        if status >= 400 or not isinstance(answer, dict) or not isinstance(answer.get("sets", {}), dict):
            raise StreamError(f"the transmitter refused the poll ({status})")
        backoff = _BACKOFF_START
        report.acked += held.acks
        held = _Held()
        report.last_error = None
        if finishing:
            break
        if not _carry_out(receiver, answer.get("sets", {}), held, report):
            sleep(min(backoff, _BACKOFF_MAX))
        elif return_immediately and not answer.get("moreAvailable") and not answer.get("sets"):
            deadline = clock()  # nothing queued: send what is held, then stop
    return report

"""A Shared Signals transmitter as we receive from it, and carrying out one verified SET (push and poll alike)."""

from __future__ import annotations

import typing as t

from flask import current_app

from .. import signals
from ..revoke import db_session, security_manager
from . import replay, sets, ssf_events, subjects, transaction
from .keys import Keys

if t.TYPE_CHECKING:
    from .settings import Transmitter


class Receiver:
    """One transmitter's settings, its keys, and its linked provider."""

    def __init__(self, transmitter: Transmitter, sm: t.Any) -> None:
        self.transmitter = transmitter
        self.keys = Keys(lambda: transmitter.jwks_uri, "SET", "transmitter")
        self.linked = subjects.LinkedProvider(sm, transmitter.provider)


def receive(receiver: Receiver, event: sets.SecurityEvent) -> list[ssf_events.Outcome]:
    """Record the SET's ``jti`` and carry out its events, in one transaction; then send the signals.

    :raises InboundError: if the SET was used before, or names a malformed subject.
    """
    sm = security_manager()
    db = db_session(sm)
    transmitter = receiver.transmitter
    linked = receiver.linked.issuer()
    by = ssf_events.actor(transmitter, event.jti)

    def once() -> list[ssf_events.Outcome]:
        # Keys of their own: a SET never collides with the issuer's other tokens.
        replay.use(db.connection(), f"ssf:{event.issuer}", event.jti, event.usable_until, "SET")
        done = [ssf_events.apply(db, sm, transmitter, linked, uri, body, event.sub_id, by)
                for uri, body in event.events.items()]
        db.commit()
        return done

    outcomes = transaction.carry_out(db, once, f"SET from {transmitter.name}")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    for outcome in outcomes:
        for record_id, owner in outcome.ended:
            signals.session_ended.send(app, record_id=record_id, user_id=owner, reason="session-revoked",
                                       actor=by, credentials=())
    return outcomes

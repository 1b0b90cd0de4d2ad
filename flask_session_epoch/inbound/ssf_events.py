"""What each Shared Signals event does to our users and sessions (CAEP 1.0, RISC 1.0).

=====================================  ==============================================
Event                                  Action
=====================================  ==============================================
CAEP ``session-revoked``               with a session subject: end exactly the records
                                       of that provider session (of that user, when the
                                       subject names one); with a user only: stamp
CAEP ``credential-change``             stamp (reason ``credential-change``)
CAEP ``token-claims-change``,          the transmitter's ``claims_change``: ``ignore``
``assurance-level-change``             (default) or ``stamp``
RISC ``account-disabled``              disable the user (the disable path: the epoch is
                                       stamped in the same transaction)
RISC ``account-enabled``               enable the user; nothing ended comes back
RISC ``sessions-revoked``              stamp
RISC ``account-purged``                disable and stamp; no data is deleted
RISC ``account-credential-change-      stamp (reason ``credential-change-required``),
required``                             flagged in the log as a warning
SSF ``verification``                   the stream is marked verified if the ``state``
                                       is the one ``session-epoch ssf verify`` asked for
anything else                          acknowledged and ignored
=====================================  ==============================================

Every stamp and ending names the transmitter and the SET's ``jti`` as its actor
(``ssf:<transmitter>:<jti>``), so the history says which SET did it; our signals
(``sessions_invalidated``, ``session_ended``) go out once the transaction commits.
"""

from __future__ import annotations

import logging
import typing as t

from .. import accounts, config, listeners, registry, store
from . import ssf_store, subjects

if t.TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from .settings import Transmitter

log = logging.getLogger("flask_session_epoch")

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
SESSIONS_REVOKED = RISC + "sessions-revoked"
VERIFICATION = SSF + "verification"

#: Event type → the reason a stamp it makes is recorded with.
_STAMPS = {
    SESSION_REVOKED: "session-revoked",
    CREDENTIAL_CHANGE: "credential-change",
    TOKEN_CLAIMS_CHANGE: "token-claims-change",
    ASSURANCE_LEVEL_CHANGE: "assurance-level-change",
    SESSIONS_REVOKED: "sessions-revoked",
    ACCOUNT_PURGED: "account-purged",
    ACCOUNT_CREDENTIAL_CHANGE_REQUIRED: "credential-change-required",
}
_ABOUT_A_USER = {*_STAMPS, ACCOUNT_DISABLED, ACCOUNT_ENABLED}


class Outcome(t.NamedTuple):
    """What one event did: its type, the user acted on, and the records it ended."""

    event: str
    action: str
    user_id: int | None
    ended: tuple[tuple[str, int], ...] = ()


def actor(transmitter: Transmitter, jti: str) -> str:
    return f"ssf:{transmitter.name}:{jti}"[:256]


def _stamp(db: Session, user_id: int, reason: str, by: str) -> None:
    at = store.utcnow()
    store.stamp_user(db.connection(), user_id, at, reason, by, config.limits())
    listeners.queue_signal(db, user_id=user_id, reason=reason, actor=by, at=at)


def _set_active(db: Session, sm: t.Any, user_id: int, active: bool, by: str) -> bool:
    user = db.get(sm.user_model, user_id)
    changed = user is not None and accounts.set_active(user, active, actor=by, commit=False)
    if changed and not active and not config.get("STAMP_ON_DISABLE"):
        # The listener stamps a disable only when told to; a provider's disable always ends sessions.
        _stamp(db, user_id, "disable", by)
    return changed


def apply(db: Session, sm: t.Any, transmitter: Transmitter, linked_issuer: str | None, event: str,
          body: t.Mapping[str, t.Any], sub_id: t.Any, by: str) -> Outcome:
    """Carry out one event of a verified SET, in ``db``'s transaction (the caller commits).

    :param linked_issuer: the issuer of the transmitter's linked provider, for ``opaque``
        subjects and sessions; None if it has none.
    :raises InboundError: if the subject is malformed.
    """
    if event == VERIFICATION:
        heard = ssf_store.heard_verification(db.connection(), transmitter.name, body.get("state"))
        return Outcome(event, "verified" if heard else "unrequested verification", None)
    if event not in _ABOUT_A_USER:
        return Outcome(event, "ignored", None)
    if event in (TOKEN_CLAIMS_CHANGE, ASSURANCE_LEVEL_CHANGE) and transmitter.claims_change == "ignore":
        return Outcome(event, "ignored", None)
    if sub_id is None:
        return Outcome(event, "no subject", None)
    subject = subjects.parse(sub_id)
    if not subject.supported:
        return Outcome(event, f"no user has a subject of format {subject.format}", None)
    user_id = subjects.user_of(db, sm, subject, linked_issuer) if subject.names_user else None
    if event == SESSION_REVOKED and subject.session is not None:
        if subject.names_user and user_id is None:
            return Outcome(event, "no such user", None)
        sid_key = subjects.session_key(subject, linked_issuer)
        if sid_key is None:
            return Outcome(event, "no such session", None)
        ended = registry.end_provider_session(db.connection(), sid_key, "session-revoked", by, store.utcnow(),
                                              user_id=user_id)
        return Outcome(event, "ended sessions", user_id, tuple(ended))
    if user_id is None:
        return Outcome(event, "no such user", None)
    if event == ACCOUNT_DISABLED:
        _set_active(db, sm, user_id, False, by)
        return Outcome(event, "disabled", user_id)
    if event == ACCOUNT_ENABLED:
        _set_active(db, sm, user_id, True, by)
        return Outcome(event, "enabled", user_id)
    if event == ACCOUNT_PURGED:
        _set_active(db, sm, user_id, False, by)
    if event == ACCOUNT_CREDENTIAL_CHANGE_REQUIRED:
        log.warning("%s says user %s must change their credentials: their sessions end", transmitter.name, user_id)
    _stamp(db, user_id, _STAMPS[event], by)
    return Outcome(event, "stamped", user_id)

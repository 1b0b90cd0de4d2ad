"""The request-time check: is this session or token still current?

A login remembers the epoch *generations* it saw (the user's and the global one)
next to the login time. A later stamp bumps a generation, so the session no longer
matches, whatever the clocks of the hosts involved say and however precisely the
database stores time. Tokens carry the same pair in a claim.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import time
import typing as t

from .identity import parse_record_id, parse_user_id, user_key
from .session_keys import SESSION_KEY_EPOCH, SESSION_KEY_LOGIN_AT, SESSION_KEY_SID

# Re-exported: their home is .state.
from .state import NO_LIMITS as NO_LIMITS
from .state import Limits as Limits

if t.TYPE_CHECKING:
    from flask.sessions import SessionMixin

    from .state import EpochState, RecordState

#: Why credentials end: older than the epoch (or not this user's), their record ended, or expired.
STALE = "stale"
ENDED = "ended"
EXPIRED = "expired"
#: ... or it was idle too long, lived too long, or a login beyond the cap ended it.
IDLE_TIMEOUT = "idle-timeout"
ABSOLUTE_TIMEOUT = "absolute-timeout"
SESSION_LIMIT = "session-limit"
# How a login ended that its user or the proxy ended.
LOGOUT = "logout"
PROXY_SWITCH = "proxy-switch"
PROXY_UNREADABLE = "proxy-unreadable"
#: ... a logout that also signs out of the identity provider, and the provider's own
#: front-channel logout.
RP_LOGOUT = "rp-logout"
FRONTCHANNEL_LOGOUT = "frontchannel-logout"


# A generation beyond this cannot come from our integer column: tampering.
_MAX_GENERATION = 2**53
# A login time further ahead than this is not a clock skew but a forged value.
_FUTURE_LEEWAY_SECONDS = 24 * 3600


def _generation(value: t.Any) -> bool:
    return type(value) is int and 0 <= value < _MAX_GENERATION


def parse_generations(value: t.Any) -> tuple[int, int] | None:
    """The ``(user, global)`` generations of a claim or cookie, or None if malformed."""
    if not isinstance(value, (list, tuple)) or len(value) != 2 or not all(map(_generation, value)):
        return None
    return (value[0], value[1])


@dataclasses.dataclass(frozen=True)
class Stamp:
    """What a login wrote into its session: whose login it is, under which generations, which record."""

    user_id: int
    #: :func:`~.identity.user_key` of that user: a reused id is another user.
    user_key: str
    generations: tuple[int, int]
    #: The login's session record (see :mod:`.registry`); None if it could not be written.
    record_id: str | None = None

    def as_session_value(self) -> list[t.Any]:
        return [self.user_id, self.user_key, *self.generations, self.record_id]

    def refusal(self, user: t.Any, state: EpochState, now: dt.datetime, limits: Limits = NO_LIMITS) -> str | None:
        """Why this stamp does not vouch for ``user`` now (see :func:`record_refusal`), or None."""
        if self.user_id != user.id or self.user_key != user_key(user) or self.generations != state.generations:
            return STALE
        return record_refusal(self.record_id, state, now, limits)


def first_end(started_at: dt.datetime, last_active_at: dt.datetime, expires_at: dt.datetime,
              limits: Limits) -> tuple[dt.datetime, str]:
    """When and why a record stops holding by time alone: the first to pass of its expiry,
    its idle limit and its absolute limit."""
    ends = [(expires_at, EXPIRED)]
    if limits.idle is not None:
        ends.append((last_active_at + dt.timedelta(seconds=limits.idle), IDLE_TIMEOUT))
    if limits.absolute is not None:
        ends.append((started_at + dt.timedelta(seconds=limits.absolute), ABSOLUTE_TIMEOUT))
    return min(ends, key=lambda end: end[0])


def record_refusal(record_id: str | None, state: EpochState, now: dt.datetime,
                   limits: Limits = NO_LIMITS) -> str | None:
    """Why the session record a credential names no longer holds, or None.

    ``state`` must have been read with that record. A credential without a record
    (one that could not be written) is governed by the epoch alone. The idle limit
    counts from the last *recorded* activity, which is written at most once per
    activity interval: a session may end up to one interval early, never late.
    """
    if record_id is None:
        return None
    record = state.record
    if record is None or state.record_id != record_id:
        return ENDED  # gone: pruned long after it ended, or never this user's
    if record.ended_at is not None:
        return record.end_reason or ENDED
    if record.expires_at <= now:
        return EXPIRED
    if (record.user_generation, record.global_generation) != state.generations:
        return STALE
    idle_left, absolute_left = limits.seconds_left(record.started_at, record.last_active_at, now)
    if absolute_left is not None and absolute_left <= 0:
        return ABSOLUTE_TIMEOUT
    if idle_left is not None and idle_left <= 0:
        return IDLE_TIMEOUT
    return None


def _record_id(value: t.Any) -> str | bool | None:
    """A record id as stored, None for none, False if malformed."""
    if value is None:
        return None
    return parse_record_id(value) or False


def read_stamp(value: t.Any) -> Stamp | None:
    """The stamp stored in a session, or None if absent, malformed or from 0.2 (not bound to a user)."""
    if not isinstance(value, (list, tuple)) or len(value) not in (4, 5):
        return None
    user_id, key, *generations = value[:4]
    record_id = _record_id(value[4]) if len(value) == 5 else None
    if parse_user_id(user_id) is None or type(user_id) is not int or not isinstance(key, str) or record_id is False:
        return None
    parsed = parse_generations(generations)
    return None if parsed is None else Stamp(user_id, key, parsed, t.cast("str | None", record_id))


def stamp_for(user: t.Any, state: EpochState, record_id: str | None) -> Stamp:
    return Stamp(user.id, user_key(user), state.generations, record_id)


def first_to_pass_limit(record: RecordState | None, reason: str | None) -> bool:
    """Whether ``reason`` is a limit that this request is the first to find passed, so the
    record must now be ended with it (a copy presented later finds the record ended)."""
    return record is not None and record.ended_at is None and reason in (IDLE_TIMEOUT, ABSOLUTE_TIMEOUT)


def login_at_is_sane(value: t.Any) -> bool:
    """Whether a ``_login_at`` value could be a real login time.

    Numbers are UNIX seconds; datetimes are accepted because other extensions
    (Airflow's FAB provider) keep their own values under the same key.
    """
    if isinstance(value, dt.datetime):
        return True
    if type(value) is float and not math.isfinite(value):
        return False
    if type(value) not in (int, float):
        return False
    # Compared without converting to float: a huge int must not overflow.
    return 0 < value < time.time() + _FUTURE_LEEWAY_SECONDS


def session_refusal(session: SessionMixin, stamp: Stamp | None, user: t.Any, state: EpochState,
                    now: dt.datetime, limits: Limits = NO_LIMITS) -> str | None:
    """Why a session is not ``user``'s current login, or None if it is.

    The stamp (:func:`session_stamp`, read once per request) must name this very user
    (another user's leftovers never vouch), carry the epochs in force, and its session
    record must hold (see :func:`record_refusal`). A session from before the stamp
    existed (no stamp, or 0.2's unbound one) lives only while the user has no epoch at
    all; one that logged in under an OpenID provider session before the registry existed
    ends, since nothing else could end it alone. ``state`` must have been read with the
    stamp's record.
    """
    login_at = session.get(SESSION_KEY_LOGIN_AT)
    if login_at is not None and not login_at_is_sane(login_at):
        return STALE
    if SESSION_KEY_SID in session and (stamp is None or stamp.record_id is None):
        return STALE  # only the registry can end a provider session's sessions now
    if stamp is None:
        return None if not state.has_epoch else STALE
    return stamp.refusal(user, state, now, limits)


def session_stamp(session: SessionMixin) -> Stamp | None:
    """The stamp the session holds, if any."""
    return read_stamp(session.get(SESSION_KEY_EPOCH))


def record_id_of_session(session: SessionMixin) -> str | None:
    """The record the session's stamp names, if any."""
    stamp = session_stamp(session)
    return None if stamp is None else stamp.record_id


def token_claim(user: t.Any, state: EpochState, record_id: str | None) -> list[t.Any]:
    """The value of our JWT claim for a token minted now: the generations, the user's key, the record."""
    return [*state.generations, user_key(user), record_id]


def token_record_id(claims: t.Mapping[str, t.Any], claim_name: str) -> str | None:
    """The session record a token names, if any."""
    value = claims.get(claim_name)
    if isinstance(value, (list, tuple)) and len(value) == 4:
        record_id = _record_id(value[3])
        return record_id if isinstance(record_id, str) else None
    return None


def token_refusal(claims: t.Mapping[str, t.Any], user: t.Any, state: EpochState, claim_name: str,
                  now: dt.datetime, limits: Limits = NO_LIMITS) -> str | None:
    """Why a decoded JWT of ``user`` no longer holds, or None.

    Tokens minted by us carry the generations, the user's key and their record; older
    ones (no claim, or 0.2's claim without the key) are judged by ``iat``, which counts
    whole seconds, so a token from the stamp's own second is refused. 0.2's claim must
    also name the generations in force: any other pair (an older one, or one that never
    existed) is refused.

    :param claim_name: our claim's name (``SESSION_EPOCH_JWT_CLAIM``).
    """
    if claim_name in claims:
        value = claims[claim_name]
        if isinstance(value, (list, tuple)) and len(value) in (3, 4):
            if parse_generations(value[:2]) != state.generations or value[2] != user_key(user):
                return STALE
            record_id = _record_id(value[3]) if len(value) == 4 else None
            if record_id is False:
                return STALE
            return record_refusal(t.cast("str | None", record_id), state, now, limits)
        # 0.2's claim: only the generations in force vouch, and then its iat must too.
        if parse_generations(value) != state.generations:
            return STALE
    if not state.has_epoch:
        return None
    iat = claims.get("iat")
    effective = state.effective_at
    if isinstance(iat, bool) or not isinstance(iat, (int, float)) or effective is None:
        return STALE
    return None if math.isfinite(iat) and iat > effective.timestamp() else STALE


def stamp_session(session: SessionMixin, stamp: Stamp, login_at: float | None = None) -> None:
    """Record a fresh login: its time and its stamp."""
    session[SESSION_KEY_LOGIN_AT] = time.time() if login_at is None else login_at
    session[SESSION_KEY_EPOCH] = stamp.as_session_value()

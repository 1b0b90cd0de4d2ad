"""The values the request path reads and judges: epochs, session records, limits, a provider login.

Plain values with no I/O, at the bottom of the package: the modules that read and
write the database (:mod:`.store`, :mod:`.registry`) build them, and the decisions
(:mod:`.check`) judge them, without either importing the other.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing as t


def as_utc(value: dt.datetime) -> dt.datetime:
    # Stored naive, meaning UTC; some drivers hand back aware values.
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


@dataclasses.dataclass(frozen=True)
class Limits:
    """The lifetimes the server enforces on every session record (seconds; None: none)."""

    idle: float | None = None
    absolute: float | None = None

    def seconds_left(self, started_at: dt.datetime, last_active_at: dt.datetime,
                     now: dt.datetime) -> tuple[float | None, float | None]:
        """``(until the idle limit, until the absolute limit)`` from the recorded times."""
        idle = None if self.idle is None else self.idle - (now - last_active_at).total_seconds()
        absolute = None if self.absolute is None else self.absolute - (now - started_at).total_seconds()
        return idle, absolute


NO_LIMITS = Limits()


@dataclasses.dataclass(frozen=True)
class RecordState:
    """What the request's SELECT read of the record its session or token names."""

    id: str
    kind: str
    user_generation: int
    global_generation: int
    started_at: dt.datetime
    last_active_at: dt.datetime
    expires_at: dt.datetime
    ended_at: dt.datetime | None
    end_reason: str | None

    def holds(self, state: EpochState, now: dt.datetime) -> bool:
        """Not ended, not expired, and started (or kept) under the epochs in force."""
        return (
            self.ended_at is None
            and self.expires_at > now
            and (self.user_generation, self.global_generation) == state.generations
        )


@dataclasses.dataclass(frozen=True)
class EpochState:
    """The epochs in force for one user, as read from the database.

    A session or token is current when it remembers exactly :attr:`generations`;
    the timestamps serve tokens and sessions issued before the generations existed.
    """

    user_generation: int = 0
    user_at: dt.datetime | None = None
    global_generation: int = 0
    global_at: dt.datetime | None = None
    #: The session record looked up alongside (see :mod:`.registry`), if one was asked for.
    record_id: str | None = None
    #: That record, if it exists and is this user's.
    record: RecordState | None = None

    @property
    def generations(self) -> tuple[int, int]:
        return (self.user_generation, self.global_generation)

    @property
    def has_epoch(self) -> bool:
        """Whether anything was ever stamped for this user (or for everyone).

        A row with generation 0 but a time counts: an epoch imported from an older
        layout (before generations existed) ends what was issued before it.
        """
        return self.generations != (0, 0) or self.user_at is not None or self.global_at is not None

    @property
    def effective_at(self) -> dt.datetime | None:
        """The later of the user's and the global epoch, as an aware UTC datetime."""
        stamps = [as_utc(at) for at in (self.user_at, self.global_at) if at is not None]
        return max(stamps) if stamps else None


NO_EPOCH = EpochState()


@dataclasses.dataclass(frozen=True)
class ProviderLogin:
    """What an ID token said about the login under way."""

    issuer: str
    subject: str
    sid: str | None
    #: The ID token itself, kept only when the provider signs out through RP-initiated logout.
    id_token: str | None = None


class LogoutPlan(t.NamedTuple):
    """Where a logout's browser goes next to sign out of its provider, and the cookie that goes along."""

    location: str
    cookie: str
    #: Whether it goes to the provider (else back to the login page, with a message).
    to_provider: bool

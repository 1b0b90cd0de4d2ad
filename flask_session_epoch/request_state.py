"""What this package knows about the request being served: one object on ``g``.

Everything the request path learns and later steps need (the epochs it read, whether
its credentials ended, the record of a login under way) lives here, in fields that say
what they are, instead of in loose attributes of ``g``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing as t

from flask import g

if t.TYPE_CHECKING:
    from .state import EpochState, LogoutPlan, ProviderLogin

_KEY = "session_epoch"


@dataclasses.dataclass
class RequestState:
    #: Epochs read during this request, by user id (None: the read failed).
    epochs: dict[int, EpochState | None] = dataclasses.field(default_factory=dict)
    #: How this request's credentials ended (``session``, ``remember``, ``jwt``, ``api-key``), if they did.
    ended_via: str | None = None
    #: The reason they ended (``stale``, ``check-failed``, or a record's end reason).
    ended_reason: str | None = None
    #: The flashes of a page whose session ended, put back over what the view added.
    flashes: list[t.Any] | None = None
    #: API keys judged in this request: the user, or None.
    api_keys: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    #: The record of the JWTs minted in this request (an API login mints two).
    minting_record: str | None = None
    #: The expiry that record was given in this request (None: it was not started here).
    minting_record_expires: dt.datetime | None = None
    #: The last moment the JWT being minted can be presented (set just before it is encoded).
    minting_expires: dt.datetime | None = None
    #: How the login under way happened, when the caller knows better than FAB's auth type.
    login_method: str | None = None
    #: A login in this request was refused (the cap, or its record could not be written).
    login_refused: bool = False
    #: Where a logout in this request sends the browser next, to sign out of its provider too.
    rp_logout: LogoutPlan | None = None
    #: The OpenID provider login under way (from ``set_oauth_session``, read at ``user_logged_in``).
    provider_login: ProviderLogin | None = None
    #: Records whose last activity is written once the response is out: ``(id, new expiry)``.
    touched: dict[str, dt.datetime | None] = dataclasses.field(default_factory=dict)
    #: Records this request found past a limit, ended once the response is out: ``(id, reason)``.
    ending: dict[str, str] = dataclasses.field(default_factory=dict)
    #: The user whose own password change must not end this session.
    keep_user: int | None = None
    #: Who this request's stamps name, when not the signed-in user (the CLI says ``cli``).
    actor: str | None = None
    #: The *Sessions ended* values read for the users on this page.
    ended_at_column: dict[int, t.Any] = dataclasses.field(default_factory=dict)
    #: The state of the session records on this page: ``(ended at, reason)``, None for open.
    record_status: dict[str, tuple[dt.datetime | None, str | None]] = dataclasses.field(default_factory=dict)


def current() -> RequestState:
    """This request's (or app context's) state, created on first use."""
    state = g.get(_KEY)
    if state is None:
        state = RequestState()
        setattr(g, _KEY, state)
    return t.cast(RequestState, state)

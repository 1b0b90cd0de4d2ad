"""The session record each Airflow credential belongs to: which one a new token joins.

Airflow mints tokens in three ways: a FAB page of a signed-in browser (its ``_token``
cookie), a password login for a token (``POST /auth/token``), and a token minted for
whoever a token authenticated (``POST /ui/auth/token``, the refresh middleware). The
first belongs to the browser's record, the last to the record of the token presented;
a password login starts a record of kind ``api``, as FAB's own JWT login does.

Airflow hands ``generate_jwt`` only the user, a cached object shared by every request
of that user. What authenticated the request under way is therefore noted in a
context variable where Airflow authenticates it (one per request: each runs in a task,
or a thread, with a copy of its own), and read back when that request mints.
"""

from __future__ import annotations

import contextvars
import dataclasses
import datetime as dt
import logging
import typing as t

from flask import has_request_context, session

from .. import check, logins, registry, store

if t.TYPE_CHECKING:
    from flask import Flask

    from ..store import EpochState

log = logging.getLogger("flask_session_epoch")


@dataclasses.dataclass(frozen=True)
class Credential:
    """What authenticated the request under way: a token (and its record), or a password login."""

    user_id: int
    #: The record the token names; None for a password login, or a token that names none.
    record_id: str | None
    #: The client's ``User-Agent`` header, where Airflow passes the headers on.
    user_agent: str | None = None


_PRESENTED: contextvars.ContextVar[Credential | None] = contextvars.ContextVar("session_epoch_presented",
                                                                              default=None)


def note_presented(credential: Credential) -> None:
    """Remember what authenticated this request, for the tokens it mints."""
    _PRESENTED.set(credential)


def presented(user_id: int) -> Credential | None:
    """What authenticated this request, if it was ``user_id``'s."""
    found = _PRESENTED.get()
    return found if found is not None and found.user_id == user_id else None


def browser_record(user: t.Any) -> str | None:
    """The session record of the signed-in browser this request comes from, if it is ``user``'s."""
    stamp = check.session_stamp(session)
    return stamp.record_id if stamp is not None and stamp.user_id == getattr(user, "id", None) else None


def for_new_token(app: Flask, sm: t.Any, user: t.Any, state: EpochState, lifetime: dt.timedelta) -> str | None:
    """The record a token being minted now for ``user``, to live ``lifetime``, belongs to.

    A FAB page's token is the browser's; one minted for whoever a token authenticated
    is that token's; any other (a password login, or a token that named no record)
    starts a record of kind ``api`` that lasts as long as the new token. None only when
    the browser's session has no record, or the new one cannot be written.

    :raises logins.SessionLimitReached: at ``SESSION_EPOCH_MAX_SESSIONS`` with ``refuse``.
    :raises logins.SessionNotRecorded: when the record cannot be written and a policy needs it.
    """
    if has_request_context():
        return browser_record(user)
    credential = presented(user.id)
    if credential is not None and credential.record_id is not None:
        return credential.record_id
    user_agent = None if credential is None else credential.user_agent
    where = registry.Origin(auth_method="api", user_agent=user_agent,
                            device=logins.describe(user_agent) if user_agent else None)
    now = store.utcnow()
    with app.app_context():
        return logins.start_minted(sm, user.id, state, now, now + lifetime, where)

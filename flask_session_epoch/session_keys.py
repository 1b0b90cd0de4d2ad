"""The session keys this package owns, and the one function that forgets them.

Every path that ends a login (a logout, a stale session, the proxy switching users)
calls :func:`forget`, so no key of one login is left behind to vouch for the next.
"""

from __future__ import annotations

import typing as t

from flask import current_app

if t.TYPE_CHECKING:
    from flask.sessions import SessionMixin

#: Session key holding the login time (UNIX seconds, UTC).
SESSION_KEY_LOGIN_AT = "_login_at"
#: Session key holding the login's stamp: whose it is and the generations it saw.
SESSION_KEY_EPOCH = "_session_epoch"
#: Session key holding a key for the OpenID provider session it logged in under
#: (only for providers that send back-channel logouts).
SESSION_KEY_SID = "_session_epoch_sid"
#: Session key holding the proxy identity the session was matched against.
SESSION_KEY_PROXY = "_session_epoch_proxy"
#: Session key holding the proxy identity a request without a login came with: the
#: next request that brings this cookie back with the same identity logs in, with a
#: record; requests that keep no cookie never do.
SESSION_KEY_PROXY_PENDING = "_session_epoch_proxy_pending"
#: Session key telling the next page view that an API call ended this session. It
#: outlives the login on purpose: it says why the user is signed out.
SESSION_KEY_ENDED = "_session_epoch_ended"

#: The keys of one login that this package writes.
LOGIN_KEYS = (SESSION_KEY_LOGIN_AT, SESSION_KEY_EPOCH, SESSION_KEY_SID, SESSION_KEY_PROXY, SESSION_KEY_PROXY_PENDING)
# Flask-Login's keys for the logged-in user.
_FLASK_LOGIN_KEYS = ("_user_id", "_fresh", "_id", "_remember_seconds")
#: What survives the new session every login starts: the login itself (Flask-Login's
#: keys and its remember-me instruction, FAB's OAuth token), where to go next, the
#: messages to show, and whether the session is permanent. Nothing else from before.
KEPT_AT_LOGIN = (*_FLASK_LOGIN_KEYS, "_remember", "next", "_flashes", "oauth", "oauth_provider", "_permanent")


def forget(session: SessionMixin) -> None:
    """Remove the logged-in user and every key of their login that we own."""
    for key in (*_FLASK_LOGIN_KEYS, *LOGIN_KEYS):
        session.pop(key, None)


def forget_login(session: SessionMixin) -> None:
    """Remove the keys of an earlier login; a new login is about to write its own."""
    for key in LOGIN_KEYS:
        session.pop(key, None)


def renew(session: SessionMixin, keep: t.Iterable[str] = ()) -> None:
    """Start over with an empty session, under a new id where the session store has ids.

    Flask-Session's server-side stores (0.7 and later) drop the old entry and issue a
    new id; a signed-cookie session has no id, and its content is all there is.

    :param keep: keys whose values carry over (Flask-Login's ``_remember`` instruction, say).
    """
    kept = {key: session[key] for key in keep if key in session}
    regenerate = getattr(current_app.session_interface, "regenerate", None)
    if callable(regenerate) and session:
        regenerate(session)
    session.clear()
    session.update(kept)

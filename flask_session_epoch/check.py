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

from flask import current_app, flash, g, json, redirect, request, url_for
from flask import session as flask_session
from flask_babel import gettext

from . import config, session_keys
from .identity import parse_user_id, user_key
from .session_keys import SESSION_KEY_ENDED, SESSION_KEY_EPOCH, SESSION_KEY_LOGIN_AT, SESSION_KEY_SID

if t.TYPE_CHECKING:
    from flask.sessions import SessionMixin
    from werkzeug.wrappers import Response

    from .store import EpochState

#: Header set on a response whose session or token was ended by an epoch.
ENDED_HEADER = "X-Session-Ended"

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
    """What a login wrote into its session: whose login it is, under which generations."""

    user_id: int
    #: :func:`~.identity.user_key` of that user: a reused id is another user.
    user_key: str
    generations: tuple[int, int]

    def as_session_value(self) -> list[t.Any]:
        return [self.user_id, self.user_key, *self.generations]

    def vouches_for(self, user: t.Any, state: EpochState) -> bool:
        """Whether this stamp was issued to ``user`` under the epochs now in force."""
        return self.user_id == user.id and self.user_key == user_key(user) and self.generations == state.generations


def read_stamp(value: t.Any) -> Stamp | None:
    """The stamp stored in a session, or None if absent, malformed or from 0.2 (not bound to a user)."""
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        return None
    user_id, key, *generations = value
    if parse_user_id(user_id) is None or type(user_id) is not int or not isinstance(key, str):
        return None
    parsed = parse_generations(generations)
    return None if parsed is None else Stamp(user_id, key, parsed)


def stamp_for(user: t.Any, state: EpochState) -> Stamp:
    return Stamp(user.id, user_key(user), state.generations)


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


def session_is_current(session: SessionMixin, user: t.Any, state: EpochState) -> bool:
    """Whether a session is ``user``'s own login, not older than their effective epoch.

    The stamp must name this very user (another user's leftovers never vouch). A
    session from before the stamp existed (no stamp, or 0.2's unbound one) lives only
    while the user has no epoch at all. A session that logged in under an OpenID
    provider session is also over once the provider logged that session out;
    ``state`` must have been read for its key.
    """
    sid_key = session.get(SESSION_KEY_SID)
    if sid_key is not None and (sid_key != state.sid_key or state.sid_ended):
        return False
    login_at = session.get(SESSION_KEY_LOGIN_AT)
    if login_at is not None and not login_at_is_sane(login_at):
        return False
    stamp = read_stamp(session.get(SESSION_KEY_EPOCH))
    if stamp is None:
        return not state.has_epoch
    return stamp.vouches_for(user, state)


def token_claim(user: t.Any, state: EpochState) -> list[t.Any]:
    """The value of our JWT claim for a token minted now: the generations and the user's key."""
    return [*state.generations, user_key(user)]


def token_is_current(claims: t.Mapping[str, t.Any], user: t.Any, state: EpochState, claim_name: str) -> bool:
    """Whether a decoded JWT of ``user`` was issued under their current epoch.

    Tokens minted by us carry the generations and the user's key; older ones (no
    claim, or 0.2's claim without the key) are judged by ``iat``, which counts whole
    seconds, so a token from the stamp's own second is refused.

    :param claim_name: our claim's name (``SESSION_EPOCH_JWT_CLAIM``).
    """
    if claim_name in claims:
        value = claims[claim_name]
        if isinstance(value, (list, tuple)) and len(value) == 3:
            return parse_generations(value[:2]) == state.generations and value[2] == user_key(user)
        if parse_generations(value) is None:
            return False  # neither ours nor 0.2's: tampered
    if not state.has_epoch:
        return True
    iat = claims.get("iat")
    effective = state.effective_at
    if isinstance(iat, bool) or not isinstance(iat, (int, float)) or effective is None:
        return False
    return math.isfinite(iat) and iat > effective.timestamp()


def stamp_session(session: SessionMixin, stamp: Stamp, login_at: float | None = None) -> None:
    """Record a fresh login: its time and its stamp."""
    session[SESSION_KEY_LOGIN_AT] = time.time() if login_at is None else login_at
    session[SESSION_KEY_EPOCH] = stamp.as_session_value()


def is_api_request() -> bool:
    return request.path.startswith(tuple(config.get("API_PATH_PREFIXES")))


def is_exempt_request() -> bool:
    endpoint = request.endpoint or ""
    exempt = config.get("EXEMPT_ENDPOINTS")
    # Blueprint endpoints match by their last part too: Superset's is "health.health".
    return endpoint in exempt or endpoint.rsplit(".", 1)[-1] in exempt


def end_session(session: SessionMixin) -> None:
    """Forget the logged-in user, their login's keys and their remember-me cookie.

    Runs inside the user loader, where ``logout_user()`` would re-enter the loader.
    """
    session_keys.forget(session)
    # Flask-Login deletes the remember-me cookie when it sees this.
    session["_remember"] = "clear"


def mark_ended(via: str) -> None:
    """Note on ``g`` that this request's credentials were ended, for :func:`shape_response`.

    Pages get the flash at once, so a login page rendered by this very request shows it.
    """
    if "session_epoch_ended" in g:
        return
    g.session_epoch_ended = via
    if via in ("session", "remember") and is_api_request():
        # The page that reloads after this 401 should say why, not "Access is Denied".
        flask_session[SESSION_KEY_ENDED] = True
    elif via in ("session", "remember"):
        category, message = _ended_flash()
        if all(tuple(item) != (category, message) for item in flask_session.get("_flashes", [])):
            flash(message, category)
        g.session_epoch_flashes = list(flask_session.get("_flashes", []))


def carry_ended_over() -> None:
    """``before_request``: the first page after an API call ended the session says so."""
    if SESSION_KEY_ENDED in flask_session and not is_api_request() and not is_exempt_request():
        flask_session.pop(SESSION_KEY_ENDED)
        if "_user_id" not in flask_session:
            mark_ended("session")


def forget_ended() -> None:
    """Clear the mark and our queued message: the user has just logged in again.

    Superset's login page never shows flashes, so without this they would pile up.
    """
    flask_session.pop(SESSION_KEY_ENDED, None)
    g.pop("session_epoch_ended", None)
    g.pop("session_epoch_flashes", None)
    queued = flask_session.get("_flashes")
    if queued:
        ours = _ended_flash()
        kept = [item for item in queued if tuple(item) != ours]
        if len(kept) != len(queued):
            flask_session["_flashes"] = kept


def shape_response(response: Response) -> Response:
    """After a request whose session ended: 401 for API calls, a login redirect for pages."""
    via = g.get("session_epoch_ended")
    if via is None:
        return response
    if is_api_request() or via in ("jwt", "api-key"):
        if response.status_code != 401:
            return response  # served anyway: a public endpoint, or other valid credentials
        # One body for every ended credential, so a client can tell it from other 401s.
        response = current_app.response_class(
            json.dumps({"message": _ended_flash()[1], "session_ended": True}),
            status=401,
            mimetype="application/json",
        )
        response.headers[ENDED_HEADER] = "1"
        return response
    login_endpoint = _login_endpoint()
    if login_endpoint is None or request.endpoint == login_endpoint:
        response.headers[ENDED_HEADER] = "1"
        return response
    # Messages the now-anonymous view added (FAB's "Access is Denied") would only confuse.
    if "session_epoch_flashes" in g:
        flask_session["_flashes"] = g.session_epoch_flashes
    # With the script root: an app mounted under a prefix (Airflow's /auth) comes back to it.
    target = request.script_root + request.full_path.rstrip("?") if request.method == "GET" else None
    new = redirect(url_for(login_endpoint, next=target))
    new.headers[ENDED_HEADER] = "1"
    return new


def _login_endpoint() -> str | None:
    auth_view = getattr(current_app.appbuilder.sm, "auth_view", None)  # type: ignore[attr-defined]
    return None if auth_view is None else f"{auth_view.endpoint}.login"


def _ended_flash() -> tuple[str, str]:
    """``(category, message)`` of our flash, translated for this request."""
    return config.get("FLASH_CATEGORY"), str(gettext(config.get("FLASH_MESSAGE")))

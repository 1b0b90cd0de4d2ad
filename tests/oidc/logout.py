"""Ending OP sessions over HTTP: RP-initiated logout, its confirmation, the OP's own logout page.

All of it runs idpyoidc's ``Session`` endpoint (``idpyoidc.server.oidc.session``):

1. ``GET end_session``: ``parse_request`` verifies ``id_token_hint`` (signature by this
   OP's keys, issuer known, algorithm supported); ``process_request`` finds the OP
   session from the session cookie, checks that the hint's ``aud`` holds that
   session's client and its ``sub`` is the session's, checks
   ``post_logout_redirect_uri`` against the client's registration (``verify_uri``),
   and answers a redirect to ``logout_verify_url`` carrying ``sjwt``, a JWT the OP
   signed for itself with the session id and the way back (``post_logout_redirect_uri``
   with ``?state=``, or the issuer's ``post_logout`` page).
2. The confirmation (``confirm_logout`` false, the default): given at once, in the same
   request; ``sjwt`` never goes to the browser. With ``confirm_logout``, the browser is
   sent to ``verify_logout``, a page whose ``button#confirm-logout`` POSTs ``sjwt`` to
   ``rp_logout``.
3. ``unpack_signed_jwt(sjwt)`` and ``do_verified_logout(sid)``: idpyoidc revokes the
   session (every grant of that user with that client), POSTs the logout token to a
   registered ``backchannel_logout_uri`` before answering, and otherwise returns the
   ``<iframe>`` of a registered ``frontchannel_logout_uri`` (``?iss=...&sid=...`` with
   ``frontchannel_logout_session_required``). idpyoidc prefers back-channel: a client
   with both URIs gets only the POST. ``kill_cookies`` then deletes the OP's cookies.
4. The answer: without iframes, a 303 to the way back; with them, a 200 signed-out page
   holding the iframes and a script that goes the way back after the window's ``load``
   event (every iframe loaded) or after ``pages.FRONTCHANNEL_WAIT_MS``.

``logout`` (the OP's own page, ``logout_page_url``): GET shows who the OP cookie signs in
and ``button#sign-out``; POST runs steps 3 and 4 for the cookie's session, answering the
signed-out page with its iframes and going nowhere. It calls ``do_verified_logout(sid)``,
not ``alla=True``: ``logout_all_clients`` takes, per client, the oldest grant that has an
ID token, so its iframe's ``sid`` could name a session this browser no longer holds.

Refused requests (bad hint, unregistered ``post_logout_redirect_uri``, hint for another
session, no session) get a 400 error page and never a redirect.

Workarounds:

* ``Session.parse_request`` runs client authentication and, whatever it finds, reads
  ``auth_info["token"]``: with the ``none`` or ``public`` method (the only ones a browser's
  GET can match, and ``none`` always matches) that is a ``KeyError``, so every request
  fails. RP-Initiated Logout defines no client authentication (the hint is the proof), so
  the endpoint's ``client_authentication`` is replaced by one that finds none; the rest of
  ``parse_request`` (building and verifying the ``EndSessionRequest``) is idpyoidc's. A
  ``client_id`` argument stays in the request, where ``verify_uri`` uses it to pick the
  client whose ``post_logout_redirect_uri`` list is checked.
* ``Session.process_request`` raises ``ValueError("Missing cookie")`` without its session
  cookie, although the hint names the session (its ``sid`` is the idpyoidc session id).
  When the request carries no OP session cookie, the verified hint's ``sid`` is given to
  ``process_request`` as a session cookie made by idpyoidc's own cookie handler, so
  idpyoidc still finds the session and checks the hint against it.
"""

from __future__ import annotations

import contextlib
import json
import re
import typing as t
from dataclasses import dataclass, field
from html import unescape
from urllib.parse import parse_qs, urlsplit

import requests
from idpyoidc.message.oidc import verified_claim_name
from idpyoidc.server.oidc.session import do_front_channel_logout_iframe

from oidc import pages, web

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from werkzeug.wrappers import Request, Response

    from oidc.provider import OpenIDProvider

_IFRAME_SRC = re.compile(r'<iframe src="([^"]*)"')
_HINT = verified_claim_name("id_token_hint")


@dataclass
class LogoutRecord:
    """One OP session ending asked for over HTTP, at ``end_session`` or at the OP logout page."""

    #: ``"end_session"`` (RP-initiated) or ``"logout_page"``.
    via: str
    #: The query arguments as received (``id_token_hint``, ``post_logout_redirect_uri``...).
    args: dict[str, str]
    #: idpyoidc verified the ``id_token_hint`` (its signature, issuer and algorithm).
    hint_verified: bool = False
    #: Why the request was refused; ``None`` if it was accepted.
    error: str | None = None
    #: The idpyoidc session logged out, once it is.
    sid: str | None = None
    #: Where the browser is sent afterwards (``post_logout_redirect_uri`` with ``state``).
    redirect_uri: str | None = None
    #: The ``src`` of each front-channel iframe on the signed-out page.
    frontchannel: list[str] = field(default_factory=list)
    #: ``(uri, status)`` of each back-channel POST; status 0 if the RP could not be reached.
    backchannel: list[tuple[str, int]] = field(default_factory=list)
    #: idpyoidc's iframe elements, as it made them.
    iframes: list[str] = field(default_factory=list, repr=False)
    sjwt: str | None = field(default=None, repr=False)

    @property
    def hint_accepted(self) -> bool:
        """A verified hint, for the session and client, in a request that was accepted."""
        return self.hint_verified and self.error is None


def no_client_authentication(*args: t.Any, **kwargs: t.Any) -> dict[str, t.Any]:
    """The session endpoint's ``client_authentication``: none (see the module docstring)."""
    return {}


def iframe_urls(iframes: t.Iterable[str]) -> list[str]:
    """The ``src`` of idpyoidc's iframe strings."""
    return [unescape(match.group(1)) for frame in iframes if (match := _IFRAME_SRC.search(frame))]


def frontchannel_iframes(op: OpenIDProvider, sid: str) -> list[str]:
    """idpyoidc's front-channel iframe for ``sid``, whether or not it would prefer back-channel."""
    frame = do_front_channel_logout_iframe(op._client, op.issuer, sid)
    return [] if frame is None else [frame]


def verified_logout(op: OpenIDProvider, sid: str, sent: list[tuple[str, int]]) -> list[str]:
    """``Session.do_verified_logout(sid)``: its iframes; ``(uri, status)`` of each back-channel POST go to ``sent``.

    A back-channel URI that cannot be reached is recorded with status 0 and its error raised.
    """
    context = op._context
    send = context.httpc

    def recording_send(method: str, url: str, **kwargs: t.Any) -> requests.Response:
        try:
            response = send(method, url, **kwargs)
        except requests.RequestException:
            sent.append((url, 0))
            raise
        sent.append((url, response.status_code))
        return response

    context.httpc = recording_send
    try:
        return list(op._session_endpoint.do_verified_logout(sid))
    finally:
        context.httpc = send


def browser_sid(op: OpenIDProvider, request: Request) -> str | None:
    """The idpyoidc session of the browser's OP session cookie, while it is active."""
    handler = op._context.cookie_handler
    cookies = web.http_info(request)["cookie"]
    try:
        found = handler.parse_cookie(handler.name["session"], cookies) or []
    except Exception:  # noqa: BLE001 - a cookie that does not verify is no session
        return None
    for item in found:
        sid = json.loads(item["value"]).get("sid")
        if sid and op._authn._is_live(sid):
            return sid
    return None


def end_session(op: OpenIDProvider, request: Request) -> Response:
    """``GET end_session``: RP-initiated logout, steps 1 to 4 of the module docstring."""
    record = LogoutRecord("end_session", request.args.to_dict())
    op.end_session_requests.append(record)
    endpoint = op._session_endpoint
    info = web.http_info(request)
    try:
        parsed = endpoint.parse_request(dict(record.args), http_info=info)
        if "error" in parsed:
            raise ValueError(parsed.get("error_description") or parsed["error"])
        record.hint_verified = _HINT in parsed
        info["cookie"] = _with_hint_session(op, parsed, info["cookie"])
        result = endpoint.process_request(parsed, http_info=info)
    except Exception as exc:  # noqa: BLE001 - idpyoidc refuses with many exception types
        record.error = f"{type(exc).__name__}: {exc}"
        return web.html(pages.error_page("Logout refused", record.error), status=400)
    location = result["redirect_location"]
    record.sjwt = parse_qs(urlsplit(location).query)["sjwt"][0]
    if op.confirm_logout:
        return web.redirect(location)
    return _logged_out(op, record)


def _with_hint_session(op: OpenIDProvider, parsed: t.Any, cookies: list[dict[str, str]]) -> list[dict[str, t.Any]]:
    context = op._context
    name = context.cookie_handler.name["session"]
    if context.cookie_handler.parse_cookie(name, cookies):
        return cookies
    hint = parsed.get(_HINT)
    if hint is None or "sid" not in hint:
        return cookies
    return [*cookies, context.new_cookie(name=name, sid=hint["sid"])]


def confirm_page(op: OpenIDProvider, request: Request) -> Response:
    """``GET verify_logout?sjwt=...``: idpyoidc's ``logout_verify_url``."""
    sjwt = request.args.get("sjwt", "")
    return web.html(pages.confirm_logout_page(f"{op.issuer}/rp_logout", sjwt))


def confirmed(op: OpenIDProvider, request: Request) -> Response:
    """``POST rp_logout`` with ``sjwt``: the user confirmed the logout."""
    sjwt = request.form.get("sjwt", "")
    record = next((rec for rec in reversed(op.end_session_requests) if rec.sjwt == sjwt), None)
    if record is None or record.sid is not None:
        return web.html(pages.error_page("Logout refused", "unknown or used logout request"), status=400)
    return _logged_out(op, record)


def _logged_out(op: OpenIDProvider, record: LogoutRecord) -> Response:
    info = op._session_endpoint.unpack_signed_jwt(record.sjwt)
    record.sid, record.redirect_uri = info["sid"], info["redirect_uri"]
    _end(op, record)
    if record.frontchannel:
        response = web.html(pages.signed_out_page(record.iframes, record.redirect_uri))
    else:
        response = web.redirect(record.redirect_uri)
    web.set_cookies(response, op._session_endpoint.kill_cookies())
    return response


def _end(op: OpenIDProvider, record: LogoutRecord) -> None:
    # An unreachable back-channel URI: idpyoidc revoked the session before it tried the RP.
    with contextlib.suppress(requests.RequestException):
        record.iframes = verified_logout(op, record.sid, record.backchannel)
    record.frontchannel = iframe_urls(record.iframes)
    op.logouts.append(record)


def logout_page(op: OpenIDProvider, request: Request) -> Response:
    """The OP's own logout: GET shows ``button#sign-out``; POST ends the browser's OP session."""
    sid = browser_sid(op, request)
    if request.method != "POST":
        user = op._context.session_manager.decrypt_session_id(sid)[0] if sid else None
        return web.html(pages.logout_page(f"{op.issuer}/logout", user))
    record = LogoutRecord("logout_page", {}, sid=sid)
    if sid is not None:
        _end(op, record)
    response = web.html(pages.signed_out_page(record.iframes))
    web.set_cookies(response, op._session_endpoint.kill_cookies())
    return response


def post_logout(op: OpenIDProvider, request: Request) -> Response:
    """idpyoidc's way back when the RP named none (``post_logout_uri_path``)."""
    return web.html(pages.signed_out_page([]))


ROUTES: dict[str, Callable[[OpenIDProvider, Request], Response]] = {
    "end_session": end_session,
    "verify_logout": confirm_page,
    "rp_logout": confirmed,
    "logout": logout_page,
    "post_logout": post_logout,
}

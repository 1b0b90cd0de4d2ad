"""A real OpenID Connect provider on loopback, built on idpyoidc, for relying-party tests.

The protocol work is done by idpyoidc's own endpoints: discovery (``provider_config``),
``authorization``, ``token``, ``userinfo``, and its ``session`` endpoint for back-channel,
front-channel and RP-initiated logout. This module gives them an HTTP server
(``oidc.web``), one statically registered client, an in-memory user store and in-memory
keys. idpyoidc has no JWKS endpoint (its sample deployments publish the key jar as a
file), so ``/jwks.json`` serves the key jar's public keys.

::

    op = OpenIDProvider(client_id="fab-app", client_secret="s3cret",
                        redirect_uris=["http://localhost/oauth-authorized/idp"])
    with op:                                  # or op.start() ... op.stop()
        op.add_user("alice", email="alice@example.org", given_name="Alice")
        op.login_as("alice")
        ...                                   # the RP's code flow against op.metadata_url
        op.backchannel_logout_uri = "http://127.0.0.1:5001/backchannel-logout"
        [session] = op.sessions("alice")
        op.end_session(session.sid)           # -> [(uri, http_status)]

    op = OpenIDProvider(..., post_logout_redirect_uris=["http://localhost/login/"],
                        require_login=True)       # a login form when there is no OP cookie
    op.frontchannel_logout_uri = "http://127.0.0.1:5001/frontchannel-logout"

The socket is bound when the object is made, so ``issuer`` and ``metadata_url`` are known
before :meth:`~OpenIDProvider.start`, which only begins serving from a daemon thread.

Browser sessions at the OP (``oidc.authn``): when a user authenticates, idpyoidc's
authorization endpoint sets its session cookie (``session_cookie_name``, a browser-session
cookie, ``HttpOnly``, ``SameSite=Lax``, not ``Secure`` so plain-HTTP ``requests`` and
Chromium send it back). An authorization request with a live cookie is the same user,
silently, whatever :meth:`~OpenIDProvider.login_as` says; without one, the user is the
:meth:`~OpenIDProvider.login_as` user, or with ``require_login=True`` a login form
(``oidc.pages``) is shown, counted in ``logins_prompted``. ``logins`` lists how each
authorization found its user. Logout over HTTP (RP-initiated at ``end_session``, the OP's
own page at ``logout_page_url``, front-channel iframes) is in ``oidc.logout``, with the
two workarounds idpyoidc 5.0.0's ``Session`` endpoint needs.

What idpyoidc 5.0.0 does, found in its source and relied on here:

* ``sub`` is idpyoidc's "public" subject: SHA-256 of the user name and a salt drawn per
  provider. :meth:`~OpenIDProvider.subject_of` asks idpyoidc for the same value.
* ``sid`` is the idpyoidc session id, an encrypted ``user;client;grant`` key (a long
  URL-safe string). ``IDToken.payload`` always puts it in ID tokens, whatever the client
  registered. ID tokens also carry a non-standard ``scope`` claim. A silent login through
  the OP cookie makes a new grant (``setup_auth``, the request differs from the grant's),
  so each login, silent or not, has a new ``sid`` (but a request equal to the grant's,
  same ``state`` and ``nonce``, reuses it); the cookie then names the newest.
* Logout tokens come from ``Session.do_back_channel_logout``: the JWS header is only
  ``alg`` and ``kid`` (no ``typ``); the claims are ``iss``, ``aud`` (a list holding the
  client id), ``iat``, ``exp`` (``iat`` + 86400), ``jti`` (a UUID4 hex), ``sid`` and
  ``events``. There is no ``sub`` and no ``nonce``, and idpyoidc has no way to make one
  without ``sid`` or with ``sub``. The algorithm is the client's
  ``id_token_signed_response_alg``.
* ``Session.do_verified_logout`` POSTs with ``requests``:
  ``data="logout_token=<jwt>"``, ``Content-Type: application/x-www-form-urlencoded``,
  ``verify=False`` and no timeout (idpyoidc's ``get_http_params`` drops ``timeout``).
  Any status is accepted; a connection error propagates. A client with a
  ``backchannel_logout_uri`` gets no front-channel iframe (idpyoidc's ``elif``).
* Logging one session out revokes every session of that user with that client at the OP
  (``revoke_client_session`` acts on the user/client branch), while the RP is sent the
  one ``sid`` only. Revoked sessions stay listed by :meth:`~OpenIDProvider.sessions`.
* ``backchannel_logout_session_required`` is stored in the client registration; idpyoidc
  does not act on it. ``frontchannel_logout_session_required`` is acted on: it puts
  ``iss`` and ``sid`` in the iframe's URL.
* ``post_logout_redirect_uri`` is checked by ``verify_uri`` against the registration key
  ``post_logout_redirect_uri`` (singular, a list of ``(uri, query)`` pairs), the name
  idpyoidc's registration endpoint stores it under.
"""

from __future__ import annotations

import threading
import typing as t
from dataclasses import dataclass

from cryptojwt.jwt import JWT
from idpyoidc.message.oidc.session import BACK_CHANNEL_LOGOUT_EVENT
from idpyoidc.server import Server
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request

from oidc import authn, config, logout, web
from oidc.client import ClientRegistration
from oidc.keys import SigningKeys
from oidc.logout import LogoutRecord

if t.TYPE_CHECKING:
    from collections.abc import Iterable


@dataclass(frozen=True)
class OPSession:
    """One OP-side session: a grant of ``user`` to the client, with the ``sid`` of its ID token."""

    sid: str
    user: str
    sub: str
    revoked: bool


@dataclass(frozen=True)
class Login:
    """One authorization that found its user.

    ``how``: ``"sso"`` (a live OP session cookie), ``"login_as"`` or ``"form"``.
    """

    user: str
    sid: str
    how: str


class _QuietHandler(WSGIRequestHandler):
    # Test output should not carry a line per OP request.
    def log_request(self, *args: t.Any, **kwargs: t.Any) -> None:
        pass


class OpenIDProvider(ClientRegistration, SigningKeys):
    """An idpyoidc OpenID provider with one statically registered confidential client.

    :param client_id: the relying party's client id.
    :param client_secret: its secret, accepted as ``client_secret_basic`` or
        ``client_secret_post``.
    :param redirect_uris: the RP's callbacks; an authorization request must name one of
        them exactly.
    :param backchannel_logout_uri: where :meth:`end_session` POSTs logout tokens; may be set
        later through the attribute of the same name. ``None``: no back-channel logout.
    :param backchannel_logout_session_required: stored in the client registration.
    :param signing_alg: ``RS256`` (default), ``PS256``, ``ES256`` or ``ES384``, for ID
        tokens and logout tokens.
    :param post_logout_redirect_uris: where ``end_session`` may send the browser back
        (exact match, no query part); also the attribute of the same name.
    :param require_login: an authorization request without a live OP session cookie gets
        the login form instead of the :meth:`login_as` user; also an attribute.
    :param confirm_logout: ``end_session`` sends the browser to idpyoidc's confirmation
        page (``button#confirm-logout``) instead of confirming at once; also an attribute.

    Records, for tests: ``logins`` (:class:`Login`, oldest first), ``logins_prompted``
    (login forms shown), ``end_session_requests`` (:class:`~oidc.logout.LogoutRecord`
    of every ``end_session`` request, refused ones too) and ``logouts`` (the records of
    every OP session ended over HTTP, at ``end_session`` or at ``logout_page_url``).
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        redirect_uris: Iterable[str],
        backchannel_logout_uri: str | None = None,
        backchannel_logout_session_required: bool = True,
        signing_alg: str = "RS256",
        post_logout_redirect_uris: Iterable[str] = (),
        require_login: bool = False,
        confirm_logout: bool = False,
    ) -> None:
        if signing_alg not in config.KEY_SPECS:
            raise ValueError(f"signing_alg must be one of {sorted(config.KEY_SPECS)}, not {signing_alg!r}")
        self.client_id = client_id
        self.signing_alg = signing_alg
        self._http = make_server("127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler)
        self.issuer = f"http://127.0.0.1:{self._http.server_port}"
        self._thread: threading.Thread | None = None
        self._server = Server(config.server_config(self.issuer, signing_alg), keyjar=self._new_keyjar())
        self._context = self._server.context
        # idpyoidc deep-copies its configuration: keep the store it actually reads.
        self._users: dict[str, dict[str, t.Any]] = self._context.userinfo.db
        self._context.cdb[client_id] = {
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uris": [(uri, {}) for uri in redirect_uris],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_basic",
            "id_token_signed_response_alg": signing_alg,
            "backchannel_logout_session_required": backchannel_logout_session_required,
            "allowed_scopes": config.SCOPES,
        }
        self.backchannel_logout_uri = backchannel_logout_uri
        self.post_logout_redirect_uris = list(post_logout_redirect_uris)
        # RP-initiated logout has no client authentication; see oidc.logout.
        self._session_endpoint.client_authentication = logout.no_client_authentication
        self._authn: authn.BrowserAuthn = self._context.authn_broker[config.AUTHN]["method"]
        self.require_login = require_login
        self.confirm_logout = confirm_logout
        self.logins: list[Login] = []
        self.logins_prompted = 0
        self.end_session_requests: list[LogoutRecord] = []
        self.logouts: list[LogoutRecord] = []
        self.login_as(None)

    @property
    def metadata_url(self) -> str:
        """The discovery document, for Authlib's ``server_metadata_url``."""
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def require_login(self) -> bool:
        return self._authn.require_login

    @require_login.setter
    def require_login(self, value: bool) -> None:
        self._authn.require_login = value

    @property
    def session_cookie_name(self) -> str:
        """The OP's session cookie (named after the port: browsers share cookies across ports)."""
        return self._context.cookie_handler.name["session"]

    @property
    def end_session_url(self) -> str:
        """The advertised ``end_session_endpoint``."""
        return f"{self.issuer}/end_session"

    @property
    def logout_page_url(self) -> str:
        """The OP's own logout page: GET shows ``button#sign-out``, POST ends the cookie's OP session."""
        return f"{self.issuer}/logout"

    def start(self) -> OpenIDProvider:
        """Serve HTTP on ``issuer`` from a daemon thread."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._http.shutdown()
            self._thread.join()
            self._thread = None
        self._http.server_close()

    def __enter__(self) -> OpenIDProvider:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def add_user(self, username: str, **claims: t.Any) -> str:
        """Add a user with standard claims (``email``, ``given_name``, ``family_name``...).

        The claims are released in ID tokens and userinfo by scope (``email``, ``profile``).

        :return: the user's ``sub``.
        """
        claims.setdefault("preferred_username", username)
        if "email" in claims:
            claims.setdefault("email_verified", True)
        self._users[username] = {"sub": self.subject_of(username), **claims}
        return self._users[username]["sub"]

    def subject_of(self, username: str) -> str:
        """The ``sub`` idpyoidc gives ``username`` (its "public" subject type)."""
        manager = self._context.session_manager
        return manager.sub_func["public"](username, salt=manager.get_salt())

    def login_as(self, username: str | None) -> None:
        """Authenticate the following authorization requests as ``username``, with no UI.

        It applies to requests without a live OP session cookie (a live one is its own
        user), and not with ``require_login``. ``None`` logs nobody in: authorization then
        answers 401, or ``login_required`` to ``prompt=none``.
        """
        if username is not None and username not in self._users:
            raise KeyError(f"unknown user {username!r}: call add_user() first")
        self._authn.user = username or ""

    def frontchannel_urls(self, sid: str) -> list[str]:
        """The front-channel logout URLs idpyoidc makes for the session ``sid`` (none without the URI).

        They are made whether or not a ``backchannel_logout_uri`` would take precedence.
        """
        return logout.iframe_urls(logout.frontchannel_iframes(self, sid))

    def sessions(self, username: str) -> list[OPSession]:
        """The OP-side sessions of ``username`` with the client that got an ID token, oldest first."""
        manager = self._context.session_manager
        try:
            client_branch = manager.get([username, self.client_id])
        except KeyError:
            return []
        found = []
        for grant_key in client_branch.subordinate:
            grant = manager.get(manager.unpack_branch_key(grant_key))
            id_token = grant.last_issued_token_of_type("id_token")
            if id_token is not None:
                found.append(OPSession(id_token.session_id, username, grant.sub, grant.revoked))
        return found

    def logout_token(self, sid: str) -> str:
        """The logout token idpyoidc would POST for the session ``sid``, made but not sent.

        Each call makes a new token (new ``jti`` and ``iat``). Needs a
        ``backchannel_logout_uri``.
        """
        spec = self._session_endpoint.do_back_channel_logout(self._client, sid)
        if spec is None:
            raise RuntimeError("no backchannel_logout_uri registered: set op.backchannel_logout_uri")
        return spec[1]

    def subject_logout_token(self, username: str) -> str:
        """A logout token naming only the subject of ``username`` (every session of that user).

        idpyoidc cannot make one (it always sends ``sid``), so this packs the same payload
        shape with the same machinery its session endpoint uses: cryptojwt's ``JWT``
        with the OP's key jar, issuer, signing algorithm and lifetime.
        """
        packer = JWT(self._server.keyjar, iss=self._context.issuer, lifetime=86400, sign_alg=self.signing_alg)
        packer.with_jti = True
        payload = {"sub": self.subject_of(username), "events": {BACK_CHANNEL_LOGOUT_EVENT: {}}}
        return packer.pack(payload=payload, recv=self.client_id)

    def end_session(self, sid: str) -> list[tuple[str, int]]:
        """Log the session ``sid`` out at the OP, as after a confirmed RP-initiated logout.

        idpyoidc revokes the session and POSTs a logout token to ``backchannel_logout_uri``
        over HTTP before this returns; a front-channel iframe, if any, is dropped (see
        :meth:`frontchannel_urls`).

        :return: ``(uri, status)`` of each back-channel request; empty if no URI is set.
        """
        sent: list[tuple[str, int]] = []
        logout.verified_logout(self, sid, sent)
        return sent

    @property
    def _session_endpoint(self) -> t.Any:
        return self._server.endpoint["session"]

    def _record_login(self, sid: str, how: str) -> None:
        user = self._context.session_manager.decrypt_session_id(sid)[0]
        self.logins.append(Login(user, sid, how))

    def _wsgi(self, environ: dict[str, t.Any], start_response: t.Any) -> Iterable[bytes]:
        return web.dispatch(self, Request(environ))(environ, start_response)

"""A real OpenID Connect provider on loopback, built on idpyoidc, for relying-party tests.

The protocol work is done by idpyoidc's own endpoints: discovery (``provider_config``),
``authorization``, ``token``, ``userinfo``, and its ``session`` endpoint for back-channel
logout. This module gives them an HTTP server, one statically registered client, an
in-memory user store and in-memory keys. idpyoidc has no JWKS endpoint (its sample
deployments publish the key jar as a file), so ``/jwks.json`` serves the key jar's
public keys.

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

The socket is bound when the object is made, so ``issuer`` and ``metadata_url`` are known
before :meth:`~OpenIDProvider.start`, which only begins serving from a daemon thread.

What idpyoidc 5.0.0 does, found in its source and relied on here:

* Users authenticate through idpyoidc's ``NoAuthn`` method, whose user is the one given to
  :meth:`~OpenIDProvider.login_as` (it stays until changed). The authorization endpoint is
  not shown the OP's cookies, so every authorization request is a fresh login and a new
  OP session with a new ``sid``.
* ``sub`` is idpyoidc's "public" subject: SHA-256 of the user name and a salt drawn per
  provider. :meth:`~OpenIDProvider.subject_of` asks idpyoidc for the same value.
* ``sid`` is the idpyoidc session id, an encrypted ``user;client;grant`` key (a long
  URL-safe string). ``IDToken.payload`` always puts it in ID tokens, whatever the client
  registered. ID tokens also carry a non-standard ``scope`` claim.
* Logout tokens come from ``Session.do_back_channel_logout``: the JWS header is only
  ``alg`` and ``kid`` (no ``typ``); the claims are ``iss``, ``aud`` (a list holding the
  client id), ``iat``, ``exp`` (``iat`` + 86400), ``jti`` (a UUID4 hex), ``sid`` and
  ``events``. There is no ``sub`` and no ``nonce``, and idpyoidc has no way to make one
  without ``sid`` or with ``sub``. The algorithm is the client's
  ``id_token_signed_response_alg``.
* ``Session.do_verified_logout`` POSTs with ``requests``:
  ``data="logout_token=<jwt>"``, ``Content-Type: application/x-www-form-urlencoded``,
  ``verify=False`` and no timeout (idpyoidc's ``get_http_params`` drops ``timeout``).
  Any status is accepted; a connection error propagates.
* Logging one session out revokes every session of that user with that client at the OP
  (``revoke_client_session`` acts on the user/client branch), while the RP is sent the
  one ``sid`` only. Revoked sessions stay listed by :meth:`~OpenIDProvider.sessions`.
* ``backchannel_logout_session_required`` is stored in the client registration; idpyoidc
  does not act on it. Its discovery document advertises
  ``backchannel_logout_session_required`` (the OP-side name in the spec is
  ``..._supported``) and ``frontchannel_logout_supported`` even though only back-channel
  is used here.
* The advertised ``end_session_endpoint`` is not served (404). idpyoidc's RP-initiated
  logout needs its own session cookie and a confirmation page;
  :meth:`~OpenIDProvider.end_session` runs the step that follows the confirmation
  (``Session.do_verified_logout``).
"""

from __future__ import annotations

import json
import threading
import typing as t
from dataclasses import dataclass
from urllib.parse import urlencode

from cryptojwt.jwt import JWT
from cryptojwt.key_bundle import build_key_bundle
from cryptojwt.key_jar import build_keyjar
from idpyoidc.message import Message
from idpyoidc.message.oidc.session import BACK_CHANNEL_LOGOUT_EVENT
from idpyoidc.server import Server
from idpyoidc.server.exception import ClientAuthenticationError, NoSuchAuthentication
from idpyoidc.server.user_authn.authn_context import UNSPECIFIED
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    import requests
    from cryptojwt import KeyJar
    from idpyoidc.server.endpoint import Endpoint

# The key each supported signing algorithm needs.
_KEY_SPECS: dict[str, dict[str, t.Any]] = {
    "RS256": {"type": "RSA", "use": ["sig"]},
    "PS256": {"type": "RSA", "use": ["sig"]},
    "ES256": {"type": "EC", "crv": "P-256", "use": ["sig"]},
    "ES384": {"type": "EC", "crv": "P-384", "use": ["sig"]},
}
_NO_UI = "no_ui"
_SCOPES = ["openid", "email", "profile"]


@dataclass(frozen=True)
class OPSession:
    """One OP-side session: a grant of ``user`` to the client, with the ``sid`` of its ID token."""

    sid: str
    user: str
    sub: str
    revoked: bool


class _QuietHandler(WSGIRequestHandler):
    # Test output should not carry a line per OP request.
    def log_request(self, *args: t.Any, **kwargs: t.Any) -> None:
        pass


class OpenIDProvider:
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
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        redirect_uris: Iterable[str],
        backchannel_logout_uri: str | None = None,
        backchannel_logout_session_required: bool = True,
        signing_alg: str = "RS256",
    ) -> None:
        if signing_alg not in _KEY_SPECS:
            raise ValueError(f"signing_alg must be one of {sorted(_KEY_SPECS)}, not {signing_alg!r}")
        self.client_id = client_id
        self.signing_alg = signing_alg
        self._http = make_server("127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler)
        self.issuer = f"http://127.0.0.1:{self._http.server_port}"
        self._thread: threading.Thread | None = None
        self._server = Server(self._config(), keyjar=self._new_keyjar())
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
            "allowed_scopes": _SCOPES,
        }
        self.backchannel_logout_uri = backchannel_logout_uri
        self.login_as(None)

    @property
    def metadata_url(self) -> str:
        """The discovery document, for Authlib's ``server_metadata_url``."""
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def backchannel_logout_uri(self) -> str | None:
        return self._client.get("backchannel_logout_uri")

    @backchannel_logout_uri.setter
    def backchannel_logout_uri(self, uri: str | None) -> None:
        if uri is None:
            self._client.pop("backchannel_logout_uri", None)
        else:
            self._client["backchannel_logout_uri"] = uri

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

        ``None`` logs nobody in: authorization then answers 401, or ``login_required``
        to ``prompt=none``.
        """
        if username is not None and username not in self._users:
            raise KeyError(f"unknown user {username!r}: call add_user() first")
        method = self._context.authn_broker[_NO_UI]["method"]
        method.user = username or ""
        method.fail = None if username else NoSuchAuthentication

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
        over HTTP before this returns.

        :return: ``(uri, status)`` of each back-channel request; empty if no URI is set.
        """
        sent: list[tuple[str, int]] = []
        context = self._context
        send = context.httpc

        def recording_send(method: str, url: str, **kwargs: t.Any) -> requests.Response:
            response = send(method, url, **kwargs)
            sent.append((url, response.status_code))
            return response

        context.httpc = recording_send
        try:
            self._session_endpoint.do_verified_logout(sid)
        finally:
            context.httpc = send
        return sent

    def rotate_keys(self, retire_old: bool = False) -> str:
        """Sign from now on with a new key under a new ``kid``.

        :param retire_old: by default the old key stays published in the JWKS (a normal
            rollover, so tokens already issued still verify). True marks it inactive the
            way cryptojwt retires keys: it leaves the JWKS, and tokens it signed no longer
            verify against the served JWKS.
        :return: the new ``kid``.
        """
        keyjar = self._server.keyjar
        bundle = build_key_bundle([_KEY_SPECS[self.signing_alg]])
        # idpyoidc signs with the first matching key filed under its issuer id or "",
        # inactive ones included, so the new bundle goes first under both.
        for owner in ("", self.issuer):
            key_issuer = keyjar[owner]
            if retire_old:
                key_issuer.mark_all_keys_as_inactive()
            key_issuer.set([bundle, *key_issuer.get_bundles()])
            keyjar[owner] = key_issuer
        return bundle.keys()[0].kid

    def jwks(self) -> dict[str, t.Any]:
        """The public JWKS served at ``jwks_uri``."""
        return self._server.keyjar.export_jwks(issuer_id="")

    @property
    def _client(self) -> dict[str, t.Any]:
        return self._context.cdb[self.client_id]

    @property
    def _session_endpoint(self) -> t.Any:
        return self._server.endpoint["session"]

    def _new_keyjar(self) -> KeyJar:
        keyjar = build_keyjar([_KEY_SPECS[self.signing_alg]])
        keyjar.import_jwks(keyjar.export_jwks(private=True), self.issuer)
        return keyjar

    def _config(self) -> dict[str, t.Any]:
        endpoints = {
            "provider_config": (
                ".well-known/openid-configuration",
                "idpyoidc.server.oidc.provider_config.ProviderConfiguration",
                {},
            ),
            "authorization": (
                "authorization",
                "idpyoidc.server.oidc.authorization.Authorization",
                {"response_types_supported": ["code"], "response_modes_supported": ["query"]},
            ),
            "token": (
                "token",
                "idpyoidc.server.oidc.token.Token",
                {"client_authn_method": ["client_secret_basic", "client_secret_post"]},
            ),
            "userinfo": (
                "userinfo",
                "idpyoidc.server.oidc.userinfo.UserInfo",
                {"add_claims_by_scope": True},
            ),
            "session": (
                "end_session",
                "idpyoidc.server.oidc.session.Session",
                {
                    "logout_verify_url": f"{self.issuer}/verify_logout",
                    "post_logout_uri_path": "post_logout",
                    "signing_alg": self.signing_alg,
                },
            ),
        }
        oct_key = {"type": "OCT", "bytes": 32, "use": ["enc"]}
        return {
            "issuer": self.issuer,
            "httpc_params": {"verify": False},
            "key_conf": {"uri_path": "jwks.json"},
            "scopes_supported": _SCOPES,
            "id_token_signing_alg_values_supported": [self.signing_alg],
            "endpoint": {
                name: {"path": path, "class": cls, "kwargs": kwargs}
                for name, (path, cls, kwargs) in endpoints.items()
            },
            "authentication": {
                _NO_UI: {
                    "acr": UNSPECIFIED,
                    "class": "idpyoidc.server.user_authn.user.NoAuthn",
                    "kwargs": {"user": ""},
                }
            },
            "userinfo": {"class": "idpyoidc.server.user_info.UserInfo", "kwargs": {"db": {}}},
            # In-memory keys throughout: idpyoidc's defaults write JWKS files under ./private.
            "cookie_handler": {
                "class": "idpyoidc.server.cookie_handler.CookieHandler",
                "kwargs": {
                    "keys": {
                        "key_defs": [
                            {"type": "OCT", "use": ["enc"], "kid": "enc"},
                            {"type": "OCT", "use": ["sig"], "kid": "sig"},
                        ]
                    }
                },
            },
            "token_handler_args": {
                "jwks_def": {
                    "private_path": "",
                    "read_only": True,
                    "key_defs": [dict(oct_key, kid="code"), dict(oct_key, kid="token")],
                },
                "code": {"kwargs": {"lifetime": 600}},
                "token": {"kwargs": {"lifetime": 3600}},
                "id_token": {
                    "class": "idpyoidc.server.token.id_token.IDToken",
                    "kwargs": {"add_claims_by_scope": True},
                },
            },
        }

    def _wsgi(self, environ: dict[str, t.Any], start_response: t.Any) -> Iterable[bytes]:
        return self._dispatch(Request(environ))(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        path = request.path.strip("/")
        if path == "jwks.json":
            return Response(json.dumps(self.jwks()), content_type="application/json")
        for endpoint in self._server.endpoint.values():
            if endpoint.endpoint_path == path and endpoint.name != "session":
                return self._call(endpoint, request)
        return Response("not found", status=404)

    def _call(self, endpoint: Endpoint, request: Request) -> Response:
        body = request.get_data(as_text=True) if request.method == "POST" else ""
        query = body or request.query_string.decode()
        http_info = {
            "headers": {name.lower(): value for name, value in request.headers.items()},
            "method": request.method,
            "url": request.url,
        }
        try:
            parsed = endpoint.parse_request(query or {}, http_info=http_info)
            if "error" in parsed:
                return _error_response(endpoint, parsed)
            result = endpoint.process_request(parsed, http_info=http_info)
        except ClientAuthenticationError as exc:
            return _error_response(endpoint, {"error": "invalid_client", "error_description": str(exc)})
        if "http_response" in result:
            # idpyoidc wants to show a login page: NoAuthn has nobody to log in.
            return Response("no user logged in at the OP: call login_as()", status=401)
        if "error" in result:
            return _error_response(endpoint, result)
        if isinstance(result.get("response_args"), Message) and "error" in result["response_args"]:
            return _error_response(endpoint, {**result["response_args"].to_dict(), **result})
        reply = endpoint.do_response(request=parsed, **result)
        if endpoint.response_placement == "url":
            return Response(status=303, headers={"Location": reply["response"]})
        response = Response(reply["response"], status=reply.get("response_code", 200))
        for name, value in reply["http_headers"]:
            response.headers[name] = value
        return response


def _error_response(endpoint: Endpoint, message: t.Mapping[str, t.Any]) -> Response:
    body = {key: message[key] for key in ("error", "error_description") if key in message}
    if endpoint.response_placement == "url" and message.get("return_uri"):
        # Authorization errors go back to the RP's callback, as the spec wants.
        if "state" in message:
            body["state"] = message["state"]
        return Response(status=303, headers={"Location": f"{message['return_uri']}?{urlencode(body)}"})
    status = 401 if body.get("error") in ("invalid_client", "invalid_token") else 400
    return Response(json.dumps(body), status=status, content_type="application/json")

"""An issuer's discovery document and JWKS served on loopback, with keys tests sign with.

The back-channel tests use it to send logout tokens that are wrong in exactly one way;
``tests/oidc/provider.py`` is the real OpenID provider for the end-to-end cases.
"""

from __future__ import annotations

import json
import threading
import time
import typing as t
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


class KeyServer:
    """Serves ``/.well-known/openid-configuration`` and ``/jwks`` and counts JWKS fetches."""

    def __init__(self) -> None:
        self.keys: dict[str, t.Any] = {}
        self.published: list[str] = []
        self.jwks_fetches = 0
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.issuer = f"http://127.0.0.1:{self._server.server_port}"
        self.metadata_url = f"{self.issuer}/.well-known/openid-configuration"
        self.kid = self.add_key()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> KeyServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()

    def add_key(self, kind: str = "RSA", *, publish: bool = True) -> str:
        """Make a signing key; publish it in the JWKS unless told not to. Returns its kid."""
        kid = uuid.uuid4().hex[:12]
        if kind == "RSA":
            self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            self.keys[kid] = ec.generate_private_key(ec.SECP256R1())
        if publish:
            self.published.append(kid)
        return kid

    def _jwks(self) -> dict[str, t.Any]:
        keys = []
        for kid in self.published:
            private = self.keys[kid]
            rsa_key = isinstance(private, rsa.RSAPrivateKey)
            algorithm = jwt.algorithms.RSAAlgorithm if rsa_key else jwt.algorithms.ECAlgorithm
            jwk = json.loads(algorithm.to_jwk(private.public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig"})
        return {"keys": keys}

    @Request.application
    def _wsgi(self, request: Request) -> Response:
        if request.path == "/.well-known/openid-configuration":
            body = {
                "issuer": self.issuer,
                "jwks_uri": f"{self.issuer}/jwks",
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "backchannel_logout_supported": True,
                "backchannel_logout_session_supported": True,
            }
        elif request.path == "/jwks":
            self.jwks_fetches += 1
            body = self._jwks()
        else:
            return Response("not found", status=404)
        return Response(json.dumps(body), mimetype="application/json")

    def claims(self, audience: str, **overrides: t.Any) -> dict[str, t.Any]:
        """The claims of a valid logout token for ``audience``; ``None`` values remove a claim."""
        now = int(time.time())
        claims: dict[str, t.Any] = {
            "iss": self.issuer,
            "aud": audience,
            "iat": now,
            "exp": now + 120,
            "jti": uuid.uuid4().hex,
            "events": {BACKCHANNEL_EVENT: {}},
            "sub": "subject-alice",
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def sign(self, claims: dict[str, t.Any], *, kid: str | None = None, algorithm: str = "RS256",
             typ: str | None = "logout+jwt", with_kid: bool = True) -> str:
        kid = kid or self.kid
        headers: dict[str, t.Any] = {"typ": typ} if typ is not None else {}
        if with_kid:
            headers["kid"] = kid
        return jwt.encode(claims, self.keys[kid], algorithm=algorithm, headers=headers)

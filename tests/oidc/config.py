"""idpyoidc's configuration for the test provider: endpoints, keys, cookies, authentication."""

from __future__ import annotations

import typing as t
from urllib.parse import urlsplit

from idpyoidc.server.user_authn.authn_context import UNSPECIFIED

from oidc.authn import BrowserAuthn

# The key each supported signing algorithm needs.
KEY_SPECS: dict[str, dict[str, t.Any]] = {
    "RS256": {"type": "RSA", "use": ["sig"]},
    "PS256": {"type": "RSA", "use": ["sig"]},
    "ES256": {"type": "EC", "crv": "P-256", "use": ["sig"]},
    "ES384": {"type": "EC", "crv": "P-384", "use": ["sig"]},
}
#: The id of the authentication method (``oidc.authn.BrowserAuthn``) in the authn broker.
AUTHN = "browser"
SCOPES = ["openid", "email", "profile"]
# idpyoidc's cookie names; the port is added to each.
_COOKIES = {"session": "oidc_op", "register": "oidc_op_reg", "session_management": "oidc_op_sman"}


def server_config(issuer: str, signing_alg: str) -> dict[str, t.Any]:
    """idpyoidc's configuration for an OP at ``issuer`` (``http://127.0.0.1:<port>``)."""
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
                "logout_verify_url": f"{issuer}/verify_logout",
                "post_logout_uri_path": "post_logout",
                "signing_alg": signing_alg,
            },
        ),
    }
    oct_key = {"type": "OCT", "bytes": 32, "use": ["enc"]}
    port = urlsplit(issuer).port
    return {
        "issuer": issuer,
        "httpc_params": {"verify": False},
        "key_conf": {"uri_path": "jwks.json"},
        "scopes_supported": SCOPES,
        "id_token_signing_alg_values_supported": [signing_alg],
        "endpoint": {
            name: {"path": path, "class": cls, "kwargs": kwargs}
            for name, (path, cls, kwargs) in endpoints.items()
        },
        "authentication": {AUTHN: {"acr": UNSPECIFIED, "class": BrowserAuthn, "kwargs": {}}},
        "userinfo": {"class": "idpyoidc.server.user_info.UserInfo", "kwargs": {"db": {}}},
        # In-memory keys throughout: idpyoidc's defaults write JWKS files under ./private.
        "cookie_handler": {
            "class": "idpyoidc.server.cookie_handler.CookieHandler",
            "kwargs": {
                "name": {kind: f"{name}_{port}" for kind, name in _COOKIES.items()},
                "flags": {"samesite": "Lax", "httponly": True},
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

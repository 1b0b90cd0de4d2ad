"""The provider-facing logout routes in FAB's OpenAPI spec (``/api/v1/_openapi``).

They are plain routes of our blueprint (their paths are what providers are configured
with), so FAB does not find them by itself: :func:`add_paths` describes the ones this
app serves, next to each other.
"""

from __future__ import annotations

import typing as t

from flask import current_app

if t.TYPE_CHECKING:
    from apispec import APISpec

_TAG = "Session epoch"
_PROVIDER = {"in": "path", "name": "provider", "required": True, "schema": {"type": "string"},
             "description": "The provider's name in OAUTH_PROVIDERS."}
_BACKCHANNEL = {"post": {
    "summary": "OpenID Connect Back-Channel Logout 1.0: the provider ends a provider session, or all of a"
               " user's sessions.",
    "tags": [_TAG],
    "parameters": [_PROVIDER],
    "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
        "type": "object", "required": ["logout_token"],
        "properties": {"logout_token": {"type": "string", "description": "The provider's signed logout token."}},
    }}}},
    "responses": {
        "200": {"description": "The logout was carried out."},
        "400": {"description": "Refused: an OAuth-style error and error_description; nothing ended.",
                "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "error": {"type": "string"}, "error_description": {"type": "string"}}}}}},
    },
}}
_FRONTCHANNEL = {"get": {
    "summary": "OpenID Connect Front-Channel Logout 1.0: the provider's logout page ends the sessions of one"
               " provider session. The answer is the same whatever was ended.",
    "tags": [_TAG],
    "parameters": [_PROVIDER,
                   {"in": "query", "name": "iss", "required": True, "schema": {"type": "string"},
                    "description": "The provider's issuer."},
                   {"in": "query", "name": "sid", "required": True, "schema": {"type": "string"},
                    "description": "The provider session that ended."}],
    "responses": {"200": {"description": "An empty page, never cached.", "content": {"text/html": {}}},
                  "404": {"description": "No front-channel logout for this provider."}},
}}


def add_paths(api_spec: APISpec) -> None:
    """Describe the back- and front-channel logout routes, if this app serves them."""
    served = {rule.endpoint for rule in current_app.url_map.iter_rules()}
    for endpoint, path, operations in (
        ("session_epoch.backchannel_logout", "/session_epoch/backchannel-logout/{provider}", _BACKCHANNEL),
        ("session_epoch.frontchannel_logout", "/session_epoch/frontchannel-logout/{provider}", _FRONTCHANNEL),
    ):
        if endpoint in served:
            api_spec.path(path=path, operations=operations)

"""Whether a request carries a token of its own (a JWT or an API key) that authenticates it.

A header that merely exists proves nothing: junk, or an identity provider's token
that a proxy passes along. Only a JWT this app signed, still valid, or an API key
that validates, speaks for the request.
"""

from __future__ import annotations

import typing as t

from flask import current_app, request
from flask_jwt_extended import decode_token
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt import PyJWTError


def _bearer_jwt() -> str | None:
    """The raw JWT in the header flask-jwt-extended reads (``Authorization: Bearer ...``), if any."""
    app_config = current_app.config
    header = request.headers.get(app_config.get("JWT_HEADER_NAME", "Authorization"), "")
    kind = app_config.get("JWT_HEADER_TYPE", "Bearer")
    parts = header.split()
    if len(parts) != (2 if kind else 1) or (kind and parts[0] != kind):
        return None
    return parts[-1]


def authenticate_request(sm: t.Any) -> bool:
    """Whether a JWT signed by this app, or a valid FAB API key, authenticates this request.

    A JWT is checked without the database (signature, expiry, claims); whose it is and
    whether it is current is the view's business. An API key is validated in full
    (the security manager judges each key once per request).
    """
    if current_app.config.get("FAB_API_KEY_ENABLED", False) and hasattr(sm, "extract_api_key_from_request"):
        api_key = sm.extract_api_key_from_request()
        if api_key is not None:
            return sm.validate_api_key(api_key) is not None
    token = _bearer_jwt()
    if token is None:
        return False
    try:
        decode_token(token)
    except (PyJWTError, JWTExtendedException):
        return False
    return True

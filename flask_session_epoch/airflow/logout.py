"""Airflow's logout ends the session it signs out.

``GET /auth/logout`` (the FAB provider's route, where Airflow's UI and
``GET /api/v2/auth/logout`` send the browser) only deletes the ``session`` and
``_token`` cookies, and ``GET /api/v2/auth/logout`` revokes the ids of the tokens
presented: copies of either cookie, and the tokens minted from them, went on working.
Here the session records those credentials name end, with the reason ``logout``, the
way FAB's own ``logout_user()`` ends its session's (one shared
:func:`flask_session_epoch.sessions.end_login`), so every copy is refused at its
next request.
"""

from __future__ import annotations

import logging
import typing as t

from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
from fastapi import Request, Response
from fastapi.routing import APIRoute
from flask import session
from jwt import InvalidTokenError
from sqlalchemy.exc import SQLAlchemyError

from .. import check, config, sessions
from ..identity import parse_user_id
from ..session_keys import SESSION_KEY_EPOCH

if t.TYPE_CHECKING:
    from fastapi import FastAPI
    from flask import Flask

log = logging.getLogger("flask_session_epoch")

#: ``(record id, user id)`` that a credential names; Nones for none.
Named = tuple[str | None, int | None]


def of_token(app: Flask, validator: t.Any, token: str) -> Named:
    """What a token of ours names, if it is valid (signed by us, not expired)."""
    try:
        claims = validator.validated_claims(token)
    except (InvalidTokenError, ValueError):
        return None, None
    return check.token_record_id(claims, config.get("JWT_CLAIM", app)), parse_user_id(claims.get("sub"))


def of_session_cookie(app: Flask, cookie_header: str | None) -> Named:
    """What the FAB session of a request's ``Cookie`` header names (read, never written)."""
    if not cookie_header:
        return None, None
    with app.test_request_context("/", headers={"Cookie": cookie_header}):
        stamp = check.read_stamp(session.get(SESSION_KEY_EPOCH))
    return (None, None) if stamp is None else (stamp.record_id, stamp.user_id)


def end(app: Flask, named: t.Iterable[Named]) -> None:
    """End the records these credentials name; a failure is logged, and the logout goes on."""
    try:
        with app.app_context():
            for record_id, user_id in dict.fromkeys(named):
                sessions.end_login(record_id, user_id)
    except SQLAlchemyError:
        log.error("Could not end the session records of a logout", exc_info=True)


def install(api: FastAPI, app: Flask, validator: t.Callable[[], t.Any]) -> None:
    """Put our ``GET /logout`` in the place of the FAB provider's: it ends the session, then runs the provider's.

    :param api: the FAB provider's FastAPI app (mounted under ``/auth``).
    :param app: its Flask app.
    :param validator: Airflow's token validator, when called.
    """
    routes = api.router.routes
    index = next((i for i, route in enumerate(routes) if isinstance(route, APIRoute) and route.path == "/logout"
                  and "GET" in route.methods), None)
    if index is None:
        log.error("The FAB provider has no GET /logout route: Airflow's logout will not end sessions")
        return
    provider_logout = t.cast("APIRoute", routes[index]).endpoint

    def logout(request: Request) -> Response:
        named = [of_session_cookie(app, request.headers.get("cookie"))]
        token = request.cookies.get(COOKIE_NAME_JWT_TOKEN)
        if token:
            named.append(of_token(app, validator(), token))
        end(app, named)
        return t.cast("Response", provider_logout(request))

    api.router.add_api_route("/logout", logout, methods=["GET"], status_code=307, include_in_schema=False)
    routes[index] = routes.pop()

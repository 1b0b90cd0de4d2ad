"""Airflow's logout ends the session it signs out.

``GET /auth/logout`` (the FAB provider's route, where Airflow's UI and
``GET /api/v2/auth/logout`` send the browser) only deletes the ``session`` and
``_token`` cookies, and ``GET /api/v2/auth/logout`` revokes the ids of the tokens
presented: copies of either cookie, and the tokens minted from them, went on working.
Here the session records those credentials name end, with the reason ``logout``, the
way FAB's own ``logout_user()`` ends its session's (one shared
:func:`flask_session_epoch.presented.end_all`), so every copy is refused at its
next request; a bearer token sent along ends too. A login through a provider of
``SESSION_EPOCH_RP_LOGOUT`` then goes on to sign out there (see
:mod:`flask_session_epoch.idp_logout.rp_initiated`).
"""

from __future__ import annotations

import logging
import typing as t
from urllib.parse import urljoin

from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
from fastapi import Request, Response
from fastapi.routing import APIRoute
from flask import session
from jwt import InvalidTokenError
from sqlalchemy.exc import SQLAlchemyError

from .. import check, config, presented
from ..identity import parse_user_id
from ..idp_logout import rp_initiated
from ..presented import Named

if t.TYPE_CHECKING:
    from fastapi import FastAPI
    from flask import Flask

    from ..state import LogoutPlan

log = logging.getLogger("flask_session_epoch")

#: Credential names in ``session_ended``'s ``credentials``, besides :mod:`..presented`'s.
AIRFLOW_TOKEN, BEARER = "airflow-token", "jwt-access"


def of_token(app: Flask, validator: t.Any, token: str, credential: str = AIRFLOW_TOKEN) -> Named:
    """What a token of ours names, if it is valid (signed by us, not expired)."""
    try:
        claims = validator.validated_claims(token)
    except (InvalidTokenError, ValueError):
        return None, None, credential
    return check.token_record_id(claims, config.get("JWT_CLAIM", app)), parse_user_id(claims.get("sub")), credential


def of_session_cookie(app: Flask, cookie_header: str | None) -> Named:
    """What the FAB session of a request's ``Cookie`` header names (read, never written)."""
    if not cookie_header:
        return None, None, presented.SESSION
    with app.test_request_context("/", headers={"Cookie": cookie_header}):
        stamp = check.session_stamp(session)
    return (None, None, presented.SESSION) if stamp is None else (stamp.record_id, stamp.user_id, presented.SESSION)


def end(app: Flask, named: t.Iterable[Named], reason: str = check.LOGOUT) -> None:
    """End the records these credentials name; a failure is logged, and the logout goes on."""
    try:
        with app.app_context():
            presented.end_all(named, reason)
    except SQLAlchemyError:
        log.error("Could not end the session records of a logout", exc_info=True)


def _plan(app: Flask, named: list[Named], login_url: str) -> LogoutPlan | None:
    """Read before the records end: where the browser goes to sign out of its provider too."""
    record_id, user_id, _ = named[0]
    try:
        with app.test_request_context("/"):
            leaving = rp_initiated.departure(record_id, user_id)
            return None if leaving is None else rp_initiated.plan(app, leaving, login_url)
    except SQLAlchemyError:
        log.error("Could not read the session record of a logout", exc_info=True)
        return None


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
        scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and bearer.strip():
            named.append(of_token(app, validator(), bearer.strip(), BEARER))
        made = _plan(app, named, urljoin(str(request.url), "login/"))
        end(app, named, check.RP_LOGOUT if made is not None and made.to_provider else check.LOGOUT)
        response = t.cast("Response", provider_logout(request))
        if made is not None:
            response.headers["location"] = made.location
            response.set_cookie(rp_initiated.COOKIE, made.cookie, max_age=rp_initiated.MAX_AGE, path="/",
                                secure=request.url.scheme == "https", httponly=True, samesite="lax")
        return response

    api.router.add_api_route("/logout", logout, methods=["GET"], status_code=307, include_in_schema=False)
    routes[index] = routes.pop()

"""HTTP for the provider: routes, idpyoidc's endpoints over werkzeug, cookies, the login form.

Paths served (under the issuer):

* idpyoidc's endpoints: ``.well-known/openid-configuration``, ``authorization``,
  ``token``, ``userinfo``, ``end_session`` (RP-initiated logout, in ``oidc.logout``);
* ``jwks.json``: the key jar's public keys;
* ``verify/login`` (POST): the login form's submission;
* ``verify_logout`` (GET) and ``rp_logout`` (POST): idpyoidc's logout confirmation step,
  used only with ``confirm_logout``;
* ``logout``: the OP's own logout page (GET) and its sign-out (POST);
* ``post_logout``: where idpyoidc sends a logout without ``post_logout_redirect_uri``.
"""

from __future__ import annotations

import json
import typing as t
from urllib.parse import urlencode

from idpyoidc.message import Message
from idpyoidc.message.oidc import AuthorizationRequest
from idpyoidc.server.exception import ClientAuthenticationError, FailedAuthentication
from werkzeug.wrappers import Request, Response

from oidc import authn, logout, pages

if t.TYPE_CHECKING:
    from idpyoidc.server.endpoint import Endpoint

    from oidc.provider import OpenIDProvider


def dispatch(op: OpenIDProvider, request: Request) -> Response:
    path = request.path.strip("/")
    if path == "jwks.json":
        return Response(json.dumps(op.jwks()), content_type="application/json")
    if path == "verify/login" and request.method == "POST":
        return _login_submitted(op, request)
    handler = logout.ROUTES.get(path)
    if handler is not None:
        return handler(op, request)
    for endpoint in op._server.endpoint.values():
        if endpoint.endpoint_path == path:
            return _call(op, endpoint, request)
    return Response("not found", status=404)


def http_info(request: Request) -> dict[str, t.Any]:
    """What idpyoidc's endpoints are told of a request, its cookies included (as its sample OP does)."""
    return {
        "headers": {name.lower(): value for name, value in request.headers.items() if name.lower() != "cookie"},
        "method": request.method,
        "url": request.url,
        "cookie": [{"name": name, "value": value} for name, value in request.cookies.items()],
    }


def set_cookies(response: Response, specs: t.Iterable[dict[str, t.Any]] | None) -> None:
    """Set idpyoidc's cookie specs: session cookies, or deleted (``Session.kill_cookies``)."""
    for spec in specs or ():
        if "expires" in spec:
            response.delete_cookie(spec["name"], path="/", httponly=True, samesite="Lax")
        else:
            response.set_cookie(spec["name"], spec["value"], path="/", httponly=True, samesite="Lax")


def html(body: str, status: int = 200) -> Response:
    return Response(body, status=status, content_type="text/html; charset=utf-8",
                    headers={"Cache-Control": "no-store"})


def redirect(location: str) -> Response:
    return Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})


def _call(op: OpenIDProvider, endpoint: Endpoint, request: Request) -> Response:
    body = request.get_data(as_text=True) if request.method == "POST" else ""
    query = body or request.query_string.decode()
    info = http_info(request)
    method = op._authn
    method.last_how = ""
    try:
        parsed = endpoint.parse_request(query or {}, http_info=info)
        if "error" in parsed:
            return _error_response(endpoint, parsed)
        result = endpoint.process_request(parsed, http_info=info)
    except ClientAuthenticationError as exc:
        return _error_response(endpoint, {"error": "invalid_client", "error_description": str(exc)})
    if "http_response" in result:
        if not method.require_login:
            # idpyoidc wants a login page; without require_login, login_as() decides.
            return Response("no user logged in at the OP: call login_as()", status=401)
        op.logins_prompted += 1
        return html(result["http_response"])
    if "session_id" in result and method.last_how:
        op._record_login(result["session_id"], method.last_how)
    return _reply(endpoint, parsed, result)


def _login_submitted(op: OpenIDProvider, request: Request) -> Response:
    """The login form came back: idpyoidc's sample OP ``verify`` view, step by step."""
    method = op._authn
    token = request.form.get("token", "")
    try:
        username = method.verify(username=request.form.get("username", ""))
    except FailedAuthentication as exc:
        return html(pages.login_form(request.base_url, token, error=str(exc)), status=401)
    try:
        auth_args = method.unpack_token(token)
    except Exception as exc:  # noqa: BLE001 - cryptojwt has many ways to refuse a token
        return html(pages.error_page("Bad login form", str(exc)), status=400)
    authz_request = AuthorizationRequest().from_urlencoded(auth_args["query"])
    endpoint = op._server.endpoint["authorization"]
    session_id = endpoint.create_session(
        authz_request, username, auth_args["authn_class_ref"], auth_args["iat"], method
    )
    result = endpoint.authz_part2(request=authz_request, session_id=session_id)
    op._record_login(session_id, authn.FORM)
    return _reply(endpoint, authz_request, result)


def _reply(endpoint: Endpoint, parsed: t.Any, result: dict[str, t.Any]) -> Response:
    if "error" in result:
        return _error_response(endpoint, result)
    if isinstance(result.get("response_args"), Message) and "error" in result["response_args"]:
        return _error_response(endpoint, {**result["response_args"].to_dict(), **result})
    reply = endpoint.do_response(request=parsed, **result)
    if endpoint.response_placement == "url":
        response = Response(status=303, headers={"Location": reply["response"]})
    else:
        response = Response(reply["response"], status=reply.get("response_code", 200))
        for name, value in reply["http_headers"]:
            response.headers[name] = value
    set_cookies(response, reply.get("cookie"))
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

"""What every inbound route needs from Flask: no CSRF token (the sender cannot have one), and uncached answers."""

from __future__ import annotations

import typing as t

from flask import current_app, jsonify, request

if t.TYPE_CHECKING:
    from flask import Flask
    from werkzeug.wrappers import Response


def exempt_from_csrf(app: Flask, endpoint: str, view: t.Callable[..., t.Any]) -> None:
    """Exempt ``view`` from Flask-WTF's CSRF check.

    Flask-WTF may be set up after us, so the exemption is (re)applied just before its
    check would run.
    """
    def exempt() -> None:
        if request.endpoint == endpoint:
            csrf = current_app.extensions.get("csrf")
            if csrf is not None:
                csrf.exempt(view)

    app.before_request_funcs.setdefault(None, []).insert(0, exempt)


def answer(status: int, **body: t.Any) -> Response:
    """A JSON answer (or none, without ``body``) that nothing caches."""
    response = jsonify(body) if body else current_app.response_class(status=status)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response

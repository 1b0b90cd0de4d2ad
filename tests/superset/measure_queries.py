"""Count the SQL statements Superset runs for a few requests, and write them as JSON.

Usage: ``python measure_queries.py OUTPUT.json USERNAME PASSWORD`` (an admin's
credentials), with the environment that ``superset_config.py`` reads.

``test_superset.py`` runs it in two subprocesses, with and without the extension,
because a process holds only one working Superset app; running both the same way
keeps the two measurements comparable.
"""

from __future__ import annotations

import json
import sys
import typing as t

from sqlalchemy import event
from sqlalchemy.engine import Engine


def main(output: str, username: str, password: str) -> None:
    from superset.app import create_app

    app = create_app()
    if "session_epoch" in app.extensions:
        # Give the admin a user and a global epoch, so the check compares real generations.
        from superset.extensions import security_manager

        from flask_session_epoch import invalidate_all_sessions, invalidate_sessions

        with app.app_context():
            invalidate_sessions(security_manager.find_user(username), reason="measure")
            invalidate_all_sessions(reason="measure")

    statements: list[str] = []

    # Listening on the Engine class sees every engine, so SQL on a second one cannot hide.
    @event.listens_for(Engine, "before_cursor_execute")
    def record(conn: t.Any, cursor: t.Any, statement: str, *args: t.Any) -> None:
        statements.append(" ".join(statement.split()))

    def measure(client: t.Any, path: str, headers: dict[str, str] | None = None) -> dict[str, t.Any]:
        # The first request fills per-process caches; the second one is the steady state.
        client.get(path, headers=headers)
        del statements[:]
        response = client.get(path, headers=headers)
        return {"status": response.status_code, "count": len(statements), "sql": list(statements)}

    cookie = app.test_client()
    login = cookie.post("/login/", data={"username": username, "password": password})
    assert login.status_code == 302, login.status_code

    tokens = app.test_client().post(
        "/api/v1/security/login",
        json={"username": username, "password": password, "provider": "db", "refresh": True},
    )
    assert tokens.status_code == 200, tokens.status_code
    jwt_headers = {"Authorization": f"Bearer {tokens.json['access_token']}"}

    results = {
        "cookie /api/v1/me/": measure(cookie, "/api/v1/me/"),
        # A client without cookies: the token alone.
        "JWT /api/v1/me/": measure(app.test_client(), "/api/v1/me/", jwt_headers),
        "cookie /health": measure(cookie, "/health"),
        "anonymous /health": measure(app.test_client(), "/health"),
    }
    with open(output, "w") as fh:
        json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main(*sys.argv[1:4])

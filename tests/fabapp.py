"""A small Flask-AppBuilder app for the tests, with or without the extension."""

from __future__ import annotations

import typing as t

from flask import Flask, jsonify
from flask_appbuilder import AppBuilder, BaseView, expose, has_access
from flask_appbuilder.api import BaseApi
from flask_appbuilder.models.sqla.base import SQLA
from flask_appbuilder.security.decorators import protect

from flask_session_epoch import SessionEpochSecurityManager

ADMIN = ("admin", "admin-pass-1")
ALICE = ("alice", "alice-pass-1")


class ProtectedView(BaseView):
    route_base = "/protected"
    default_view = "page"

    @expose("/")
    @has_access
    def page(self) -> str:
        return "protected page"


class PingApi(BaseApi):
    resource_name = "ping"
    allow_browser_login = True

    @expose("/", methods=["GET"])
    @protect()
    def get(self) -> t.Any:
        from flask import g

        return self.response(200, user=g.user.username)


class OAuthSecurityManager(SessionEpochSecurityManager):
    """For apps that log in through the test OpenID provider: who the ID token says."""

    def get_oauth_user_info(self, provider: str, resp: dict[str, t.Any]) -> dict[str, t.Any]:
        info = resp["userinfo"]
        return {
            "username": info["preferred_username"],
            "email": info.get("email", ""),
            "first_name": info.get("given_name", ""),
            "last_name": info.get("family_name", ""),
        }


def create_app(database_uri: str, *, extension: bool = True, setup: t.Callable[[Flask], None] | None = None,
               **config: t.Any) -> Flask:
    """Build an app on ``database_uri`` with an admin and a regular user.

    :param setup: runs before Flask-AppBuilder is set up (as Superset sets up CSRF first).
    """
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="test-secret-key-that-is-long-enough-for-hs256",
        SQLALCHEMY_DATABASE_URI=database_uri,
        SQLALCHEMY_TRACK_MODIFICATIONS=False,
        WTF_CSRF_ENABLED=False,
        FAB_ADD_SECURITY_API=True,
        FAB_API_SWAGGER_UI=False,
        AUTH_ROLE_PUBLIC="Public",
        TESTING=True,
    )
    if extension:
        app.config["FAB_SECURITY_MANAGER_CLASS"] = "flask_session_epoch.SessionEpochSecurityManager"
    app.config.update(config)

    @app.route("/health")
    def health() -> t.Any:
        return jsonify(status="ok")

    if setup is not None:
        setup(app)
    db = SQLA()
    with app.app_context():
        db.init_app(app)
        appbuilder = AppBuilder()
        appbuilder.init_app(app, db.session)
        appbuilder.add_view_no_menu(ProtectedView)
        appbuilder.add_api(PingApi)
        sm = appbuilder.sm
        if sm.find_user(ADMIN[0]) is None:
            sm.add_user(ADMIN[0], "Ada", "Admin", "admin@example.org", sm.find_role("Admin"), ADMIN[1])
        if sm.find_user(ALICE[0]) is None:
            role = sm.add_role("Reader")
            for perm, view in (("can_page", "ProtectedView"), ("can_get", "PingApi")):
                pv = sm.find_permission_view_menu(perm, view)
                if pv is not None:
                    sm.add_permission_role(role, pv)
            sm.add_user(ALICE[0], "Alice", "Reader", "alice@example.org", role, ALICE[1])
        db.session.remove()
    app.extensions["test_db"] = db
    return app

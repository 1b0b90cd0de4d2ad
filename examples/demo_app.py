"""A small Flask-AppBuilder app that shows flask-session-epoch ending sessions.

Run it with ``bash examples/run-demo.sh`` from the repository root. It keeps its
SQLite database and secret key in ``$DEMO_DATA_DIR`` (default ``./demo-data``) and
creates two users on first start: ``admin`` / ``admin-demo`` and ``demo`` / ``demo-demo``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
from pathlib import Path

from flask import Flask, session
from flask_appbuilder import AppBuilder, BaseView, IndexView, expose, has_access
from flask_appbuilder.const import AUTH_DB
from flask_appbuilder.models.sqla.base import SQLA
from flask_wtf.csrf import CSRFProtect

from flask_session_epoch import SESSION_KEY_EPOCH, SESSION_KEY_LOGIN_AT

ADMIN = ("admin", "admin-demo")
DEMO = ("demo", "demo-demo")
DEMO_ROLE = "Demo"


class DemoIndexView(IndexView):
    index_template = "demo/index.html"


class MySessionView(BaseView):
    """The page the demo user watches: it answers only while their session is alive."""

    route_base = "/demo"
    default_view = "whoami"

    @expose("/")
    @has_access
    def whoami(self) -> str:
        login_at = session.get(SESSION_KEY_LOGIN_AT)
        if isinstance(login_at, (int, float)):
            login_at = dt.datetime.fromtimestamp(login_at, dt.timezone.utc)
        return self.render_template(
            "demo/whoami.html", login_at=login_at, generations=session.get(SESSION_KEY_EPOCH)
        )


def _secret_key(data_dir: Path) -> str:
    # Kept on disk so that a restart does not log everybody out by itself.
    path = data_dir / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def create_app(data_dir: str | os.PathLike[str] | None = None) -> Flask:
    """Build the demo app on a SQLite file in ``data_dir``, with its two users."""
    data = Path(data_dir or os.environ.get("DEMO_DATA_DIR") or "demo-data").resolve()
    data.mkdir(parents=True, exist_ok=True)
    (data / ".gitignore").write_text("*\n")  # never commit the demo's database or key

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=_secret_key(data),
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{data / 'demo.db'}",
        SQLALCHEMY_TRACK_MODIFICATIONS=False,
        AUTH_TYPE=AUTH_DB,
        APP_NAME="flask-session-epoch demo",
        FAB_SECURITY_MANAGER_CLASS="flask_session_epoch.SessionEpochSecurityManager",
        FAB_ADD_SECURITY_API=True,  # JWT login at /api/v1/security/login, ended the same way
    )
    # FAB's own forms carry a CSRF token; CSRFProtect also covers our POST routes.
    CSRFProtect(app)

    db = SQLA()
    with app.app_context():
        db.init_app(app)
        appbuilder = AppBuilder(indexview=DemoIndexView)
        appbuilder.init_app(app, db.session)
        appbuilder.add_view(MySessionView, "My session", icon="fa-user-clock")
        _create_users(appbuilder)
        db.session.remove()
    return app


def _create_users(appbuilder: AppBuilder) -> None:
    sm = appbuilder.sm
    if sm.find_user(ADMIN[0]) is None:
        sm.add_user(ADMIN[0], "Ada", "Admin", "admin@example.org", sm.find_role("Admin"), ADMIN[1])
    role = sm.find_role(DEMO_ROLE) or sm.add_role(DEMO_ROLE)
    for permission, view in (
        ("can_whoami", "MySessionView"),
        ("menu_access", "My session"),
        ("can_userinfo", "UserDBModelView"),  # the user info page, with "Sign out of all other sessions"
    ):
        sm.add_permission_role(role, sm.find_permission_view_menu(permission, view))
    if sm.find_user(DEMO[0]) is None:
        sm.add_user(DEMO[0], "Dee", "Demo", "demo@example.org", role, DEMO[1])


if __name__ == "__main__":
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Show each stamp and each refused session in the terminal, and little else.
    logging.getLogger("flask_session_epoch").setLevel(logging.INFO)
    logging.getLogger("flask_appbuilder").setLevel(logging.ERROR)
    create_app().run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8080")))

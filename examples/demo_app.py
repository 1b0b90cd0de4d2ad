"""A small Flask-AppBuilder app that shows flask-session-epoch ending sessions.

Run it with ``bash examples/run-demo.sh`` from the repository root. It keeps its
SQLite database and secret key in ``$DEMO_DATA_DIR`` (default ``./demo-data``) and
creates two users on first start: ``admin`` / ``admin-demo`` and ``demo`` / ``demo-demo``.

The same app serves the deployment tests and benchmarks. Environment:

``DEMO_DATABASE_URL``
    another database than the SQLite file (PostgreSQL, MariaDB).
``DEMO_REDIS_URL``
    keep sessions server-side in Redis (Flask-Session) instead of the signed cookie.
``DEMO_SETUP=0``
    skip creating tables, permissions and users: several gunicorn workers start at once,
    so ``python demo_app.py init`` does that first.
``DEMO_EXTENSION=0``
    plain Flask-AppBuilder, without flask-session-epoch (for A/B benchmarks).
``DEMO_IDLE_TIMEOUT=60``
    end a session after this many seconds without activity (``SESSION_EPOCH_IDLE_TIMEOUT``,
    60 at least). Every page then warns half-way through (at most a minute before) and
    offers *Stay signed in*; a session left alone lands on the login page, which says why.

Under gunicorn: ``gunicorn -w 4 'demo_app:create_app()'``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import sys
import typing as t
from pathlib import Path

from flask import Flask, g, session
from flask_appbuilder import AppBuilder, BaseView, IndexView, expose, has_access
from flask_appbuilder.api import BaseApi
from flask_appbuilder.const import AUTH_DB
from flask_appbuilder.models.sqla.base import SQLA
from flask_appbuilder.security.decorators import protect
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
        # The stamp is [user id, user key, user generation, global generation, session record].
        stamp = session.get(SESSION_KEY_EPOCH)
        generations = stamp[2:4] if isinstance(stamp, list) and len(stamp) == 5 else None
        return self.render_template("demo/whoami.html", login_at=login_at, generations=generations)


class PingApi(BaseApi):
    """``GET /api/v1/ping/``: who is calling. Cookie sessions and JWTs alike."""

    resource_name = "ping"
    allow_browser_login = True

    @expose("/", methods=["GET"])
    @protect()
    def get(self) -> t.Any:
        return self.response(200, user=g.user.username)


class SpaView(BaseView):
    """A single-page-app stand-in: parallel fetch() calls through the package's helper."""

    route_base = "/spa"
    default_view = "page"

    @expose("/")
    @has_access
    def page(self) -> str:
        return self.render_template("demo/spa.html")


def _secret_key(data_dir: Path) -> str:
    # Kept on disk so that a restart does not log everybody out by itself.
    path = data_dir / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _idle_timeout(value: str | None) -> dict[str, t.Any]:
    """The settings for ``DEMO_IDLE_TIMEOUT``: the timeout, activity often enough, the warning."""
    if not value:
        return {}
    try:
        idle = int(value)
    except ValueError:
        raise SystemExit(f"DEMO_IDLE_TIMEOUT must be a number of seconds, not {value!r}") from None
    return {
        "SESSION_EPOCH_IDLE_TIMEOUT": idle,  # checked at start-up: 60 seconds at least
        "SESSION_EPOCH_ACTIVITY_INTERVAL": max(1, idle // 4),
        # Every page carries the fetch helper with data-warn-before (templates/demo/base.html).
        "FAB_BASE_TEMPLATE": "demo/base.html",
        "DEMO_WARN_BEFORE": min(60, idle // 2),
    }


def create_app(data_dir: str | os.PathLike[str] | None = None) -> Flask:
    """Build the demo app on a SQLite file in ``data_dir``, with its two users."""
    data = Path(data_dir or os.environ.get("DEMO_DATA_DIR") or "demo-data").resolve()
    data.mkdir(parents=True, exist_ok=True)
    (data / ".gitignore").write_text("*\n")  # never commit the demo's database or key

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=os.environ.get("DEMO_SECRET_KEY") or _secret_key(data),
        SQLALCHEMY_DATABASE_URI=os.environ.get("DEMO_DATABASE_URL") or f"sqlite:///{data / 'demo.db'}",
        SQLALCHEMY_TRACK_MODIFICATIONS=False,
        AUTH_TYPE=AUTH_DB,
        APP_NAME="flask-session-epoch demo",
        FAB_ADD_SECURITY_API=True,  # JWT login at /api/v1/security/login, ended the same way
        FAB_UPDATE_PERMS=os.environ.get("DEMO_SETUP", "1") != "0",
        # The language menu: the package's pages in German too (its flask_session_epoch/translations).
        LANGUAGES={"en": {"flag": "gb", "name": "English"}, "de": {"flag": "de", "name": "Deutsch"}},
    )
    if os.environ.get("DEMO_EXTENSION", "1") != "0":
        app.config["FAB_SECURITY_MANAGER_CLASS"] = "flask_session_epoch.SessionEpochSecurityManager"
        app.config.update(_idle_timeout(os.environ.get("DEMO_IDLE_TIMEOUT")))
    if os.environ.get("DEMO_REDIS_URL"):
        import redis
        from flask_session import Session

        app.config.update(SESSION_TYPE="redis", SESSION_REDIS=redis.from_url(os.environ["DEMO_REDIS_URL"]))
        Session(app)
    # FAB's own forms carry a CSRF token; CSRFProtect also covers the other POST routes.
    # FAB's JSON API authenticates with JWTs and is left to FAB, as Superset does.
    csrf = CSRFProtect(app)

    db = SQLA()
    with app.app_context():
        db.init_app(app)
        appbuilder = AppBuilder(indexview=DemoIndexView)
        appbuilder.init_app(app, db.session)
        appbuilder.add_view(MySessionView, "My session", icon="fa-user-clock")
        appbuilder.add_view(SpaView, "SPA", icon="fa-bolt")
        appbuilder.add_api(PingApi)
        for blueprint in ("SecurityApi", "PingApi", "SessionEpochApi"):
            if blueprint in app.blueprints:
                csrf.exempt(app.blueprints[blueprint])
        if app.config["FAB_UPDATE_PERMS"]:
            _setup(appbuilder)
        db.session.remove()
    return app


def _setup(appbuilder: AppBuilder) -> None:
    """Tables (ours through the migration, as an operator runs it), permissions, users."""
    if "session_epoch" in appbuilder.app.extensions:
        from flask_session_epoch import migrate

        migrate.upgrade()
    sm = appbuilder.sm
    if sm.find_user(ADMIN[0]) is None:
        sm.add_user(ADMIN[0], "Ada", "Admin", "admin@example.org", sm.find_role("Admin"), ADMIN[1])
    role = sm.find_role(DEMO_ROLE) or sm.add_role(DEMO_ROLE)
    for permission, view in (
        ("can_whoami", "MySessionView"),
        ("menu_access", "My session"),
        ("can_page", "SpaView"),
        ("menu_access", "SPA"),
        ("can_get", "PingApi"),
        ("can_userinfo", "UserDBModelView"),  # the user info page, with "Sign out of all other sessions"
    ):
        permission_view = sm.find_permission_view_menu(permission, view)
        if permission_view is not None:
            sm.add_permission_role(role, permission_view)
    if sm.find_user(DEMO[0]) is None:
        sm.add_user(DEMO[0], "Dee", "Demo", "demo@example.org", role, DEMO[1])


if __name__ == "__main__":
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Show each stamp and each refused session in the terminal, and little else.
    logging.getLogger("flask_session_epoch").setLevel(logging.INFO)
    logging.getLogger("flask_appbuilder").setLevel(logging.ERROR)
    demo = create_app()
    if sys.argv[1:] != ["init"]:  # "init": set the database up, then stop
        demo.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8080")))

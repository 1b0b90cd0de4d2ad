"""Flask-AppBuilder's own SQLAlchemy security manager, with session epochs.

Kept apart from :mod:`.manager`: importing FAB's SQLAlchemy security manager defines
FAB's user and role tables, which Airflow's FAB provider defines again itself.
"""

from __future__ import annotations

from flask_appbuilder.security.sqla.manager import SecurityManager

from .manager import SessionEpochMixin


class SessionEpochSecurityManager(SessionEpochMixin, SecurityManager):
    """Flask-AppBuilder's SQLAlchemy security manager with session epochs.

    ``FAB_SECURITY_MANAGER_CLASS = "flask_session_epoch.SessionEpochSecurityManager"``
    """

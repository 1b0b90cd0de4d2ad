"""Superset configuration for the integration tests, loaded through ``SUPERSET_CONFIG_PATH``.

The same file serves the tests and the plain-Superset measurement: the database file
and whether the extension is installed come from the environment (see conftest.py).
"""

import os

from superset.security import SupersetSecurityManager

from flask_session_epoch import SessionEpochMixin

SECRET_KEY = "flask-session-epoch-superset-tests"  # not the default: Superset refuses that one
SQLALCHEMY_DATABASE_URI = "sqlite:///" + os.environ["SESSION_EPOCH_TEST_DB"]
# The test client posts the login form without fetching a CSRF token first.
WTF_CSRF_ENABLED = False
# The /embedded/<uuid> view logs in an anonymous user; only served with this flag.
FEATURE_FLAGS = {"EMBEDDED_SUPERSET": True}


class SessionEpochSupersetSecurityManager(SessionEpochMixin, SupersetSecurityManager):
    """Superset's security manager with session epochs, as an operator would write it."""


if os.environ.get("SESSION_EPOCH_TEST_EXTENSION", "1") == "1":
    CUSTOM_SECURITY_MANAGER = SessionEpochSupersetSecurityManager

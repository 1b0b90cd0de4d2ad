"""Superset configuration for the single sign-on tests, loaded through ``SUPERSET_CONFIG_PATH``.

Users log in through one OpenID provider, ``idp``, which may also log them out over the
back channel. Everything else stays at Superset's defaults, CSRF protection included.
The environment says where things are (see ``test_superset_sso.py``):

* ``SESSION_EPOCH_TEST_DB``: the SQLite metadata database;
* ``SESSION_EPOCH_TEST_OP_METADATA``: the provider's discovery document;
* ``SESSION_EPOCH_TEST_CLIENT_ID`` / ``SESSION_EPOCH_TEST_CLIENT_SECRET``: who Superset is to it;
* ``SESSION_EPOCH_TEST_BACKCHANNEL``: ``0`` leaves the provider off
  ``SESSION_EPOCH_BACKCHANNEL_PROVIDERS`` (and RP-initiated and front-channel logout off),
  to watch the tests fail without the features.
"""

import os
import typing as t

from flask_appbuilder.const import AUTH_OAUTH
from superset.security import SupersetSecurityManager

from flask_session_epoch import SessionEpochMixin

SECRET_KEY = "flask-session-epoch-superset-sso-tests"  # not the default: Superset refuses that one
SQLALCHEMY_DATABASE_URI = "sqlite:///" + os.environ["SESSION_EPOCH_TEST_DB"]

AUTH_TYPE = AUTH_OAUTH
OAUTH_PROVIDERS = [
    {
        "name": "idp",
        "icon": "fa-key",
        "token_key": "access_token",
        "remote_app": {
            "client_id": os.environ["SESSION_EPOCH_TEST_CLIENT_ID"],
            "client_secret": os.environ["SESSION_EPOCH_TEST_CLIENT_SECRET"],
            "server_metadata_url": os.environ["SESSION_EPOCH_TEST_OP_METADATA"],
            "client_kwargs": {"scope": "openid email profile"},
        },
    }
]
# The first OAuth login of a user creates them.
AUTH_USER_REGISTRATION = True
AUTH_USER_REGISTRATION_ROLE = "Gamma"

_PROVIDER_LOGOUTS = os.environ.get("SESSION_EPOCH_TEST_BACKCHANNEL", "1") == "1"
SESSION_EPOCH_BACKCHANNEL_PROVIDERS = ["idp"] if _PROVIDER_LOGOUTS else []
# Logging out signs out of the provider too; its logout page may sign out here.
SESSION_EPOCH_RP_LOGOUT = {"idp": {}} if _PROVIDER_LOGOUTS else {}
SESSION_EPOCH_FRONTCHANNEL_PROVIDERS = ["idp"] if _PROVIDER_LOGOUTS else []


class SessionEpochSupersetSecurityManager(SessionEpochMixin, SupersetSecurityManager):
    """Superset's security manager with session epochs, mapping the provider's claims to a user."""

    def oauth_user_info(self, provider: str, response: dict[str, t.Any]) -> dict[str, t.Any]:
        # Authlib verified the ID token and put its claims here.
        claims = response["userinfo"]
        return {
            "username": claims["preferred_username"],
            "email": claims.get("email", ""),
            "first_name": claims.get("given_name", ""),
            "last_name": claims.get("family_name", ""),
        }


CUSTOM_SECURITY_MANAGER = SessionEpochSupersetSecurityManager

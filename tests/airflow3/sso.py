"""Airflow signing a user in through an OpenID provider, and out of it: run by ``test_airflow.py``.

The provider is the test one (``tests/oidc/provider.py``) on loopback; Airflow's API
server runs in this process (FastAPI's ``TestClient``), configured by the
``webserver_config.py`` that ``AIRFLOW__FAB__CONFIG_FILE`` names, which reads the
provider's discovery URL from ``SSO_METADATA_URL``. The browser's requests to the
provider go over HTTP with a ``requests.Session``. Prints one JSON line.

``rp-logout``  log in through the provider (FAB's OAuth views in Airflow), log out at
               ``/auth/logout``: where Airflow sends the browser, what the provider accepts
               and ends, what the way back shows, and what is left of the old credentials.
"""

from __future__ import annotations

import json
import os
import sys
import typing as t
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from oidc.provider import OpenIDProvider  # found on the path just added

CLIENT_ID, CLIENT_SECRET = "airflow", "airflow-client-secret-long-enough-0123456789"
BASE = "http://testserver"

#: The ``webserver_config.py`` of this test: FAB's OAuth through provider ``idp``, signed out there too.
WEBSERVER_CONFIG = f'''
import os
from flask_appbuilder.const import AUTH_OAUTH
from flask_session_epoch.airflow import SessionEpochAirflowSecurityManager

class SsoSecurityManager(SessionEpochAirflowSecurityManager):
    def get_oauth_user_info(self, provider, resp):
        info = resp["userinfo"]
        return {{"username": info["preferred_username"], "email": info["email"],
                "first_name": info.get("given_name", ""), "last_name": info.get("family_name", "")}}

SECURITY_MANAGER_CLASS = SsoSecurityManager
AUTH_TYPE = AUTH_OAUTH
AUTH_USER_REGISTRATION = True
AUTH_USER_REGISTRATION_ROLE = "Viewer"
OAUTH_PROVIDERS = [{{"name": "idp", "icon": "fa-key", "token_key": "access_token", "remote_app": {{
    "client_id": "{CLIENT_ID}", "client_secret": "{CLIENT_SECRET}",
    "server_metadata_url": os.environ.get("SSO_METADATA_URL", "http://127.0.0.1:9/not-running"),
    "client_kwargs": {{"scope": "openid email profile"}}}}}}]
SESSION_EPOCH_RP_LOGOUT = {{"idp": {{}}}}
'''


def rp_logout() -> dict[str, t.Any]:
    from airflow import settings
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient
    from sqlalchemy import text

    op = OpenIDProvider(CLIENT_ID, CLIENT_SECRET, [f"{BASE}/auth/oauth-authorized/idp"],
                        post_logout_redirect_uris=[f"{BASE}/auth/login/"], require_login=False)
    op.add_user("sso-alice", email="sso-alice@example.org", given_name="Alice", family_name="Sso")
    op.login_as("sso-alice")
    with op, requests.Session() as at_op:
        os.environ["SSO_METADATA_URL"] = op.metadata_url
        browser = TestClient(create_app(), base_url=BASE)

        to_op = browser.get("/auth/login/idp", follow_redirects=False)
        callback = urlsplit(at_op.get(to_op.headers["location"], allow_redirects=False, timeout=10)
                            .headers["Location"])
        signed_in = browser.get(f"{callback.path}?{callback.query}", follow_redirects=False)
        session_cookie, token = browser.cookies.get("session"), browser.cookies.get("_token")
        copy = TestClient(browser.app, base_url=BASE, cookies={"session": session_cookie, "_token": token})
        api_before = copy.get("/api/v2/dags").status_code

        logout = browser.get("/auth/logout", follow_redirects=False)
        sent = urlsplit(logout.headers["location"])
        at_provider = at_op.get(logout.headers["location"], allow_redirects=False, timeout=10)
        [asked] = op.end_session_requests
        back = urlsplit(at_provider.headers["Location"])
        page = browser.get(f"{back.path}?{back.query}")
        with settings.engine.connect() as connection:
            reasons = list(connection.execute(text(
                "SELECT s.end_reason FROM ab_session_epoch_session s JOIN ab_user u ON u.id = s.user_id"
                " WHERE u.username = 'sso-alice'")).scalars())
        return {
            "signed_in": signed_in.status_code in (302, 303, 307) and "login" not in signed_in.headers["location"],
            "api_before": api_before,
            "to": f"{sent.scheme}://{sent.netloc}{sent.path}" == op.end_session_url,
            "query": sorted(parse_qs(sent.query)),
            "hint_accepted": asked.hint_accepted,
            "op_sessions_revoked": [session.revoked for session in op.sessions("sso-alice")],
            "back_to": back.path,
            "back_page": page.status_code,
            "said": "You are signed out of this app and of idp." in page.text,
            "end_reasons": reasons,
            "api_after": copy.get("/api/v2/dags").status_code,
            "ui_after": copy.get("/auth/users/userinfo/", follow_redirects=False).status_code,
        }


if __name__ == "__main__":
    print(json.dumps({"rp-logout": rp_logout}[sys.argv[1]]()))

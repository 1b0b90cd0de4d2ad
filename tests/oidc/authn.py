"""The provider's user authentication method: the OP session cookie, ``login_as``, or a login form.

idpyoidc's authorization endpoint asks its authentication method who the user is
(``authenticated_as``, given the OP's parsed session cookies); when that raises
``NoSuchAuthentication`` it calls the method to render a login page (``__call__`` with
the arguments of ``authn_args_gather``), and the page's form comes back to a verify
URL, where the method checks the user (``verify``) and unpacks the signed token that
carried the authorization request through the form (``unpack_token``). This is the
flow of idpyoidc's own ``UserPassJinja2`` and of its sample OP's ``verify`` view.
"""

from __future__ import annotations

import typing as t

from idpyoidc.server.exception import FailedAuthentication, NoSuchAuthentication
from idpyoidc.server.user_authn.user import UserAuthnMethod, create_signed_jwt
from idpyoidc.time_util import utc_time_sans_frac

from oidc import pages

#: How an authorization found its user: the OP session cookie, ``login_as``, or the form.
SSO, LOGIN_AS, FORM = "sso", "login_as", "form"


class BrowserAuthn(UserAuthnMethod):
    """Who is signed in: a live OP session cookie first, then ``user`` unless ``require_login``.

    A cookie names an idpyoidc session (``sid``); it counts while that session's grant is
    active. idpyoidc's ``setup_auth`` also drops a revoked grant's identity, but then asks
    for a new login even when ``user`` is set, so revoked sessions are skipped here and
    ``user`` (``login_as``) still applies, as for a browser without the cookie.
    """

    url_endpoint = "/verify/login"

    def __init__(self, upstream_get: t.Any = None, **kwargs: t.Any) -> None:
        super().__init__(upstream_get=upstream_get)
        self.user = ""
        self.require_login = False
        #: How the last ``authenticated_as`` found its user (``SSO`` or ``LOGIN_AS``).
        self.last_how = ""

    def authenticated_as(self, client_id: str = "", cookie: t.Any = None, **kwargs: t.Any) -> tuple[dict, int]:
        info = self.cookie_info(cookie, client_id) if cookie else {}
        if info and self._is_live(info["sid"]):
            self.last_how = SSO
            return info, utc_time_sans_frac()
        if self.user and not self.require_login:
            self.last_how = LOGIN_AS
            return {"uid": self.user}, utc_time_sans_frac()
        raise NoSuchAuthentication()

    def _is_live(self, sid: str) -> bool:
        manager = self.upstream_get("context").session_manager
        try:
            return bool(manager[sid].is_active())
        except (KeyError, ValueError):
            return False

    def __call__(self, **kwargs: t.Any) -> str:
        """The login form; ``kwargs`` (the authorization request among them) ride in a signed token."""
        context = self.upstream_get("context")
        token = create_signed_jwt(context.issuer, self.upstream_get("attribute", "keyjar"), **kwargs)
        return pages.login_form(context.issuer + self.url_endpoint, token)

    def verify(self, *args: t.Any, **kwargs: t.Any) -> str:
        """Any known user signs in with their name alone."""
        username = kwargs.get("username", "")
        if username not in self.upstream_get("context").userinfo.db:
            raise FailedAuthentication(f"unknown user {username!r}")
        return username

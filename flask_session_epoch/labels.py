"""What the pages call the values we store: how a session signed in, what kind it is, why it ended.

The tables, the REST API and the CLI keep the stored values (``db``, ``admin-revoke``),
which operators' scripts read; only the pages show these labels, translated for the
request. A value without a label (a ``--reason`` of the operator's own, a method a
newer release records) is shown as it is stored.
"""

from __future__ import annotations

import typing as t

from flask_babel import gettext, lazy_gettext

from . import check, registry

if t.TYPE_CHECKING:
    from flask_babel import LazyString

# ``SessionRecord.auth_method``, as logins.py and proxy.py write it. A provider name, when
# the record has one, goes into the single sign-on labels instead of the bare one.
_METHODS: dict[str, LazyString] = {
    "db": lazy_gettext("Password"),
    "ldap": lazy_gettext("Directory (LDAP)"),
    "oauth": lazy_gettext("Single sign-on"),
    "saml": lazy_gettext("Single sign-on (SAML)"),
    "remote-user": lazy_gettext("Web server sign-in"),
    "proxy": lazy_gettext("Proxy"),
    "api": lazy_gettext("API token"),
    "api-ldap": lazy_gettext("API token (LDAP)"),
    "custom": lazy_gettext("Other"),
}
_SINGLE_SIGN_ON = frozenset({"oauth", "saml"})

_KINDS: dict[str, LazyString] = {
    registry.BROWSER: lazy_gettext("Browser"),
    registry.API: lazy_gettext("API token"),
}

# Every ``end_reason`` and epoch ``reason`` the package writes, as a sentence.
_REASONS: dict[str, LazyString] = {
    check.STALE: lazy_gettext("Signed out everywhere"),
    check.ENDED: lazy_gettext("Ended"),
    check.EXPIRED: lazy_gettext("Expired"),
    check.IDLE_TIMEOUT: lazy_gettext("Timed out after inactivity"),
    check.ABSOLUTE_TIMEOUT: lazy_gettext("Reached its maximum length"),
    check.SESSION_LIMIT: lazy_gettext("Ended by a sign-in on another device"),
    check.LOGOUT: lazy_gettext("Signed out"),
    check.PROXY_SWITCH: lazy_gettext("Another user signed in through the proxy"),
    check.PROXY_UNREADABLE: lazy_gettext("The proxy's sign-in could not be read"),
    check.RP_LOGOUT: lazy_gettext("Signed out here and at the identity provider"),
    check.FRONTCHANNEL_LOGOUT: lazy_gettext("Signed out at the identity provider"),
    "idp-logout": lazy_gettext("Signed out at the identity provider"),
    "self-service": lazy_gettext("Signed out on another device"),
    "admin": lazy_gettext("Ended by an admin"),
    "admin-revoke": lazy_gettext("Signed out everywhere by an admin"),
    "api": lazy_gettext("Signed out everywhere through the API"),
    "revoke-all": lazy_gettext("Everyone was signed out"),
    "disable": lazy_gettext("Account disabled"),
    "password-change": lazy_gettext("Password changed"),
    "role-change": lazy_gettext("Roles changed"),
    "created": lazy_gettext("Account created"),
    "session-revoked": lazy_gettext("Ended by the identity provider"),
    "sessions-revoked": lazy_gettext("Signed out everywhere by the identity provider"),
    "global-token-revocation": lazy_gettext("Signed out everywhere by the identity provider"),
    "credential-change": lazy_gettext("Credentials changed at the identity provider"),
    "credential-change-required": lazy_gettext("The identity provider asked for new credentials"),
    "token-claims-change": lazy_gettext("Account details changed at the identity provider"),
    "assurance-level-change": lazy_gettext("Sign-in requirements changed at the identity provider"),
    "account-purged": lazy_gettext("Account deleted at the identity provider"),
}


def known_values() -> dict[str, frozenset[str]]:
    """The stored values that have a label, by column (for tests and documentation)."""
    return {"auth_method": frozenset(_METHODS), "kind": frozenset(_KINDS), "reason": frozenset(_REASONS)}


def _label(table: dict[str, LazyString], value: t.Any) -> str:
    if value is None:
        return ""
    label = table.get(value) if isinstance(value, str) else None
    return str(label) if label is not None else str(value)


def auth_method(value: t.Any, provider: t.Any = None) -> str:
    """How a session signed in: "Password", "Single sign-on (Google)", "API token"."""
    if value in _SINGLE_SIGN_ON and isinstance(provider, str) and provider:
        return gettext("Single sign-on (%(provider)s)", provider=provider)
    return _label(_METHODS, value)


def kind(value: t.Any) -> str:
    """What a session is: "Browser" or "API token"."""
    return _label(_KINDS, value)


def reason(value: t.Any) -> str:
    """Why a session, or a user's sessions, ended, as a sentence ("Account disabled")."""
    return _label(_REASONS, value)

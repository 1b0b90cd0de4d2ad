"""Whom a subject identifier (RFC 9493) names among our users and sessions.

Formats understood:

* ``email``: the user with that e-mail address (without regard to ASCII case);
* ``iss_sub``: the user that subject of that issuer last logged in as (the provider
  subjects kept since back-channel logout, ``ab_session_epoch_oidc_subject``);
* ``opaque``: a ``sub`` of the linked provider (the receiver's ``provider`` setting),
  the identifier the provider and this app share;
* ``aliases``: several of these, which must all name the same user;
* ``complex`` (Shared Signals 1.0): a ``user`` member in one of those formats, and
  a ``session`` member, an ``opaque`` id that is the provider's session id (``sid``).

A subject that names no user, or several, names nobody: nothing ends. So does a
well-formed identifier of another format (``phone_number``, ``account``, ``did``...):
it is not refused, since nothing is wrong with it, but this app has nothing it could name.
"""

from __future__ import annotations

import dataclasses
import typing as t

from .. import oidc
from ..identity import find_users
from .errors import InboundError

if t.TYPE_CHECKING:
    from sqlalchemy.orm import Session

#: The formats :func:`parse` takes.
FORMATS = ("email", "iss_sub", "opaque", "aliases", "complex")
# The members a complex subject may have besides user and session, which we do not act on.
_OTHER_COMPLEX = {"device", "application", "tenant", "org_unit", "group"}
_MAX_VALUE = 1024


@dataclasses.dataclass(frozen=True)
class Subject:
    """A checked subject identifier: who, and for ``complex`` with ``session``, which session."""

    format: str
    #: ``(format, value, issuer)`` of each identifier of the user; issuer only for ``iss_sub``.
    identifiers: tuple[tuple[str, str, str | None], ...]
    #: The provider's session id of a ``complex`` subject's ``session`` member.
    session: str | None = None
    #: False for a format this app maps to nobody.
    supported: bool = True

    @property
    def names_user(self) -> bool:
        return bool(self.identifiers)


def _value(member: t.Mapping[str, t.Any], name: str) -> str:
    value = member.get(name)
    if not isinstance(value, str) or not value or len(value) > _MAX_VALUE:
        raise InboundError(f"the subject's {name} is not a usable string")
    return value


def _simple(member: t.Any) -> tuple[str, str, str | None]:
    if not isinstance(member, dict):
        raise InboundError("a subject identifier must be a JSON object")
    kind = member.get("format")
    if kind == "email":
        return "email", _value(member, "email"), None
    if kind == "iss_sub":
        return "iss_sub", _value(member, "sub"), _value(member, "iss")
    if kind == "opaque":
        return "opaque", _value(member, "id"), None
    if not isinstance(kind, str) or not kind or len(kind) > 64 or kind in FORMATS:
        raise InboundError("a subject identifier has no usable format")
    return kind, "", None  # another format: it names nobody here


def parse(sub_id: t.Any) -> Subject:
    """Check a subject identifier's shape.

    :raises InboundError: if it is malformed (not an object, no format, a format we map
        without the members it needs).
    """
    if not isinstance(sub_id, dict):
        raise InboundError("the subject identifier must be a JSON object")
    kind = sub_id.get("format")
    if not isinstance(kind, str) or not kind or len(kind) > 64:
        raise InboundError("the subject identifier has no format")
    if kind not in FORMATS:
        return Subject(kind, (), supported=False)
    if kind == "aliases":
        found = sub_id.get("identifiers")
        if not isinstance(found, list) or not found or len(found) > 20:
            raise InboundError("an aliases subject needs a list of identifiers")
        return Subject("aliases", tuple(_simple(member) for member in found))
    if kind == "complex":
        unknown = set(sub_id) - {"format", "user", "session"} - _OTHER_COMPLEX
        if unknown:
            raise InboundError("the complex subject has members Shared Signals does not define")
        user = () if sub_id.get("user") is None else (_simple(sub_id["user"]),)
        session = sub_id.get("session")
        sid = None
        if session is not None:
            kind_of, sid, _ = _simple(session)
            if kind_of != "opaque":
                raise InboundError("a session subject must be an opaque identifier")
        if not user and sid is None:
            raise InboundError("the complex subject names neither a user nor a session")
        return Subject("complex", user, sid)
    return Subject(str(kind), (_simple(sub_id),))


class LinkedProvider:
    """The OpenID provider whose subjects ``opaque`` identifiers (and sessions) are: a
    receiver's ``provider`` setting, an ``OAUTH_PROVIDERS`` name, or None for none."""

    def __init__(self, sm: t.Any, name: str | None) -> None:
        self._remote = None if name is None else oidc.oauth_provider(sm, name)[0]

    def issuer(self) -> str | None:
        """Its issuer, from its discovery document (Authlib caches it); None without a provider.

        :raises ConnectionError: if the document cannot be read; nothing is then carried out.
        """
        if self._remote is None:
            return None
        try:
            issuer = self._remote.load_server_metadata().get("issuer")
        except Exception as exc:  # Authlib's HTTP errors are many
            raise ConnectionError(f"the linked provider's metadata could not be read ({type(exc).__name__})") from exc
        return issuer if isinstance(issuer, str) else None


def _users_of(db: Session, sm: t.Any, identifier: tuple[str, str, str | None], linked_issuer: str | None) -> set[int]:
    kind, value, issuer = identifier
    if kind not in ("email", "iss_sub", "opaque"):
        return set()
    if kind == "email":
        return {int(user.id) for user in find_users(sm, db, "email", value)}
    if kind == "opaque" and linked_issuer is None:
        return set()
    found = oidc.user_of_subject(db.connection(), t.cast(str, issuer or linked_issuer), value)
    return set() if found is None else {found}


def user_of(db: Session, sm: t.Any, subject: Subject, linked_issuer: str | None) -> int | None:
    """The one user ``subject`` names, or None if it names none, or more than one.

    :param linked_issuer: the issuer whose subjects ``opaque`` identifiers are; None: they match nobody.
    """
    users: set[int] = set()
    for identifier in subject.identifiers:
        found = _users_of(db, sm, identifier, linked_issuer)
        if len(found) != 1:
            return None
        users |= found
    return next(iter(users)) if len(users) == 1 else None


def session_key(subject: Subject, linked_issuer: str | None) -> str | None:
    """The ``sid_key`` of the records a ``complex`` subject's session names, if any can be named.

    The session belongs to the issuer of the user's ``iss_sub``, else to the linked provider.
    """
    if subject.session is None:
        return None
    issuer = next((iss for kind, _, iss in subject.identifiers if kind == "iss_sub"), None) or linked_issuer
    return None if issuer is None else oidc.key_of(issuer, subject.session)


def describe(subject: Subject) -> str:
    """For the log: the subject's format only (an address or subject is personal data)."""
    return subject.format + (" with a session" if subject.session else "")

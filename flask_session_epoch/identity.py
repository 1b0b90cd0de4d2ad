"""Who a credential names: user ids from hostile input, and users found by name or e-mail.

Identities are compared the same way in Python and on every database: only ASCII
letters fold case. The database only narrows the candidates (its ``lower()`` and
collations fold more, and differ between SQLite, PostgreSQL and MariaDB); Python
makes the decision, so a Kelvin sign (U+212A) never matches a ``k``.
"""

from __future__ import annotations

import hashlib
import re
import typing as t

from sqlalchemy import func, select

#: The largest id any of our databases can store (a signed 64-bit integer).
MAX_USER_ID = 2**63 - 1

#: How many characters a session record id has (``secrets.token_urlsafe(32)``: 256 bits).
RECORD_ID_LENGTH = 43
# The URL-safe base64 alphabet; a first "-" would read as an option on the command line.
_RECORD_ID = re.compile(rf"[A-Za-z0-9_][A-Za-z0-9_-]{{{RECORD_ID_LENGTH - 1}}}")

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def parse_user_id(value: t.Any) -> int | None:
    """A user id from a session, cookie, token, URL or command line, or None if it is not one.

    Only plain ASCII digits (or an int) within the 64-bit range: Arabic-Indic or
    full-width digits, signs, spaces and booleans are not ids.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if not (0 < len(value) <= 19 and value.isascii() and value.isdigit()):
            return None
        value = int(value)
    if isinstance(value, int) and 0 <= value <= MAX_USER_ID:
        return value
    return None


def parse_record_id(value: t.Any) -> str | None:
    """A session record id from a URL, a form, a command line, a cookie or a token, or None.

    Only the shape :func:`~.registry.new_id` draws: 43 characters of URL-safe base64,
    never a leading "-". Anything else (a NUL byte, which PostgreSQL refuses in a string,
    other control or non-ASCII characters, another length) names no record and is
    never sent to the database.
    """
    if isinstance(value, str) and _RECORD_ID.fullmatch(value):
        return value
    return None


def user_key(user: t.Any) -> str:
    """A short fingerprint of one user row: its id, username and creation time.

    Sessions and tokens carry it, so a deleted user's credentials never serve a new
    user who is given the same id (SQLite hands out the highest id again).
    """
    created = getattr(user, "created_on", None)
    # Whole seconds: a database without fractions must give the same answer.
    created_text = created.strftime("%Y-%m-%dT%H:%M:%S") if created is not None else ""
    material = f"{user.id}\0{user.username}\0{created_text}"
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def fold(value: str, case_insensitive: bool = True) -> str:
    """An identity as compared: ASCII letters lower-cased when asked, nothing else changed."""
    return value.translate(_ASCII_LOWER) if case_insensitive else value


def username_is_case_insensitive(sm: t.Any) -> bool:
    """Flask-AppBuilder's ``AUTH_USERNAME_CI`` (default True)."""
    return bool(getattr(sm, "auth_username_ci", True))


def find_users(sm: t.Any, db: t.Any, field: str, value: str) -> list[t.Any]:
    """Every user whose ``field`` (``"username"`` or ``"email"``) is ``value``.

    ``value`` is trimmed; stored values are compared as they are. E-mail addresses
    match without regard to ASCII case; usernames as FAB's ``AUTH_USERNAME_CI`` says.
    No pattern character (``%``, ``_``, ``*``) is special.
    """
    case_insensitive = field == "email" or username_is_case_insensitive(sm)
    wanted = fold(value.strip(), case_insensitive)
    if not wanted:
        return []
    column = getattr(sm.user_model, field)
    # Narrow with the database (which may fold more than we do), then decide here.
    narrowed = func.lower(column) == func.lower(wanted) if case_insensitive else column == wanted
    candidates = db.execute(select(sm.user_model).where(narrowed)).scalars()
    return [user for user in candidates if fold(getattr(user, field) or "", case_insensitive) == wanted]

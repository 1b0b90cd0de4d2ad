"""The provider's HTML pages: login form, logout pages and the front-channel logout page.

Element ids are stable for Playwright and ``requests`` tests:

* login form: ``form#login-form`` posting ``username`` (``input#username``) and a hidden
  ``token``; submit ``button#login``.
* OP logout page: ``form#logout-form``, submit ``button#sign-out``.
* logout confirmation (only with ``confirm_logout``): ``form#confirm-logout-form`` with a
  hidden ``sjwt``, submit ``button#confirm-logout``.
* signed-out page: ``h1#signed-out``, one ``<iframe src=...>`` per front-channel logout,
  and with a way back ``a#continue`` to it.
"""

from __future__ import annotations

import json
from html import escape

#: How long the signed-out page waits for its front-channel iframes before moving on, in ms.
FRONTCHANNEL_WAIT_MS = 5000


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html>\n<html><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title></head>\n<body>\n{body}\n</body></html>\n"
    )


def login_form(action: str, token: str, error: str = "") -> str:
    """The login form: a username, no password; ``token`` carries the authorization request."""
    message = f"<p id='login-error'>{escape(error)}</p>\n" if error else ""
    return _page(
        "Sign in to the provider",
        f"<h1>Sign in</h1>\n{message}"
        f"<form id='login-form' method='post' action='{escape(action)}'>\n"
        f"<input type='hidden' name='token' value='{escape(token)}'>\n"
        "<label for='username'>Username</label> <input id='username' name='username' autocomplete='off'>\n"
        "<button id='login' type='submit'>Sign in</button>\n</form>",
    )


def error_page(title: str, detail: str) -> str:
    return _page(title, f"<h1 id='op-error'>{escape(title)}</h1>\n<p id='op-error-detail'>{escape(detail)}</p>")


def logout_page(action: str, signed_in_as: str | None) -> str:
    """The OP's own logout page: a button that POSTs to ``action``."""
    who = f"Signed in as {escape(signed_in_as)}." if signed_in_as else "Not signed in at the provider."
    return _page(
        "Sign out of the provider",
        f"<h1>Sign out</h1>\n<p id='signed-in-as'>{who}</p>\n"
        f"<form id='logout-form' method='post' action='{escape(action)}'>\n"
        "<button id='sign-out' type='submit'>Sign out</button>\n</form>",
    )


def confirm_logout_page(action: str, sjwt: str) -> str:
    """idpyoidc's logout verification step: a button that POSTs the signed request back."""
    return _page(
        "Sign out?",
        "<h1>Sign out of the provider?</h1>\n"
        f"<form id='confirm-logout-form' method='post' action='{escape(action)}'>\n"
        f"<input type='hidden' name='sjwt' value='{escape(sjwt)}'>\n"
        "<button id='confirm-logout' type='submit'>Yes, sign out</button>\n</form>",
    )


def signed_out_page(iframes: list[str], redirect_uri: str | None = None) -> str:
    """The end of a logout: idpyoidc's front-channel iframes, then on to ``redirect_uri``.

    idpyoidc makes each iframe as an unclosed ``<iframe src="...">`` string (the HTML
    parser would take the rest of the page for its fallback content), so each is
    closed here. With ``redirect_uri``, a script moves on once the window's ``load``
    event fires, which waits for every iframe, or after ``FRONTCHANNEL_WAIT_MS`` should
    one hang; ``a#continue`` links there too.
    """
    frames = "\n".join(f"{frame}</iframe>" for frame in iframes)
    body = f"<h1 id='signed-out'>You are signed out of the provider.</h1>\n{frames}"
    if redirect_uri is not None:
        target = json.dumps(redirect_uri).replace("<", "\\u003c")
        body += (
            f"\n<p><a id='continue' href='{escape(redirect_uri)}'>Continue</a></p>\n"
            "<script>\n(function () {\n  var done = false;\n"
            f"  function go() {{ if (!done) {{ done = true; window.location.replace({target}); }} }}\n"
            f"  window.addEventListener('load', go);\n  setTimeout(go, {FRONTCHANNEL_WAIT_MS});\n"
            "})();\n</script>"
        )
    return _page("Signed out", body)

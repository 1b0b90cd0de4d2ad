"""The error a setting stops the app with, and how it is shown when nothing catches it.

``flask run``, ``superset run`` and scripts that build the app at import let the error
reach the interpreter, which would print some fifty lines of Flask-AppBuilder's set-up
above the one line that matters. An uncaught :class:`ConfigurationError` is printed as
its message alone; every other exception goes to the hook that was there before.
"""

from __future__ import annotations

import sys
import typing as t

if t.TYPE_CHECKING:
    from types import TracebackType


class ConfigurationError(RuntimeError):
    """The app cannot start with these settings: each line of the message is one problem,
    naming the key, the value given and what is allowed."""


def _print_briefly(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
    if isinstance(error, ConfigurationError):
        for line in str(error).splitlines():
            print(f"flask-session-epoch: {line}", file=sys.stderr)
        return
    _previous(kind, error, trace)


_previous = sys.excepthook
sys.excepthook = _print_briefly

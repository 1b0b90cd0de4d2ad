"""A WSGI app served over HTTP on loopback, for the other end of a test: a receiver, an app a browser visits.

The socket is bound when the object is made, so ``base`` is known at once; a daemon
thread serves it until :meth:`Loopback.close`. Request lines are not logged.
"""

from __future__ import annotations

import threading
import typing as t

from werkzeug.serving import WSGIRequestHandler, make_server

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable

WSGIApp = t.Callable[[dict[str, t.Any], t.Any], "Iterable[bytes]"]


class QuietHandler(WSGIRequestHandler):
    # Test output should not carry a line per request.
    def log_request(self, *args: t.Any, **kwargs: t.Any) -> None:
        pass


class Loopback:
    """Serve ``app`` (or the subclass's ``_app``) on ``http://127.0.0.1:<port>``."""

    def __init__(self, app: Callable[[dict[str, t.Any], t.Any], Iterable[bytes]] | None = None) -> None:
        self._http = make_server("127.0.0.1", 0, app or self._app, threaded=True, request_handler=QuietHandler)
        self.base = f"http://127.0.0.1:{self._http.server_port}"
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def _app(self, environ: dict[str, t.Any], start_response: t.Any) -> Iterable[bytes]:
        raise NotImplementedError  # pragma: no cover - given as ``app``, or defined by the subclass

    def close(self) -> None:
        self._http.shutdown()
        self._thread.join()
        self._http.server_close()

    def __enter__(self) -> t.Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

"""A WSGI application served on 127.0.0.1 from a daemon thread, able to go down and come back.

The socket is bound when the object is made, on a free port (``port``), so URLs are known
before :meth:`LoopbackServer.start`. :meth:`~LoopbackServer.stop` closes the listening
socket (connections are then refused); :meth:`~LoopbackServer.start` binds the same port
again (werkzeug sets ``SO_REUSEADDR``) and serves anew. Requests are served on threads.
"""

from __future__ import annotations

import threading
import typing as t

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class _QuietHandler(WSGIRequestHandler):
    # Test output should not carry a line per request.
    def log_request(self, *args: t.Any, **kwargs: t.Any) -> None:
        pass


class LoopbackServer:
    """Serves ``self._wsgi`` on ``http://127.0.0.1:<port>``."""

    def __init__(self) -> None:
        self._server: BaseWSGIServer | None = self._bind(0)
        self.port: int = self._server.server_port
        self._thread: threading.Thread | None = None

    def _wsgi(self, environ: dict[str, t.Any], start_response: t.Any) -> t.Iterable[bytes]:
        raise NotImplementedError

    def _bind(self, port: int) -> BaseWSGIServer:
        return make_server("127.0.0.1", port, self._wsgi, threaded=True, request_handler=_QuietHandler)

    def start(self) -> t.Self:
        """Serve from a daemon thread, binding the port again if :meth:`stop` closed it."""
        if self._server is None:
            self._server = self._bind(self.port)
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._thread is not None and self._server is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        if self._server is not None:
            self._server.server_close()
            self._server = None

    def down(self) -> None:
        """An outage: :meth:`stop`, keeping every other state."""
        self.stop()

    def up(self) -> None:
        """The end of an outage: serve again on the same port."""
        self.start()

    def __enter__(self) -> t.Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

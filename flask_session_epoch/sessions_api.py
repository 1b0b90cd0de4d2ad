"""``/api/v1/session_epoch/me/sessions`` and ``/sessions``: list sessions, end one.

Mixed into :class:`~flask_session_epoch.api.SessionEpochApi`, so the endpoints share its
URL, its authentication (session cookie or JWT) and its permissions (``can_read`` to
list anyone's, ``can_revoke`` to end anyone's); a user's own sessions need none.
"""

from __future__ import annotations

import typing as t

from flask import request
from flask_appbuilder.api import expose, safe
from flask_appbuilder.security.decorators import protect

from . import sessions
from .identity import parse_user_id


class SessionsApiMixin:
    """The session endpoints; the host class provides FAB's ``BaseApi`` and the caller lookup."""

    response: t.Callable[..., t.Any]
    response_400: t.Callable[..., t.Any]
    response_401: t.Callable[..., t.Any]
    response_404: t.Callable[..., t.Any]
    _caller: t.Callable[[], t.Any]
    _csrf_refusal: t.Callable[[], t.Any]

    def _paging(self) -> tuple[str | None, int, int] | t.Any:
        """``(state, page, page_size)`` from the query string, or a 400 response."""
        state = request.args.get("state") or None
        page = parse_user_id(request.args.get("page", "0"))
        size = parse_user_id(request.args.get("page_size", "20"))
        if state not in (None, sessions.ACTIVE, sessions.ENDED):
            return self.response_400(message="state must be 'active' or 'ended'")
        if page is None or size is None or not 1 <= size <= sessions.MAX_PAGE_SIZE or page > 10**9:
            return self.response_400(message=f"page must be 0 or more, page_size from 1 to {sessions.MAX_PAGE_SIZE}")
        return state, page, size

    def _page(self, user_id: int | None) -> t.Any:
        paging = self._paging()
        if not isinstance(paging, tuple):
            return paging
        state, page, size = paging
        found, count = sessions.list_sessions(user_id=user_id, state=state, page=page, page_size=size)
        return self.response(200, result=[info.as_json() for info in found], count=count)

    @expose("/me/sessions", methods=["GET"])
    @safe
    def my_sessions(self) -> t.Any:
        """Where the caller is signed in.
        ---
        get:
          summary: The caller's own sessions (current marks the one asking).
          parameters:
          - in: query
            name: state
            schema: {type: string, enum: [active, ended]}
          - in: query
            name: page
            schema: {type: integer, minimum: 0}
          - in: query
            name: page_size
            schema: {type: integer, minimum: 1, maximum: 100}
          responses:
            200:
              description: One page of sessions, newest first; count is the number of all matches.
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
        """
        caller = self._caller()
        if caller is None:
            return self.response_401()
        return self._page(caller.id)

    @expose("/me/sessions/<record_id>", methods=["DELETE"])
    @safe
    def end_my_session(self, record_id: str) -> t.Any:
        """Sign one of the caller's own sessions out.
        ---
        delete:
          summary: End one of the caller's sessions; another user's session is a 404.
          parameters:
          - in: path
            name: record_id
            required: true
            schema: {type: string}
          responses:
            200:
              description: The session, now ended.
            401:
              $ref: '#/components/responses/401'
            404:
              $ref: '#/components/responses/404'
        """
        caller = self._caller()
        if caller is None:
            return self.response_401()
        refused = self._csrf_refusal()
        if refused is not None:
            return refused
        ended = sessions.end_session(record_id, "self-service", actor=str(caller.id), user_id=caller.id)
        return self.response_404() if ended is None else self.response(200, result=ended.as_json())

    @expose("/sessions", methods=["GET"])
    @protect()
    @safe
    def list_sessions(self) -> t.Any:
        """Everyone's sessions, or one user's.
        ---
        get:
          summary: List sessions (user_id narrows to one user).
          parameters:
          - in: query
            name: user_id
            schema: {type: integer}
          - in: query
            name: state
            schema: {type: string, enum: [active, ended]}
          - in: query
            name: page
            schema: {type: integer, minimum: 0}
          - in: query
            name: page_size
            schema: {type: integer, minimum: 1, maximum: 100}
          responses:
            200:
              description: One page of sessions, newest first; count is the number of all matches.
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/401'
        """
        raw_user = request.args.get("user_id")
        user_id = parse_user_id(raw_user) if raw_user is not None else None
        if raw_user is not None and user_id is None:
            return self.response_400(message="user_id must be a user id")
        return self._page(user_id)

    @expose("/sessions/<record_id>", methods=["DELETE"])
    @protect()
    @safe
    def end_session(self, record_id: str) -> t.Any:
        """End one session of any user.
        ---
        delete:
          summary: End one session; every other session of its user lives on.
          parameters:
          - in: path
            name: record_id
            required: true
            schema: {type: string}
          responses:
            200:
              description: The session, now ended.
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/401'
            404:
              $ref: '#/components/responses/404'
        """
        refused = self._csrf_refusal()
        if refused is not None:
            return refused
        ended = sessions.end_session(record_id, "admin")
        return self.response_404() if ended is None else self.response(200, result=ended.as_json())

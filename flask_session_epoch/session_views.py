"""The admin's *Sessions* list, and ending one session from the user pages.

*Security > Sessions* is a FAB ``ModelView`` over the registry: search, filters, paging,
and the action *End session*. The users' show pages and *Your profile* list sessions
through :func:`sessions_of` (a template global); their *Sign out* / *End session*
buttons post to :class:`EndSessionView`. What the pages call the stored values comes
from :mod:`.labels`, and times from :mod:`.timestamps`.
"""

from __future__ import annotations

import copy
import dataclasses
import typing as t

from flask import current_app, flash, redirect, request, url_for
from flask_appbuilder import BaseView, ModelView, expose, has_access
from flask_appbuilder.actions import action as row_action
from flask_appbuilder.exceptions import FABException
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import gettext, lazy_gettext
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import foreign, relationship

from . import labels, request_state, schema, session_filters, sessions
from .identity import parse_record_id
from .models import SessionRecord
from .revoke import db_session, security_manager
from .timestamps import time_html
from .views import csrf_ok, redirect_after_own_stamp, safe_back

#: FAB permission name of the *Sessions* list and of ending anyone's session from a user's page.
SESSIONS_PERMISSION_VIEW = "SessionRecordView"
# Both views name the same permissions: at every start FAB drops (or, while a role holds
# it, warns that it cannot drop) a shared name's permission that one of them lacks.
_PERMISSIONS = ["can_list", "can_show", "can_endsession"]
# FAB names an action's permission after the action ("endsession"), unless the method is
# mapped: then it is "can_" + the mapped name, the one the user pages' *End session* needs.
# The action's old permission (0.3.0 gave it to Admin) is what FAB infers as the previous
# name, so ``flask fab security-converge`` moves every role's grant over and drops it.
_ACTIONS = {"endsession": "endsession"}
_THIS_SESSION = Markup(' <span class="label label-success session-epoch-current">{}</span>')


def status_of(record: t.Any) -> Markup:
    """A record's state as the lists show it: "Active", or why and when it ended; the
    session of the request asking is marked "this session".

    The first call in a request reads the epochs of the users of every record the page
    loaded, in one statement: the status costs the same for 20 rows as for 2.
    """
    known = request_state.current().record_status
    if record.id not in known:
        db = db_session(security_manager())
        loaded = [obj for obj in db.identity_map.values() if isinstance(obj, SessionRecord)]
        known.update(sessions.statuses([*loaded, record]))
    ended_at, reason = known[record.id]
    status = Markup("{}").format(gettext("Active")) if ended_at is None else _ended(reason, ended_at)
    if record.id == sessions.current_record_id():
        return status + _THIS_SESSION.format(gettext("this session"))
    return status


def _ended(reason: str | None, ended_at: t.Any) -> Markup:
    """Why and when a session ended: "Signed out, <time>5 minutes ago</time>"."""
    return Markup("{}, {}").format(labels.reason(reason) or gettext("Ended"), time_html(ended_at))


def via_of(record: t.Any) -> str:
    """How a record's session signed in, as the lists say it ("Single sign-on (Google)")."""
    return labels.auth_method(record.auth_method, record.provider)


@dataclasses.dataclass(frozen=True)
class SessionRow:
    """One row of the sessions tables of the user pages, in the request's language."""

    id: str
    current: bool
    active: bool
    device: str
    ip: str
    via: str
    started: Markup
    last_active: Markup
    ended: Markup

    @classmethod
    def of(cls, info: sessions.SessionInfo) -> SessionRow:
        ended = Markup("") if info.ended_at is None else _ended(info.end_reason, info.ended_at)
        return cls(id=info.id, current=info.current, active=info.active,
                   device=info.device or labels.kind(info.kind), ip=info.ip or "",
                   via=labels.auth_method(info.via, info.provider), started=time_html(info.started_at),
                   last_active=time_html(info.last_active_at), ended=ended)


def sessions_of(user_id: int, state: str | None = None, limit: int = 50) -> list[SessionRow]:
    """A user's sessions for a template: the one of this request first, then newest first.

    None while our schema is missing.
    """
    if not schema.ready():
        return []
    found, _ = sessions.list_sessions(user_id=user_id, state=state, page_size=limit)
    current = [info for info in found if info.current]
    if not current:
        # Older than the newest ``limit``: looked up on its own, so it still comes first.
        record_id = sessions.current_record_id()
        mine = sessions.get_session(record_id, user_id) if record_id else None
        wanted = mine is not None and (state is None or (state == sessions.ACTIVE) == mine.active)
        current = [mine] if mine is not None and wanted else []
    others = [info for info in found if not info.current]
    return [SessionRow.of(info) for info in [*current, *others]]


def install(user_model: t.Any) -> None:
    """Give :class:`~.models.SessionRecord` its ``user`` (the host's user model), once."""
    mapper: t.Any = SessionRecord.__mapper__
    if "user" not in mapper.attrs:
        setattr(SessionRecord, "session_status", property(status_of))  # noqa: B010 - not a declared attribute
        setattr(SessionRecord, "session_via", property(via_of))  # noqa: B010 - not a declared attribute
        mapper.add_property("user", _user_relationship(user_model))


def _user_relationship(user_model: t.Any) -> t.Any:
    record_table: t.Any = SessionRecord.__table__
    join = foreign(record_table.c.user_id) == user_model.id
    return relationship(user_model, primaryjoin=join, viewonly=True, lazy="joined")


class _RecordInterface(SQLAInterface):
    """FAB's interface over the records, with the filters of :mod:`.session_filters`, that
    finds nothing, without a query, for an id no record can have: FAB's show page and
    actions pass the URL's or the form's id here."""

    filter_converter_class = session_filters.RecordFilterConverter

    def get_filters(self, search_columns: t.Any = None, search_filters: t.Any = None) -> t.Any:
        return session_filters.RecordFilters(self.filter_converter_class, self, search_columns=search_columns or [],
                                             search_filters=search_filters)

    def get(self, id: t.Any, *args: t.Any, **kwargs: t.Any) -> t.Any:
        if parse_record_id(id) is None:
            return None
        return super().get(id, *args, **kwargs)


def sessions_view() -> type[ModelView]:
    """The *Sessions* ``ModelView`` (built once :func:`install` gave the records their user)."""

    class SessionRecordView(ModelView):
        datamodel = _RecordInterface(SessionRecord)
        route_base = "/sessionrecords"
        class_permission_name = SESSIONS_PERMISSION_VIEW
        base_permissions = list(_PERMISSIONS)
        method_permission_name = _ACTIONS
        list_title = lazy_gettext("Sessions")
        list_columns = ["user", "device", "ip", "session_via", "kind", "started_at", "last_active_at",
                        "session_status"]
        show_columns = ["id", "user", "kind", "session_via", "device", "user_agent", "ip", "started_at",
                        "last_active_at", "expires_at", "ended_at", "end_reason", "ended_by", "session_status"]
        # The filters compare the stored values (``db``, ``admin-revoke``), as the REST API does.
        search_columns = ["user", "ip", "auth_method", "kind", "device", "started_at", "last_active_at",
                          "ended_at", "end_reason"]
        order_columns = ["started_at", "last_active_at", "ended_at"]
        base_order = ("started_at", "desc")
        label_columns = {"auth_method": lazy_gettext("Via"), "session_via": lazy_gettext("Via"),
                         "session_status": lazy_gettext("Status"), "ip": lazy_gettext("IP address"),
                         "ended_by": lazy_gettext("Ended by"), "kind": lazy_gettext("Kind"),
                         "device": lazy_gettext("Device"), "user_agent": lazy_gettext("User agent"),
                         "started_at": lazy_gettext("Started"), "last_active_at": lazy_gettext("Last active"),
                         "expires_at": lazy_gettext("Expires"), "ended_at": lazy_gettext("Ended"),
                         "end_reason": lazy_gettext("Ended because"), "user": lazy_gettext("User")}
        formatters_columns = {
            **dict.fromkeys(("started_at", "last_active_at", "expires_at", "ended_at"), time_html),
            "kind": labels.kind,
            "end_reason": labels.reason,
        }

        def _get_show_widget(self, pk: t.Any, item: t.Any, widgets: t.Any = None, actions: t.Any = None,
                             show_fieldsets: t.Any = None) -> t.Any:
            # One session's page asks about this session, not "the selected" ones.
            shown = dict(actions or self.actions)
            if "endsession" in shown:
                one = copy.copy(shown["endsession"])
                one.confirmation = lazy_gettext("End this session?")
                shown["endsession"] = one
            return super()._get_show_widget(pk, item, widgets=widgets, actions=shown, show_fieldsets=show_fieldsets)

        def _list(self, **kwargs: t.Any) -> t.Any:
            # A filter value the database cannot compare (a NUL byte on PostgreSQL, a character
            # outside a MariaDB column's character set) is a message, not a 500: FAB flashes it.
            try:
                return super()._list(**kwargs)
            except (SQLAlchemyError, ValueError):
                self.datamodel.session.rollback()
                if not any(arg.startswith("_flt_") for arg in request.args):
                    raise
                raise FABException(str(lazy_gettext("The filter cannot be applied to the sessions."))) from None

        @expose("/action/<string:name>/<pk>", methods=["GET", "POST"])
        def action(self, name: str, pk: str) -> t.Any:
            """FAB's action on one row, once its name is known (FAB answers others with a 500)."""
            return self._unknown_action(name) or super().action(name, pk)

        @expose("/action_post", methods=["POST"])
        def action_post(self) -> t.Any:
            """FAB's action on the selected rows, once its name is known."""
            return self._unknown_action(request.form.get("action", "")) or super().action_post()

        def _unknown_action(self, name: str) -> t.Any:
            if name in self.actions:
                return None
            flash(lazy_gettext("No such action."), "warning")
            return redirect(url_for(f"{type(self).__name__}.list"))

        @row_action("endsession", lazy_gettext("End session"), lazy_gettext("End the selected sessions?"),
                "fa-sign-out", single=True, multiple=True)
        def endsession(self, items: t.Any) -> t.Any:
            back = safe_back(url_for(f"{type(self).__name__}.list"))
            if not csrf_ok():
                return redirect(back)
            records = [item for item in (items if isinstance(items, list) else [items]) if item is not None]
            ended = [record for record in records if sessions.end_session(record.id, "admin") is not None]
            flash(lazy_gettext("%(count)d session(s) ended.", count=len(ended)), "info")
            return redirect(back)

    return SessionRecordView


class EndSessionView(BaseView):
    """``POST /sessionepoch/sessions/<id>/end/``: *Sign out* on one row of a sessions list.

    Anyone may end their own sessions; ending another user's needs ``can_end`` here
    (the Admin role's by default).
    """

    route_base = "/sessionepoch/sessions"
    class_permission_name = SESSIONS_PERMISSION_VIEW
    base_permissions = list(_PERMISSIONS)
    method_permission_name = {"end_any": "endsession"}

    @expose("/<record_id>/end/", methods=["POST"])
    def end_own(self, record_id: str) -> t.Any:
        if not current_user.is_authenticated:
            return redirect(self.appbuilder.get_url_for_login)
        if csrf_ok():
            ended = sessions.end_session(record_id, "self-service", actor=str(current_user.id),
                                         user_id=current_user.id)
            if ended is None:
                flash(lazy_gettext("No such session of yours."), "warning")
            else:
                flash(lazy_gettext("That session has ended."), "info")
        return redirect_after_own_stamp(safe_back(self.appbuilder.get_url_for_index))

    @expose("/<record_id>/end-any/", methods=["POST"])
    @has_access
    def end_any(self, record_id: str) -> t.Any:
        if csrf_ok():
            ended = sessions.end_session(record_id, "admin")
            flash(lazy_gettext("That session has ended.") if ended else lazy_gettext("No such session."),
                  "info" if ended else "warning")
        return redirect(safe_back(current_app.appbuilder.get_url_for_index))  # type: ignore[attr-defined]

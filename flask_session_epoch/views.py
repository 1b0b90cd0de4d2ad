"""The admin UI: "Sign out everywhere" on the users pages, "Sign out everyone", self-service."""

from __future__ import annotations

import logging
import typing as t

from flask import current_app, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.actions import action
from flask_babel import lazy_gettext
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select

from .accounts import keep_current_session, sign_out_other_sessions
from .models import GLOBAL_ROW_ID, GlobalSessionEpoch, UserSessionEpoch
from .revoke import db_session, invalidate_all_sessions, invalidate_sessions

log = logging.getLogger("flask_session_epoch")

#: The FAB permission view name of the REST API (the admin page keeps its class name:
#: FAB drops the permissions of a shared name that one of the two does not declare).
PERMISSION_VIEW = "SessionEpoch"


class _PostForm(FlaskForm):
    """No fields: only Flask-WTF's CSRF check (off when ``WTF_CSRF_ENABLED`` is False)."""


def csrf_ok() -> bool:
    """Whether this request is a POST with a valid CSRF token; flashes why not."""
    if request.method == "POST" and _PostForm().validate_on_submit():
        return True
    flash(lazy_gettext("The form has expired or did not come from this site. Please try again."), "danger")
    return False


def ended_at(user: t.Any) -> t.Any:
    """When the user's sessions were last invalidated (naive UTC), for list and show pages."""
    sm = current_app.appbuilder.sm  # type: ignore[attr-defined]
    return db_session(sm).execute(
        select(UserSessionEpoch.sessions_invalidated_at).where(UserSessionEpoch.user_id == user.id)
    ).scalar_one_or_none()


class UserViewMixin:
    """Added in front of FAB's user model views: the action and the column."""

    show_template = "session_epoch/user_show.html"
    appbuilder: t.Any
    datamodel: t.Any

    def _get_show_widget(self, pk: t.Any, item: t.Any, widgets: t.Any = None, actions: t.Any = None,
                         show_fieldsets: t.Any = None) -> t.Any:
        # FAB's users show page passes its own short list of actions: add ours to it.
        if actions is not None and not (request.endpoint or "").endswith(".userinfo"):
            actions = {**actions, "signouteverywhere": self.actions["signouteverywhere"]}  # type: ignore[attr-defined]
        return super()._get_show_widget(pk, item, widgets=widgets, actions=actions,  # type: ignore[misc]
                                        show_fieldsets=show_fieldsets)

    @action(
        "signouteverywhere",
        lazy_gettext("Sign out everywhere"),
        lazy_gettext("End every session and API token of the selected users?"),
        "fa-sign-out",
        single=True,
        multiple=True,
    )
    def signouteverywhere(self, items: t.Any) -> t.Any:
        back = request.referrer or url_for(f"{type(self).__name__}.list")
        if not csrf_ok():
            return redirect(back)
        users = items if isinstance(items, list) else [items]
        for user in users:
            invalidate_sessions(user, reason="admin-revoke")
        names = ", ".join(user.username for user in users)
        flash(lazy_gettext("Every session and token of %(names)s has ended.", names=names), "info")
        return redirect(back)


def with_epoch_actions(view_class: type) -> type:
    """The user view class with our action and column, under its own name (FAB permissions use it)."""
    if issubclass(view_class, UserViewMixin):
        return view_class
    attrs: dict[str, t.Any] = {"__module__": view_class.__module__}
    column = "session_epoch_ended_at"
    for name in ("list_columns", "show_columns"):
        columns = list(getattr(view_class, name, None) or [])
        if columns and column not in columns:
            attrs[name] = [*columns, column]
    attrs["label_columns"] = {**getattr(view_class, "label_columns", {}), column: lazy_gettext("Sessions ended")}
    for fieldsets in ("show_fieldsets", "user_show_fieldsets"):
        value = getattr(view_class, fieldsets, None)
        if value:
            first_title, first = value[0]
            fields = list(first.get("fields", []))
            attrs[fieldsets] = [(first_title, {**first, "fields": [*fields, column]}), *value[1:]]
    return type(view_class.__name__, (UserViewMixin, view_class), attrs)


class SessionEpochView(BaseView):
    """"Sign out everyone" for admins, and "Sign out of all other sessions" for anyone."""

    route_base = "/sessionepoch"
    default_view = "revoke_all_form"
    method_permission_name = {"revoke_all_form": "revoke_all", "revoke_all": "revoke_all"}

    @expose("/revoke-all/", methods=["GET"])
    @has_access
    def revoke_all_form(self) -> t.Any:
        last = db_session(self.appbuilder.sm).get(GlobalSessionEpoch, GLOBAL_ROW_ID)
        return self.render_template("session_epoch/revoke_all.html", last=last)

    @expose("/revoke-all/", methods=["POST"])
    @has_access
    def revoke_all(self) -> t.Any:
        if csrf_ok():
            invalidate_all_sessions(reason="revoke-all")
            keep_current_session(current_user.id)
            flash(lazy_gettext("Every session and token of every user has ended; yours was kept."), "info")
        return redirect(url_for(".revoke_all_form"))

    @expose("/sign-out-others/", methods=["POST"])
    def sign_out_others(self) -> t.Any:
        # Self-service: any signed-in user may end their own other sessions.
        if not current_user.is_authenticated:
            return redirect(self.appbuilder.get_url_for_login)
        if csrf_ok():
            sign_out_other_sessions(current_user)
            flash(lazy_gettext("All your other sessions and API tokens have ended."), "info")
        return redirect(request.referrer or self.appbuilder.get_url_for_index)

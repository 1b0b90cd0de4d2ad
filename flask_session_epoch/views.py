"""The admin UI: "Sign out everywhere" on the users pages, "Sign out everyone", self-service."""

from __future__ import annotations

import copy
import logging
import typing as t
from urllib.parse import urlencode

from flask import current_app, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.actions import action
from flask_appbuilder.security import views as fab_security_views
from flask_appbuilder.utils.base import is_safe_redirect_url
from flask_babel import gettext, lazy_gettext
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup

from . import labels, request_state, schema, store
from .accounts import keep_current_session, own_record, sign_out_other_sessions
from .identity import parse_user_id
from .models import GLOBAL_ROW_ID, GlobalSessionEpoch
from .revoke import db_session, invalidate_all_sessions, invalidate_sessions
from .timestamps import time_html

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
    """When the user's sessions were last invalidated (naive UTC), for list and show pages.

    The first call in a request reads the epochs of every user the page has loaded, in
    one statement: a page of 100 users costs what a page of 2 does.
    """
    if not schema.ready():
        return None
    known = request_state.current().ended_at_column
    if user.id not in known:
        sm = current_app.appbuilder.sm  # type: ignore[attr-defined]
        db = db_session(sm)
        wanted: set[int] = {obj.id for obj in db.identity_map.values() if isinstance(obj, sm.user_model)}
        wanted = (wanted | {user.id}) - set(known)
        known.update(dict.fromkeys(wanted))
        known.update(store.invalidated_at(db, wanted))
    return known[user.id]


def ended_at_html(value: t.Any) -> Markup:
    """The *Sessions ended* column: "5 minutes ago" (the exact time on hover), or "never"."""
    return time_html(value, never=gettext("never"))


def redirect_after_own_stamp(location: str) -> t.Any:
    """A redirect after a stamp that kept the caller's session, made as FAB's security views make theirs.

    Airflow's FAB provider replaces that function with one that also hands the browser
    a new API token (its ``_token`` cookie), which the stamp just ended.
    """
    return fab_security_views.redirect(location)


def my_sessions_url() -> str | None:
    """Where *Where you're signed in* is (a template global), or None if the page is not registered."""
    endpoint = "SessionEpochView.my_sessions"
    return url_for(endpoint) if endpoint in current_app.view_functions else None


def login_redirect(appbuilder: t.Any) -> t.Any:
    """To the login page, which comes back here afterwards."""
    target = request.script_root + request.full_path.rstrip("?")
    return redirect(f"{appbuilder.get_url_for_login}?{urlencode({'next': target})}")


def safe_back(default: str) -> str:
    """Where a form goes back to: the page it came from if that is on this site, else ``default``."""
    referrer = request.referrer
    return referrer if referrer and is_safe_redirect_url(referrer) else default


class UserViewMixin:
    """Added in front of FAB's user model views: the action and the column."""

    show_template = "session_epoch/user_show.html"
    appbuilder: t.Any
    datamodel: t.Any

    def _get_show_widget(self, pk: t.Any, item: t.Any, widgets: t.Any = None, actions: t.Any = None,
                         show_fieldsets: t.Any = None) -> t.Any:
        # FAB's users show page passes its own short list of actions: add ours to it, asking
        # about this one user rather than "the selected users".
        if actions is not None and not (request.endpoint or "").endswith(".userinfo"):
            one = copy.copy(self.actions["signouteverywhere"])  # type: ignore[attr-defined]
            one.confirmation = lazy_gettext("End every session and API token of this user?")
            actions = {**actions, "signouteverywhere": one}
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
        back = safe_back(url_for(f"{type(self).__name__}.list"))
        if not csrf_ok():
            return redirect(back)
        users = [user for user in (items if isinstance(items, list) else [items]) if user is not None]
        if not users:
            flash(lazy_gettext("No such user."), "warning")
            return redirect(back)
        for user in users:
            invalidate_sessions(user, reason="admin-revoke")
        names = ", ".join(user.username for user in users)
        flash(lazy_gettext("Every session and token of %(names)s has ended.", names=names), "info")
        return redirect(back)


    @expose("/action/<string:name>/<pk>", methods=["GET", "POST"])
    def action(self, name: str, pk: str) -> t.Any:
        """FAB's action on one row, once the name and the row id are known to be sound."""
        refused = self._refuse_action(name, [pk])
        return refused if refused is not None else super().action(name, pk)  # type: ignore[misc]

    @expose("/action_post", methods=["POST"])
    def action_post(self) -> t.Any:
        """FAB's action on the selected rows, once the name and every row id are known to be sound."""
        refused = self._refuse_action(request.form.get("action", ""), request.form.getlist("rowid"))
        return refused if refused is not None else super().action_post()  # type: ignore[misc]

    def _refuse_action(self, name: str, pks: list[str]) -> t.Any:
        # FAB answers an unknown action with a 500, and a row id that is no integer with a
        # database error on some databases.
        if name not in self.actions or not pks or any(parse_user_id(pk) is None for pk in pks):  # type: ignore[attr-defined]
            flash(lazy_gettext("No such action or user."), "warning")
            return redirect(url_for(f"{type(self).__name__}.list"))
        return None


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
    attrs["formatters_columns"] = {**(getattr(view_class, "formatters_columns", None) or {}), column: ended_at_html}
    mapped = getattr(view_class, "method_permission_name", None)
    if mapped:
        # A host that maps methods onto a few actions (Airflow: read, edit, delete) gets
        # no permission of a new name: ending a user's sessions is editing the user.
        attrs["method_permission_name"] = {**mapped, "signouteverywhere": "edit"}
    for fieldsets in ("show_fieldsets", "user_show_fieldsets"):
        value = getattr(view_class, fieldsets, None)
        if value:
            first_title, first = value[0]
            fields = list(first.get("fields", []))
            attrs[fieldsets] = [(first_title, {**first, "fields": [*fields, column]}), *value[1:]]
    return type(view_class.__name__, (UserViewMixin, view_class), attrs)


class SessionEpochView(BaseView):
    """"Sign out everyone" for admins; *Where you're signed in* and "Sign out of all other
    sessions" for anyone signed in."""

    route_base = "/sessionepoch"
    default_view = "revoke_all_form"
    method_permission_name = {"revoke_all_form": "revoke_all", "revoke_all": "revoke_all"}

    @expose("/revoke-all/", methods=["GET"])
    @has_access
    def revoke_all_form(self) -> t.Any:
        last = db_session(self.appbuilder.sm).get(GlobalSessionEpoch, GLOBAL_ROW_ID)
        shown = None if last is None else {"when": time_html(last.sessions_invalidated_at),
                                           "why": labels.reason(last.reason), "by": last.actor}
        return self.render_template("session_epoch/revoke_all.html", last=shown)

    @expose("/revoke-all/", methods=["POST"])
    @has_access
    def revoke_all(self) -> t.Any:
        if csrf_ok():
            invalidate_all_sessions(reason="revoke-all", keep_record=own_record(current_user.id))
            keep_current_session(current_user.id)
            flash(lazy_gettext("Every session and token of every user has ended; yours was kept."), "info")
        return redirect_after_own_stamp(url_for(".revoke_all_form"))

    @expose("/my-sessions/", methods=["GET"])
    def my_sessions(self) -> t.Any:
        # Self-service, as Sign out on each row and "sign out others": any signed-in user,
        # no permission (FAB's profile page, which lists them too, needs one).
        if not current_user.is_authenticated:
            return login_redirect(self.appbuilder)
        return self.render_template("session_epoch/my_sessions.html")

    @expose("/sign-out-others/", methods=["POST"])
    def sign_out_others(self) -> t.Any:
        # Self-service: any signed-in user may end their own other sessions.
        if not current_user.is_authenticated:
            return redirect(self.appbuilder.get_url_for_login)
        if csrf_ok():
            sign_out_other_sessions(current_user)
            flash(lazy_gettext("All your other sessions and API tokens have ended."), "info")
        return redirect_after_own_stamp(safe_back(self.appbuilder.get_url_for_index))

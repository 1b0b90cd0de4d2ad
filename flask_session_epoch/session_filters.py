"""The *Sessions* list's filters: by what its *Status* column says.

A record is active while it is not ended, not past its expiry and inside the idle and
absolute limits; otherwise it has ended, for the reason stored with it, or, until a
request or the expiry job writes one, for the limit it passed. Epochs write the
records they end (``ended_at``, ``end_reason``) when they are stamped, so these
filters read the stored columns only.
"""

from __future__ import annotations

import typing as t

from flask_appbuilder.models.filters import BaseFilter, Filters
from flask_appbuilder.models.sqla.filters import SQLAFilterConverter
from flask_babel import lazy_gettext
from sqlalchemy import and_, false, not_, or_

from . import check, config, registry, store
from .check import Limits
from .models import SessionRecord

_R = SessionRecord.__table__


def active_condition() -> t.Any:
    """SQL: the record still holds, as far as its own columns tell (see :func:`registry.within_limits`)."""
    now = store.utcnow()
    return and_(_R.c.ended_at.is_(None), _R.c.expires_at > now, *registry.within_limits(config.limits(), now))


def ended_because_condition(reason: str) -> t.Any:
    """SQL: the record ended for ``reason``: stored, or the limit it passed while still unmarked."""
    now = store.utcnow()
    limits = config.limits()
    passed = {check.EXPIRED: [_R.c.expires_at <= now]}
    for name, alone in ((check.IDLE_TIMEOUT, Limits(idle=limits.idle)),
                        (check.ABSOLUTE_TIMEOUT, Limits(absolute=limits.absolute))):
        passed[name] = [not_(condition) for condition in registry.within_limits(alone, now)]
    past = passed.get(reason) or [false()]
    return or_(_R.c.end_reason == reason, and_(_R.c.ended_at.is_(None), *past))


class FilterIsActive(BaseFilter):
    """``ended_at`` ▸ *Is active*: the records the list shows as active (the value is not used)."""

    name = lazy_gettext("Is active")
    arg_name = "session_active"

    def apply(self, query: t.Any, value: t.Any) -> t.Any:
        return query.filter(active_condition())


class FilterHasEnded(BaseFilter):
    """``ended_at`` ▸ *Has ended*: every record the list shows as ended, whatever ended it."""

    name = lazy_gettext("Has ended")
    arg_name = "session_ended"

    def apply(self, query: t.Any, value: t.Any) -> t.Any:
        return query.filter(not_(active_condition()))


class FilterEndedBecause(BaseFilter):
    """``end_reason`` ▸ *Ended because*: the reason the *Status* column shows."""

    name = lazy_gettext("Ended because")
    arg_name = "session_ended_because"

    def apply(self, query: t.Any, value: t.Any) -> t.Any:
        return query.filter(ended_because_condition(str(value).strip()))


class RecordFilterConverter(SQLAFilterConverter):
    """FAB's filters of each column, ours first where they apply."""

    ours: t.ClassVar[dict[str, tuple[type[BaseFilter], ...]]] = {
        "ended_at": (FilterIsActive, FilterHasEnded),
        "end_reason": (FilterEndedBecause,),
    }

    def convert(self, col_name: str) -> list[BaseFilter] | None:
        found = super().convert(col_name) or []
        return [kind(col_name, self.datamodel) for kind in self.ours.get(col_name, ())] + found or None


class RecordFilters(Filters):
    """FAB's filters, ignoring a filter the URL names by an index that does not exist (FAB: a 500)."""

    def add_filter_index(self, column_name: str, filter_instance_index: int, value: t.Any) -> None:
        if filter_instance_index < len(self._all_filters.get(column_name, ())):
            super().add_filter_index(column_name, filter_instance_index, value)

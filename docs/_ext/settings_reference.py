"""``.. session-epoch-settings::``: the configuration reference, made from the settings schema.

Every entry comes from :func:`flask_session_epoch.config.reference`, the table that also
checks the settings when the app starts, so the page can neither list a key the app would
refuse nor leave out one it reads. Each key becomes a ``setting`` of Sphinx's standard
domain with an anchor of its own: other pages link to it as
``:setting:`SESSION_EPOCH_IDLE_TIMEOUT```, and a link to a key that does not exist fails
the build (it runs with ``-n -W``).
"""

from __future__ import annotations

import typing as t

from rst_text import indent, literal, plain
from sphinx.util.docutils import SphinxDirective

if t.TYPE_CHECKING:
    from docutils import nodes
    from sphinx.application import Sphinx


class SettingsReference(SphinxDirective):
    """One entry per ``SESSION_EPOCH_*`` key: its default, what it allows, what it does."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from flask_session_epoch import config

        # Rebuild the page whenever the schema changes.
        self.env.note_dependency(config.__file__)
        lines: list[str] = []
        for entry in config.reference():
            lines += [f".. setting:: {entry.key}", ""]
            lines += indent([f":Default: {literal(entry.default)}", f":Allowed: {plain(entry.allowed)}", ""])
            lines += indent(entry.doc.strip().splitlines())
            lines.append("")
        return self.parse_text_to_nodes("\n".join(lines))


def setup(app: Sphinx) -> dict[str, t.Any]:
    app.add_object_type("setting", "setting", indextemplate="pair: %s; setting")
    app.add_directive("session-epoch-settings", SettingsReference)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}

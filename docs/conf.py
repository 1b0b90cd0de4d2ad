"""Sphinx configuration of flask-session-epoch's documentation.

Build it as the docs stage of ``tests/run.sh`` does, warnings as errors::

    sphinx-build -W --keep-going -n -b html docs artifacts/docs

The configuration, REST API and CLI references are generated from the code
(``_ext/`` and sphinx-click), so they cannot drift from it.
"""

from __future__ import annotations

import sys
from importlib.metadata import version as _version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "flask-session-epoch"
author = "the flask-session-epoch authors"
copyright = "the flask-session-epoch authors"
release = _version("flask-session-epoch")
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx_click",
    "myst_parser",
    "settings_reference",
    "rest_reference",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# Plain "::" blocks are shell commands, ini files and HTTP; Python blocks say so.
highlight_language = "none"
exclude_patterns = ["_build"]
# Every cross-reference must resolve: a link to a setting, a page or a Python name that
# does not exist fails the build.
nitpicky = True
# The build runs offline, so there is no intersphinx: names from the libraries we build
# on (Flask, Flask-AppBuilder, SQLAlchemy, blinker) cannot be linked, only shown.
nitpick_ignore_regex = [
    ("py:class", r"(flask|flask_appbuilder|sqlalchemy|blinker|werkzeug|datetime|typing|collections\.abc)\..*"),
    ("py:class", r"(Flask|SessionMixin|Session|Any|t\.Any|sa\..*|dt\..*)"),
]

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True}

myst_heading_anchors = 3

html_theme = "alabaster"
html_title = f"flask-session-epoch {release}"
html_theme_options = {
    "description": "End a Flask-AppBuilder user's sessions and tokens at once, on every worker and host.",
    "fixed_sidebar": True,
    "page_width": "1100px",
}
# alabaster loads _static/custom.css by itself.
html_static_path = ["_static"]

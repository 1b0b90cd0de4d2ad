"""``.. session-epoch-rest-api::``: our REST endpoints, from the OpenAPI spec of a real app.

At build time a Flask-AppBuilder app with the extension starts on an in-memory SQLite
database, set up for OpenID Connect so that the provider-facing logout routes are served
too. Its spec is made the way FAB's ``/api/v1/_openapi`` makes it, and every operation
tagged ``Session epoch`` (ours) is written out: method, path, summary, parameters,
request body and responses. Nothing here repeats what the views' docstrings say.
"""

from __future__ import annotations

import contextlib
import logging
import re
import typing as t

from rst_text import indent, literal, plain
from sphinx.util.docutils import SphinxDirective

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from docutils import nodes
    from sphinx.application import Sphinx

Spec = dict[str, t.Any]

#: The tag of our operations (``SessionEpochApi.openapi_spec_tag``).
TAG = "Session epoch"
_METHODS = ("get", "post", "put", "patch", "delete")
# A table cell with nothing in it (an escaped space).
_EMPTY = "\\ "
# An OpenID provider that is never contacted: FAB and Authlib only read the entry at start-up.
_PROVIDER = {"name": "idp", "token_key": "access_token", "remote_app": {
    "client_id": "docs", "client_secret": "docs",
    "server_metadata_url": "https://idp.example.org/.well-known/openid-configuration",
    "client_kwargs": {"scope": "openid email profile"}}}


@contextlib.contextmanager
def _quiet(*names: str) -> Iterator[None]:
    """Hold back start-up notices meant for an operator ("No user yet created", "run
    `flask session-epoch db upgrade`", logged as an error): this app has no users and no
    tables of ours on purpose, it only describes itself. A failure still raises."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def build_spec() -> Spec:
    """The OpenAPI spec (v1) of a FAB app with the extension and both provider logout routes."""
    from flask import Flask
    from flask_appbuilder import AppBuilder
    from flask_appbuilder.api import BaseApi
    from flask_appbuilder.api.manager import OpenApi
    from flask_appbuilder.const import AUTH_OAUTH
    from flask_appbuilder.models.sqla.base import SQLA

    app = Flask("session_epoch_docs")
    app.config.update(
        SECRET_KEY="only-for-describing-the-api-" + "x" * 16,
        SQLALCHEMY_DATABASE_URI="sqlite://",
        FAB_SECURITY_MANAGER_CLASS="flask_session_epoch.SessionEpochSecurityManager",
        AUTH_TYPE=AUTH_OAUTH,
        OAUTH_PROVIDERS=[_PROVIDER],
        SESSION_EPOCH_BACKCHANNEL_PROVIDERS=["idp"],
        SESSION_EPOCH_FRONTCHANNEL_PROVIDERS=["idp"],
    )
    db = SQLA()
    with _quiet("flask_appbuilder", "flask_session_epoch"), app.app_context():
        db.init_app(app)
        AppBuilder().init_app(app, db.session)
    # What FAB's OpenApi.get does for GET /api/v1/_openapi, without signing in first.
    with app.test_request_context("/api/v1/_openapi"):
        spec = OpenApi._create_api_spec("v1")
        for view in app.appbuilder.baseviews:
            if isinstance(view, BaseApi) and view.version == "v1":
                view.add_api_spec(spec)
        return t.cast(Spec, spec.to_dict())


def _resolve(spec: Spec, item: dict[str, t.Any]) -> dict[str, t.Any]:
    """``item``, or what its ``$ref`` (``#/components/...``) points to."""
    ref = item.get("$ref")
    if not isinstance(ref, str):
        return item
    found: t.Any = spec
    for part in ref.removeprefix("#/").split("/"):
        found = found[part]
    return t.cast(dict[str, t.Any], found)


def _type(schema: dict[str, t.Any]) -> str:
    """A schema in a few words: ``integer``, ``string: active, ended``, ``integer, 1 to 100``."""
    words = str(schema.get("type", "any"))
    if "enum" in schema:
        words += ": " + ", ".join(map(str, schema["enum"]))
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and high is not None:
        words += f", {low} to {high}"
    elif low is not None:
        words += f", {low} or more"
    return words


def _properties(schema: dict[str, t.Any]) -> list[str]:
    """The fields of an object schema, one list item each."""
    required = set(schema.get("required", ()))
    lines = []
    for name, field in schema.get("properties", {}).items():
        text = f"* {literal(name)} ({plain(_type(field))}{', required' if name in required else ''})"
        if field.get("description"):
            text += ": " + plain(field["description"])
        lines.append(text)
    return lines


def _parameters(spec: Spec, operation: dict[str, t.Any]) -> list[str]:
    parameters = [_resolve(spec, p) for p in operation.get("parameters", ())]
    if not parameters:
        return []
    lines = ["**Parameters**", "", ".. list-table::", "   :header-rows: 1", "   :widths: 20 10 30 10 30", ""]
    lines += indent(["* - Name", "  - In", "  - Type", "  - Required", "  - Description"])
    for parameter in parameters:
        lines += indent([
            f"* - {literal(parameter['name'])}",
            f"  - {plain(parameter.get('in', ''))}",
            f"  - {plain(_type(parameter.get('schema', {})))}",
            f"  - {'yes' if parameter.get('required') else 'no'}",
            f"  - {plain(parameter.get('description', '')) or _EMPTY}",
        ])
    return [*lines, ""]


def _request_body(spec: Spec, operation: dict[str, t.Any]) -> list[str]:
    body = operation.get("requestBody")
    if body is None:
        return []
    body = _resolve(spec, body)
    lines = []
    for media_type, content in body.get("content", {}).items():
        lines += [f"**Request body** ({literal(media_type)}{', required' if body.get('required') else ''})", ""]
        lines += [*_properties(_resolve(spec, content.get("schema", {}))), ""]
    return lines


def _responses(spec: Spec, operation: dict[str, t.Any]) -> list[str]:
    lines = ["**Responses**", ""]
    for code, raw in operation.get("responses", {}).items():
        response = _resolve(spec, raw)
        lines.append(f"* {literal(str(code))}: {plain(response.get('description', ''))}")
        for content in response.get("content", {}).values():
            fields = _properties(_resolve(spec, content.get("schema", {})))
            if fields:
                lines += ["", *indent(fields, 2), ""]
    return [*lines, ""]


def anchor(method: str, path: str) -> str:
    """The label of one operation: ``rest-post-api-v1-session-epoch-revoke-user-id``."""
    return "rest-" + method + "-" + "-".join(re.findall(r"[a-z0-9]+", path.lower()))


def operations(spec: Spec) -> Iterator[tuple[str, str, dict[str, t.Any]]]:
    """``(method, path, operation)`` of our operations, by path, then method."""
    for path in sorted(spec["paths"]):
        for method in _METHODS:
            operation = spec["paths"][path].get(method)
            if operation is not None and TAG in operation.get("tags", ()):
                yield method, path, operation


def render(spec: Spec) -> list[str]:
    """The reStructuredText of every operation of ours, each a section with a label."""
    lines: list[str] = []
    for method, path, operation in operations(spec):
        title = literal(f"{method.upper()} {path}")
        lines += [f".. _{anchor(method, path)}:", "", title, "~" * len(title), ""]
        lines += [plain(operation.get("summary", "")), ""]
        if operation.get("description"):
            lines += [plain(operation["description"]), ""]
        lines += _parameters(spec, operation) + _request_body(spec, operation) + _responses(spec, operation)
    return lines


class RestApiReference(SphinxDirective):
    """Every ``Session epoch`` operation of FAB's OpenAPI spec, one section each."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from flask_session_epoch import api, sessions_api
        from flask_session_epoch.idp_logout import openapi

        for module in (api, sessions_api, openapi):
            self.env.note_dependency(module.__file__)
        return self.parse_text_to_nodes("\n".join(render(build_spec())), allow_section_headings=True)


def setup(app: Sphinx) -> dict[str, t.Any]:
    app.add_directive("session-epoch-rest-api", RestApiReference)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}

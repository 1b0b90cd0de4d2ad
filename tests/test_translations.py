"""Our catalogs: every text of the pages translated, compiled, and loaded next to the host's own."""

from __future__ import annotations

import typing as t
from pathlib import Path

import flask_appbuilder
import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask_babel import Babel, gettext
from helpers import login

from flask_session_epoch import i18n

ROOT = Path(__file__).resolve().parents[1]
LANGUAGES = ["de"]
BOTH = {"en": {"flag": "gb", "name": "English"}, "de": {"flag": "de", "name": "Deutsch"}}
Key = str | tuple[str, ...]


def _key(message_id: t.Any) -> Key:
    return message_id if isinstance(message_id, str) else tuple(message_id)


def extracted() -> set[Key]:
    """What ``pybabel extract -F babel.cfg -k lazy_gettext`` finds in the package."""
    with (ROOT / "babel.cfg").open() as mapping:
        method_map, options_map = parse_mapping_cfg(mapping)
    keywords = {**DEFAULT_KEYWORDS, "lazy_gettext": None}
    return {_key(found[2]) for found in extract_from_dir(str(ROOT), method_map, options_map, keywords=keywords)}


def catalog(language: str) -> Catalog:
    with (Path(i18n.DIRECTORY) / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=language)


def fab_translated(language: str) -> set[Key]:
    """The messages Flask-AppBuilder's own catalog translates."""
    path = Path(flask_appbuilder.__file__).parent / "translations" / language / "LC_MESSAGES" / "messages.mo"
    if not path.exists():
        return set()
    with path.open("rb") as mo:
        return {_key(message.id) for message in read_mo(mo) if message.id and message.string}


def strings(message: t.Any) -> tuple[str, ...]:
    """A message's translation, its plural forms too; ``("",)`` while untranslated."""
    return tuple(message.string) if isinstance(message.string, (tuple, list)) else (message.string,)


def translated(message: t.Any) -> bool:
    return all(strings(message))


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_catalog_has_every_text_of_the_code_and_templates_and_no_other(language: str) -> None:
    ours = {_key(message.id) for message in catalog(language) if message.id}
    found = extracted()
    assert found - ours == set(), "new texts: run the pybabel commands in babel.cfg and translate them"
    assert ours - found == set(), "texts no longer used: run pybabel update (babel.cfg)"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_text_is_translated_unless_flask_appbuilders_catalog_has_it(language: str) -> None:
    fab = fab_translated(language)
    messages = [message for message in catalog(language) if message.id]
    missing = [message.id for message in messages if _key(message.id) not in fab and not translated(message)]
    # Left untranslated, FAB's own translation shows: ours never replaces it.
    replaced = [message.id for message in messages if _key(message.id) in fab and any(strings(message))]
    assert missing == []
    assert replaced == []
    assert not [message.id for message in messages if message.fuzzy]


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_translations_keep_their_placeholders_and_no_apostrophe(language: str) -> None:
    po = catalog(language)
    assert [(message.id, [str(error) for error in errors]) for message, errors in po.check()] == []
    # FAB writes action confirmations into JavaScript strings in single quotes.
    quoted = [message.id for message in po if message.id and "'" in "".join(strings(message))]
    assert quoted == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_compiled_catalog_matches_its_po(language: str) -> None:
    with (Path(i18n.DIRECTORY) / language / "LC_MESSAGES" / "messages.mo").open("rb") as mo:
        compiled = {_key(message.id): strings(message) for message in read_mo(mo) if message.id}
    source = {_key(message.id): strings(message) for message in catalog(language) if message.id and translated(message)}
    assert compiled == source, "run: pybabel compile -d flask_session_epoch/translations"


# -- loading: ours next to FAB's and the host's ------------------------------------------------


def _german_page(app: Flask, path: str) -> str:
    from fabapp import ADMIN

    client = app.test_client()
    login(client, ADMIN)
    assert client.get("/lang/de").status_code == 302  # FAB's language menu
    response = client.get(path)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_a_fab_app_shows_our_texts_and_fabs_own_in_german(make_app: t.Callable[..., Flask]) -> None:
    page = _german_page(make_app(LANGUAGES=BOTH), "/users/list/")
    assert "Sitzungen beendet" in page and "Überall abmelden" in page  # ours
    assert "Benutzer auflisten" in page  # FAB's "List Users"
    assert "Sessions ended" not in page


def _host_catalog(folder: Path, translations: dict[str, str]) -> None:
    messages = Catalog(locale="de")
    for message_id, text in translations.items():
        messages.add(message_id, text)
    target = folder / "de" / "LC_MESSAGES"
    target.mkdir(parents=True)
    with (target / "messages.mo").open("wb") as mo:
        write_mo(mo, messages)


def test_an_apps_own_translation_directories_are_kept_and_win_over_ours(
        make_app: t.Callable[..., Flask], tmp_path: Path) -> None:
    _host_catalog(tmp_path, {"Sessions ended": "Abgemeldet am", "List Users": "Alle Konten"})
    app = make_app(LANGUAGES=BOTH, BABEL_TRANSLATION_DIRECTORIES=str(tmp_path))
    assert str(tmp_path) in app.config["BABEL_TRANSLATION_DIRECTORIES"].split(";")
    page = _german_page(app, "/users/list/")
    assert "Abgemeldet am" in page and "Sitzungen beendet" not in page  # the host's text over ours
    assert "Alle Konten" in page  # and over FAB's
    assert "Überall abmelden" in page  # ours, where the host has none


def test_registering_twice_adds_our_directory_once() -> None:
    app = Flask(__name__)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = "translations;/srv/more"
    i18n.register(app)
    i18n.register(app)
    assert app.config["BABEL_TRANSLATION_DIRECTORIES"] == f"{i18n.DIRECTORY};translations;/srv/more"


def test_registering_after_flask_babel_started_still_loads_ours_without_replacing_any() -> None:
    app = Flask(__name__)
    app.config["BABEL_DEFAULT_LOCALE"] = "de"
    Babel(app)
    with app.test_request_context():
        assert gettext("Sessions ended") == "Sessions ended"
    i18n.register(app)
    i18n.register(app)
    assert app.extensions["babel"].translation_directories.count(i18n.DIRECTORY) == 1
    assert app.extensions["babel"].translation_directories[0] == i18n.DIRECTORY  # the first: every other wins
    with app.test_request_context():
        assert gettext("Sessions ended") == "Sitzungen beendet"

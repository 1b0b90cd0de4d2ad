"""The README and the documentation name only what the code has, and leave out nothing it offers.

The generated references (settings, REST API, CLI) cannot drift; these tests hold the
hand-written pages to the code: the settings and commands they mention exist, and the
options, commands and script attributes an operator can use are all described.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from flask_session_epoch import config
from flask_session_epoch.cli import cli
from flask_session_epoch.inbound import settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.rst"
# What the docs are made of: their own pages and the two files they include.
PAGES = sorted([*DOCS.rglob("*.rst"), *DOCS.rglob("*.md"), README, ROOT / "CHANGES.rst", ROOT / "UPDATING.md"])
_KEY = re.compile(r"\bSESSION_EPOCH_[A-Z0-9_]*[A-Z0-9]")
# "flask session-epoch ssf add|verify NAME": the words after the group, alternatives with "|".
_COMMAND = re.compile(r"\b(?:flask|superset|airflow) session-epoch((?:\s+[a-z][a-z-]*(?:\|[a-z][a-z-]*)*)+)")


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _environment_variables() -> set[str]:
    """The ``SESSION_EPOCH_*`` environment variables the test scripts read, which the pages may name too.

    Only where a variable is read (``${NAME`` in a shell script, ``environ.get("NAME"``
    in Python), so that the misspelt keys the tests start apps with count for nothing.
    """
    found: set[str] = set()
    for script in (ROOT / "tests").rglob("*.sh"):
        found |= set(re.findall(r"\$\{(SESSION_EPOCH_[A-Z0-9_]+)", _text(script)))
    for script in (ROOT / "tests").rglob("*.py"):
        found |= set(re.findall(r"environ(?:\.get\(|\[)\"(SESSION_EPOCH_[A-Z0-9_]+)\"", _text(script)))
    return found


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], click.Command]:
    """Every command under ``group``, by its path of names (``("ssf", "poll")``)."""
    found: dict[tuple[str, ...], click.Command] = {}
    for name, command in group.commands.items():
        path = (*prefix, name)
        found[path] = command
        if isinstance(command, click.Group):
            found |= _commands(command, path)
    return found


def _mentioned_commands(text: str) -> set[tuple[str, ...]]:
    """The command paths a page names, as far as the words after ``session-epoch`` go."""
    names = _commands(cli)
    found = set()
    for match in _COMMAND.finditer(text):
        paths: list[tuple[str, ...]] = [()]
        for word in match.group(1).split():
            extended = [(*path, choice) for path in paths for choice in word.split("|")]
            if not all(path in names for path in extended):
                break
            paths = extended
        if paths == [()]:
            found.add((match.group(1).split()[0],))
        # A command is named with every group above it.
        found |= {path[:end] for path in paths for end in range(1, len(path) + 1)}
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_pages_name_only_real_settings(page: Path) -> None:
    known = {config.PREFIX + name for name in config.DEFAULTS} | _environment_variables()
    assert sorted(set(_KEY.findall(_text(page))) - known) == []


def test_an_unknown_setting_in_a_page_is_found() -> None:
    assert _KEY.findall("set ``SESSION_EPOCH_IDLE_TIMEOUTS = 60``") == ["SESSION_EPOCH_IDLE_TIMEOUTS"]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_pages_name_only_real_commands(page: Path) -> None:
    assert sorted(_mentioned_commands(_text(page)) - set(_commands(cli))) == []


def test_a_command_that_does_not_exist_is_found() -> None:
    assert _mentioned_commands("run ``flask session-epoch purge alice``") == {("purge",)}
    assert _mentioned_commands("``airflow session-epoch ssf add|status NAME``") == {
        ("ssf",), ("ssf", "add"), ("ssf", "status")}


def test_every_command_is_in_the_guides() -> None:
    """The guides show each command in use; the CLI reference alone lists them by construction."""
    guides = "\n".join(_text(page) for page in sorted((DOCS / "guides").glob("*.rst")))
    assert sorted(set(_commands(cli)) - _mentioned_commands(guides)) == []


@pytest.mark.parametrize(("setting", "options"), [
    ("SSF_TRANSMITTERS", settings._TRANSMITTER_OPTIONS),
    ("GLOBAL_TOKEN_REVOCATION", settings._GTR_OPTIONS | settings._JWT_OPTIONS),
])
def test_every_option_of_a_nested_setting_is_in_the_reference(setting: str, options: set[str]) -> None:
    reference = _text(DOCS / "reference" / "configuration.rst")
    section = reference.split(f"The options of ``SESSION_EPOCH_{setting}``", 1)[1].split("\nThe options of", 1)[0]
    assert sorted(name for name in options if f"``{name}``" not in section) == []


def test_every_attribute_fetch_js_reads_is_in_the_guide() -> None:
    script = _text(ROOT / "flask_session_epoch" / "static" / "fetch.js")
    attributes = set(re.findall(r"getAttribute\(\"(data-[a-z-]+)\"", script))
    guide = _text(DOCS / "guides" / "idle-warning.rst")
    assert attributes and sorted(name for name in attributes if f"``{name}" not in guide) == []


def test_readme_links_to_pages_that_exist() -> None:
    links = re.findall(r"<(docs/[^>]+\.rst)(?:#[^>]*)?>`_", _text(README))
    assert links and sorted(link for link in links if not (ROOT / link).is_file()) == []


def test_readme_shows_the_demo_and_the_test_command_after_install() -> None:
    readme = _text(README)
    install = readme.index("\nInstall\n")
    assert "bash examples/run-demo.sh" in readme
    assert readme.find("bash tests/run.sh", install) > install

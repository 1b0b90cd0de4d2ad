"""Settings: one table of defaults, mirrored in README.rst, typos refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from flask_session_epoch import config

README = (Path(__file__).parent.parent / "README.rst").read_text()


@pytest.mark.parametrize("name", sorted(config.DEFAULTS))
def test_every_setting_is_documented_with_its_default(name: str) -> None:
    row = README.split(f"* - ``SESSION_EPOCH_{name}``", 1)[1].split("* -", 1)[0]
    assert repr(config.DEFAULTS[name]).replace("'", '"') in row


def test_unknown_setting_name_is_refused() -> None:
    with pytest.raises(KeyError):
        config.config_key("FAIL_CLOSD")

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


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TRUSTED_PROXIES", "10.0.3.7/32"),  # a string, not a list
        ("TRUSTED_PROXIES", ["proxy.example.org"]),  # a hostname, not a network
        ("TRUSTED_PROXIES", None),
        ("API_PATH_PREFIXES", "/api/"),
        ("API_PATH_PREFIXES", ["api/"]),
        ("EXEMPT_ENDPOINTS", None),
        ("PROXY_EXEMPT_ENDPOINTS", "backchannel"),
        ("BACKCHANNEL_PROVIDERS", "keycloak"),
        ("BACKCHANNEL_PROVIDERS", None),
        ("BACKCHANNEL_LEEWAY", "60"),
        ("BACKCHANNEL_LEEWAY", -1),
        ("BACKCHANNEL_MAX_AGE", None),
        ("BACKCHANNEL_MAX_AGE", float("nan")),
        ("BACKCHANNEL_ALGORITHMS", ["none"]),
        ("BACKCHANNEL_ALGORITHMS", []),
        ("FAIL_CLOSED", "false"),
        ("STAMP_ON_DISABLE", None),
        ("PROXY_HEADER", ""),
        ("PROXY_HEADER", "X Auth"),
        ("PROXY_IDENTITY", "Email"),
        ("REMEMBER_COOKIE_NAME", "a cookie"),
        ("FLASH_MESSAGE", None),
        ("JWT_CLAIM", "sub"),
    ],
)
def test_wrongly_typed_setting_stops_start_up_naming_the_key(sqlite_url: str, name: str, value: object) -> None:
    from fabapp import create_app

    with pytest.raises(RuntimeError, match=f"SESSION_EPOCH_{name} "):
        create_app(sqlite_url, **{f"SESSION_EPOCH_{name}": value})


def test_settings_are_kept_as_checked(sqlite_url: str) -> None:
    import ipaddress

    from fabapp import create_app

    app = create_app(sqlite_url, SESSION_EPOCH_TRUSTED_PROXIES=["10.0.3.7", "fd00::/8"],
                     SESSION_EPOCH_API_PATH_PREFIXES=["/api/", "/superset/log/"])
    assert config.get("TRUSTED_PROXIES", app) == (ipaddress.ip_network("10.0.3.7/32"), ipaddress.ip_network("fd00::/8"))
    assert config.get("API_PATH_PREFIXES", app) == ("/api/", "/superset/log/")

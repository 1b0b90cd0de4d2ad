"""Settings: one table of defaults and descriptions (the documentation's reference is made from it), typos refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from flask_session_epoch import config
from flask_session_epoch.config import ConfigurationError


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

    with pytest.raises(ConfigurationError, match=f"SESSION_EPOCH_{name} "):
        create_app(sqlite_url, **{f"SESSION_EPOCH_{name}": value})


def test_settings_are_kept_as_checked(sqlite_url: str) -> None:
    import ipaddress

    from fabapp import create_app

    app = create_app(sqlite_url, SESSION_EPOCH_TRUSTED_PROXIES=["10.0.3.7", "fd00::/8"],
                     SESSION_EPOCH_API_PATH_PREFIXES=["/api/", "/superset/log/"])
    assert config.get("TRUSTED_PROXIES", app) == (ipaddress.ip_network("10.0.3.7/32"), ipaddress.ip_network("fd00::/8"))
    assert config.get("API_PATH_PREFIXES", app) == ("/api/", "/superset/log/")


# -- what a wrong setting says ----------------------------------------------------


def _refusal(sqlite_url: str, **settings: object) -> str:
    from fabapp import create_app

    with pytest.raises(config.ConfigurationError) as caught:
        create_app(sqlite_url, **settings)
    return str(caught.value)


def test_a_wrong_setting_is_one_line_naming_key_value_and_what_is_allowed(sqlite_url: str) -> None:
    message = _refusal(sqlite_url, SESSION_EPOCH_IDLE_TIMEOUT=5)
    assert "\n" not in message
    assert "SESSION_EPOCH_IDLE_TIMEOUT = 5" in message
    assert "from 1 minute to 1 year" in message
    assert "e+07" not in message


@pytest.mark.parametrize(("name", "value", "shown"), [
    ("BACKCHANNEL_MAX_AGE", 0, "from 1 second to 1 week"),
    ("HISTORY_DAYS", 0, "from 1 day to 10 years"),
    ("ACTIVITY_INTERVAL", 7200, "from 1 second to 1 hour"),
    ("ABSOLUTE_TIMEOUT", 10, "from 1 minute to 10 years"),
])
def test_durations_are_shown_in_units_people_use(sqlite_url: str, name: str, value: object, shown: str) -> None:
    message = _refusal(sqlite_url, **{f"SESSION_EPOCH_{name}": value})
    assert shown in message
    assert "e+0" not in message


def test_a_wrong_value_of_another_type_is_shown_as_written(sqlite_url: str) -> None:
    message = _refusal(sqlite_url, SESSION_EPOCH_FAIL_CLOSED="false")
    assert message.startswith("SESSION_EPOCH_FAIL_CLOSED = 'false'")
    assert "True or False" in message


def test_an_unknown_key_suggests_the_nearest_known_one(sqlite_url: str) -> None:
    message = _refusal(sqlite_url, SESSION_EPOCH_IDLE_TIMOUT=600)
    assert "SESSION_EPOCH_IDLE_TIMOUT" in message
    assert "did you mean SESSION_EPOCH_IDLE_TIMEOUT?" in message
    assert "SESSION_EPOCH_FAIL_CLOSED" not in message
    assert "\n" not in message


def test_an_unknown_key_like_none_of_ours_lists_nothing(sqlite_url: str) -> None:
    message = _refusal(sqlite_url, SESSION_EPOCH_XYZZY=1)
    assert "SESSION_EPOCH_XYZZY" in message
    assert "did you mean" not in message
    assert "SESSION_EPOCH_FAIL_CLOSED" not in message


def test_two_problems_are_two_lines(sqlite_url: str) -> None:
    message = _refusal(sqlite_url, SESSION_EPOCH_IDLE_TIMEOUT=5, SESSION_EPOCH_FAIL_CLOSED=1)
    assert len(message.splitlines()) == 2


def test_a_wrong_setting_at_start_up_prints_one_line_not_a_traceback(sqlite_url: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    script = tmp_path / "start.py"
    script.write_text(f"import sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\nfrom fabapp import create_app\n"
                      f"create_app({sqlite_url!r}, SESSION_EPOCH_IDLE_TIMEOUT=63244800)\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if "SESSION_EPOCH" in line or "Traceback" in line]
    assert errors == [("flask-session-epoch: SESSION_EPOCH_IDLE_TIMEOUT = 63244800 (2 years): must be a number of"
                       " seconds from 1 minute to 1 year (or None for off)")]


def test_a_wrong_setting_in_the_cli_is_one_line(sqlite_url: str, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    (tmp_path / "app.py").write_text(f"import sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\n"
                                     f"from fabapp import create_app\n"
                                     f"app = create_app({sqlite_url!r}, SESSION_EPOCH_FAIL_CLOSED='yes')\n")
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "session-epoch", "db", "current"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "SESSION_EPOCH_FAIL_CLOSED = 'yes': must be True or False" in done.stderr


def test_the_reference_describes_every_setting() -> None:
    entries = config.reference()
    assert [entry.key for entry in entries] == [config.PREFIX + name for name in config.DEFAULTS]
    for entry in entries:
        assert entry.doc and entry.allowed and entry.default, entry
    by_key = {entry.key: entry for entry in entries}
    assert by_key["SESSION_EPOCH_IDLE_TIMEOUT"].default == "None (off)"
    assert by_key["SESSION_EPOCH_ACTIVITY_INTERVAL"].default == "60 (1 minute)"
    assert "1 year" in by_key["SESSION_EPOCH_IDLE_TIMEOUT"].allowed

"""The PostgreSQL URL setting: libpq URLs as users write them, the password never shown, the
environment variable over the config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from pplx_tui.config import load_settings
from pplx_tui.core.dburl import BadDatabaseUrl, parse_pg_url, url_without_password
from pplx_tui.core.errors import BadInput


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://ann:s3cr%40t@db.example:5432/inv", "postgresql://ann@db.example:5432/inv"),
        ("postgres://ann:pw@db/inv?sslmode=require", "postgres://ann@db/inv?sslmode=require"),
        (
            "postgresql://ann@db/inv?password=pw&sslmode=verify-full",
            "postgresql://ann@db/inv?sslmode=verify-full",
        ),
        ("postgresql:///inv?host=/run/postgresql", "postgresql:///inv?host=/run/postgresql"),
        ("postgresql://ann:pw@h1:5432,h2:5433/inv", "postgresql://ann@h1:5432,h2:5433/inv"),
        ("postgresql://[::1]:5432/inv", "postgresql://[::1]:5432/inv"),
    ],
)
def test_the_password_is_never_shown(url: str, shown: str) -> None:
    parsed = parse_pg_url(url)
    assert url_without_password(url) == shown
    assert str(parsed) == shown
    assert "pw" not in repr(parsed)
    assert "s3cr" not in repr(parsed)
    assert parsed.text == url  # handed to libpq as written


def test_hide_masks_the_password_in_a_message() -> None:
    url = parse_pg_url("postgresql://ann:s3cr%40t@db/inv")
    assert url.password == "s3cr@t"
    assert url.hide("oops s3cr@t and s3cr%40t") == "oops *** and ***"
    assert url.identity == "db/inv"


@pytest.mark.parametrize(
    "url", ["", "mysql://a@b/c", "postgresql://a:pw@h:0/db", "postgresql://h:port/db", "x\n"]
)
def test_not_a_postgresql_url(url: str) -> None:
    with pytest.raises(BadDatabaseUrl) as err:
        parse_pg_url(url)
    assert "pw" not in str(err.value)


def test_the_environment_beats_the_config_file(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().database_url is None
    assert load_settings().inventory == home / "inventory.db"
    (home / "config.toml").write_text('[inventory]\nurl = "postgresql://cfg@db/inv"\n')
    assert str(load_settings().database_url) == "postgresql://cfg@db/inv"
    monkeypatch.setenv("PPLX_TUI_DATABASE_URL", "postgres://env:pw@db2/other")
    settings = load_settings()
    assert settings.inventory == settings.database_url
    assert str(settings.database_url) == "postgres://env@db2/other"
    monkeypatch.setenv("PPLX_TUI_DATABASE_URL", "sqlite:///x")
    with pytest.raises(BadInput, match="PPLX_TUI_DATABASE_URL is not a PostgreSQL URL"):
        load_settings()
    monkeypatch.delenv("PPLX_TUI_DATABASE_URL")
    (home / "config.toml").write_text("[inventory]\nurl = 5\n")
    with pytest.raises(BadInput, match=r"\[inventory\] url"):
        load_settings()

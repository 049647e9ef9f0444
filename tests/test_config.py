"""Bad configuration stops the program with one line naming the setting; no token leaks."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from bot.config import PROJECT_ROOT, ConfigError, load_settings

SECRET = "987654:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        ("telegram_token", "not a token", "PEERDESK_TELEGRAM_TOKEN"),
        ("database_url", "mysql://x", "PEERDESK_DATABASE_URL"),
        ("timezone", "Mars/Olympus", "PEERDESK_TIMEZONE"),
        ("admin_ids", "12,abc", "PEERDESK_ADMIN_IDS"),
        ("max_question_chars", 99999, "PEERDESK_MAX_QUESTION_CHARS"),
        ("helpers_chat_id", "group", "PEERDESK_HELPERS_CHAT_ID"),
    ],
)
def test_a_bad_setting_is_named(setting: str, value: object, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        load_settings(**{setting: value})


def test_settings_accept_a_postgres_url_and_admin_list() -> None:
    settings = load_settings(database_url="postgresql://u@h/db", admin_ids="1, 2",
                             telegram_token=SECRET)
    assert settings.database_url == "postgresql+asyncpg://u@h/db"
    assert settings.admin_ids == {1, 2}
    assert SECRET not in repr(settings)


def test_the_program_stops_with_one_clear_line_and_hides_the_token(tmp_path) -> None:
    env = {"PATH": "/usr/bin:/bin", "PEERDESK_TELEGRAM_TOKEN": SECRET + " x",
           "PEERDESK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.db"}
    result = subprocess.run([sys.executable, "-m", "bot", "run"], env=env, cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "peerdesk: PEERDESK_TELEGRAM_TOKEN is not a bot token of the form 123456:ABC… from "
        "BotFather"]
    assert "AAAA" not in result.stdout + result.stderr


async def test_a_token_the_bot_api_refuses_stops_with_a_clear_message(tmp_path) -> None:
    import asyncio

    from bot.runner import run_polling
    from bot.sandbox.server import Sandbox, serve

    runner = await serve(Sandbox(), "127.0.0.1", 0)
    try:
        settings = load_settings(
            telegram_token=SECRET, database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db",
            telegram_api_url=f"http://127.0.0.1:{runner.addresses[0][1]}",
        )
        with pytest.raises(ConfigError, match="PEERDESK_TELEGRAM_TOKEN was refused"):
            await run_polling(settings, asyncio.Event())
    finally:
        await runner.cleanup()


def test_the_example_env_file_works_as_it_is(tmp_path, monkeypatch) -> None:
    (tmp_path / ".env").write_text((PROJECT_ROOT / ".env.example").read_text())
    (tmp_path / "knowledge").symlink_to(PROJECT_ROOT / "knowledge")
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.telegram_token is None and settings.helpers_chat_id is None
    assert settings.hours.days == frozenset(range(5)) and settings.sla_for("tvt") == 60


@pytest.fixture
def logging_kept() -> Iterator[None]:
    """The command line configures logging for its process; here the test's process is its
    process, and the next test gets logging back as it was."""
    loggers = [logging.getLogger(), *(logger for logger in logging.root.manager.loggerDict.values()
                                      if isinstance(logger, logging.Logger))]
    levels = {logger: logger.level for logger in loggers}
    filters = {handler: list(handler.filters) for handler in logging.getLogger().handlers}
    yield
    for logger, level in levels.items():
        logger.setLevel(level)
    for handler, kept in filters.items():
        handler.filters[:] = kept


def test_a_database_that_cannot_be_reached_stops_the_bot_with_clear_lines(
    tmp_path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture, logging_kept: None,
) -> None:
    """`peerdesk run` in this process (`python -m bot` only calls it; the test above starts
    that): the migration's child process says why on standard error, the program stops."""
    from bot.cli import main

    for name in os.environ:
        if name.startswith("PEERDESK_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PEERDESK_DATABASE_URL",
                       "postgresql+asyncpg://peerdesk:hunter2@127.0.0.1:1/x")
    monkeypatch.chdir(PROJECT_ROOT)  # the child runs `python -m bot` from here
    caplog.set_level(logging.DEBUG)
    assert main(["run"]) == 2
    out, err = capfd.readouterr()
    assert err.strip().splitlines() == [
        "peerdesk: the database at PEERDESK_DATABASE_URL could not be migrated "
        "(ConnectionRefusedError)",
        "peerdesk: the database schema could not be upgraded (see the lines above)"]
    # Nothing logged that the program would have printed besides (its own lines from INFO
    # up, other libraries' from WARNING), and the password nowhere.
    assert [r.getMessage() for r in caplog.records if r.levelno >= (
        logging.INFO if r.name.split(".")[0] == "bot" else logging.WARNING)] == []
    assert "hunter2" not in out + err + caplog.text

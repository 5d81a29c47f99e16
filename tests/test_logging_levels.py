"""configure_logging: slack-sdk's clients get our level, so they build no debug lines."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.web.async_client import AsyncWebClient

from bot.logging_setup import SLACK_SDK_LOGGERS, configure_logging


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in SLACK_SDK_LOGGERS}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


@pytest.mark.usefixtures("restored_logging")
async def test_slack_sdk_clients_log_at_our_level_not_notset() -> None:
    # slack-sdk builds a debug line with the whole request when `logger.level <= DEBUG`.
    configure_logging("INFO")
    web = AsyncWebClient(token="xoxb-test")
    assert web.logger.level == logging.INFO
    socket = SocketModeClient(app_token="xapp-test", web_client=web)
    try:
        assert socket.logger.level == logging.INFO
    finally:
        await socket.close()


@pytest.mark.usefixtures("restored_logging")
def test_at_debug_slack_sdk_still_logs_its_requests() -> None:
    configure_logging("DEBUG")
    assert AsyncWebClient(token="xoxb-test").logger.isEnabledFor(logging.DEBUG)

"""The worker's Slack calls: every way Slack can be away becomes a pause, not a crash."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.web_calls import SlackCalls, SlackUnavailable


async def test_a_connection_slack_drops_mid_request_is_a_pause_not_a_crash() -> None:
    """aiohttp's ServerDisconnectedError is no OSError: it used to escape the poster."""

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(10)
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession() as http:
            slack = AsyncWebClient(
                token="xoxb-t", base_url=f"http://127.0.0.1:{port}/api/", session=http
            )
            calls = SlackCalls(slack, max_pause=60)
            with pytest.raises(SlackUnavailable) as first:
                await calls.call("chat.postMessage", None, channel="C1", text="hi")
            with pytest.raises(SlackUnavailable) as second:
                await calls.call("chat.postMessage", None, channel="C1", text="hi")
    finally:
        server.close()
        await server.wait_closed()
    assert 0 < first.value.pause < second.value.pause <= 60  # backs off while Slack is away

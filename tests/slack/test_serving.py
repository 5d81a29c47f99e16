"""Serving guarantees: the Web API client waits out a 429, acks stay fast under a burst."""

from __future__ import annotations

import asyncio
import time

from bot.domain.channels import Channel
from bot.slack import ids
from tests.slack.conftest import AGENT, Surface


async def test_a_rate_limited_web_api_call_is_retried_after_retry_after(
    surface: Surface,
) -> None:
    """Slack answers 429 with Retry-After: slack-sdk's retry handler waits, then succeeds."""
    surface.slack.rate_limit_for(0.5, retry_after=1)
    started = time.monotonic()
    status, ack, _ = await surface.command(ids.FIND_CONTACT, "")  # opens the search modal
    await surface.settle()

    assert status == 200 and ack == {}
    assert time.monotonic() - started >= 1.0  # it waited as told
    [opened] = surface.slack.calls_to("views.open")  # the one that got through
    assert opened.args["view"]["callback_id"] == ids.SEARCH_VIEW


async def test_fifty_commands_at_once_are_all_acked_within_3_seconds_then_answered(
    surface: Surface,
) -> None:
    await surface.contact(
        "Sara",
        "Ahmed",
        phone="+971501234567",
        identities={Channel.WHATSAPP: "971501234567"},
        assignee=AGENT,
        last_inbound={Channel.WHATSAPP: surface.now},
    )

    async def one() -> tuple[float, int, str]:
        started = time.monotonic()
        status, _, url = await surface.command(ids.FIND_CONTACT, "sara")
        return time.monotonic() - started, status, url

    results = await asyncio.gather(*(one() for _ in range(50)))
    await surface.settle()

    assert all(status == 200 for _, status, _ in results)
    assert max(seconds for seconds, _, _ in results) < 3.0
    for _, _, url in results:
        [answer] = surface.slack.answers_to(url)
        assert "Sara Ahmed" in str(answer["blocks"])

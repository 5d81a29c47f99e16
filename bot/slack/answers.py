"""The one way to answer an agent: a `Reply` from `Answers`.

* `Answers.to(body)`: through the payload's `response_url` (ephemeral, the
  clicked message replaced or not), else by direct message: App Home and
  modals give no `response_url`, and work adopted late from a dead process
  (`bot.slack.intake`) finds it expired.
* `Answers.where_started(agent, origin)`: an ephemeral note in the channel
  (and thread) the agent started from, else a direct message (modal
  submissions have no `response_url`).
* `Answers.apology(body, lang)`: for `Background.run(on_error=)` and the
  intake's error callbacks: a short apology through `to(body)`.

A `response_url` takes five answers in 30 minutes: each button click brings a
fresh one, so paging ("More") answers through the click's own.
https://api.slack.com/interactivity/handling#message_responses
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import aiohttp
import orjson
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from slack_sdk.web.async_client import AsyncWebClient

from bot.availability import is_outage
from bot.slack.blocks.contact_blocks import text_message
from bot.slack.i18n import t
from bot.slack.intake import InDoubt, Unsettled
from bot.slack.origin import Origin
from bot.slack.payloads import block_kit_json
from bot.slack.web_calls import slack_error

logger = logging.getLogger(__name__)

#: Shows an answer to the agent: (text, blocks).
Reply = Callable[[str, Sequence[Block]], Awaitable[None]]
#: Tells the agent that a piece of work failed.
OnError = Callable[[BaseException], Awaitable[None]]

#: `chat.postEphemeral` errors that mean "not there": answer by direct message.
NOT_THERE = frozenset({"channel_not_found", "not_in_channel", "user_not_in_channel"})


def origin_of(body: Mapping[str, Any]) -> Origin:
    """Where an interaction happened: its channel and thread, if any.

    A click in App Home or in a modal has no channel to answer in (a direct
    message it is).
    """
    if (body.get("container") or {}).get("type") == "view":
        return Origin()
    channel = body.get("channel")
    channel_id = channel.get("id") if isinstance(channel, dict) else body.get("channel_id")
    container = body.get("container") or {}
    message = body.get("message") or {}
    thread = container.get("thread_ts") or message.get("thread_ts") or ""
    return Origin(str(channel_id or ""), str(thread))


def user_of(body: Mapping[str, Any]) -> str:
    """Who sent a command (`user_id`) or an interaction (`user.id`)."""
    user = body.get("user_id")
    if isinstance(user, str):
        return user
    return str((body.get("user") or {}).get("id") or "")


def sorry_text(lang: str, error: BaseException | None = None) -> str:
    """The apology: while Redis is away, a clear "not done, try again in a moment";
    a submission Redis dropped while taking (`InDoubt`): "not sure yet, we'll tell
    you" — never "nothing was sent", which it may have been."""
    if isinstance(error, Unsettled):
        return t("error.in_doubt_lost", lang)
    if isinstance(error, InDoubt):
        return t("error.in_doubt", lang)
    key = "error.unavailable" if error is not None and is_outage(error) else "error.sorry"
    return t(key, lang)


class Answers:
    """Answers to agents, on the shared HTTP session and the bot's Web API client."""

    def __init__(self, http: aiohttp.ClientSession, client: AsyncWebClient) -> None:
        self.http = http
        self.client = client

    def to(self, body: Mapping[str, Any], *, replace: bool = False) -> Reply:
        """Through the payload's `response_url` (`replace`: the clicked message
        gives way to the answer), else by direct message to its user."""
        url = body.get("response_url")
        agent = user_of(body)

        async def reply(text: str, blocks: Sequence[Block]) -> None:
            if isinstance(url, str):
                await self.respond(url, text, blocks, replace_original=replace)
            elif agent:
                await self.direct(agent, text, blocks)

        return reply

    def where_started(self, agent: str, origin: Origin) -> Reply:
        """An ephemeral note where the agent started (in its thread), else a DM."""

        async def reply(text: str, blocks: Sequence[Block]) -> None:
            if origin.channel:
                try:
                    await self.client.chat_postEphemeral(
                        channel=origin.channel,
                        user=agent,
                        text=text,
                        blocks=block_kit_json(list(blocks)),
                        thread_ts=origin.thread_ts or None,
                    )
                    return
                except SlackApiError as error:
                    if slack_error(error) not in NOT_THERE:
                        raise
            await self.direct(agent, text, blocks)

        return reply

    def apology(self, body: Mapping[str, Any], lang: str) -> OnError:
        """A short apology where `to(body)` answers (`sorry_text`)."""
        reply = self.to(body)

        async def apologise(error: BaseException) -> None:
            await reply(*text_message(sorry_text(lang, error)))

        return apologise

    async def direct(self, agent: str, text: str, blocks: Sequence[Block]) -> None:
        """A direct message from the app."""
        await self.client.chat_postMessage(
            channel=agent, text=text, blocks=block_kit_json(list(blocks))
        )

    async def respond(
        self,
        response_url: str,
        text: str,
        blocks: Sequence[Block] | None = None,
        *,
        replace_original: bool = False,
    ) -> None:
        """An ephemeral answer through a `response_url`."""
        message: dict[str, Any] = {
            "text": text,
            "response_type": "ephemeral",
            "replace_original": replace_original,
        }
        if blocks is not None:
            message["blocks"] = block_kit_json(list(blocks))
        async with self.http.post(
            response_url,
            data=orjson.dumps(message),
            headers={"Content-Type": "application/json; charset=utf-8"},
        ) as answer:
            await answer.read()
            if answer.status != 200:
                logger.warning("response_url refused the answer", extra={"status": answer.status})

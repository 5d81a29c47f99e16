"""*Close* on App Home (after Slack's confirmation dialog): close the conversation.

CLOSE_UNASSIGNS decides whether the assignee stays; the thread says who
closed it. The Home tabs of the closer and of the assignee are refreshed.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.slack import ids
from bot.slack.answers import Answers
from bot.slack.close_flow import CloseFlow
from bot.slack.intake import SlackIntake, durable
from handlers.payloads import BlockActions, parse

#: The intake kind (bot.slack.intake) of App Home's *Close*.
KIND = "action.close"


def register(
    app: AsyncApp, *, close_flow: CloseFlow, intake: SlackIntake, answers: Answers
) -> None:
    async def close(body: dict[str, Any], lang: str) -> None:
        # Answered where the click has a response_url; App Home's refresh shows the rest.
        click = parse(BlockActions, body)
        reply = answers.to(body) if click.response_url else None
        await close_flow.close(click.action.value, click.agent, lang, reply)

    intake.on(KIND, close)
    app.action(ids.CONTACT_CLOSE)(durable(intake, KIND))

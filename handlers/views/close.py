"""The close modal's submission: close the conversation, with the reason if one was given.

`ConversationService.close` honours CLOSE_UNASSIGNS and tells the thread
("Closed by …: reason"); its root then offers *Reopen*.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.slack import ids
from bot.slack.blocks.close_modal import read_close
from bot.slack.close_flow import CloseFlow
from bot.slack.intake import SlackIntake, durable
from handlers.payloads import ViewSubmission, parse

#: The intake kind (bot.slack.intake) of the close modal's submission.
KIND = "view.close"


def register(app: AsyncApp, *, close_flow: CloseFlow, intake: SlackIntake) -> None:
    async def close(body: dict[str, Any], lang: str) -> None:
        submitted = parse(ViewSubmission, body)
        contact_id, reason, keep = read_close(submitted.view)
        # The modal has no message to answer in: Home shows the result.
        await close_flow.close(contact_id, submitted.agent, lang, None, reason, keep_scheduled=keep)

    intake.on(KIND, close)
    app.view(ids.CLOSE_VIEW)(durable(intake, KIND))

"""`/reopen <contact>`: reopen a conversation and assign it to the agent.

Acknowledged at once (an empty line gets the usage in the ack); the contact is
looked up after: one match is reopened and answered with its card, several
are offered to choose from, none is said so. Another agent's open
conversation asks for confirmation first (the *Take over* button).
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.slack import ids
from bot.slack.answers import Answers
from bot.slack.i18n import t
from bot.slack.intake import SlackIntake
from bot.slack.reopen_flow import ReopenFlow
from handlers.payloads import SlashCommand, parse

#: The intake kind of a `/reopen` with a contact (bot.slack.intake).
KIND = "command.reopen"


def register(
    app: AsyncApp, *, reopen_flow: ReopenFlow, intake: SlackIntake, answers: Answers
) -> None:
    async def reopen(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        lang = str(context["lang"])
        if not parse(SlashCommand, body).text.strip():
            await ack(response_type="ephemeral", text=t("reopen.usage", lang))
            return
        await intake.submit(KIND, body, lang)  # stored before the ack
        await ack()

    async def work(body: dict[str, Any], lang: str) -> None:
        command = parse(SlashCommand, body)
        reply = answers.to(body)
        await reopen_flow.lookup_and_reopen(command.text.strip(), command.agent, lang, reply)

    intake.on(KIND, work, answers.apology)
    app.command(ids.REOPEN)(reopen)

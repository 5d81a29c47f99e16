"""Reopen buttons: *Reopen* (search results, App Home), *This one* (an ambiguous
`/reopen`), and the takeover question's *Take over* / *Cancel*."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.services.finding import ContactFinder
from bot.slack import ids
from bot.slack.answers import Answers
from bot.slack.background import Background
from bot.slack.blocks.contact_blocks import text_message
from bot.slack.blocks.reopen_blocks import left_with
from bot.slack.gate import reads_payload
from bot.slack.i18n import t
from bot.slack.intake import SlackIntake, durable
from bot.slack.reopen_flow import ReopenFlow
from handlers.payloads import BlockActions, parse


@reads_payload
def _chosen(click: BlockActions) -> str:
    """A "this one" button's contact (`choices_message`)."""
    return str(json.loads(click.action.value)["c"])


#: Intake kinds (bot.slack.intake) of the buttons that reopen.
KIND_REOPEN = "action.reopen"
KIND_CHOOSE = "action.reopen.choose"
KIND_TAKE_OVER = "action.reopen.take_over"


def register(
    app: AsyncApp,
    *,
    reopen_flow: ReopenFlow,
    finder: ContactFinder,
    intake: SlackIntake,
    answers: Answers,
    background: Background,
) -> None:
    async def reopen(body: dict[str, Any], lang: str) -> None:
        click = parse(BlockActions, body)
        await reopen_flow.reopen(
            click.action.value, click.agent, lang, answers.to(body), quiet_success=click.from_home
        )

    async def choose(body: dict[str, Any], lang: str) -> None:
        click = parse(BlockActions, body)
        contact_id = _chosen(click)
        await reopen_flow.reopen(contact_id, click.agent, lang, answers.to(body, replace=True))

    async def take_over(body: dict[str, Any], lang: str) -> None:
        click, reply = parse(BlockActions, body), answers.to(body, replace=True)
        await reopen_flow.reopen(
            click.action.value, click.agent, lang, reply, confirm_takeover=True
        )

    async def cancel(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        lang, reply = str(context["lang"]), answers.to(body, replace=True)

        async def answer() -> None:
            contact = await finder.get(parse(BlockActions, body).action.value)
            if contact is None:
                text, blocks = text_message(t("reopen.gone", lang))
            else:
                name = contact.display_name
                text, blocks = text_message(left_with(name, contact.conversation.assignee, lang))
            await reply(text, blocks)

        background.run(answer(), on_error=answers.apology(body, lang))

    for kind, work in ((KIND_REOPEN, reopen), (KIND_CHOOSE, choose), (KIND_TAKE_OVER, take_over)):
        intake.on(kind, work, answers.apology)
    app.action(ids.CONTACT_REOPEN)(durable(intake, KIND_REOPEN))
    app.action(ids.CONTACT_CHOOSE_REOPEN)(durable(intake, KIND_CHOOSE))
    app.action(ids.REOPEN_TAKEOVER)(durable(intake, KIND_TAKE_OVER))
    app.action(ids.REOPEN_CANCEL)(cancel)

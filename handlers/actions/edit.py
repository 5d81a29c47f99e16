"""*Edit* on a search result, a `/reopen` answer or a thread root: the edit-contact modal."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.services.finding import ContactFinder
from bot.slack import ids
from bot.slack.answers import Answers
from bot.slack.background import Background
from bot.slack.blocks.contact_blocks import text_message
from bot.slack.blocks.contact_edit import edit_modal
from bot.slack.i18n import t
from handlers.payloads import BlockActions, parse


def register(
    app: AsyncApp,
    *,
    finder: ContactFinder,
    answers: Answers,
    background: Background,
    client: AsyncWebClient,
) -> None:
    async def edit(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        lang = str(context["lang"])
        click = parse(BlockActions, body)
        contact_id, trigger = click.action.value, click.trigger_id

        async def open_modal() -> None:
            contact = await finder.get(contact_id)
            if contact is None:
                if click.response_url:
                    await answers.to(body)(*text_message(t("edit.gone", lang)))
                return
            await client.views_open(trigger_id=trigger, view=edit_modal(contact, lang))

        background.run(open_modal())

    app.action(ids.CONTACT_EDIT)(edit)

"""Buttons on search results: *More* (the next page) and *Open thread*."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.domain.clock import Clock
from bot.services.finding import ContactFinder
from bot.slack import ids
from bot.slack.answers import Answers
from bot.slack.background import Background
from bot.slack.blocks.contact_blocks import found_message, text_message, unpack_page
from bot.slack.i18n import t
from bot.slack.links import ThreadLinks
from bot.slack.render import escape
from handlers.payloads import BlockActions, parse


def register(
    app: AsyncApp,
    *,
    finder: ContactFinder,
    links: ThreadLinks,
    answers: Answers,
    background: Background,
    clock: Clock,
) -> None:
    async def more(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        lang = str(context["lang"])
        click = parse(BlockActions, body)
        args, offset = unpack_page(click.action.value)
        # The click's own response_url: the page replaces the one clicked.
        reply = answers.to(body, replace=True)
        agent = click.agent

        async def show() -> None:
            found = await finder.find(args, agent, offset)
            await reply(*found_message(found, agent=agent, offset=offset, now=clock(), lang=lang))

        background.run(show())

    async def open_thread(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        lang = str(context["lang"])
        click = parse(BlockActions, body)
        contact_id = click.action.value

        async def answer() -> None:
            contact = await finder.get(contact_id)
            thread_ts = contact.conversation.thread_ts if contact else None
            link = (await links.of([thread_ts])).get(thread_ts) if thread_ts else None
            if contact is None or link is None:
                text, blocks = text_message(t("thread.none_yet", lang))
            else:
                text, blocks = text_message(
                    t("thread.link", lang, link=link, name=escape(contact.display_name))
                )
            if click.response_url:
                await answers.to(body)(text, blocks)

        background.run(answer())

    app.action(ids.SEARCH_MORE)(more)
    app.action(ids.CONTACT_OPEN_THREAD)(open_thread)

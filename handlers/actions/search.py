"""Buttons on search results: *More* (the next page) and *Open thread*."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.models.blocks import Block

from bot.slack import ids
from bot.slack.app import SlackDeps, respond
from bot.slack.contact_blocks import text_message, unpack_page
from bot.slack.i18n import t
from bot.slack.links import ThreadLinks
from bot.slack.render import escape
from handlers.commands.find_contact import show_results


def _action(body: dict[str, Any]) -> dict[str, Any]:
    action: dict[str, Any] = body["actions"][0]
    return action


def register(app: AsyncApp, deps: SlackDeps) -> None:
    async def more(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        lang = str(context["lang"])
        args, offset = unpack_page(str(_action(body)["value"]))
        url = str(body["response_url"])

        async def deliver(text: str, blocks: Sequence[Block]) -> None:
            # The click's own response_url: the page replaces the one clicked.
            await respond(deps, url, text, blocks, replace_original=True)

        agent = str(body["user"]["id"])
        deps.background.run(show_results(deps, deliver, args, agent, offset, lang))

    async def open_thread(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        lang = str(context["lang"])
        contact_id = str(_action(body)["value"])
        url = body.get("response_url")

        async def answer() -> None:
            contact = await deps.contacts.get(contact_id)
            thread_ts = contact.conversation.thread_ts if contact else None
            links = ThreadLinks(deps.redis, deps.keys, deps.client, deps.settings.support_channel)
            link = (await links.of([thread_ts])).get(thread_ts) if thread_ts else None
            if contact is None or link is None:
                text, blocks = text_message(t("thread.none_yet", lang))
            else:
                text, blocks = text_message(
                    t("thread.link", lang, link=link, name=escape(contact.display_name))
                )
            if isinstance(url, str):
                await respond(deps, url, text, blocks)

        deps.background.run(answer())

    app.action(ids.SEARCH_MORE)(more)
    app.action(ids.CONTACT_OPEN_THREAD)(open_thread)

"""`/find-contact [query] [--all] [--open|--any] [--by-name]`.

With a query: acknowledged at once (a bad query gets its error in the ack),
then one ephemeral page of results through the command's `response_url`.
Without one: the search modal.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.clock import Clock
from bot.services.directory import parse_find_args
from bot.services.finding import ContactFinder
from bot.slack import ids
from bot.slack.answers import Answers
from bot.slack.background import Background
from bot.slack.blocks.contact_blocks import found_message
from bot.slack.blocks.search_modal import search_modal
from bot.slack.i18n import t
from handlers.payloads import SlashCommand, parse


def register(
    app: AsyncApp,
    *,
    finder: ContactFinder,
    answers: Answers,
    background: Background,
    client: AsyncWebClient,
    clock: Clock,
) -> None:
    async def find_contact(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        lang = str(context["lang"])
        command = parse(SlashCommand, body)
        agent = command.agent
        args = parse_find_args(command.text)
        if not args.query and not args.unknown_flags:
            await ack()
            modal = search_modal(args, command.channel_id, lang)
            background.run(client.views_open(trigger_id=command.trigger_id, view=modal))
            return
        problem = finder.problem(args)
        if problem is not None:
            await ack(response_type="ephemeral", text=t(problem.key, lang, **problem.params))
            return
        await ack()
        reply = answers.to(body)

        async def show() -> None:
            found = await finder.find(args, agent)
            await reply(*found_message(found, agent=agent, offset=0, now=clock(), lang=lang))

        background.run(show(), on_error=answers.apology(body, lang))

    app.command(ids.FIND_CONTACT)(find_contact)

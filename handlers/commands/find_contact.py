"""`/find-contact [query] [--all] [--open|--any] [--by-name]`.

With a query: acknowledged at once (a bad query gets its error in the ack),
then one ephemeral page of results through the command's `response_url`.
Without one: the search modal.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.models.blocks import Block

from bot.domain.contacts import QueryError, parse_query
from bot.services.directory import FindArgs, parse_find_args
from bot.slack import ids
from bot.slack.app import SlackDeps, apologise, respond
from bot.slack.contact_blocks import results_message
from bot.slack.i18n import t
from bot.slack.search_modal import search_modal

Deliver = Callable[[str, Sequence[Block]], Awaitable[None]]


def query_problem(args: FindArgs, deps: SlackDeps, lang: str) -> str | None:
    """Why this query cannot be searched, in words (None when it can)."""
    if args.unknown_flags:
        return t("search.unknown_flag", lang, flags=" ".join(args.unknown_flags))
    try:
        parse_query(args.query, deps.settings.default_phone_region)
    except QueryError as error:
        return t(error.key, lang, **error.params)
    return None


async def show_results(
    deps: SlackDeps, deliver: Deliver, args: FindArgs, agent: str, offset: int, lang: str
) -> None:
    """Search, then deliver one page (the command's answer, or a "More" click's).

    When the agent's scope finds nothing, the page shows what All inboxes /
    any status finds, labelled as such (SPEC "Finding a contact").
    """
    page, wider = await deps.directory.find_or_widen(args, agent, offset=offset)
    views = await deps.views_of(page.contacts)
    text, blocks = results_message(
        wider or args,
        views,
        widened_from=args if wider else None,
        agent=agent,
        offset=offset,
        next_offset=page.next_offset,
        truncated=page.truncated,
        now=deps.clock(),
        lang=lang,
    )
    await deliver(text, blocks)


def register(app: AsyncApp, deps: SlackDeps) -> None:
    async def find_contact(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        lang = str(context["lang"])
        agent = str(body["user_id"])
        args = parse_find_args(str(body.get("text") or ""))
        if not args.query and not args.unknown_flags:
            await ack()
            modal = search_modal(args, str(body.get("channel_id") or ""), lang)
            deps.background.run(deps.client.views_open(trigger_id=body["trigger_id"], view=modal))
            return
        problem = query_problem(args, deps, lang)
        if problem is not None:
            await ack(response_type="ephemeral", text=problem)
            return
        await ack()
        url = str(body["response_url"])

        async def deliver(text: str, blocks: Sequence[Block]) -> None:
            await respond(deps, url, text, blocks)

        deps.background.run(
            show_results(deps, deliver, args, agent, 0, lang),
            on_error=lambda error: apologise(deps, url, lang, error),
        )

    app.command(ids.FIND_CONTACT)(find_contact)

"""The search modal's submission: field errors in the ack, then the results.

The results go to the channel the command came from as an ephemeral message
(`chat.postEphemeral`), or to the app's direct message when the bot cannot
post there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.models.blocks import Block

from bot.slack import ids
from bot.slack.app import SlackDeps
from bot.slack.compose import Origin
from bot.slack.compose_flow import ComposeFlow
from bot.slack.search_modal import QUERY_BLOCK, read_search_modal
from handlers.commands.find_contact import query_problem, show_results


def register(app: AsyncApp, deps: SlackDeps) -> None:
    flow = ComposeFlow(deps)

    async def submitted(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        lang = str(context["lang"])
        view = body["view"]
        args = read_search_modal(view["state"])
        problem = query_problem(args, deps, lang)
        if problem is not None:
            await ack(response_action="errors", errors={QUERY_BLOCK: problem})
            return
        await ack()
        agent = str(body["user"]["id"])
        channel = str(view.get("private_metadata") or "")

        async def deliver(text: str, blocks: Sequence[Block]) -> None:
            # Ephemeral where the agent opened the modal, else a direct message.
            await flow.tell(agent, Origin(channel=channel), text, blocks)

        deps.background.run(show_results(deps, deliver, args, agent, 0, lang))

    app.view(ids.SEARCH_VIEW)(submitted)

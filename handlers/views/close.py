"""The close modal's submission: close the conversation, with the reason if one was given.

`ConversationService.close` honours CLOSE_UNASSIGNS and tells the thread
("Closed by …: reason"); its root then offers *Reopen*.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.slack import ids
from bot.slack.app import SlackDeps
from bot.slack.compose import read_close
from bot.slack.home import publish_home


def register(app: AsyncApp, deps: SlackDeps) -> None:
    async def submitted(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        contact_id, reason = read_close(body["view"])
        agent = str(body["user"]["id"])

        async def close() -> None:
            before = await deps.contacts.get(contact_id)
            await deps.conversations.close(contact_id, agent, reason)
            await publish_home(deps, agent)  # App Home follows the agent's actions
            assignee = before.conversation.assignee if before else None
            if assignee and assignee != agent:
                await publish_home(deps, assignee)

        deps.background.run(close())

    app.view(ids.CLOSE_VIEW)(submitted)

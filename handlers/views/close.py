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
from handlers.actions.close import close_and_refresh


def register(app: AsyncApp, deps: SlackDeps) -> None:
    async def submitted(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        contact_id, reason = read_close(body["view"])
        agent = str(body["user"]["id"])

        lang = str(context["lang"])
        # The modal has no message to answer in: Home shows the result.
        deps.background.run(close_and_refresh(deps, contact_id, agent, lang, None, reason))

    app.view(ids.CLOSE_VIEW)(submitted)

"""The search modal's submission: field errors in the ack, then the results.

The results go to the channel the command came from as an ephemeral message
(`chat.postEphemeral`), or to the app's direct message when the bot cannot
post there.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.domain.clock import Clock
from bot.services.finding import ContactFinder
from bot.slack import ids
from bot.slack.answers import Answers
from bot.slack.background import Background
from bot.slack.blocks.contact_blocks import found_message
from bot.slack.blocks.search_modal import QUERY_BLOCK, read_search_modal
from bot.slack.i18n import t
from bot.slack.origin import Origin
from handlers.payloads import ViewSubmission, parse


def register(
    app: AsyncApp,
    *,
    finder: ContactFinder,
    answers: Answers,
    background: Background,
    clock: Clock,
) -> None:
    async def submitted(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        lang = str(context["lang"])
        submission = parse(ViewSubmission, body)
        args = read_search_modal(submission.state)
        problem = finder.problem(args)
        if problem is not None:
            text = t(problem.key, lang, **problem.params)
            await ack(response_action="errors", errors={QUERY_BLOCK: text})
            return
        await ack()
        agent = submission.agent
        # Ephemeral where the agent opened the modal, else a direct message.
        reply = answers.where_started(agent, Origin(channel=submission.private_metadata))

        async def show() -> None:
            found = await finder.find(args, agent)
            await reply(*found_message(found, agent=agent, offset=0, now=clock(), lang=lang))

        background.run(show())

    app.view(ids.SEARCH_VIEW)(submitted)

"""The message shortcut "Follow up with this customer".

Slack allows no slash command in a thread, so inside a conversation's thread
this is how an agent follows up: on any message of the thread it opens the
compose modal for the thread's contact; on the agent's own reply it is
prefilled with that reply (type in the thread on a phone, then send with two
taps). A reply in the thread is an internal note until the agent sends it
from the modal. Elsewhere, an ephemeral explanation.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.config import Settings
from bot.services.compose_plan import AttachedFile, Draft
from bot.services.finding import ContactFinder
from bot.slack import ids
from bot.slack.answers import Answers
from bot.slack.background import Background
from bot.slack.blocks.answers import text_answer
from bot.slack.blocks.compose_context import MAX_SHARED_FILES
from bot.slack.compose_flow import ComposeFlow
from bot.slack.i18n import t
from bot.slack.mrkdwn import plain_text_of
from bot.slack.origin import Origin
from handlers.payloads import Message, MessageShortcut, parse


def prefill_of(message: Message, agent: str) -> str:
    """The message's text when it is the agent's own reply in the thread, else nothing."""
    own = message.user == agent and not message.bot_id
    return plain_text_of(message.text) if message.is_reply and own else ""


def register(
    app: AsyncApp,
    *,
    flow: ComposeFlow,
    finder: ContactFinder,
    answers: Answers,
    background: Background,
    settings: Settings,
) -> None:
    async def shortcut(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        lang = str(context["lang"])
        asked = parse(MessageShortcut, body)
        agent, message = asked.agent, asked.message
        channel, root = asked.channel.id, message.root

        async def explain(key: str) -> None:
            if asked.response_url:
                await answers.to(body)(*text_answer(t(key, lang)))

        async def work() -> None:
            support = settings.support_channel
            contact = None
            if root and (not support or channel == support):
                contact = await finder.by_thread(root)
            if contact is None:
                await explain("compose.shortcut.not_thread")
                return
            opened = await flow.open(
                contact_id=contact.id,
                agent=agent,
                lang=lang,
                trigger_id=asked.trigger_id,
                origin=Origin(channel, root),
                draft=Draft(text=prefill_of(message, agent)),
                # A file shared in the thread goes with the message (the modal says so).
                files=tuple(
                    AttachedFile(f.name, f.mimetype, f.size, f.url_private)
                    for f in message.files[:MAX_SHARED_FILES]
                    if f.url_private
                ),
            )
            if not opened:
                await explain("compose.gone")

        background.run(work(), on_error=answers.apology(body, lang))

    app.shortcut(ids.FOLLOWUP_SHORTCUT)(shortcut)

"""What the Slack side shows when a waiting item comes due or changes: the
reminder's direct message, a scheduled follow-up that could not go, and the
item's entry in the conversation's thread (through the thread queue, so a
Slack outage loses nothing)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from slack_sdk.models.blocks import Block

from bot.domain.channels import CHANNEL_LABELS, Channel
from bot.domain.schedule import ScheduledItem
from bot.services.followup import FollowupResult
from bot.services.people import People
from bot.slack.answers import Answers
from bot.slack.blocks.answers import text_answer
from bot.slack.blocks.schedule import reminder_message
from bot.slack.i18n import t
from bot.slack.render import escape, reason_text
from bot.slack.threads import ThreadQueue
from bot.store.contacts import ContactStore

logger = logging.getLogger(__name__)


class SlackScheduleNotices:
    def __init__(
        self,
        threads: ThreadQueue,
        contacts: ContactStore,
        answers: Answers | None,
        people: People | None,
        default_language: str = "en",
    ) -> None:
        self.threads = threads
        self.contacts = contacts
        self.answers = answers
        self.people = people
        self.default_language = default_language

    async def _lang(self, agent: str) -> str:
        if self.people is None:
            return self.default_language
        return await self.people.language(agent)

    async def _direct(self, agent: str, text: str, blocks: Sequence[Block]) -> None:
        if self.answers is None:
            logger.warning("a reminder is due but Slack is not set up")
            return
        await self.answers.direct(agent, text, blocks)

    async def remind(self, item: ScheduledItem) -> None:
        contact = await self.contacts.get(item.contact_id)
        lang = await self._lang(item.agent)
        channel = None
        if contact is not None and contact.conversation.last_inbound_at:
            channel = max(contact.conversation.last_inbound_at.items(), key=lambda kv: kv[1])[0]
        text, blocks = reminder_message(item, contact, channel, lang)
        await self._direct(item.agent, text, blocks)

    async def not_sent(self, item: ScheduledItem, result: FollowupResult) -> None:
        contact = result.contact or await self.contacts.get(item.contact_id)
        lang = await self._lang(item.agent)
        name = escape(contact.display_name) if contact is not None else item.contact_id
        try:
            channel = CHANNEL_LABELS[Channel(json.loads(item.payload).get("channel"))]
        except (ValueError, KeyError):
            channel = "—"
        if result.reason is not None:
            why = reason_text(result.reason, lang)
        else:
            why = t(f"schedule.outcome.{result.outcome.value}", lang)
        text = t("schedule.not_sent", lang, name=name, channel=channel, reason=why)
        await self._direct(item.agent, *text_answer(text))

    async def changed(self, contact_id: str, item_id: str, gone: str = "") -> None:
        await self.threads.scheduled_changed(contact_id, item_id, gone)

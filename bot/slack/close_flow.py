"""The close flow's Slack side, shared by App Home's *Close* and the close modal:
close, refresh the Home tabs it changes, and answer."""

from __future__ import annotations

from bot.services.closing import CloseService
from bot.slack.answers import Reply
from bot.slack.background import Background
from bot.slack.blocks.contact_blocks import text_message
from bot.slack.home import HomeTabs
from bot.slack.i18n import t
from bot.slack.render import escape


class CloseFlow:
    def __init__(self, closer: CloseService, home: HomeTabs, background: Background) -> None:
        self.closer = closer
        self.home = home
        self.background = background

    async def waiting(self, contact_id: str) -> int:
        """What waits for the customer (the close modal asks whether to keep it)."""
        return await self.closer.waiting(contact_id)

    async def close(
        self,
        contact_id: str,
        agent: str,
        lang: str,
        reply: Reply | None,
        reason: str | None = None,
        *,
        keep_scheduled: bool = True,
    ) -> None:
        """Close for `agent` (with the reason given, if any); refresh the Home tabs it
        changes; answer through `reply`, if any."""
        closed = await self.closer.close(contact_id, agent, reason, keep_scheduled=keep_scheduled)
        if closed is None:
            text = t("reopen.gone", lang)
        else:
            text = t("home.closed_done", lang, name=escape(closed.contact.display_name))
            if closed.kept:
                text += " " + t("schedule.close.kept", lang, count=closed.kept)
            if closed.dropped:
                text += " " + t("schedule.close.dropped", lang, count=closed.dropped)
            await self.home.publish(agent)
            assignee = closed.previous_assignee
            if assignee and assignee != agent:
                self.background.run(self.home.publish(assignee))
        if reply is not None:
            await reply(*text_message(text))

"""Permalinks of conversation threads, for link buttons (App Home, alerts).

A link button opens the thread in one tap. Slack's permalinks never change,
so each is asked of Slack once (`chat.getPermalink`) and kept in Redis; App
Home, published often, then costs no Slack call per conversation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import ButtonElement, PlainTextObject
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import ids
from bot.slack.i18n import t
from bot.store.thread_queue import ThreadLinkStore

logger = logging.getLogger(__name__)

#: A kept permalink is dropped after this long (threads of old conversations).
LINK_SECONDS = 30 * 24 * 3600


class ThreadLinks:
    def __init__(self, store: ThreadLinkStore, client: AsyncWebClient, channel: str | None) -> None:
        self.store = store
        self.client = client
        self.channel = channel

    async def of(self, thread_ts: Collection[str]) -> dict[str, str]:
        """Permalinks by thread ts; a thread Slack cannot link to now is left out."""
        wanted = sorted(set(thread_ts))
        if not wanted or not self.channel:
            return {}
        links = await self.store.kept(wanted)
        missing = [ts for ts in wanted if ts not in links]
        if missing:
            asked = await asyncio.gather(*(self._ask(ts) for ts in missing))
            fresh = {ts: link for ts, link in zip(missing, asked, strict=True) if link}
            await self.store.keep(fresh, LINK_SECONDS)
            links.update(fresh)
        return links

    async def _ask(self, thread_ts: str) -> str | None:
        assert self.channel is not None
        try:
            reply = await self.client.chat_getPermalink(channel=self.channel, message_ts=thread_ts)
        except (SlackApiError, OSError, TimeoutError) as error:
            logger.warning("no permalink for a thread", extra={"error": type(error).__name__})
            return None
        link = reply.get("permalink")
        return str(link) if link else None


def thread_button(contact_id: str, link: str | None, lang: str) -> ButtonElement:
    """*Open thread*: a link straight to the thread when there is one, else the
    button whose listener answers with the link (or "no thread yet")."""
    text = PlainTextObject(text=t("button.open_thread", lang), emoji=True)
    if link:
        return ButtonElement(text=text, action_id=ids.OPEN_THREAD_LINK, value=contact_id, url=link)
    return ButtonElement(text=text, action_id=ids.CONTACT_OPEN_THREAD, value=contact_id)

"""Files an agent attached in Slack, fetched into the media store for sending.

Each file is checked against the chosen channel's limits first
(`bot.domain.media.check`, with MEDIA_MAX_BYTES), then fetched from Slack's
`url_private` with the bot token (Slack's hosts only, streamed, capped) straight
into the media store: never held whole, never in Redis.
"""

from __future__ import annotations

from collections.abc import Sequence

import aiohttp

from bot.channels.download import DownloadRefused
from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.media import MediaRefusal, check
from bot.domain.messages import Attachment
from bot.media.store import MediaStore, MediaTooLarge
from bot.services.compose_plan import AttachedFile
from bot.slack.files import download_slack_file

__all__ = ["AttachmentRefused", "SlackAttachments"]


class AttachmentRefused(Exception):
    """A file that cannot go: a catalogue key and its parameters."""

    def __init__(self, key: str, **params: str) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


class SlackAttachments:
    def __init__(
        self, http: aiohttp.ClientSession, settings: Settings, store: MediaStore | None
    ) -> None:
        self.http = http
        self.settings = settings
        self.store = store

    async def fetch(
        self, files: Sequence[AttachedFile], channel: Channel
    ) -> tuple[Attachment, ...]:
        """The files as stored attachments, in order (`AttachmentRefused` for the
        first that cannot go: nothing is kept of it)."""
        if not files:
            return ()
        if self.store is None:
            raise AttachmentRefused("send.media.no_store")
        attachments = []
        for file in files:
            decision = check(channel, file.mime_type, file.size, cap=self.settings.media_max_bytes)
            if isinstance(decision, MediaRefusal):
                raise AttachmentRefused(decision.key, **dict(decision.params))
            try:
                async with download_slack_file(
                    self.http, self.settings, file.url, max_bytes=decision.max_bytes
                ) as got:
                    stored = await self.store.put(
                        got.chunks(), content_type=file.mime_type, max_bytes=decision.max_bytes
                    )
            except DownloadRefused as refused:
                raise AttachmentRefused(refused.key, **refused.params) from None
            except MediaTooLarge:
                raise AttachmentRefused(
                    "media.refused.too_large",
                    channel=channel.value,
                    size="?",
                    limit=str(decision.max_bytes),
                ) from None
            attachments.append(
                Attachment(decision.kind, file.name, file.mime_type, stored.size, stored.name)
            )
        return tuple(attachments)

"""A customer's file into the conversation's thread (issue 12, "Attachments in").

The webhook is answered once its events are stored; a message's files go on
the thread queue after its entry (`ThreadQueue.customer_wrote`), and the
poster, which knows the thread, hands each one here: the channel's connector
says how its file is fetched (`MediaFetcher.media_source`: WhatsApp
`GET /{media-id}`, Telegram `getFile`, LINE's content API, …), the file is
streamed from the channel's own hosts only, under the channel's inbound cap,
and uploaded into the thread with Slack's external upload and a short caption.
A file that is not fetched (too large, a host that is not the channel's, an
error answer) is said in the thread instead, with its name and size.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.base import Connector, InboundMedia, MediaFetcher
from bot.channels.download import DownloadRefused, hosts_for_channel, inbound_cap
from bot.channels.email import STORED_PREFIX
from bot.config import Settings
from bot.domain.channels import CHANNEL_LABELS, Channel
from bot.domain.media import human_size, inbound_refused
from bot.media.store import MediaNotFound, MediaStore
from bot.slack.files import SlackUploadFailed, ThreadFile, file_to_thread, upload_to_thread
from bot.slack.i18n import t

__all__ = ["NotShown", "ThreadFiles", "default_name"]

logger = logging.getLogger(__name__)

_EXTENSIONS = {"image": "jpg", "video": "mp4", "audio": "ogg", "document": "bin", "sticker": "webp"}


def default_name(media: InboundMedia) -> str:
    """The file's own name, else one made of its kind and type (`image.jpg`)."""
    if media.file_name:
        return media.file_name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1] or "file"
    subtype = media.mime_type.partition("/")[2].partition(";")[0].strip()
    extension = subtype if subtype.isalnum() and len(subtype) <= 5 else _EXTENSIONS[media.kind]
    return f"{media.kind.value}.{extension}"


@dataclass(frozen=True, slots=True)
class NotShown:
    """Why a file is not in the thread: a catalogue key and its parameters."""

    key: str
    params: Mapping[str, str]


class ThreadFiles:
    """Fetches customers' files from their channels and uploads them into threads."""

    def __init__(
        self,
        connectors: Mapping[Channel, Connector],
        http: aiohttp.ClientSession,
        settings: Settings,
        store: MediaStore,
    ) -> None:
        self.connectors = connectors
        self.http = http
        self.settings = settings
        self.store = store

    async def show(
        self,
        client: AsyncWebClient,
        channel: Channel,
        media: InboundMedia,
        *,
        slack_channel: str,
        thread_ts: str,
        lang: str,
    ) -> ThreadFile | NotShown:
        """The file uploaded into the thread, or why it is not (to be said there)."""
        name = default_name(media)
        cap = inbound_cap(channel, self.settings)
        try:
            if inbound_refused(media.mime_type, name):
                # Said before any request: a program or script is not shown.
                raise DownloadRefused("media.in.refused_type", mime=media.mime_type or name)
            if media.size is not None and media.size > cap:
                # Said before any request: the channel told us its size.
                raise DownloadRefused("media.refused.download_too_large", limit=human_size(cap))
            if media.ref.startswith(STORED_PREFIX):
                return await self._from_store(
                    client,
                    media,
                    name,
                    slack_channel,
                    thread_ts,
                    self.caption(channel, media, name, lang),
                )
            if media.ref.startswith("mime:"):  # an e-mail part not kept: past the cap
                raise DownloadRefused("media.refused.download_too_large", limit=human_size(cap))
            connector = self.connectors.get(channel)
            if not isinstance(connector, MediaFetcher):
                raise DownloadRefused("media.refused.download", detail="channel not set up")
            source = await connector.media_source(media)
            return await file_to_thread(
                client,
                self.http,
                self.settings,
                self.store,
                url=source.url,
                allowed=hosts_for_channel(channel, self.settings),
                max_bytes=cap,
                filename=name,
                channel=slack_channel,
                thread_ts=thread_ts,
                caption=self.caption(channel, media, name, lang),
                headers=dict(source.headers),
            )
        except DownloadRefused as refused:
            return self.not_shown(channel, media, name, lang, refused.key, refused.params)
        except SlackUploadFailed as failed:
            logger.warning("customer file not uploaded", extra={"error": failed.error})
            detail = {"detail": failed.error}
            return self.not_shown(channel, media, name, lang, "media.refused.download", detail)

    async def _from_store(
        self,
        client: AsyncWebClient,
        media: InboundMedia,
        name: str,
        slack_channel: str,
        thread_ts: str,
        caption: str,
    ) -> ThreadFile:
        """A file kept in the media store when its webhook came (e-mail's parts):
        uploaded, then removed from the store."""
        key = media.ref.removeprefix(STORED_PREFIX)
        try:
            async with self.store.open(key) as kept:
                file_id = await upload_to_thread(
                    client,
                    self.http,
                    self.settings,
                    kept.chunks(),
                    filename=name,
                    length=kept.size,
                    content_type=media.mime_type or "application/octet-stream",
                    channel=slack_channel,
                    thread_ts=thread_ts,
                    caption=caption,
                )
        except MediaNotFound:
            raise DownloadRefused("media.refused.download", detail="no longer stored") from None
        await self.store.delete(key)
        return ThreadFile(file_id, name, media.mime_type, kept.size)

    @staticmethod
    def caption(channel: Channel, media: InboundMedia, name: str, lang: str) -> str:
        kind = t(f"media.in.kind.{media.kind.value}", lang)
        return t("media.in.caption", lang, kind=kind, channel=CHANNEL_LABELS[channel], name=name)

    @staticmethod
    def not_shown(
        channel: Channel,
        media: InboundMedia,
        name: str,
        lang: str,
        reason_key: str,
        reason_params: Mapping[str, str],
    ) -> NotShown:
        if media.size is not None:
            size = human_size(media.size)
        else:
            size = t("media.in.size_unknown", lang)
        return NotShown(
            "media.in.not_shown",
            {
                **reason_params,
                "name": name,
                "size": size,
                "channel": CHANNEL_LABELS[channel],
                "reason_key": reason_key,
            },
        )

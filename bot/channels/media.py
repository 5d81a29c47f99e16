"""Files going out: what a connector needs to send a message's attachments.

A message's files (`Content.attachments`) live in the media store, named by
`Attachment.key`. A connector gets a `MediaFiles` (the store, the signed links,
the clock and MEDIA_MAX_BYTES) and sends each file its channel's way:

* uploads (Telegram multipart, WhatsApp and WeChat media upload, e-mail MIME
  parts) open the stored file and read its `chunks()` once, as the bytes come
  from the store; nothing holds the whole file;
* channels that fetch by URL (LINE, Viber, Twilio MMS, Messenger and Instagram
  attachments, the website chat) get a signed, expiring `/media/{token}` link to
  the stored file (`url`).

Whether a channel takes a file is the domain's table (`bot.domain.media.check`):
`checked` asks it for every file before anything is sent, so a message with a
file the channel refuses sends nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from bot.channels.base import OutboundRequest, SendOutcome, SendResult
from bot.config import Settings
from bot.domain.clock import utc_now
from bot.domain.media import MediaAccepted, MediaKind, MediaRefusal, check
from bot.domain.messages import Attachment
from bot.media.links import MediaLinks
from bot.media.store import MediaNotFound, MediaStore

__all__ = [
    "CheckedFile",
    "MediaFiles",
    "MediaUser",
    "OutboundFile",
    "checked",
    "file_missing",
    "mp4_duration_ms",
    "send_parts",
]

_Part = TypeVar("_Part")

#: How far into a file `mp4_duration_ms` looks for its `mvhd` box.
DURATION_SCAN_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class OutboundFile:
    """`chunks` opens the stream (each call starts again from the first byte)."""

    filename: str
    content_type: str
    size: int
    chunks: Callable[[], AsyncIterator[bytes]]


class MediaUser(Protocol):
    """A connector that sends files: the registry gives it the media store."""

    media: MediaStore | None


@dataclass(frozen=True, slots=True)
class CheckedFile:
    """A message's file, and how the channel takes it (its kind there, its way)."""

    attachment: Attachment
    accepted: MediaAccepted

    @property
    def kind(self) -> MediaKind:
        return self.accepted.kind


@dataclass(frozen=True)
class MediaFiles:
    """The media store and signed links, as the connectors reach a message's files."""

    store: MediaStore
    links: MediaLinks | None = None
    clock: Callable[[], datetime] = utc_now
    cap: int | None = None  # MEDIA_MAX_BYTES

    @classmethod
    def of(
        cls, store: MediaStore | None, settings: Settings, clock: Callable[[], datetime] = utc_now
    ) -> MediaFiles | None:
        """A connector's way to its files: the store the registry gave it, links
        signed as the settings say, MEDIA_MAX_BYTES; None without a store."""
        if store is None:
            return None
        return cls(store, MediaLinks.from_settings(settings), clock, settings.media_max_bytes)

    @property
    def can_link(self) -> bool:
        """Whether files can be handed out by URL (a signing key and PUBLIC_BASE_URL)."""
        return self.links is not None and self.links.base_url is not None

    def url(self, attachment: Attachment) -> str:
        """The signed, expiring public link to the stored file (`can_link` first)."""
        return self._links().url(attachment.key, self.clock())

    async def published(self, data: bytes, content_type: str) -> str:
        """`data` stored as a file of its own, and its signed, expiring public link
        (`can_link` first); removed after the retention like any other file."""
        links = self._links()

        async def once() -> AsyncIterator[bytes]:
            yield data

        stored = await self.store.put(once(), content_type=content_type)
        return links.url(stored.name, self.clock())

    def _links(self) -> MediaLinks:
        if self.links is None:
            raise LookupError("no media links: MEDIA_SECRET or SLACK_SIGNING_SECRET is needed")
        return self.links

    @contextlib.asynccontextmanager
    async def opened(self, attachment: Attachment) -> AsyncIterator[OutboundFile]:
        """The stored file, open, as an upload reads it (`MediaNotFound` when gone)."""
        async with self.store.open(attachment.key) as reader:
            content_type = attachment.mime_type or reader.content_type
            yield OutboundFile(attachment.file_name, content_type, reader.size, reader.chunks)


def checked(
    message: OutboundRequest, media: MediaFiles | None, *, by_url: bool = False
) -> list[CheckedFile] | SendResult:
    """Every file of `message` as the channel takes it, or why the message cannot go
    (the first file refused, no media store, no public links for a channel that
    fetches by URL). Nothing is sent before this answers."""
    files = message.content.attachments
    channel = message.channel
    if media is None:
        return SendResult.failed("send.media.no_store")
    if by_url and not media.can_link:
        return SendResult.failed("send.media.no_public_url", channel=channel.value)
    taken: list[CheckedFile] = []
    for attachment in files:
        decision = check(
            channel,
            attachment.mime_type,
            attachment.size,
            kind=MediaKind(attachment.kind.value),
            cap=media.cap,
        )
        if isinstance(decision, MediaRefusal):
            return SendResult.failed(decision.key, **decision.params)
        taken.append(CheckedFile(attachment, decision))
    return taken


def file_missing(attachment: Attachment, error: MediaNotFound) -> SendResult:
    """A stored file gone before it could be sent (removed, or past retention)."""
    del attachment, error  # its name is the agent's: not in a reason
    return SendResult.failed("send.media.missing")


async def mp4_duration_ms(chunks: AsyncIterator[bytes]) -> int | None:
    """An MP4 / M4A file's length in milliseconds, from its movie header box
    (`mvhd`: version, flags, times, then `timescale` and `duration`; ISO/IEC
    14496-12 §8.2.2), found in the first `DURATION_SCAN_BYTES`; None otherwise."""
    seen = b""
    scanned = 0
    async for chunk in chunks:
        seen = seen[-64:] + chunk
        scanned += len(chunk)
        at = seen.find(b"mvhd")
        if at >= 0 and len(seen) >= at + 4 + 32:
            box = seen[at + 4 :]
            if box[0] == 1:  # 64-bit times
                timescale = int.from_bytes(box[20:24], "big")
                duration = int.from_bytes(box[24:32], "big")
            else:
                timescale = int.from_bytes(box[12:16], "big")
                duration = int.from_bytes(box[16:20], "big")
            return duration * 1000 // timescale if timescale else None
        if scanned >= DURATION_SCAN_BYTES:
            break
    return None


async def send_parts(
    parts: Sequence[_Part], send_one: Callable[[_Part], Awaitable[SendResult]]
) -> SendResult:
    """Send a message that goes as several channel messages (a text, then each file),
    in order, stopping at the first that does not go. The result is the first part's
    (its id names the message); a part refused after others went is final, never
    retried, so nothing is sent twice (`send.media.partly_sent`)."""
    first: SendResult | None = None
    for index, part in enumerate(parts):
        result = await send_one(part)
        if result.outcome is not SendOutcome.SENT:
            if first is None:
                return result
            return SendResult.failed("send.media.partly_sent", sent=index, total=len(parts))
        first = first or result
    return first or SendResult.failed("send.empty")

"""A file on its way to a channel: its name, type, size and bytes as a stream.

Connectors that upload (Telegram multipart, WhatsApp and WeChat media upload,
e-mail MIME parts) read `chunks()` once, as the bytes come from the media
store or a download; nothing holds the whole file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

from bot.domain.messages import Attachment
from bot.media.store import MediaStore

__all__ = ["MediaUser", "OutboundFile", "attachment_file"]


@dataclass(frozen=True, slots=True)
class OutboundFile:
    """`chunks` opens the stream (each call starts again from the first byte)."""

    filename: str
    content_type: str
    size: int
    chunks: Callable[[], AsyncIterator[bytes]]


def attachment_file(store: MediaStore, attachment: Attachment) -> OutboundFile:
    """A message's attachment as a file to upload, read from the media store by its
    key each time the stream is opened (a retried upload starts again)."""

    async def chunks() -> AsyncIterator[bytes]:
        async with store.open(attachment.key) as reader:
            async for chunk in reader.chunks():
                yield chunk

    return OutboundFile(attachment.file_name, attachment.mime_type, attachment.size, chunks)


class MediaUser(Protocol):
    """A connector that sends files: the registry gives it the media store."""

    media: MediaStore | None

"""A file on its way to a channel: its name, type, size and bytes as a stream.

Connectors that upload (Telegram multipart, WhatsApp and WeChat media upload,
e-mail MIME parts) read `chunks()` once, as the bytes come from the media
store or a download; nothing holds the whole file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

__all__ = ["OutboundFile"]


@dataclass(frozen=True, slots=True)
class OutboundFile:
    """`chunks` opens the stream (each call starts again from the first byte)."""

    filename: str
    content_type: str
    size: int
    chunks: Callable[[], AsyncIterator[bytes]]

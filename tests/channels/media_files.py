"""What the connectors' file-send tests share: files put in a real media store
(a directory), signed links that verify, and messages carrying the files.

The `media` fixture (tests/channels/conftest.py) gives a `MediaFiles` over a
fresh store; `stored(...)` puts bytes in it as an `Attachment`; `declared(...)`
names a file by size alone (a refusal must never read it); `linked(url)` is the
stored name a signed link grants (it must verify).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from pydantic import SecretStr

from bot.channels.base import OutboundRequest
from bot.channels.media import MediaFiles
from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.clock import utc_now
from bot.domain.media import MB, kind_of
from bot.domain.messages import Attachment, Content, MediaKind, TemplateUse
from bot.domain.windows import SendMode
from bot.media.links import MediaLinks

NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
PUBLIC = "https://followup.example.com"
#: What a deployment whose channels fetch files by link sets.
LINKABLE = {"public_base_url": PUBLIC, "media_secret": SecretStr("media links in tests")}
LINKS = MediaLinks.from_settings(Settings(_env_file=None, **LINKABLE))  # type: ignore[call-arg]


def linkable(settings: Settings) -> Settings:
    """`settings` with the public base URL and the key media links are signed with."""
    return settings.model_copy(update=LINKABLE)


def pattern(size: int, seed: str = "file") -> bytes:
    """`size` bytes that differ from file to file."""
    block = hashlib.sha256(seed.encode()).digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


def m4a(duration_ms: int, size: int = 40_000) -> bytes:
    """A small M4A: `ftyp`, then `moov` with a version-0 `mvhd` (timescale 1000)."""
    mvhd_body = bytes(4) + struct.pack(">IIII", 0, 0, 1000, duration_ms) + bytes(80)
    mvhd = struct.pack(">I", 8 + len(mvhd_body)) + b"mvhd" + mvhd_body
    moov = struct.pack(">I", 8 + len(mvhd)) + b"moov" + mvhd
    head = b"\x00\x00\x00\x18ftypM4A \x00\x00\x02\x00isomM4A " + moov
    return head + pattern(size - len(head), "m4a")


async def stored(
    media: MediaFiles,
    name: str,
    mime: str,
    data: bytes,
    kind: MediaKind | None = None,
) -> Attachment:
    """`data` put in the media store (in 64 KiB pieces) as a message's file."""

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 64 * 1024):
            yield data[start : start + 64 * 1024]

    kept = await media.store.put(chunks(), content_type=mime, max_bytes=200 * MB)
    return Attachment(kind or MediaKind(kind_of(mime).value), name, mime, len(data), kept.name)


def declared(name: str, mime: str, size: int, kind: MediaKind | None = None) -> Attachment:
    """A file named by its size only: never stored (a refusal must not read it)."""
    return Attachment(kind or MediaKind(kind_of(mime).value), name, mime, size, "0" * 32)


def linked(url: str) -> str:
    """The stored file a signed link grants (LinkInvalid when it is not ours)."""
    assert LINKS is not None and url.startswith(f"{PUBLIC}/media/")
    return LINKS.verify(url.rsplit("/", 1)[1], utc_now())


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def with_files(
    channel: Channel,
    recipient: str,
    *files: Attachment,
    text: str = "",
    mode: SendMode = SendMode.FREE,
    template: TemplateUse | None = None,
) -> OutboundRequest:
    """Our message "m-1" to `recipient`: `text` (or `template`) and `files`."""
    content = Content(text, template, None, files)
    return OutboundRequest("m-1", channel, recipient, mode, content)

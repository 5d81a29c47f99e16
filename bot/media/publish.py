"""A file put where a channel that fetches by URL can get it: stored, then linked.

For LINE, Viber, Twilio MMS and the website chat: the stream goes into the
media store (capped) and comes back as a signed, expiring
`PUBLIC_BASE_URL/media/{token}` link to hand to the channel.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from dataclasses import dataclass
from datetime import datetime

from bot.media.links import MediaLinks
from bot.media.store import MediaStore, StoredMedia

__all__ = ["PublishedMedia", "publish"]


@dataclass(frozen=True, slots=True)
class PublishedMedia:
    stored: StoredMedia
    url: str
    expires_at: datetime


async def publish(
    store: MediaStore,
    links: MediaLinks,
    chunks: AsyncIterable[bytes],
    *,
    content_type: str,
    max_bytes: int,
    now: datetime,
) -> PublishedMedia:
    """Store `chunks` and link them; `MediaTooLarge` past `max_bytes` (nothing kept),
    `LookupError` without PUBLIC_BASE_URL (checked first: nothing stored then)."""
    if links.base_url is None:
        raise LookupError("PUBLIC_BASE_URL is needed for media links")
    stored = await store.put(chunks, content_type=content_type, max_bytes=max_bytes)
    return PublishedMedia(stored, links.url(stored.name, now), now + links.lifetime)

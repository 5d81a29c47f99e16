"""Which media store a deployment uses: the one `MEDIA_STORE_URL` names (above
both kinds, so neither imports the other)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from bot.config import Settings
from bot.media.store import FileMediaStore, MediaStore


def open_media_store(settings: Settings) -> MediaStore:
    """The store `settings.media_store` names (`file://…` or `s3://bucket/prefix`)."""
    url = settings.media_store
    parts = urlsplit(url)
    if parts.scheme == "s3":
        from bot.media.s3 import S3MediaStore  # aiobotocore loads only where used

        return S3MediaStore(settings, bucket=parts.netloc, prefix=parts.path.strip("/"))
    return FileMediaStore(Path(unquote(parts.netloc + parts.path)))

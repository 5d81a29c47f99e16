"""The media store, on a directory and on S3 (moto's server): streams in and out,
caps, deletes, retention by an injected clock (issue 12, "Media store")."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.media.s3 import PART_BYTES, S3MediaStore
from bot.media.store import (
    FileMediaStore,
    MediaNotFound,
    MediaStore,
    MediaTooLarge,
    extension_for,
    is_media_name,
)
from bot.media.stores import open_media_store
from tests.media.conftest import make_bucket, s3_settings


async def stream(size: int, chunk: int = 64 * 1024, seed: bytes = b"x") -> AsyncIterator[bytes]:
    block = hashlib.sha256(seed).digest() * (chunk // 32 + 1)
    sent = 0
    while sent < size:
        piece = block[: min(chunk, size - sent)]
        sent += len(piece)
        yield piece


async def read_all(store: MediaStore, name: str) -> tuple[str, int, bytes]:
    async with store.open(name) as media:
        body = b"".join([chunk async for chunk in media.chunks()])
        return media.content_type, media.size, body


async def test_a_stored_stream_reads_back_with_its_type_and_size(media_store: MediaStore) -> None:
    stored = await media_store.put(stream(300_000), content_type="image/jpeg")
    assert is_media_name(stored.name) and stored.name.endswith(".jpg")
    assert (stored.size, stored.content_type) == (300_000, "image/jpeg")
    content_type, size, body = await read_all(media_store, stored.name)
    assert (content_type, size) == ("image/jpeg", 300_000)
    assert body == b"".join([c async for c in stream(300_000)])


async def test_a_stream_past_the_cap_is_refused_and_nothing_is_kept(
    media_store: MediaStore,
) -> None:
    with pytest.raises(MediaTooLarge):
        await media_store.put(stream(200_000), content_type="video/mp4", max_bytes=100_000)
    # Only files stored before "tomorrow" could be removed: there are none.
    assert await media_store.remove_older_than(datetime.now(UTC) + timedelta(days=1)) == 0


async def test_a_deleted_file_is_not_found(media_store: MediaStore) -> None:
    stored = await media_store.put(stream(10), content_type="application/pdf")
    await media_store.delete(stored.name)
    with pytest.raises(MediaNotFound):
        await read_all(media_store, stored.name)
    await media_store.delete(stored.name)  # twice: nothing happens


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", "..", "", "a" * 32, "0" * 32 + "/x", "0" * 32 + ".toolong", "%2e%2e"],
)
async def test_only_names_the_store_made_are_opened(media_store: MediaStore, name: str) -> None:
    with pytest.raises(MediaNotFound):
        await read_all(media_store, name)


async def test_files_older_than_the_retention_are_removed(media_store: MediaStore) -> None:
    old = await media_store.put(stream(10), content_type="image/png")
    new = await media_store.put(stream(10), content_type="image/png")
    stored_at = datetime.now(UTC)
    if isinstance(media_store, FileMediaStore):
        an_hour_ago = (stored_at - timedelta(hours=1)).timestamp()
        for name in (old.name, old.name + ".meta"):
            os.utime(media_store.directory / name, (an_hour_ago, an_hour_ago))
        # A clock a minute after storing, retention 30 minutes: only `old` went before.
        cutoff = stored_at - timedelta(minutes=30)
        assert await media_store.remove_older_than(cutoff) == 1
        with pytest.raises(MediaNotFound):
            await read_all(media_store, old.name)
        assert (await read_all(media_store, new.name))[1] == 10
    else:
        # S3 stamps LastModified itself: a clock before and one well after.
        assert await media_store.remove_older_than(stored_at - timedelta(hours=1)) == 0
        assert await media_store.remove_older_than(stored_at + timedelta(hours=1)) == 2
        for name in (old.name, new.name):
            with pytest.raises(MediaNotFound):
                await read_all(media_store, name)


async def test_a_large_file_goes_to_s3_in_parts_and_reads_back_whole(s3_endpoint: str) -> None:
    bucket = await make_bucket(s3_endpoint)
    store = S3MediaStore(s3_settings(s3_endpoint, bucket), bucket=bucket)
    size = 2 * PART_BYTES + 12_345
    try:
        stored = await store.put(stream(size, chunk=256 * 1024), content_type="video/mp4")
        digest = hashlib.sha256()
        async with store.open(stored.name) as media:
            assert media.size == size
            async for chunk in media.chunks():
                digest.update(chunk)
        expected = hashlib.sha256(b"".join([c async for c in stream(size, chunk=256 * 1024)]))
        assert digest.hexdigest() == expected.hexdigest()
    finally:
        await store.close()


async def test_settings_pick_the_store(s3_endpoint: str, tmp_path: Path) -> None:
    from bot.config import Settings

    local = open_media_store(Settings(_env_file=None, data_dir=tmp_path))  # type: ignore[call-arg]
    assert isinstance(local, FileMediaStore) and local.directory == (tmp_path / "media").resolve()
    remote = open_media_store(s3_settings(s3_endpoint, "bucket"))
    assert isinstance(remote, S3MediaStore)
    assert (remote.bucket, remote.prefix) == ("bucket", "media/")


@pytest.mark.parametrize(
    ("content_type", "extension"),
    [
        ("image/jpeg", ".jpg"),
        ("video/mp4", ".mp4"),
        ("application/pdf", ".pdf"),
        ("text/plain; charset=utf-8", ".txt"),
        ("application/x-unknown", ""),
    ],
)
def test_the_name_carries_the_types_extension(content_type: str, extension: str) -> None:
    assert extension_for(content_type) == extension

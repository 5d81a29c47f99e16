"""`GET /media/{token}` through the real web app of `serve`, and the retention
it runs (issue 12, "Media store")."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_web_app
from bot.config import Settings
from bot.media.links import LinkExpired, LinkInvalid, MediaLinks
from bot.media.publish import publish
from bot.media.s3 import S3MediaStore
from bot.media.store import FileMediaStore, MediaStore, MediaTooLarge
from bot.media.web import MEDIA_STORE_KEY, remove_expired, run_retention
from bot.runtime import CLOCK_KEY
from bot.store.connection import create_redis
from tests.media.conftest import make_bucket, s3_settings

Client = TestClient[web.Request, web.Application]
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
PUBLIC_URL = "https://followup.example.com"
PHOTO = bytes(range(256)) * 4096  # 1 MiB


async def chunks(data: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@dataclass
class Served:
    client: Client
    store: MediaStore
    links: MediaLinks
    clock: list[datetime]


def media_settings(tmp_path: Path, **more: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path,
        "public_base_url": PUBLIC_URL,
        "media_secret": "media-link-secret",
        "media_link_hours": 24,
        **more,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest_asyncio.fixture(loop_scope="session")
async def served(tmp_path: Path, redis_url: str) -> AsyncIterator[Served]:
    settings = media_settings(tmp_path)
    app = build_web_app(settings, create_redis(redis_url))
    clock = [NOW]
    app[CLOCK_KEY] = lambda: clock[0]
    links = MediaLinks.from_settings(settings)
    assert links is not None
    async with TestClient(TestServer(app)) as client:
        yield Served(client, app[MEDIA_STORE_KEY], links, clock)


def path_of(url: str) -> str:
    assert url.startswith(PUBLIC_URL + "/media/")
    return url.removeprefix(PUBLIC_URL)


async def test_a_valid_link_streams_the_file_with_its_type_and_length(served: Served) -> None:
    stored = await served.store.put(chunks(PHOTO), content_type="image/jpeg")
    url = served.links.url(stored.name, NOW)
    assert url.endswith(".jpg")  # the type in the last segment, as Viber wants
    response = await served.client.get(path_of(url))
    assert response.status == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.headers["Content-Length"] == str(len(PHOTO))
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert await response.read() == PHOTO
    head = await served.client.head(path_of(url))
    assert head.status == 200 and head.headers["Content-Length"] == str(len(PHOTO))
    assert await head.read() == b""


async def test_a_link_works_until_it_expires_then_answers_404(served: Served) -> None:
    stored = await served.store.put(chunks(b"invoice"), content_type="application/pdf")
    path = path_of(served.links.url(stored.name, NOW))
    served.clock[0] = NOW + timedelta(hours=23, minutes=59)
    assert (await served.client.get(path)).status == 200
    served.clock[0] = NOW + timedelta(hours=24)
    expired = await served.client.get(path)
    assert expired.status == 404 and b"invoice" not in await expired.read()


def tampered(token: str, other_name: str) -> dict[str, str]:
    expires, signature, name = token.split("-", 2)
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return {
        "signature": f"{expires}-{flipped}-{name}",
        "later expiry": f"{int(expires) + 3600}-{signature}-{name}",
        "another file": f"{expires}-{signature}-{other_name}",
        "no signature": f"{expires}--{name}",
        "a path": f"{expires}-{signature}-..%2F..%2Fetc%2Fpasswd",
        "a name": name,
    }


async def test_a_tampered_or_malformed_token_is_refused_and_reads_no_file(
    served: Served,
) -> None:
    secret = await served.store.put(chunks(b"secret"), content_type="text/plain")
    other = await served.store.put(chunks(b"other"), content_type="text/plain")
    token = served.links.token(secret.name, NOW)
    for what, bad in tampered(token, other.name).items():
        response = await served.client.get(f"/media/{bad}")
        assert response.status in (403, 404), what
        body = await response.read()
        assert b"secret" not in body and b"other" not in body, what
    assert (await served.client.get(f"/media/{token}")).status == 200


async def test_a_removed_file_answers_404_even_with_a_valid_link(served: Served) -> None:
    stored = await served.store.put(chunks(b"gone"), content_type="image/png")
    path = path_of(served.links.url(stored.name, NOW))
    await served.store.delete(stored.name)
    assert (await served.client.get(path)).status == 404


async def test_without_a_secret_no_link_is_made_or_served(tmp_path: Path, redis_url: str) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    assert MediaLinks.from_settings(settings) is None
    app = build_web_app(settings, create_redis(redis_url))
    async with TestClient(TestServer(app)) as client:
        stored = await app[MEDIA_STORE_KEY].put(chunks(b"x"), content_type="image/png")
        forged = MediaLinks(b"", timedelta(hours=1)).token(stored.name, NOW)
        assert (await client.get(f"/media/{forged}")).status == 404


def test_the_link_key_is_derived_from_the_signing_secret_and_never_equals_it() -> None:
    settings = Settings(_env_file=None, slack_signing_secret="slack-signing")  # type: ignore[call-arg]
    links = MediaLinks.from_settings(settings)
    assert links is not None and links.key != b"slack-signing" and len(links.key) == 32
    own = MediaLinks.from_settings(
        Settings(_env_file=None, slack_signing_secret="slack-signing", media_secret="m")  # type: ignore[call-arg]
    )
    assert own is not None and own.key != links.key
    token = links.token("0" * 32 + ".png", NOW)
    assert links.verify(token, NOW) == "0" * 32 + ".png"
    with pytest.raises(LinkInvalid):
        own.verify(token, NOW)
    with pytest.raises(LinkExpired):
        links.verify(token, NOW + timedelta(hours=24))
    with pytest.raises(LookupError):
        MediaLinks(links.key, timedelta(hours=1)).url("0" * 32, NOW)


@pytest.fixture
def aged_store(tmp_path: Path) -> Iterator[FileMediaStore]:
    yield FileMediaStore(tmp_path / "media")


async def test_retention_removes_what_is_older_than_the_setting_by_the_injected_clock(
    aged_store: FileMediaStore,
) -> None:
    old = await aged_store.put(chunks(b"old"), content_type="image/png")
    new = await aged_store.put(chunks(b"new"), content_type="image/png")
    stored_at = datetime.now(UTC)
    three_days_ago = (stored_at - timedelta(hours=73)).timestamp()
    for name in (old.name, old.name + ".meta"):
        os.utime(aged_store.directory / name, (three_days_ago, three_days_ago))
    assert await remove_expired(aged_store, lambda: stored_at, timedelta(hours=72)) == 1
    assert sorted(p.name for p in aged_store.directory.iterdir()) == sorted(
        [new.name, new.name + ".meta"]
    )
    # The loop: a pass at once, then stops when told (a clock 4 days on: `new` goes).
    stop = asyncio.Event()
    stop.set()
    later = stored_at + timedelta(days=4)
    await run_retention(aged_store, lambda: later, timedelta(hours=72), stop)
    assert list(aged_store.directory.iterdir()) == []


async def test_a_failed_retention_pass_is_logged_and_the_loop_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("x")
    stop = asyncio.Event()
    stop.set()
    await run_retention(FileMediaStore(not_a_directory), lambda: NOW, timedelta(hours=1), stop)
    assert "media retention pass failed" in caplog.text


async def test_a_published_file_is_fetched_by_its_link_until_it_expires(served: Served) -> None:
    published = await publish(
        served.store,
        served.links,
        chunks(PHOTO),
        content_type="video/mp4",
        max_bytes=2 * len(PHOTO),
        now=NOW,
    )
    assert published.url.endswith(".mp4") and published.expires_at == NOW + timedelta(hours=24)
    response = await served.client.get(path_of(published.url))
    assert response.status == 200 and await response.read() == PHOTO
    with pytest.raises(MediaTooLarge):
        await publish(
            served.store,
            served.links,
            chunks(PHOTO),
            content_type="video/mp4",
            max_bytes=1000,
            now=NOW,
        )
    unlinked = MediaLinks(served.links.key, served.links.lifetime)
    with pytest.raises(LookupError):
        await publish(
            served.store,
            unlinked,
            chunks(PHOTO),
            content_type="video/mp4",
            max_bytes=2 * len(PHOTO),
            now=NOW,
        )


async def test_a_link_streams_a_file_kept_in_an_s3_bucket(
    tmp_path: Path, redis_url: str, s3_endpoint: str
) -> None:
    bucket = await make_bucket(s3_endpoint)
    settings = s3_settings(
        s3_endpoint, bucket, public_base_url=PUBLIC_URL, media_secret="media-link-secret"
    )
    app = build_web_app(settings, create_redis(redis_url))
    store = app[MEDIA_STORE_KEY]
    assert isinstance(store, S3MediaStore)
    async with TestClient(TestServer(app)) as client:
        stored = await store.put(chunks(PHOTO), content_type="image/png")
        links = MediaLinks.from_settings(settings)
        assert links is not None
        response = await client.get(path_of(links.url(stored.name, datetime.now(UTC))))
        assert response.status == 200
        assert response.headers["Content-Type"] == "image/png"
        assert response.headers["Content-Length"] == str(len(PHOTO))
        assert await response.read() == PHOTO

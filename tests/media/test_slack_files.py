"""Slack files: a shared file fetched from `url_private` with the bot token,
streamed and capped; a stream uploaded into a thread with Slack's external
upload pair (issue 12, "Attachments out" and "Attachments in")."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.download import AllowedHosts, DownloadRefused
from bot.config import Settings
from bot.media.store import FileMediaStore
from bot.slack.files import (
    SlackUploadFailed,
    download_slack_file,
    file_to_thread,
    upload_to_thread,
)
from tests.fakes.slack import FakeSlack

PHOTO = bytes(range(256)) * 4096  # 1 MiB


@pytest_asyncio.fixture(loop_scope="session")
async def slack() -> AsyncIterator[FakeSlack]:
    fake = await FakeSlack().start()
    try:
        yield fake
    finally:
        await fake.close()


@pytest_asyncio.fixture(loop_scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def settings_for(slack: FakeSlack, token: str | None = None) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        slack_api_url=slack.url,
        slack_bot_token=token or slack.token,  # type: ignore[arg-type]
    )


async def read(
    http: aiohttp.ClientSession, settings: Settings, url: str, max_bytes: int = 2 * len(PHOTO)
) -> tuple[str, bytes]:
    async with download_slack_file(http, settings, url, max_bytes=max_bytes) as got:
        return got.content_type, b"".join([c async for c in got.chunks()])


async def test_a_shared_file_is_fetched_with_the_bot_token(
    slack: FakeSlack, http: aiohttp.ClientSession
) -> None:
    shared = slack.add_file("receipt.jpg", PHOTO, "image/jpeg")
    assert shared["size"] == len(PHOTO)
    content_type, body = await read(http, settings_for(slack), shared["url_private"])
    assert (content_type, body) == ("image/jpeg", PHOTO)


async def test_a_wrong_token_gets_slacks_sign_in_page_and_no_file(
    slack: FakeSlack, http: aiohttp.ClientSession
) -> None:
    shared = slack.add_file("receipt.jpg", PHOTO, "image/jpeg")
    with pytest.raises(DownloadRefused) as refused:
        await read(http, settings_for(slack, token="xoxb-wrong"), shared["url_private"])
    assert refused.value.params["detail"].startswith("Slack asked to sign in")


async def test_a_shared_file_past_the_cap_is_refused(
    slack: FakeSlack, http: aiohttp.ClientSession
) -> None:
    shared = slack.add_file("video.mp4", PHOTO, "video/mp4")
    with pytest.raises(DownloadRefused) as refused:
        await read(http, settings_for(slack), shared["url_private"], max_bytes=1000)
    assert refused.value.key == "media.refused.download_too_large"


async def test_a_url_private_off_slacks_hosts_is_never_fetched(
    slack: FakeSlack, http: aiohttp.ClientSession
) -> None:
    with pytest.raises(DownloadRefused) as refused:
        await read(http, settings_for(slack), "https://attacker.example/files-pri/T-F/x.png")
    assert refused.value.key == "media.refused.host"


async def chunks(data: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_a_stream_goes_into_the_thread_with_its_caption(
    slack: FakeSlack, http: aiohttp.ClientSession
) -> None:
    settings = settings_for(slack)
    client = AsyncWebClient(token=slack.token, base_url=slack.url, session=http)
    file_id = await upload_to_thread(
        client,
        http,
        settings,
        chunks(PHOTO),
        filename="photo.jpg",
        length=len(PHOTO),
        content_type="image/jpeg",
        channel="C0SUPPORT",
        thread_ts="1795000001.000100",
        caption="📷 Photo from the customer",
    )
    uploaded = slack.files[file_id]
    assert uploaded.data == PHOTO and uploaded.mimetype == "image/jpeg"
    assert uploaded.shared == [("C0SUPPORT", "1795000001.000100", "📷 Photo from the customer")]
    ticket = slack.calls_to("files.getUploadURLExternal")[-1].args
    assert (ticket["filename"], ticket["length"]) == ("photo.jpg", str(len(PHOTO)))
    complete = slack.calls_to("files.completeUploadExternal")[-1].args
    assert complete["channel_id"] == "C0SUPPORT"
    assert complete["thread_ts"] == "1795000001.000100"


async def test_an_upload_shorter_than_announced_fails_and_is_not_shared(
    slack: FakeSlack, http: aiohttp.ClientSession
) -> None:
    client = AsyncWebClient(token=slack.token, base_url=slack.url, session=http)
    with pytest.raises(SlackUploadFailed) as failed:
        await upload_to_thread(
            client,
            http,
            settings_for(slack),
            chunks(b"short"),
            filename="a.pdf",
            length=10,
            content_type="application/pdf",
            channel="C0SUPPORT",
            thread_ts="1.2",
            caption="x",
        )
    assert failed.value.error == "the file was shorter than announced"
    assert not any(f.shared for f in slack.files.values() if f.name == "a.pdf")


async def test_slacks_refusal_is_named(slack: FakeSlack, http: aiohttp.ClientSession) -> None:
    client = AsyncWebClient(token="xoxb-wrong", base_url=slack.url, session=http)
    with pytest.raises(SlackUploadFailed) as failed:
        await upload_to_thread(
            client,
            http,
            settings_for(slack),
            chunks(PHOTO),
            filename="photo.jpg",
            length=len(PHOTO),
            content_type="image/jpeg",
            channel="C0SUPPORT",
            thread_ts="1.2",
            caption="x",
        )
    assert failed.value.error == "invalid_auth"


async def _customer_file(request: web.Request) -> web.StreamResponse:
    """A channel's media endpoint: with a length, or chunked without one."""
    if request.match_info["how"] == "sized":
        return web.Response(
            body=PHOTO,
            content_type="image/jpeg",
            headers={"Content-Disposition": 'inline; filename="IMG_0001.jpg"'},
        )
    response = web.StreamResponse(headers={"Content-Type": "audio/ogg"})
    await response.prepare(request)
    for start in range(0, len(PHOTO), 65536):
        await response.write(PHOTO[start : start + 65536])
    await response.write_eof()
    return response


@pytest_asyncio.fixture(loop_scope="session")
async def channel_media() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/media/{how}", _customer_file)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@pytest.mark.parametrize(
    ("how", "name", "content_type"),
    [("sized", "IMG_0001.jpg", "image/jpeg"), ("chunked", "voice.ogg", "audio/ogg")],
)
async def test_a_customers_file_reaches_the_thread_streamed(
    slack: FakeSlack,
    http: aiohttp.ClientSession,
    channel_media: str,
    tmp_path: Path,
    how: str,
    name: str,
    content_type: str,
) -> None:
    store = FileMediaStore(tmp_path / "media")
    client = AsyncWebClient(token=slack.token, base_url=slack.url, session=http)
    posted = await file_to_thread(
        client,
        http,
        settings_for(slack),
        store,
        url=f"{channel_media}/media/{how}",
        allowed=AllowedHosts.of(channel_media),
        max_bytes=2 * len(PHOTO),
        filename="voice.ogg",
        channel="C0SUPPORT",
        thread_ts="1795000001.000100",
        caption="🎤 From the customer",
    )
    assert (posted.filename, posted.content_type, posted.size) == (name, content_type, len(PHOTO))
    uploaded = slack.files[posted.file_id]
    assert uploaded.data == PHOTO and uploaded.name == name
    assert uploaded.shared == [("C0SUPPORT", "1795000001.000100", "🎤 From the customer")]
    assert not (tmp_path / "media").exists() or list((tmp_path / "media").iterdir()) == []


@pytest.mark.parametrize("how", ["sized", "chunked"])
async def test_a_customers_file_past_the_cap_reaches_no_thread(
    slack: FakeSlack, http: aiohttp.ClientSession, channel_media: str, tmp_path: Path, how: str
) -> None:
    client = AsyncWebClient(token=slack.token, base_url=slack.url, session=http)
    before = len(slack.calls_to("files.getUploadURLExternal"))
    with pytest.raises(DownloadRefused) as refused:
        await file_to_thread(
            client,
            http,
            settings_for(slack),
            FileMediaStore(tmp_path / "media"),
            url=f"{channel_media}/media/{how}",
            allowed=AllowedHosts.of(channel_media),
            max_bytes=1000,
            filename="x",
            channel="C0SUPPORT",
            thread_ts="1.2",
            caption="x",
        )
    assert refused.value.key == "media.refused.download_too_large"
    assert len(slack.calls_to("files.getUploadURLExternal")) == before

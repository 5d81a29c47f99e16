"""Files in and out of Slack, streamed.

In: a file an agent shared is fetched from its `url_private` with the bot
token as a Bearer header (https://api.slack.com/types/file#authentication),
through the safe download (Slack's hosts only, capped, streamed).

Out: a file goes into a thread with Slack's external upload
(https://api.slack.com/methods/files.getUploadURLExternal): ask for an
`upload_url` and `file_id` for the file's name and length, POST the bytes
there as they come, then `files.completeUploadExternal` shares it into the
channel's thread with a caption. slack-sdk's `files_upload_v2` does the same
three steps but reads the whole file into memory first, so the two calls are
made here with the SDK and the bytes streamed with aiohttp.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from yarl import URL

from bot.channels.download import (
    DOWNLOAD_TIMEOUT,
    AllowedHosts,
    Download,
    DownloadRefused,
    download,
    hosts_for_slack,
)
from bot.config import Settings
from bot.media.store import MediaStore, MediaTooLarge
from bot.slack.web_calls import slack_away, slack_error

__all__ = [
    "SlackFileRef",
    "SlackUploadFailed",
    "download_slack_file",
    "file_to_thread",
    "upload_to_thread",
]


class SlackUploadFailed(Exception):
    """Slack did not take the file: its error code (or the upload's HTTP status)."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass(frozen=True, slots=True)
class SlackFileRef:
    """What a Slack file object says about a file we may fetch."""

    id: str
    name: str
    mimetype: str
    size: int
    url_private: str


@contextlib.asynccontextmanager
async def download_slack_file(
    http: aiohttp.ClientSession, settings: Settings, url_private: str, *, max_bytes: int
) -> AsyncIterator[Download]:
    """The file at `url_private`, streamed and capped (`DownloadRefused` otherwise)."""
    if settings.slack_bot_token is None:
        raise DownloadRefused("media.refused.download", detail="no SLACK_BOT_TOKEN")
    bearer = {"Authorization": f"Bearer {settings.slack_bot_token.get_secret_value()}"}
    async with download(
        http, url_private, hosts_for_slack(settings), max_bytes=max_bytes, headers=bearer
    ) as got:
        if got.content_type.startswith("text/html"):
            # Without a valid token (or the files:read scope) Slack answers its
            # sign-in page, not the file.
            raise DownloadRefused(
                "media.refused.download", detail="Slack asked to sign in: check files:read"
            )
        yield got


async def _exactly(chunks: AsyncIterable[bytes], length: int) -> AsyncIterator[bytes]:
    """`chunks`, checked to add up to the `length` announced to Slack: a stream
    that ends short would leave the upload waiting for bytes that never come."""
    sent = 0
    async for chunk in chunks:
        sent += len(chunk)
        if sent > length:
            raise SlackUploadFailed("the file was longer than announced")
        yield chunk
    if sent != length:
        raise SlackUploadFailed("the file was shorter than announced")


async def upload_to_thread(
    client: AsyncWebClient,
    http: aiohttp.ClientSession,
    settings: Settings,
    chunks: AsyncIterable[bytes],
    *,
    filename: str,
    length: int,
    content_type: str,
    channel: str,
    thread_ts: str,
    caption: str,
) -> str:
    """Upload `length` bytes from `chunks` as `filename` into the thread; the file id.

    `SlackUploadFailed` with Slack's error when a step is refused.
    """
    try:
        ticket = await client.files_getUploadURLExternal(filename=filename, length=length)
    except SlackApiError as error:
        if slack_away(error):
            raise  # Slack busy or away: the caller keeps the file for later
        raise SlackUploadFailed(slack_error(error) or "unknown") from None
    upload_url, file_id = str(ticket["upload_url"]), str(ticket["file_id"])
    # The upload URL is Slack's answer, not a payload's; still, bytes go to Slack only.
    hosts_for_slack(settings).check(URL(upload_url, encoded=True))
    try:
        async with http.post(
            upload_url,
            data=_exactly(chunks, length),
            headers={"Content-Type": content_type, "Content-Length": str(length)},
            timeout=DOWNLOAD_TIMEOUT,
        ) as answer:
            await answer.read()
            if answer.status != 200:
                raise SlackUploadFailed(f"upload HTTP {answer.status}")
    except (aiohttp.ClientError, TimeoutError) as error:
        # aiohttp wraps what the body's generator raised: say that, not "cut off".
        cause = error.__cause__ or error.__context__
        if isinstance(cause, SlackUploadFailed):
            raise SlackUploadFailed(cause.error) from None
        raise SlackUploadFailed("upload cut off") from None
    try:
        await client.files_completeUploadExternal(
            files=[{"id": file_id, "title": filename}],
            channel_id=channel,
            thread_ts=thread_ts,
            initial_comment=caption,
        )
    except SlackApiError as error:
        if slack_away(error):
            raise  # Slack busy or away: the caller keeps the file for later
        raise SlackUploadFailed(slack_error(error) or "unknown") from None
    return file_id


@dataclass(frozen=True, slots=True)
class ThreadFile:
    """A file that reached a thread: its Slack id, name, type and size."""

    file_id: str
    filename: str
    content_type: str
    size: int


async def file_to_thread(
    client: AsyncWebClient,
    http: aiohttp.ClientSession,
    settings: Settings,
    store: MediaStore,
    *,
    url: str,
    allowed: AllowedHosts,
    max_bytes: int,
    filename: str,
    channel: str,
    thread_ts: str,
    caption: str,
    headers: dict[str, str] | None = None,
) -> ThreadFile:
    """A customer's file, fetched from the channel (`allowed` hosts only, capped) and
    uploaded into the thread, streamed. Slack wants the length first: a download
    that declares none is kept in the media store on the way (and removed after).

    `DownloadRefused` (not fetched: too large, refused host, an error answer) or
    `SlackUploadFailed`.
    """

    async def upload(
        chunks: AsyncIterable[bytes], name: str, content_type: str, length: int
    ) -> ThreadFile:
        file_id = await upload_to_thread(
            client,
            http,
            settings,
            chunks,
            filename=name,
            length=length,
            content_type=content_type,
            channel=channel,
            thread_ts=thread_ts,
            caption=caption,
        )
        return ThreadFile(file_id, name, content_type, length)

    async with download(http, url, allowed, max_bytes=max_bytes, headers=headers) as got:
        name = got.filename or filename
        content_type = got.content_type.split(";", 1)[0].strip()
        if got.declared_size is not None:
            return await upload(got.chunks(), name, content_type, got.declared_size)
        try:
            stored = await store.put(got.chunks(), content_type=content_type, max_bytes=max_bytes)
        except MediaTooLarge:
            raise DownloadRefused("media.refused.download_too_large", limit=got.limit) from None
    try:
        async with store.open(stored.name) as kept:
            return await upload(kept.chunks(), name, content_type, kept.size)
    finally:
        await store.delete(stored.name)

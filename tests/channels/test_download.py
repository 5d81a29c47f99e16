"""Safe downloads: only the channel's own hosts, https, no redirect elsewhere,
streamed with a size cap (issue 12, "Attachments in")."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from bot.channels.download import (
    AllowedHosts,
    DownloadRefused,
    download,
    hosts_for_channel,
    hosts_for_slack,
    inbound_cap,
)
from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.media import MB

BODY = bytes(range(256)) * 1024  # 256 KiB


@dataclass
class Origin:
    """A local file server that records who asked for what, with which headers."""

    server: TestServer | None = None
    seen: list[tuple[str, str | None]] = field(default_factory=list)
    redirect_to: str = ""

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    async def start(self) -> Origin:
        app = web.Application()
        app.router.add_get("/{name}", self._handle)
        self.server = TestServer(app, host="127.0.0.1", port=0)
        await self.server.start_server()
        return self

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.seen.append((name, request.headers.get("Authorization")))
        if name == "photo.jpg":
            return web.Response(
                body=BODY,
                content_type="image/jpeg",
                headers={"Content-Disposition": 'attachment; filename="../x/cat.jpg"'},
            )
        if name == "declared-huge":
            response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
            response.content_length = 10 * MB
            await response.prepare(request)
            return response  # never sends it: the client must not wait for it
        if name == "endless":  # chunked, no length: only counting stops it
            response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
            await response.prepare(request)
            for _ in range(64):
                await response.write(BODY)
            await response.write_eof()
            return response
        if name == "here":
            raise web.HTTPFound("/photo.jpg")
        if name == "away":
            raise web.HTTPFound(self.redirect_to)
        if name == "loop":
            raise web.HTTPFound("/loop")
        raise web.HTTPNotFound()


@pytest_asyncio.fixture(loop_scope="session")
async def origins() -> AsyncIterator[tuple[Origin, Origin]]:
    ours, theirs = await Origin().start(), await Origin().start()
    try:
        yield ours, theirs
    finally:
        for origin in (ours, theirs):
            assert origin.server is not None
            await origin.server.close()


@pytest_asyncio.fixture(loop_scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def fetch(
    http: aiohttp.ClientSession, url: str, allowed: AllowedHosts, max_bytes: int = MB, **kw: str
) -> tuple[str, str | None, bytes]:
    async with download(http, url, allowed, max_bytes=max_bytes, headers=kw or None) as got:
        body = b"".join([chunk async for chunk in got.chunks()])
        return got.content_type, got.filename, body


async def test_a_file_on_the_channels_own_host_is_streamed(
    http: aiohttp.ClientSession, origins: tuple[Origin, Origin]
) -> None:
    ours, _ = origins
    content_type, filename, body = await fetch(
        http, f"{ours.url}/photo.jpg", AllowedHosts.of(ours.url + "/v21.0")
    )
    assert (content_type, filename, body) == ("image/jpeg", "cat.jpg", BODY)


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("{theirs}/photo.jpg", "media.refused.not_https"),  # another port of the same host
        ("http://localhost:{port}/photo.jpg", "media.refused.not_https"),
        ("https://evil.example/photo.jpg", "media.refused.host"),
        ("https://lookaside.fbsbx.com.evil.example/x", "media.refused.host"),
        ("https://lookaside.fbsbx.com:8443/x", "media.refused.host"),
        ("http://lookaside.fbsbx.com/x", "media.refused.not_https"),
        ("file:///etc/passwd", "media.refused.not_https"),
        ("/photo.jpg", "media.refused.not_https"),
    ],
    ids=[
        "other-port",
        "other-name",
        "other-host",
        "lookalike",
        "cdn-port",
        "cdn-http",
        "file",
        "relative",
    ],
)
async def test_a_url_off_the_allowed_hosts_is_refused_before_any_connection(
    http: aiohttp.ClientSession, origins: tuple[Origin, Origin], url: str, key: str
) -> None:
    ours, theirs = origins
    assert ours.server is not None
    allowed = AllowedHosts.of(ours.url, media_hosts=("lookaside.fbsbx.com",))
    before = len(ours.seen), len(theirs.seen)
    with pytest.raises(DownloadRefused) as refused:
        await fetch(http, url.format(theirs=theirs.url, port=ours.server.port), allowed)
    assert refused.value.key == key
    assert (len(ours.seen), len(theirs.seen)) == before


def test_the_vendors_media_hosts_are_allowed_over_https_only() -> None:
    allowed = AllowedHosts.of("https://graph.facebook.com/v21.0", media_hosts=(".fbcdn.net",))
    allowed.check(URL("https://scontent.xx.fbcdn.net/v/t1/photo.jpg"))
    allowed.check(URL("https://graph.facebook.com/v21.0/123"))
    for bad in ("https://fbcdn.net.evil.example/", "https://evilfbcdn.net/", "http://a.fbcdn.net/"):
        with pytest.raises(DownloadRefused):
            allowed.check(URL(bad))


async def test_a_redirect_within_the_host_is_followed(
    http: aiohttp.ClientSession, origins: tuple[Origin, Origin]
) -> None:
    ours, _ = origins
    _, _, body = await fetch(http, f"{ours.url}/here", AllowedHosts.of(ours.url))
    assert body == BODY


async def test_a_redirect_elsewhere_is_not_followed(
    http: aiohttp.ClientSession, origins: tuple[Origin, Origin], caplog: pytest.LogCaptureFixture
) -> None:
    ours, theirs = origins
    ours.redirect_to = f"{theirs.url}/photo.jpg"
    before = len(theirs.seen)
    with pytest.raises(DownloadRefused) as refused:
        await fetch(http, f"{ours.url}/away", AllowedHosts.of(ours.url))
    assert refused.value.key == "media.refused.not_https"
    assert len(theirs.seen) == before
    [logged] = [r for r in caplog.records if r.getMessage() == "media download refused"]
    assert (logged.reason, logged.host) == ("media.refused.not_https", "127.0.0.1")  # type: ignore[attr-defined]
    assert "photo.jpg" not in caplog.text  # no path: it may hold a token


async def test_credentials_go_only_to_the_origin_first_asked(
    http: aiohttp.ClientSession, origins: tuple[Origin, Origin]
) -> None:
    ours, theirs = origins
    ours.redirect_to = f"{theirs.url}/photo.jpg"
    allowed = AllowedHosts.of(ours.url, theirs.url)  # both allowed, as a CDN would be
    _, _, body = await fetch(http, f"{ours.url}/away", allowed, Authorization="Bearer secret")
    assert body == BODY
    assert ours.seen[-1] == ("away", "Bearer secret")
    assert theirs.seen[-1] == ("photo.jpg", None)


async def test_a_redirect_loop_is_cut(
    http: aiohttp.ClientSession, origins: tuple[Origin, Origin]
) -> None:
    ours, _ = origins
    with pytest.raises(DownloadRefused) as refused:
        await fetch(http, f"{ours.url}/loop", AllowedHosts.of(ours.url))
    assert refused.value.params == {"detail": "too many redirects"}


async def test_a_declared_size_past_the_cap_is_refused_before_the_body(
    http: aiohttp.ClientSession, origins: tuple[Origin, Origin]
) -> None:
    ours, _ = origins
    with pytest.raises(DownloadRefused) as refused:
        await fetch(http, f"{ours.url}/declared-huge", AllowedHosts.of(ours.url), max_bytes=MB)
    assert refused.value.key == "media.refused.download_too_large"
    assert refused.value.params == {"limit": "1 MB"}


async def test_a_body_running_past_the_cap_is_cut_off_without_buffering_it(
    http: aiohttp.ClientSession, origins: tuple[Origin, Origin]
) -> None:
    ours, _ = origins
    received = 0
    with pytest.raises(DownloadRefused) as refused:
        async with download(
            http, f"{ours.url}/endless", AllowedHosts.of(ours.url), max_bytes=MB
        ) as got:
            assert got.declared_size is None
            async for chunk in got.chunks():
                received += len(chunk)
    assert refused.value.key == "media.refused.download_too_large"
    assert received <= MB  # what was handed on stayed under the cap


async def test_an_error_answer_or_an_unreachable_host_is_refused(
    http: aiohttp.ClientSession, origins: tuple[Origin, Origin]
) -> None:
    ours, _ = origins
    with pytest.raises(DownloadRefused) as refused:
        await fetch(http, f"{ours.url}/missing", AllowedHosts.of(ours.url))
    assert refused.value.params == {"detail": "HTTP 404"}
    with pytest.raises(DownloadRefused) as unreachable:
        await fetch(http, "http://127.0.0.1:9/x", AllowedHosts.of("http://127.0.0.1:9"))
    assert unreachable.value.params == {"detail": "could not reach 127.0.0.1"}


def test_each_channel_allows_its_base_url_and_its_vendors_media_hosts() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        telegram_api_url="http://127.0.0.1:8081",
        media_max_bytes=5 * MB,
    )
    hosts_for_channel(Channel.TELEGRAM, settings).check(URL("http://127.0.0.1:8081/file/bot1/a"))
    hosts_for_channel(Channel.WHATSAPP, settings).check(URL("https://lookaside.fbsbx.com/x"))
    hosts_for_channel(Channel.LINE, settings).check(URL("https://api-data.line.me/v2/x"))
    hosts_for_slack(settings).check(URL("https://files.slack.com/files-pri/T1-F1/a.png"))
    with pytest.raises(DownloadRefused):
        hosts_for_channel(Channel.TELEGRAM, settings).check(URL("https://lookaside.fbsbx.com/x"))
    assert inbound_cap(Channel.TELEGRAM, settings) == 5 * MB
    assert inbound_cap(Channel.TELEGRAM, Settings(_env_file=None)) == 20 * MB  # type: ignore[call-arg]

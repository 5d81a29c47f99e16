"""Website chat file sends: each file's signed link in the signed webhook payload."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.channels.base import SendOutcome
from bot.channels.media import MediaFiles
from bot.channels.webchat import WebchatConnector
from bot.domain.channels import Channel
from bot.domain.media import MB
from tests.channels.media_files import NOW, declared, linkable, linked, pattern, stored, with_files
from tests.channels.test_webchat import SECRET, settings_for
from tests.fakes.webchat import FakeWebchatBackend


@pytest.fixture
async def backend() -> AsyncIterator[FakeWebchatBackend]:
    async with FakeWebchatBackend(secret=SECRET) as fake:
        yield fake


@pytest.fixture
def webchat(
    backend: FakeWebchatBackend, http: aiohttp.ClientSession, media: MediaFiles
) -> WebchatConnector:
    return WebchatConnector(
        linkable(settings_for(backend.url)), http, clock=lambda: NOW, media=media.store
    )


async def test_files_go_as_signed_links_in_the_signed_payload(
    backend: FakeWebchatBackend, webchat: WebchatConnector, media: MediaFiles
) -> None:
    photo = await stored(media, "receipt.jpg", "image/jpeg", pattern(1000))
    sheet = await stored(media, "prices.xlsx", "application/vnd.ms-excel", pattern(2000, "x"))
    result = await webchat.send(with_files(Channel.WEBCHAT, "v_123", photo, sheet, text="Here"))
    assert result.outcome is SendOutcome.SENT
    [request] = backend.requests
    expected = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Webchat-Signature"] == f"sha256={expected}"
    message = request.json["message"]
    assert message["text"] == "Here"
    first, second = message["attachments"]
    assert (first["type"], first["name"], first["size"]) == ("image", "receipt.jpg", 1000)
    assert (second["type"], second["mime_type"]) == ("file", "application/vnd.ms-excel")
    assert [linked(a["url"]) for a in (first, second)] == [photo.key, sheet.key]


async def test_a_file_past_the_widgets_limit_is_refused_and_nothing_sent(
    backend: FakeWebchatBackend, webchat: WebchatConnector
) -> None:
    result = await webchat.send(
        with_files(Channel.WEBCHAT, "v_123", declared("movie.mp4", "video/mp4", 26 * MB))
    )
    assert result.reason is not None and result.reason.key == "media.refused.too_large"
    assert backend.requests == []

"""Viber file sends: `picture` (the text as its caption up to 120 characters),
`video` and `file` messages Viber fetches by signed link, one send_message each."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.channels.base import SendOutcome
from bot.channels.media import MediaFiles
from bot.channels.viber import ViberConnector
from bot.domain.channels import Channel
from bot.domain.media import MB
from bot.domain.windows import SendMode
from tests.channels.conftest import in_words
from tests.channels.media_files import declared, linkable, linked, pattern, stored, with_files
from tests.channels.test_viber import USER, make_settings
from tests.fakes.viber import FakeViber


@pytest.fixture
async def fake() -> AsyncIterator[FakeViber]:
    async with FakeViber() as server:
        yield server


@pytest.fixture
def connector(fake: FakeViber, http: aiohttp.ClientSession, media: MediaFiles) -> ViberConnector:
    return ViberConnector(linkable(make_settings(fake.url)), http, timeout=0.5, media=media.store)


async def test_a_picture_carries_a_short_text_as_its_caption(
    fake: FakeViber, connector: ViberConnector, media: MediaFiles
) -> None:
    photo = await stored(media, "receipt.png", "image/png", pattern(300_000))
    result = await connector.send(with_files(Channel.VIBER, USER, photo, text="Your receipt"))
    assert result.outcome is SendOutcome.SENT
    [sent] = fake.requests
    assert sent.json["type"] == "picture" and sent.json["text"] == "Your receipt"
    assert linked(sent.json["media"]) == photo.key and sent.json["receiver"] == USER


async def test_a_long_text_goes_first_then_a_video_and_a_file(
    fake: FakeViber, connector: ViberConnector, media: MediaFiles
) -> None:
    clip = await stored(media, "how-to.mp4", "video/mp4", pattern(500_000))
    sheet = await stored(media, "prices.pdf", "application/pdf", pattern(70_000, "pdf"))
    text = "A" * 121
    result = await connector.send(with_files(Channel.VIBER, USER, clip, sheet, text=text))
    assert result.outcome is SendOutcome.SENT
    first, video, file = (r.json for r in fake.requests)
    assert (first["type"], first["text"]) == ("text", text)
    assert (video["type"], video["size"], linked(video["media"])) == ("video", 500_000, clip.key)
    assert (file["type"], file["size"], file["file_name"]) == ("file", 70_000, "prices.pdf")
    assert linked(file["media"]) == sheet.key
    assert result.channel_message_id == "5741311803571721001"  # the first part's token


async def test_a_file_past_fifty_megabytes_is_refused_and_nothing_sent(
    fake: FakeViber, connector: ViberConnector
) -> None:
    huge = declared("backup.zip", "application/zip", 51 * MB)
    result = await connector.send(with_files(Channel.VIBER, USER, huge, text="Here"))
    assert result.outcome is SendOutcome.FAILED and result.reason is not None
    assert result.reason.key == "media.refused.too_large"
    assert "51 MB" in in_words(result.reason) and "50 MB" in in_words(result.reason)
    assert fake.requests == []


async def test_a_file_refused_after_the_text_went_is_final_never_retried(
    fake: FakeViber, connector: ViberConnector, media: MediaFiles
) -> None:
    clip = await stored(media, "how-to.mp4", "video/mp4", pattern(1000))
    fake.answer_next(0)  # the text goes as usual …
    fake.fail_next(http_status=503)  # … the video meets an outage
    result = await connector.send(with_files(Channel.VIBER, USER, clip, text="B" * 200))
    assert result.outcome is SendOutcome.FAILED and result.reason is not None
    assert result.reason.key == "send.media.partly_sent"
    assert "1 of the message's 2 parts" in in_words(result.reason)


@pytest.mark.parametrize("mode", [SendMode.REFUSED, SendMode.TEMPLATE])
async def test_a_file_goes_only_where_a_text_could(
    fake: FakeViber, connector: ViberConnector, media: MediaFiles, mode: SendMode
) -> None:
    photo = await stored(media, "a.jpg", "image/jpeg", pattern(100))
    result = await connector.send(with_files(Channel.VIBER, USER, photo, mode=mode))
    assert result.outcome in (SendOutcome.OUTSIDE_WINDOW, SendOutcome.FAILED)
    assert fake.requests == []

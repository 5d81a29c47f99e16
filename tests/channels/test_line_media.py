"""LINE file sends: image, video and audio messages LINE fetches by signed https
link, in one push with the text; what LINE cannot take is refused before any push."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.channels.base import SendOutcome
from bot.channels.line import LineConnector, video_preview
from bot.channels.media import MediaFiles, mp4_duration_ms
from bot.domain.channels import Channel
from bot.domain.media import MB
from bot.domain.messages import Attachment
from tests.channels.conftest import in_words
from tests.channels.media_files import declared, linkable, linked, m4a, pattern, stored, with_files
from tests.channels.test_line import USER, make_settings
from tests.fakes.line import FakeLine


@pytest.fixture
async def fake() -> AsyncIterator[FakeLine]:
    async with FakeLine() as server:
        yield server


@pytest.fixture
def connector(fake: FakeLine, http: aiohttp.ClientSession, media: MediaFiles) -> LineConnector:
    return LineConnector(linkable(make_settings(fake.url)), http, timeout=0.5, media=media.store)


async def test_an_image_and_an_audio_go_in_one_push_after_the_text(
    fake: FakeLine, connector: LineConnector, media: MediaFiles
) -> None:
    photo = await stored(media, "receipt.jpg", "image/jpeg", pattern(200_000))
    voice = await stored(media, "note.m4a", "audio/x-m4a", m4a(duration_ms=12_345))
    result = await connector.send(with_files(Channel.LINE, USER, photo, voice, text="Your receipt"))
    assert result.outcome is SendOutcome.SENT
    [push] = fake.pushes
    text, image, audio = push.json["messages"]
    assert text == {"type": "text", "text": "Your receipt"}
    assert image["type"] == "image" and image["previewImageUrl"] == image["originalContentUrl"]
    assert linked(image["originalContentUrl"]) == photo.key
    assert audio["type"] == "audio" and audio["duration"] == 12_345
    assert linked(audio["originalContentUrl"]) == voice.key
    assert push.headers["X-Line-Retry-Key"]  # a retry never sends the files twice


async def test_a_video_goes_with_a_preview_image_line_can_fetch(
    fake: FakeLine, connector: LineConnector, media: MediaFiles
) -> None:
    """LINE's video message needs `previewImageUrl` (https, JPEG, at most 240 × 240
    and 1 MB): a play-button picture published beside the video, by its own link."""
    clip = await stored(media, "unboxing.mp4", "video/mp4", pattern(300_000))
    result = await connector.send(with_files(Channel.LINE, USER, clip, text="The unboxing"))
    assert result.outcome is SendOutcome.SENT
    [push] = fake.pushes
    text, video = push.json["messages"]
    assert text == {"type": "text", "text": "The unboxing"}
    assert video["type"] == "video" and set(video) == {
        "type",
        "originalContentUrl",
        "previewImageUrl",
    }
    assert linked(video["originalContentUrl"]) == clip.key
    preview = linked(video["previewImageUrl"])
    assert preview != clip.key
    async with media.store.open(preview) as kept:
        data = b"".join([chunk async for chunk in kept.chunks()])
        assert kept.content_type == "image/jpeg"
    assert data == video_preview() and data[:3] == b"\xff\xd8\xff" and len(data) < MB
    assert jpeg_size(data) == (240, 240)


def jpeg_size(data: bytes) -> tuple[int, int]:
    """A baseline or progressive JPEG's (width, height), from its frame header."""
    at = 2
    while at < len(data):
        marker, length = data[at + 1], int.from_bytes(data[at + 2 : at + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            height = int.from_bytes(data[at + 5 : at + 7], "big")
            return int.from_bytes(data[at + 7 : at + 9], "big"), height
        at += 2 + length
    raise ValueError("no frame header")


@pytest.mark.parametrize(
    ("file", "key", "words"),
    [
        (declared("invoice.pdf", "application/pdf", 1000), "media.refused.type", "LINE does not"),
        (declared("big.jpg", "image/jpeg", 11 * MB), "media.refused.too_large", "at most 10 MB"),
        (declared("clip.mov", "video/quicktime", MB), "media.refused.type", "LINE does not"),
    ],
)
async def test_what_line_cannot_take_is_refused_and_nothing_is_pushed(
    fake: FakeLine, connector: LineConnector, file: Attachment, key: str, words: str
) -> None:
    result = await connector.send(with_files(Channel.LINE, USER, file, text="Here"))
    assert result.outcome is SendOutcome.FAILED and result.reason is not None
    assert result.reason.key == key and words in in_words(result.reason)
    assert fake.requests == []


async def test_an_audio_whose_length_cannot_be_read_is_refused(
    fake: FakeLine, connector: LineConnector, media: MediaFiles
) -> None:
    voice = await stored(media, "note.m4a", "audio/mp4", pattern(5000))  # no mvhd box
    result = await connector.send(with_files(Channel.LINE, USER, voice))
    assert result.reason is not None and result.reason.key == "send.line.audio_duration"
    assert fake.requests == []


async def test_files_without_public_links_are_refused(
    fake: FakeLine, http: aiohttp.ClientSession, media: MediaFiles
) -> None:
    photo = await stored(media, "a.jpg", "image/jpeg", pattern(100))
    for settings, store, key in (
        (linkable(make_settings(fake.url)), None, "send.media.no_store"),
        (make_settings(fake.url), media.store, "send.media.no_public_url"),  # no PUBLIC_BASE_URL
    ):
        line = LineConnector(settings, http, media=store)
        result = await line.send(with_files(Channel.LINE, USER, photo))
        assert result.outcome is SendOutcome.FAILED and result.reason is not None
        assert result.reason.key == key
    assert fake.requests == []


async def test_an_mp4_length_is_read_from_its_movie_header_in_either_version() -> None:
    async def once(data: bytes) -> AsyncIterator[bytes]:
        yield data

    assert await mp4_duration_ms(once(m4a(61_000))) == 61_000
    # version 1: 64-bit times, timescale 44100
    body = b"\x01" + bytes(3) + bytes(16) + (44100).to_bytes(4, "big") + (88200).to_bytes(8, "big")
    assert await mp4_duration_ms(once(b"\x00\x00\x00\x30mvhd" + body + bytes(60))) == 2000
    assert await mp4_duration_ms(once(pattern(1000))) is None


async def test_more_than_five_messages_in_one_push_are_refused(
    fake: FakeLine, connector: LineConnector
) -> None:
    photos = [declared(f"{n}.jpg", "image/jpeg", 1000) for n in range(5)]
    result = await connector.send(with_files(Channel.LINE, USER, *photos, text="Five photos"))
    assert result.reason is not None and result.reason.key == "send.line.too_many_files"
    assert "at most 5 messages" in in_words(result.reason)
    assert fake.requests == []

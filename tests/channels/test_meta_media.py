"""Messenger and Instagram file sends: the text, then each file as a Send API
attachment Meta fetches from its signed link, under the text's messaging type."""

from __future__ import annotations

import aiohttp
import pytest

from bot.channels.base import SendOutcome
from bot.channels.instagram import InstagramConnector
from bot.channels.media import MediaFiles
from bot.channels.messenger import MessengerConnector
from bot.domain.channels import Channel
from bot.domain.media import MB
from bot.domain.messages import Attachment
from bot.domain.windows import HUMAN_AGENT_TAG, SendMode
from tests.channels.conftest import in_words
from tests.channels.media_files import declared, linkable, linked, pattern, stored, with_files
from tests.channels.test_instagram import IGSID
from tests.channels.test_instagram import make_settings as instagram_settings
from tests.channels.test_messenger import PSID
from tests.channels.test_messenger import make_settings as messenger_settings
from tests.fakes.graph import FakeGraph


def messenger(
    graph: FakeGraph, http: aiohttp.ClientSession, media: MediaFiles
) -> MessengerConnector:
    return MessengerConnector(linkable(messenger_settings(graph.url)), http, media=media.store)


def instagram(
    graph: FakeGraph, http: aiohttp.ClientSession, media: MediaFiles
) -> InstagramConnector:
    return InstagramConnector(linkable(instagram_settings(graph.url)), http, media=media.store)


async def test_messenger_sends_the_text_then_each_file_as_an_attachment(
    graph: FakeGraph, http: aiohttp.ClientSession, media: MediaFiles
) -> None:
    photo = await stored(media, "receipt.jpg", "image/jpeg", pattern(1000))
    sheet = await stored(media, "prices.pdf", "application/pdf", pattern(2000, "pdf"))
    message = with_files(
        Channel.MESSENGER, PSID, photo, sheet, text="Here", mode=SendMode.HUMAN_AGENT
    )
    result = await messenger(graph, http, media).send(message)
    assert result.outcome is SendOutcome.SENT and result.channel_message_id == "m_000001"
    text, image, file = (r.json for r in graph.sent)
    assert text["message"] == {"text": "Here"}
    for part in (text, image, file):
        assert (part["messaging_type"], part["tag"]) == ("MESSAGE_TAG", HUMAN_AGENT_TAG)
        assert part["recipient"] == {"id": PSID}
    assert image["message"]["attachment"]["type"] == "image"
    assert file["message"]["attachment"]["type"] == "file"
    payloads = [p["message"]["attachment"]["payload"] for p in (image, file)]
    assert [linked(p["url"]) for p in payloads] == [photo.key, sheet.key]
    assert all(p["is_reusable"] is False for p in payloads)


async def test_instagram_sends_a_video_alone_without_a_text(
    graph: FakeGraph, http: aiohttp.ClientSession, media: MediaFiles
) -> None:
    clip = await stored(media, "clip.mp4", "video/mp4", pattern(5000))
    result = await instagram(graph, http, media).send(with_files(Channel.INSTAGRAM, IGSID, clip))
    assert result.outcome is SendOutcome.SENT
    [sent] = graph.sent
    assert sent.product == "instagram"
    assert sent.json["message"]["attachment"]["type"] == "video"


@pytest.mark.parametrize(
    ("file", "key", "words"),
    [
        (declared("a.pdf", "application/pdf", 1000), "media.refused.type", "application/pdf"),
        (declared("a.jpg", "image/jpeg", 9 * MB), "media.refused.too_large", "8 MB"),
    ],
)
async def test_what_instagram_cannot_take_is_refused_and_nothing_sent(
    graph: FakeGraph,
    http: aiohttp.ClientSession,
    media: MediaFiles,
    file: Attachment,
    key: str,
    words: str,
) -> None:
    result = await instagram(graph, http, media).send(
        with_files(Channel.INSTAGRAM, IGSID, file, text="Here")
    )
    assert result.outcome is SendOutcome.FAILED and result.reason is not None
    assert result.reason.key == key and words in in_words(result.reason)
    assert graph.requests == []


async def test_outside_the_window_a_file_is_refused_as_the_text_would_be(
    graph: FakeGraph, http: aiohttp.ClientSession, media: MediaFiles
) -> None:
    photo = await stored(media, "a.jpg", "image/jpeg", pattern(100))
    message = with_files(Channel.MESSENGER, PSID, photo, mode=SendMode.REFUSED)
    result = await messenger(graph, http, media).send(message)
    assert result.outcome is SendOutcome.OUTSIDE_WINDOW
    assert graph.requests == []

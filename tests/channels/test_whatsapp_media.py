"""WhatsApp file sends: each file streamed from the media store to the media
upload, then sent by its id; outside the window, one file as a template's header."""

from __future__ import annotations

import aiohttp
import pytest

from bot.channels.base import SendOutcome
from bot.channels.media import MediaFiles
from bot.channels.whatsapp import WhatsAppConnector
from bot.domain.channels import Channel
from bot.domain.media import KB, MB
from bot.domain.messages import Attachment, MediaKind, TemplateUse
from bot.domain.templates import FilledParameter, InputKind
from bot.domain.windows import SendMode
from tests.channels.conftest import in_words
from tests.channels.media_files import declared, digest, pattern, stored, with_files
from tests.channels.test_whatsapp import WA_ID, make_settings
from tests.fakes.graph import FakeGraph


@pytest.fixture
def connector(
    graph: FakeGraph, http: aiohttp.ClientSession, media: MediaFiles
) -> WhatsAppConnector:
    return WhatsAppConnector(make_settings(graph.url), http, media=media.store)


def messages(graph: FakeGraph) -> list[dict[str, object]]:
    return [r.json for r in graph.sent if r.path.endswith("/messages")]


async def test_an_image_is_uploaded_then_sent_by_id_with_its_caption(
    graph: FakeGraph, connector: WhatsAppConnector, media: MediaFiles
) -> None:
    data = pattern(2 * MB)
    photo = await stored(media, "receipt.jpg", "image/jpeg", data)
    result = await connector.send(with_files(Channel.WHATSAPP, WA_ID, photo, text="Receipt"))
    assert result.outcome is SendOutcome.SENT and result.channel_message_id
    upload, send = graph.sent
    assert upload.path == f"/v21.0/{graph.phone_number_id}/media"
    assert upload.headers["Authorization"] == f"Bearer {graph.whatsapp_token}"
    [(media_id, kept)] = graph.media.items()
    assert (kept.file_field, kept.filename, kept.size) == ("file", "receipt.jpg", 2 * MB)
    assert kept.fields == {"messaging_product": "whatsapp", "type": "image/jpeg"}
    assert kept.sha256 == digest(data)
    assert send.json["type"] == "image"
    assert send.json["image"] == {"id": media_id, "caption": "Receipt"}
    assert send.json["to"] == WA_ID and send.json["messaging_product"] == "whatsapp"


async def test_an_audio_takes_no_caption_so_the_text_goes_first_and_a_document_has_its_name(
    graph: FakeGraph, connector: WhatsAppConnector, media: MediaFiles
) -> None:
    voice = await stored(media, "note.ogg", "audio/ogg", pattern(3000))
    invoice = await stored(media, "invoice.pdf", "application/pdf", pattern(4000, "pdf"))
    result = await connector.send(
        with_files(Channel.WHATSAPP, WA_ID, voice, invoice, text="Listen")
    )
    assert result.outcome is SendOutcome.SENT
    text, audio, document = messages(graph)
    assert text["type"] == "text" and text["text"] == {"body": "Listen"}
    assert audio["type"] == "audio" and set(audio["audio"]) == {"id"}  # type: ignore[arg-type]
    assert document["document"]["filename"] == "invoice.pdf"  # type: ignore[index]
    assert "caption" not in document["document"]  # type: ignore[operator]
    assert len(graph.media) == 2


async def test_outside_the_window_one_image_goes_as_the_templates_header(
    graph: FakeGraph, connector: WhatsAppConnector, media: MediaFiles
) -> None:
    photo = await stored(media, "offer.png", "image/png", pattern(5000))
    template = TemplateUse("order_ready", "en_US", ("A-17",))
    message = with_files(Channel.WHATSAPP, WA_ID, photo, mode=SendMode.TEMPLATE, template=template)
    result = await connector.send(message)
    assert result.outcome is SendOutcome.SENT
    [sent] = messages(graph)
    [media_id] = graph.media
    assert sent["type"] == "template"
    header, body = sent["template"]["components"]  # type: ignore[index]
    assert header == {
        "type": "header",
        "parameters": [{"type": "image", "image": {"id": media_id}}],
    }
    assert body == {"type": "body", "parameters": [{"type": "text", "text": "A-17"}]}


async def test_the_file_replaces_a_header_the_templates_values_named(
    graph: FakeGraph, connector: WhatsAppConnector, media: MediaFiles
) -> None:
    video = await stored(media, "tour.mp4", "video/mp4", pattern(5000))
    filled = (
        FilledParameter(InputKind.HEADER_MEDIA, "https://cdn.example/old.mp4", media="video"),
        FilledParameter(InputKind.BODY, "A-17"),
    )
    template = TemplateUse("order_ready", "en_US", ("A-17",), components=filled)
    message = with_files(Channel.WHATSAPP, WA_ID, video, mode=SendMode.TEMPLATE, template=template)
    assert (await connector.send(message)).outcome is SendOutcome.SENT
    [sent] = messages(graph)
    [media_id] = graph.media
    header, body = sent["template"]["components"]  # type: ignore[index]
    assert header["parameters"] == [{"type": "video", "video": {"id": media_id}}]
    assert body["type"] == "body"


async def test_a_template_cannot_carry_an_audio_header(
    graph: FakeGraph, connector: WhatsAppConnector
) -> None:
    message = with_files(
        Channel.WHATSAPP,
        WA_ID,
        declared("a.ogg", "audio/ogg", 100),
        mode=SendMode.TEMPLATE,
        template=TemplateUse("order_ready", "en_US"),
    )
    result = await connector.send(message)
    assert result.reason is not None and result.reason.key == "send.whatsapp.template_header_file"
    assert graph.requests == []


@pytest.mark.parametrize(
    ("file", "key", "words"),
    [
        (declared("a.jpg", "image/jpeg", 6 * MB), "media.refused.too_large", "5 MB"),
        (
            declared("a.webp", "image/webp", 600 * KB, MediaKind.STICKER),
            "media.refused.too_large",
            "500 KB",
        ),
        (declared("a.zip", "application/zip", 100), "media.refused.type", "application/zip"),
        (declared("a.mov", "video/quicktime", 100), "media.refused.type", "video/quicktime"),
    ],
)
async def test_what_whatsapp_cannot_take_is_refused_before_any_upload(
    graph: FakeGraph, connector: WhatsAppConnector, file: Attachment, key: str, words: str
) -> None:
    result = await connector.send(with_files(Channel.WHATSAPP, WA_ID, file, text="Here"))
    assert result.outcome is SendOutcome.FAILED and result.reason is not None
    assert result.reason.key == key and words in in_words(result.reason)
    assert graph.requests == []


async def test_a_file_gone_from_the_store_is_refused_and_nothing_sent(
    graph: FakeGraph, connector: WhatsAppConnector
) -> None:
    gone = declared("a.jpg", "image/jpeg", 100)  # never stored
    result = await connector.send(with_files(Channel.WHATSAPP, WA_ID, gone))
    assert result.reason is not None and result.reason.key == "send.media.missing"
    assert graph.requests == []


async def test_a_refused_upload_is_mapped_as_any_graph_error(
    graph: FakeGraph, connector: WhatsAppConnector, media: MediaFiles
) -> None:
    photo = await stored(media, "a.jpg", "image/jpeg", pattern(100))
    graph.error_next(131053, message="(#131053) Media upload error")
    result = await connector.send(with_files(Channel.WHATSAPP, WA_ID, photo))
    assert result.outcome is SendOutcome.FAILED and result.reason is not None
    assert result.reason.key == "send.whatsapp.131053"
    assert messages(graph) == []

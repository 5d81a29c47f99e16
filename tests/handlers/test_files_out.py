"""An agent sends a file from Slack (issue 12, "Attachments out"): attached in the
compose modal's `file_input`, or shared in the thread the message shortcut is
used on. Checked against the channel's limits in the form; fetched from the fake
Slack's `url_private` with the bot token into the media store; the follow-up
carries it as an attachment; the connector uploads it (Telegram's multipart,
against the fake Telegram)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest_asyncio

from bot.channels.base import OutboundRequest, SendOutcome
from bot.channels.telegram import TelegramConnector
from bot.domain.channels import Channel
from bot.domain.templates import InputKind
from bot.domain.windows import SendMode
from bot.media.web import MEDIA_STORE_KEY
from bot.slack import ids
from tests.channels.test_telegram import make_settings
from tests.fakes.slack import FakeSlack
from tests.fakes.telegram import FakeTelegram
from tests.handlers.test_shortcuts import thread_ts_of, use_shortcut
from tests.handlers.test_views import closed_whatsapp_customer
from tests.slack.compose_steps import change, ephemerals, messages_of, open_composer, values_of
from tests.slack.conftest import Surface, running_surface

PHOTO = hashlib.sha256(b"receipt").digest() * 4096  # 128 KiB


@pytest_asyncio.fixture(loop_scope="session")
async def surface(
    redis_url: str, slack: FakeSlack, tmp_path_factory: Any
) -> AsyncIterator[Surface]:
    store = tmp_path_factory.mktemp("media")
    async with running_surface(redis_url, slack, media_store_url=f"file://{store}") as running:
        yield running


def with_files(view: dict[str, Any], files: list[dict[str, Any]], text: str) -> dict[str, Any]:
    values = values_of(view, {ids.COMPOSE_TEXT: text})
    values["compose_files"] = {ids.COMPOSE_FILES: {"type": "file_input", "files": files}}
    return values


async def stored_bytes(surface: Surface, key: str) -> bytes:
    data = b""
    async with surface.app[MEDIA_STORE_KEY].open(key) as reader:
        async for chunk in reader.chunks():
            data += chunk
    return data


async def test_a_file_attached_in_the_composer_is_fetched_stored_and_sent(
    surface: Surface, tmp_path: Path
) -> None:
    cid = await surface.contact("Hala", "Nader", identities={Channel.TELEGRAM: "9301"})
    shared = surface.slack.add_file("receipt.jpg", PHOTO, "image/jpeg")
    view = await open_composer(surface, cid)
    assert ids.COMPOSE_FILES in str(view["blocks"])

    status, ack = await surface.submit(view, with_files(view, [shared], "Your receipt"))
    await surface.settle()

    assert status == 200 and ack == {}
    [message] = await messages_of(surface, cid)
    [attachment] = message.content.attachments
    assert (attachment.file_name, attachment.mime_type, attachment.size) == (
        "receipt.jpg",
        "image/jpeg",
        len(PHOTO),
    )
    assert await stored_bytes(surface, attachment.key) == PHOTO

    # The relay hands the message to the connector, which uploads it from the store.
    async with FakeTelegram() as telegram, aiohttp.ClientSession() as http:
        connector = TelegramConnector(make_settings(telegram.url), http)
        connector.media = surface.app[MEDIA_STORE_KEY]
        request = OutboundRequest(
            message.id, Channel.TELEGRAM, "9301", SendMode.FREE, message.content
        )
        assert (await connector.send(request)).outcome is SendOutcome.SENT
        [upload] = telegram.uploads
        assert upload.method == "sendPhoto" and upload.fields["caption"] == "Your receipt"
        assert upload.sha256 == hashlib.sha256(PHOTO).hexdigest()


async def test_a_file_the_channel_cannot_take_is_a_field_error_and_nothing_is_fetched(
    surface: Surface,
) -> None:
    cid = await surface.contact("Rima", "Hout", identities={Channel.LINE: "U9302"})
    shared = surface.slack.add_file("contract.pdf", b"%PDF-1.7 ...", "application/pdf")
    view = await open_composer(surface, cid)
    downloads = len(surface.slack.calls)

    _, ack = await surface.submit(view, with_files(view, [shared], "The contract"))

    assert ack["response_action"] == "errors"
    assert "LINE does not take application/pdf files" in str(ack["errors"])
    assert await messages_of(surface, cid) == []
    assert len(surface.slack.calls) == downloads


async def test_the_shortcut_on_a_thread_message_with_a_file_sends_that_file(
    surface: Surface,
) -> None:
    cid = await surface.contact("Nabil", "Aoun", identities={Channel.TELEGRAM: "9303"})
    root = await thread_ts_of(surface, cid)
    shared = surface.slack.add_file("label.png", PHOTO, "image/png")

    await use_shortcut(
        surface,
        {
            "ts": "1732449999.000200",
            "thread_ts": root,
            "user": "U0AGENT1",
            "text": "",
            "files": [shared],
        },
    )
    view = surface.last_view()
    assert "Sending the file shared in the thread: label.png (128 KB)" in str(view["blocks"])

    status, ack = await surface.submit(view, values_of(view, {ids.COMPOSE_TEXT: ""}))
    await surface.settle()

    assert status == 200 and ack == {}
    [message] = await messages_of(surface, cid)
    [attachment] = message.content.attachments
    assert attachment.file_name == "label.png" and attachment.size == len(PHOTO)
    assert "On its way" in ephemerals(surface)[-1]["text"]


async def test_a_template_s_image_header_may_be_a_file_attached_in_the_composer(
    surface: Surface,
) -> None:
    cid = await closed_whatsapp_customer(surface)
    view = await open_composer(surface, cid)
    view = await change(surface, view, ids.COMPOSE_TEMPLATE, "order_shipped:en_US")
    assert "…or attach the header image" in str(view["blocks"])
    photo = surface.slack.add_file("parcel.jpg", PHOTO, "image/jpeg")
    pdf = surface.slack.add_file("parcel.pdf", b"%PDF-1.7", "application/pdf")

    def values(file: dict[str, Any]) -> dict[str, Any]:
        typed = {"compose_param_2": "Sara", "compose_param_3": "A-17", "compose_param_4": "A-17"}
        state = values_of(view, typed)
        state["compose_files"] = {ids.COMPOSE_FILES: {"type": "file_input", "files": [file]}}
        return state

    _, ack = await surface.submit(view, values(pdf))
    assert ack["response_action"] == "errors" and "header takes a file of type image" in str(
        ack["errors"]
    )

    status, ack = await surface.submit(view, values(photo))
    await surface.settle()

    assert status == 200 and ack == {}
    [message] = await messages_of(surface, cid)
    template = message.content.template
    assert template is not None and template.parameters == ("Sara", "A-17")
    [header] = [c for c in template.components if c.kind is InputKind.HEADER_MEDIA]
    assert header.by_id and header.media == "image"
    [attachment] = message.content.attachments
    assert attachment.file_name == "parcel.jpg"
    assert await stored_bytes(surface, attachment.key) == PHOTO

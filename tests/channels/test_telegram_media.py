"""Telegram file sends: multipart `sendPhoto` / `sendDocument`, streamed, checked
against Telegram's limits first (issue 12, "Attachments out")."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.channels.base import OutboundRequest, SendOutcome
from bot.channels.media import OutboundFile
from bot.channels.telegram import TelegramConnector
from bot.domain.channels import Channel
from bot.domain.media import MB
from bot.domain.messages import Attachment, Content, MediaKind
from bot.domain.windows import SendMode
from bot.media.store import FileMediaStore
from tests.channels.conftest import in_words
from tests.channels.test_telegram import make_settings
from tests.fakes.telegram import FakeTelegram


def file_of(size: int, content_type: str = "image/jpeg", name: str = "photo.jpg") -> OutboundFile:
    block = hashlib.sha256(name.encode()).digest() * 2048  # 64 KiB

    async def chunks() -> AsyncIterator[bytes]:
        sent = 0
        while sent < size:
            piece = block[: min(len(block), size - sent)]
            sent += len(piece)
            yield piece

    return OutboundFile(name, content_type, size, chunks)


async def digest_of(file: OutboundFile) -> str:
    digest = hashlib.sha256()
    async for chunk in file.chunks():
        digest.update(chunk)
    return digest.hexdigest()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def connector(fake: FakeTelegram, http: aiohttp.ClientSession) -> TelegramConnector:
    return TelegramConnector(make_settings(fake.url), http, rate_per_chat=1000)


async def test_a_photo_goes_as_a_multipart_sendphoto_with_its_caption(
    fake: FakeTelegram, connector: TelegramConnector
) -> None:
    photo = file_of(1 * MB)
    result = await connector.send_photo("42", photo, caption="Your receipt")
    assert result.outcome is SendOutcome.SENT and result.channel_message_id == "42:101"
    [upload] = fake.uploads
    assert (upload.method, upload.file_field) == ("sendPhoto", "photo")
    assert upload.fields == {"chat_id": "42", "caption": "Your receipt"}
    assert (upload.filename, upload.content_type, upload.size) == ("photo.jpg", "image/jpeg", MB)
    assert upload.sha256 == await digest_of(photo)
    assert fake.requests[-1].headers["Content-Type"].startswith("multipart/form-data")


async def test_a_document_goes_as_sendDocument(
    fake: FakeTelegram, connector: TelegramConnector
) -> None:
    invoice = file_of(300_000, "application/pdf", "invoice.pdf")
    result = await connector.send_document("42", invoice)
    assert result.outcome is SendOutcome.SENT
    [upload] = fake.uploads
    assert (upload.method, upload.file_field, upload.filename) == (
        "sendDocument",
        "document",
        "invoice.pdf",
    )
    assert "caption" not in upload.fields


async def test_a_photo_past_telegrams_10_mb_goes_as_a_document(
    fake: FakeTelegram, connector: TelegramConnector
) -> None:
    result = await connector.send_photo("42", file_of(11 * MB))
    assert result.outcome is SendOutcome.SENT
    assert [u.method for u in fake.uploads] == ["sendDocument"]


@pytest.mark.parametrize(
    ("file", "caption", "reason"),
    [
        (
            file_of(51 * MB, "application/pdf", "big.pdf"),
            "",
            "The file is 51 MB; Telegram takes at most 50 MB",
        ),
        (file_of(0), "", "The file is empty: Telegram takes no empty file"),
        (file_of(10, "nonsense", "x"), "", "Telegram does not take nonsense files"),
        (file_of(10), "x" * 1025, "The caption is longer than Telegram's 1,024 characters"),
    ],
    ids=["too-large", "empty", "wrong-type", "long-caption"],
)
async def test_a_file_telegram_would_refuse_is_not_sent(
    fake: FakeTelegram, connector: TelegramConnector, file: OutboundFile, caption: str, reason: str
) -> None:
    result = await connector.send_file("42", file, caption)
    assert result.outcome is SendOutcome.FAILED and in_words(result.reason) == reason
    assert fake.requests == []


async def test_telegrams_refusal_of_an_upload_is_told(
    fake: FakeTelegram, connector: TelegramConnector
) -> None:
    fake.known_chats = {"7"}
    result = await connector.send_photo("42", file_of(1000))
    assert result.outcome is SendOutcome.FAILED
    assert "chat" in in_words(result.reason).lower()
    fake.fail_next(429, description="Too Many Requests: retry after 3", retry_after=3)
    limited = await connector.send_photo("7", file_of(1000))
    assert limited.outcome is SendOutcome.RETRY and limited.retry_after == 3


async def test_the_fake_refuses_an_upload_without_its_file(
    fake: FakeTelegram, http: aiohttp.ClientSession
) -> None:
    form = aiohttp.FormData()
    form.add_field("chat_id", "42")
    form.add_field("document", b"x", filename="x.txt", content_type="text/plain")
    async with http.post(f"{fake.url}/bot{fake.token}/sendPhoto", data=form) as response:
        answer = await response.json()
    assert response.status == 400 and answer["description"] == "Bad Request: there is no photo"


async def test_media_max_bytes_bounds_what_goes_to_telegram(
    fake: FakeTelegram, http: aiohttp.ClientSession
) -> None:
    capped = TelegramConnector(make_settings(fake.url, media_max_bytes=MB), http)
    result = await capped.send_document("42", file_of(2 * MB, "application/pdf", "a.pdf"))
    assert result.outcome is SendOutcome.FAILED
    assert in_words(result.reason) == "The file is 2 MB; Telegram takes at most 1 MB"
    assert fake.requests == []


async def test_a_message_carrying_a_file_from_the_media_store_goes_with_its_caption(
    fake: FakeTelegram, connector: TelegramConnector, tmp_path: Path
) -> None:
    store = FileMediaStore(tmp_path)
    photo = file_of(300_000)
    stored = await store.put(photo.chunks(), content_type="image/jpeg", max_bytes=10 * MB)
    connector.media = store
    attachment = Attachment(MediaKind.IMAGE, "photo.jpg", "image/jpeg", stored.size, stored.name)
    request = OutboundRequest(
        "m-1",
        Channel.TELEGRAM,
        "42",
        SendMode.FREE,
        Content("Your receipt", attachments=(attachment,)),
    )

    result = await connector.send(request)

    assert result.outcome is SendOutcome.SENT
    [upload] = fake.uploads
    assert (upload.method, upload.fields["caption"]) == ("sendPhoto", "Your receipt")
    assert upload.size == 300_000 and upload.sha256 == await digest_of(photo)


async def test_a_file_with_no_media_store_is_refused_and_nothing_sent(
    fake: FakeTelegram, connector: TelegramConnector
) -> None:
    attachment = Attachment(MediaKind.IMAGE, "photo.jpg", "image/jpeg", 10, "x.jpg")
    request = OutboundRequest(
        "m-2", Channel.TELEGRAM, "42", SendMode.FREE, Content("", attachments=(attachment,))
    )

    result = await connector.send(request)

    assert result.outcome is SendOutcome.FAILED and fake.uploads == []
    assert "media store" in in_words(result.reason)

"""The connector contract for files: `send(request)` handles the request's
attachments, so the relay needs no per-channel code. Telegram's `send` uploads
each file from the media store; MEDIA_MAX_BYTES lowers every channel's limit;
every configured connector gets the media store."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.channels.base import SendOutcome
from bot.channels.media import MediaFiles
from bot.channels.registry import build_connectors
from bot.channels.telegram import TelegramConnector
from bot.domain.channels import Channel
from bot.domain.windows import SendMode
from tests.channels.conftest import in_words
from tests.channels.media_files import digest, pattern, stored, with_files
from tests.channels.test_email import settings_for as email_settings
from tests.channels.test_telegram import make_settings
from tests.conftest import StoreEnv
from tests.fakes.telegram import FakeTelegram


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
def telegram(
    fake: FakeTelegram, http: aiohttp.ClientSession, media: MediaFiles
) -> TelegramConnector:
    return TelegramConnector(make_settings(fake.url), http, rate_per_chat=1000, media=media.store)


async def test_send_uploads_the_files_from_the_store_with_the_text_as_caption(
    fake: FakeTelegram, telegram: TelegramConnector, media: MediaFiles
) -> None:
    data = pattern(300_000)
    photo = await stored(media, "receipt.jpg", "image/jpeg", data)
    invoice = await stored(media, "invoice.pdf", "application/pdf", pattern(5000, "pdf"))
    result = await telegram.send(with_files(Channel.TELEGRAM, "42", photo, invoice, text="Hi"))
    assert result.outcome is SendOutcome.SENT and result.channel_message_id == "42:101"
    first, second = fake.uploads
    assert (first.method, first.fields, first.sha256) == (
        "sendPhoto",
        {"chat_id": "42", "caption": "Hi"},
        digest(data),
    )
    assert (second.method, second.filename, second.fields) == (
        "sendDocument",
        "invoice.pdf",
        {"chat_id": "42"},
    )


async def test_a_text_too_long_for_a_caption_goes_first(
    fake: FakeTelegram, telegram: TelegramConnector, media: MediaFiles
) -> None:
    photo = await stored(media, "receipt.jpg", "image/jpeg", pattern(1000))
    text = "x" * 1025
    result = await telegram.send(with_files(Channel.TELEGRAM, "42", photo, text=text))
    assert result.outcome is SendOutcome.SENT
    assert [r.path.rsplit("/", 1)[1] for r in fake.requests] == ["sendMessage", "sendPhoto"]
    assert "caption" not in fake.uploads[0].fields


async def test_media_max_bytes_lowers_the_channels_limit_and_nothing_is_sent(
    fake: FakeTelegram, http: aiohttp.ClientSession, media: MediaFiles
) -> None:
    capped = make_settings(fake.url, media_max_bytes=100_000)
    connector = TelegramConnector(capped, http, media=media.store)
    photo = await stored(media, "receipt.jpg", "image/jpeg", pattern(200_000))
    result = await connector.send(with_files(Channel.TELEGRAM, "42", photo))
    assert result.outcome is SendOutcome.FAILED and result.reason is not None
    assert result.reason.key == "media.refused.too_large"
    assert "97.7 KB" in in_words(result.reason)
    assert fake.requests == []


async def test_a_template_with_a_file_is_refused_where_the_channel_has_none(
    fake: FakeTelegram, telegram: TelegramConnector, media: MediaFiles
) -> None:
    photo = await stored(media, "receipt.jpg", "image/jpeg", pattern(100))
    result = await telegram.send(with_files(Channel.TELEGRAM, "42", photo, mode=SendMode.TEMPLATE))
    assert result.reason is not None and result.reason.key == "send.text_only"
    assert fake.requests == []


async def test_every_configured_connector_gets_the_media_store(
    env: StoreEnv, http: aiohttp.ClientSession, media: MediaFiles
) -> None:
    settings = email_settings(25).model_copy(
        update={"telegram_bot_token": make_settings().telegram_bot_token}
    )
    connectors = build_connectors(settings, http, env.redis, env.keys, media.store)
    assert set(connectors) == {Channel.TELEGRAM, Channel.EMAIL}
    assert all(getattr(c, "media", None) is media.store for c in connectors.values())

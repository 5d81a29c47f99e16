"""Telegram connector against a local Bot API stand-in."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.channels.base import (
    InboundMessage,
    MalformedWebhook,
    OutboundRequest,
    ReachabilityEvent,
    SendOutcome,
    WebhookRequest,
)
from bot.channels.telegram import SECRET_HEADER, TelegramConnector
from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.reachability import UnreachableReason
from bot.domain.windows import SendMode
from tests.channels.conftest import (
    AT,
    STAMP,
    UNREACHABLE,
    as_body,
    in_words,
    outbound_message,
    settings,
    webhook_url,
)
from tests.fakes.telegram import FakeTelegram

SECRET = "telegram-webhook-secret_1"
TELEGRAM = {"telegram_bot_token": FakeTelegram.token, "telegram_webhook_secret": SECRET}


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


def make_settings(url: str = UNREACHABLE, **overrides: Any) -> Settings:
    return settings(TELEGRAM, telegram_api_url=url, **overrides)


@pytest.fixture
def connector(fake: FakeTelegram, http: aiohttp.ClientSession) -> TelegramConnector:
    return TelegramConnector(make_settings(fake.url), http, rate_per_chat=1000, timeout=0.5)


def outbound(chat: str = "42", **kw: Any) -> OutboundRequest:
    return outbound_message(Channel.TELEGRAM, chat, **kw)


def webhook(body: Any, secret: str | None = SECRET) -> WebhookRequest:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    return WebhookRequest("POST", webhook_url("telegram"), headers, {}, as_body(body))


def update(**message: Any) -> dict[str, Any]:
    base = {
        "message_id": 7,
        "from": {"id": 42, "is_bot": False, "first_name": "Sara", "last_name": "Ahmed"},
        "chat": {"id": 42, "first_name": "Sara", "type": "private"},
        "date": STAMP,
    }
    return {"update_id": 900, "message": {**base, **message}}


# --- configuration -----------------------------------------------------------


def test_telegram_is_offered_only_with_a_bot_token() -> None:
    assert TelegramConnector.configured(make_settings())
    assert not TelegramConnector.configured(settings(telegram_bot_token=None))


# --- sending -----------------------------------------------------------------


async def test_telegram_send_posts_chat_id_and_text_and_returns_the_message_id(
    fake: FakeTelegram, connector: TelegramConnector
) -> None:
    result = await connector.send(outbound())

    assert result.outcome is SendOutcome.SENT
    assert result.channel_message_id == "42:101"
    request = fake.requests[-1]
    assert request.method == "POST"
    assert request.path == f"/bot{FakeTelegram.token}/sendMessage"
    assert request.json == {"chat_id": "42", "text": "Your fix has shipped"}


@pytest.mark.parametrize(
    ("status", "description", "parameters", "headers", "outcome", "reason", "retry_after"),
    [
        (
            429,
            "Too Many Requests: retry after 7",
            {"retry_after": 7},
            {},
            SendOutcome.RETRY,
            "rate limiting",
            7.0,
        ),
        (429, "Too Many Requests", {}, {"Retry-After": "3"}, SendOutcome.RETRY, "rate", 3.0),
        (500, "Internal Server Error", {}, {}, SendOutcome.RETRY, "server error", None),
        (502, "Bad Gateway", {}, {}, SendOutcome.RETRY, "server error", None),
        (
            403,
            "Forbidden: bot was blocked by the user",
            {},
            {},
            SendOutcome.UNREACHABLE,
            "The customer blocked the bot",
            None,
        ),
        (
            403,
            "Forbidden: user is deactivated",
            {},
            {},
            SendOutcome.UNREACHABLE,
            "account was deleted",
            None,
        ),
        (
            403,
            "Forbidden: bot can't initiate conversation with a user",
            {},
            {},
            SendOutcome.FAILED,
            "has not started a chat",
            None,
        ),
        (
            400,
            "Bad Request: chat not found",
            {},
            {},
            SendOutcome.FAILED,
            "does not know this chat",
            None,
        ),
        (
            400,
            "Bad Request: message is too long",
            {},
            {},
            SendOutcome.FAILED,
            "4,096",
            None,
        ),
        (401, "Unauthorized", {}, {}, SendOutcome.FAILED, "TELEGRAM_BOT_TOKEN", None),
        (
            400,
            "Bad Request: can't parse entities",
            {},
            {},
            SendOutcome.FAILED,
            "Telegram refused the message (400: Bad Request: can't parse entities)",
            None,
        ),
    ],
    ids=[
        "429-retry_after-parameter",
        "429-Retry-After-header",
        "500",
        "502",
        "403-blocked",
        "403-deactivated",
        "403-never-started",
        "400-chat-not-found",
        "400-too-long",
        "401-bad-token",
        "400-other",
    ],
)
async def test_telegram_send_maps_each_answer(
    fake: FakeTelegram,
    connector: TelegramConnector,
    status: int,
    description: str,
    parameters: dict[str, Any],
    headers: dict[str, str],
    outcome: SendOutcome,
    reason: str,
    retry_after: float | None,
) -> None:
    fake.fail_next(status, description=description, headers=headers, **parameters)

    result = await connector.send(outbound())

    assert result.outcome is outcome
    assert reason in in_words(result.reason)
    assert result.retry_after == retry_after
    assert "Your fix" not in in_words(result.reason) and FakeTelegram.token not in in_words(
        result.reason
    )


async def test_telegram_bad_token_answered_by_the_api_is_a_failure(
    fake: FakeTelegram, http: aiohttp.ClientSession
) -> None:
    wrong = TelegramConnector(make_settings(fake.url, telegram_bot_token="1:wrong"), http)

    result = await wrong.send(outbound())

    assert result.outcome is SendOutcome.FAILED
    assert "TELEGRAM_BOT_TOKEN" in in_words(result.reason) and "wrong" not in in_words(
        result.reason
    )


async def test_telegram_timeout_is_retried(
    fake: FakeTelegram, connector: TelegramConnector
) -> None:
    fake.slow_next(2.0)

    result = await connector.send(outbound())

    assert result.outcome is SendOutcome.RETRY
    assert "in time" in in_words(result.reason)


async def test_telegram_connection_error_is_retried(http: aiohttp.ClientSession) -> None:
    nowhere = TelegramConnector(make_settings(), http, timeout=2)

    result = await nowhere.send(outbound())

    assert result.outcome is SendOutcome.RETRY


async def test_telegram_refused_mode_is_outside_the_window_and_sends_nothing(
    fake: FakeTelegram, connector: TelegramConnector
) -> None:
    before = len(fake.requests)

    result = await connector.send(outbound(mode=SendMode.REFUSED))

    assert result.outcome is SendOutcome.OUTSIDE_WINDOW
    assert len(fake.requests) == before


async def test_telegram_keeps_one_message_per_second_per_chat(
    fake: FakeTelegram, http: aiohttp.ClientSession
) -> None:
    paced = TelegramConnector(make_settings(fake.url), http, rate_per_chat=5)

    started = time.monotonic()
    await paced.send(outbound(chat="7"))
    await paced.send(outbound(chat="8"))
    other_chats = time.monotonic() - started
    await paced.send(outbound(chat="7"))
    same_chat = time.monotonic() - started

    assert other_chats < 0.15
    assert same_chat >= 0.18


# --- webhook -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "valid"),
    [(SECRET, True), ("not-the-secret", False), ("", False), (None, False)],
    ids=["right-secret", "wrong-secret", "empty-header", "missing-header"],
)
def test_telegram_webhook_secret_token_header_is_checked(
    connector: TelegramConnector, secret: str | None, valid: bool
) -> None:
    assert connector.verify(webhook(update(text="Hi"), secret=secret)) is valid


def test_telegram_webhook_without_a_configured_secret_is_refused(
    http: aiohttp.ClientSession,
) -> None:
    unsecured = TelegramConnector(make_settings(telegram_webhook_secret=None), http)

    assert unsecured.verify(webhook(update(text="Hi"))) is False


def test_telegram_text_message_becomes_an_inbound_message(
    connector: TelegramConnector,
) -> None:
    events = connector.parse(webhook(update(text="Hi, any news?")))

    assert events == [
        InboundMessage(
            channel=Channel.TELEGRAM,
            identity="42",
            channel_message_id="42:7",
            sent_at=AT,
            text="Hi, any news?",
            first_name="Sara",
            last_name="Ahmed",
        )
    ]


@pytest.mark.parametrize(
    ("content", "text"),
    [
        ({"photo": [{"file_id": "a", "width": 90}], "caption": "the bill"}, "📷 Photo: the bill"),
        ({"photo": [{"file_id": "a", "width": 90}]}, "📷 Photo"),
        ({"voice": {"file_id": "v", "duration": 4}}, "🎤 Voice message"),
        ({"audio": {"file_id": "a", "title": "Song", "performer": "Band"}}, "🎵 Audio Band – Song"),
        ({"video": {"file_id": "v"}, "caption": "it breaks here"}, "🎥 Video: it breaks here"),
        ({"video_note": {"file_id": "v"}}, "🎥 Video message"),
        ({"document": {"file_id": "d", "file_name": "log.txt"}}, "📄 File log.txt"),
        ({"sticker": {"file_id": "s", "emoji": "👍"}}, "Sticker 👍"),
        (
            {"location": {"latitude": 25.2048, "longitude": 55.2708}},
            "📍 Location 25.2048, 55.2708",
        ),
        (
            {"contact": {"phone_number": "+971501234567", "first_name": "Omar"}},
            "👤 Contact: Omar +971501234567",
        ),
    ],
    ids=[
        "photo-caption",
        "photo",
        "voice",
        "audio",
        "video",
        "video-note",
        "document",
        "sticker",
        "location",
        "contact",
    ],
)
def test_telegram_non_text_messages_are_described(
    connector: TelegramConnector, content: dict[str, Any], text: str
) -> None:
    (event,) = connector.parse(webhook(update(**content)))

    assert isinstance(event, InboundMessage)
    assert event.text == text


def test_telegram_customer_sharing_their_own_contact_tells_their_phone(
    connector: TelegramConnector,
) -> None:
    own = {"phone_number": "971501234567", "first_name": "Sara", "user_id": 42}

    (event,) = connector.parse(webhook(update(contact=own)))

    assert isinstance(event, InboundMessage)
    assert event.phone == "+971501234567"


@pytest.mark.parametrize(
    "body",
    [
        {"update_id": 1, "edited_message": update(text="edited")["message"]},
        {"update_id": 2, "callback_query": {"id": "1", "from": {"id": 42}}},
        update(new_chat_title="Support group"),
    ],
    ids=["edited-message", "callback-query", "service-message"],
)
def test_telegram_updates_we_do_not_care_about_are_ignored(
    connector: TelegramConnector, body: dict[str, Any]
) -> None:
    assert connector.parse(webhook(body)) == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        {"message": {"text": "no update id"}},
        {"update_id": 1, "message": "text"},
        {"update_id": 1, "message": {"message_id": 1, "date": STAMP, "text": "no chat"}},
        {"update_id": 1, "message": {"chat": {"id": 4}, "date": STAMP, "text": "no id"}},
    ],
    ids=["not-json", "array", "no-update-id", "message-not-object", "no-chat", "no-message-id"],
)
def test_telegram_malformed_but_well_signed_body_is_rejected(
    connector: TelegramConnector, body: Any
) -> None:
    request = webhook(body)
    assert connector.verify(request)

    with pytest.raises(MalformedWebhook):
        connector.parse(request)


def test_telegram_has_no_handshake_and_answers_200(connector: TelegramConnector) -> None:
    get = WebhookRequest("GET", webhook_url("telegram"), {}, {}, b"")

    assert connector.handshake(get) is None
    reply = connector.reply([])
    assert reply.status == 200 and reply.body == ""


@pytest.mark.parametrize(
    ("old", "new", "unreachable"),
    [("member", "kicked", UnreachableReason.BLOCKED), ("kicked", "member", None)],
    ids=["blocked", "unblocked"],
)
def test_telegram_my_chat_member_changes_reachability(
    connector: TelegramConnector, old: str, new: str, unreachable: UnreachableReason | None
) -> None:
    # https://core.telegram.org/bots/api#chatmemberupdated
    user = {"id": 42, "is_bot": False, "first_name": "Sara"}
    bot = {"id": 7, "is_bot": True, "first_name": "Acme", "username": "acme_bot"}
    body = {
        "update_id": 3,
        "my_chat_member": {
            "chat": {"id": 42, "first_name": "Sara", "type": "private"},
            "from": user,
            "date": STAMP,
            "old_chat_member": {"user": bot, "status": old},
            "new_chat_member": {"user": bot, "status": new, "until_date": 0},
        },
    }
    assert connector.parse(webhook(body)) == [
        ReachabilityEvent(Channel.TELEGRAM, "42", AT, unreachable, new)
    ]

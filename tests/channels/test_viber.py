"""Viber connector against a local REST bot API stand-in."""

from __future__ import annotations

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
    StatusUpdate,
    WebhookRequest,
)
from bot.channels.viber import ViberConnector
from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.models import MessageStatus
from bot.domain.reachability import UnreachableReason
from bot.domain.windows import Reason, SendMode
from tests.channels.conftest import (
    AT,
    SIGN,
    STAMP_MS,
    UNREACHABLE,
    hex_hmac_sha256,
    in_words,
    outbound_message,
    settings,
    signed_post,
    webhook_url,
)
from tests.fakes.viber import FakeViber

USER = "01234567890A="


@pytest.fixture
async def fake() -> AsyncIterator[FakeViber]:
    async with FakeViber() as server:
        yield server


def make_settings(url: str = UNREACHABLE, **overrides: Any) -> Settings:
    return settings({"viber_auth_token": FakeViber.auth_token}, viber_api_url=url, **overrides)


@pytest.fixture
def connector(fake: FakeViber, http: aiohttp.ClientSession) -> ViberConnector:
    return ViberConnector(make_settings(fake.url), http, sender_name="Acme Support", timeout=0.5)


def outbound(**kw: Any) -> OutboundRequest:
    return outbound_message(Channel.VIBER, USER, **kw)


def sign(body: bytes, token: str = FakeViber.auth_token) -> str:
    """As Viber signs: hex HMAC-SHA256(auth token, raw body)."""
    return hex_hmac_sha256(token, body)


def webhook(body: Any, signature: str | None = SIGN) -> WebhookRequest:
    return signed_post(webhook_url("viber"), body, "X-Viber-Content-Signature", sign, signature)


def message_callback(message: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {
        "event": "message",
        "timestamp": STAMP_MS,
        "chat_hostname": "SN-376_",
        "message_token": 4912661846655238145,
        "sender": {
            "id": USER,
            "name": "Sara Al Ahmed",
            "avatar": "https://avatar.example.com",
            "language": "en",
            "country": "AE",
            "api_version": 1,
        },
        "message": message,
        "silent": False,
        **overrides,
    }


# --- configuration -----------------------------------------------------------


def test_viber_is_offered_only_with_an_auth_token() -> None:
    assert ViberConnector.configured(make_settings())
    assert not ViberConnector.configured(settings(viber_auth_token=None))


# --- sending -----------------------------------------------------------------


@pytest.mark.parametrize("mode", [SendMode.FREE, SendMode.CHATBOT], ids=["in-window", "chatbot"])
async def test_viber_send_posts_text_with_auth_token_and_sender(
    fake: FakeViber, connector: ViberConnector, mode: SendMode
) -> None:
    result = await connector.send(outbound(mode=mode))

    assert result.outcome is SendOutcome.SENT
    assert result.channel_message_id == "5741311803571721001"
    (request,) = fake.requests
    assert request.path == "/pa/send_message"
    assert request.headers["X-Viber-Auth-Token"] == FakeViber.auth_token
    assert request.json == {
        "receiver": USER,
        "type": "text",
        "text": "Your fix has shipped",
        "sender": {"name": "Acme Support"},
    }


async def test_viber_sender_name_is_cut_to_28_characters(
    fake: FakeViber, http: aiohttp.ClientSession
) -> None:
    long_name = ViberConnector(make_settings(fake.url), http, sender_name="S" * 40)

    result = await long_name.send(outbound())

    assert result.outcome is SendOutcome.SENT
    assert fake.requests[-1].json["sender"] == {"name": "S" * 28}


@pytest.mark.parametrize(
    ("code", "outcome", "reason"),
    [
        (2, SendOutcome.FAILED, "VIBER_AUTH_TOKEN"),
        (3, SendOutcome.FAILED, "bad data"),
        (4, SendOutcome.FAILED, "missing required data"),
        (5, SendOutcome.FAILED, "no longer registered on Viber"),
        (6, SendOutcome.UNREACHABLE, "unsubscribed from the Viber bot"),
        (7, SendOutcome.FAILED, "account is blocked"),
        (10, SendOutcome.FAILED, "needs a webhook"),
        (11, SendOutcome.FAILED, "cannot receive bot messages"),
        (12, SendOutcome.RETRY, "rate limiting"),
        (13, SendOutcome.FAILED, "too old"),
        (21, SendOutcome.FAILED, "country"),
        (23, SendOutcome.FAILED, "free chatbot-initiated messages this month"),
        (24, SendOutcome.FAILED, "no balance"),
        (99, SendOutcome.FAILED, "Viber refused the message (status 99: General error)"),
    ],
    ids=[
        "2-invalidAuthToken",
        "3-badData",
        "4-missingData",
        "5-receiverNotRegistered",
        "6-receiverNotSubscribed",
        "7-publicAccountBlocked",
        "10-webhookNotSet",
        "11-receiverNoSuitableDevice",
        "12-tooManyRequests",
        "13-apiVersionNotSupported",
        "21-unsupportedCountry",
        "23-freeMessagesExceeded",
        "24-noBalance",
        "unknown",
    ],
)
async def test_viber_status_codes_in_the_body_are_mapped(
    fake: FakeViber, connector: ViberConnector, code: int, outcome: SendOutcome, reason: str
) -> None:
    fake.fail_next(code)

    result = await connector.send(outbound())

    assert result.outcome is outcome
    assert reason in in_words(result.reason)
    assert USER not in in_words(result.reason) and "Your fix" not in in_words(result.reason)


@pytest.mark.parametrize(
    ("http_status", "headers", "retry_after"),
    [(429, {"Retry-After": "7"}, 7.0), (500, {}, None), (503, {}, None)],
    ids=["429-Retry-After", "500", "503"],
)
async def test_viber_http_errors_are_retried(
    fake: FakeViber,
    connector: ViberConnector,
    http_status: int,
    headers: dict[str, str],
    retry_after: float | None,
) -> None:
    fake.fail_next(http_status=http_status, headers=headers)

    result = await connector.send(outbound())

    assert result.outcome is SendOutcome.RETRY
    assert result.retry_after == retry_after


async def test_viber_unsubscribed_customer_is_refused_by_the_api(
    fake: FakeViber, connector: ViberConnector
) -> None:
    fake.subscribers = {"someone-else="}

    result = await connector.send(outbound())

    assert result.outcome is SendOutcome.UNREACHABLE
    assert in_words(result.reason) == "The customer has unsubscribed from the Viber bot"


async def test_viber_bad_token_answered_by_the_api_is_a_failure(
    fake: FakeViber, http: aiohttp.ClientSession
) -> None:
    wrong = ViberConnector(make_settings(fake.url, viber_auth_token="nope"), http)

    result = await wrong.send(outbound())

    assert result.outcome is SendOutcome.FAILED
    assert "VIBER_AUTH_TOKEN" in in_words(result.reason)


async def test_viber_timeout_is_retried(fake: FakeViber, connector: ViberConnector) -> None:
    fake.slow_next(2.0)

    result = await connector.send(outbound())

    assert result.outcome is SendOutcome.RETRY
    assert "in time" in in_words(result.reason)


async def test_viber_connection_error_is_retried(http: aiohttp.ClientSession) -> None:
    nowhere = ViberConnector(make_settings(), http, timeout=2)

    result = await nowhere.send(outbound())

    assert result.outcome is SendOutcome.RETRY


async def test_viber_refused_mode_is_outside_the_window_and_sends_nothing(
    fake: FakeViber, connector: ViberConnector
) -> None:
    result = await connector.send(outbound(mode=SendMode.REFUSED))

    assert result.outcome is SendOutcome.OUTSIDE_WINDOW
    assert fake.requests == []


# --- webhook -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signature", "valid"),
    [
        ("sign", True),
        (sign(b"other body"), False),
        (sign(b"{}", token="not-the-token"), False),
        ("", False),
        (None, False),
    ],
    ids=["right", "other-body", "other-token", "empty", "missing"],
)
def test_viber_signature_is_hex_hmac_sha256_of_the_body(
    connector: ViberConnector, signature: str | None, valid: bool
) -> None:
    request = webhook(message_callback({"type": "text", "text": "Hi"}), signature)

    assert connector.verify(request) is valid


def test_viber_text_message_becomes_an_inbound_message(connector: ViberConnector) -> None:
    events = connector.parse(webhook(message_callback({"type": "text", "text": "Hi, any news?"})))

    assert events == [
        InboundMessage(
            channel=Channel.VIBER,
            identity=USER,
            channel_message_id="4912661846655238145",
            sent_at=AT,
            text="Hi, any news?",
            first_name="Sara",
            last_name="Al Ahmed",
        )
    ]


@pytest.mark.parametrize(
    ("message", "text"),
    [
        (
            {"type": "picture", "text": "the bill", "media": "https://x/p.jpg", "thumbnail": "t"},
            "📷 Photo: the bill",
        ),
        ({"type": "picture", "media": "https://x/p.jpg"}, "📷 Photo"),
        ({"type": "video", "media": "https://x/v.mp4", "size": 10000, "duration": 10}, "🎥 Video"),
        (
            {"type": "file", "media": "https://x/f", "size": 10000, "file_name": "log.txt"},
            "📄 File log.txt",
        ),
        ({"type": "sticker", "sticker_id": 46105}, "Sticker"),
        (
            {"type": "location", "location": {"lat": 25.2048, "lon": 55.2708}},
            "📍 Location 25.2048, 55.2708",
        ),
        (
            {"type": "contact", "contact": {"name": "Omar", "phone_number": "+971501234567"}},
            "👤 Contact: Omar +971501234567",
        ),
        (
            {"type": "url", "media": "https://example.com/order/1"},
            "🔗 Link: https://example.com/order/1",
        ),
    ],
    ids=["picture-caption", "picture", "video", "file", "sticker", "location", "contact", "url"],
)
def test_viber_non_text_messages_are_described(
    connector: ViberConnector, message: dict[str, Any], text: str
) -> None:
    (event,) = connector.parse(webhook(message_callback(message)))

    assert isinstance(event, InboundMessage)
    assert event.text == text


@pytest.mark.parametrize(
    ("event", "status", "reason"),
    [
        ("delivered", MessageStatus.DELIVERED, ""),
        ("seen", MessageStatus.READ, ""),
        (
            "failed",
            MessageStatus.FAILED,
            "Viber could not deliver the message: failure description",
        ),
    ],
    ids=["delivered", "seen", "failed"],
)
def test_viber_receipts_update_the_message_by_its_token(
    connector: ViberConnector, event: str, status: MessageStatus, reason: str
) -> None:
    body: dict[str, Any] = {
        "event": event,
        "timestamp": STAMP_MS,
        "chat_hostname": "SN-376_",
        "message_token": 5741311803571721001,
        "user_id": USER,
    }
    if event == "failed":
        body["desc"] = "failure description"

    events = connector.parse(webhook(body))

    assert events == [
        StatusUpdate(
            channel=Channel.VIBER,
            status=status,
            at=AT,
            channel_message_id="5741311803571721001",
            reason=Reason("send.viber.undelivered_because", {"detail": "failure description"})
            if reason
            else None,
        )
    ]
    assert in_words(events[0].reason) == reason


@pytest.mark.parametrize(
    "body",
    [
        {"event": "conversation_started", "timestamp": STAMP_MS, "user": {"id": USER}},
        {"event": "webhook", "timestamp": STAMP_MS, "message_token": 1},
    ],
    ids=["conversation_started", "webhook"],
)
def test_viber_events_we_do_not_care_about_are_ignored(
    connector: ViberConnector, body: dict[str, Any]
) -> None:
    assert connector.parse(webhook(body)) == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        {"timestamp": STAMP_MS},
        message_callback({"type": "text", "text": "x"}, sender={"name": "no id"}),
        message_callback({"text": "no type"}),
        message_callback({"type": "text", "text": "x"}, timestamp="yesterday"),
        message_callback({"type": "text", "text": "x"}, message_token=None),
        {"event": "delivered", "timestamp": STAMP_MS, "user_id": USER},
    ],
    ids=[
        "not-json",
        "array",
        "no-event",
        "no-sender-id",
        "no-message-type",
        "bad-timestamp",
        "no-message-token",
        "receipt-without-token",
    ],
)
def test_viber_malformed_but_well_signed_body_is_rejected(
    connector: ViberConnector, body: Any
) -> None:
    request = webhook(body)
    assert connector.verify(request)

    with pytest.raises(MalformedWebhook):
        connector.parse(request)


def test_viber_has_no_handshake_and_answers_200(connector: ViberConnector) -> None:
    get = WebhookRequest("GET", webhook_url("viber"), {}, {}, b"")

    assert connector.handshake(get) is None
    assert connector.reply([]).status == 200


def test_viber_unsubscribed_and_subscribed_change_reachability(connector: ViberConnector) -> None:
    # https://developers.viber.com/docs/api/rest-bot-api/#callbacks
    unsubscribed = {
        "event": "unsubscribed",
        "timestamp": STAMP_MS,
        "chat_hostname": "SN-376_",
        "user_id": USER,
        "message_token": 4912661846655238145,
    }
    subscribed = {
        "event": "subscribed",
        "timestamp": STAMP_MS,
        "chat_hostname": "SN-376_",
        "user": {"id": USER, "name": "Sara", "language": "en", "country": "AE", "api_version": 1},
        "message_token": 4912661846655238146,
    }
    assert connector.parse(webhook(unsubscribed)) == [
        ReachabilityEvent(Channel.VIBER, USER, AT, UnreachableReason.UNSUBSCRIBED, "unsubscribed")
    ]
    assert connector.parse(webhook(subscribed)) == [
        ReachabilityEvent(Channel.VIBER, USER, AT, None, "subscribed")
    ]

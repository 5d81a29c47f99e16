"""LINE connector against a local Messaging API stand-in."""

from __future__ import annotations

import uuid
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
from bot.channels.line import LineConnector, retry_key
from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.reachability import LineQuota, UnreachableReason
from bot.domain.windows import SendMode
from tests.channels.conftest import (
    AT,
    SIGN,
    STAMP_MS,
    UNREACHABLE,
    base64_hmac_sha256,
    in_words,
    outbound_message,
    settings,
    signed_post,
    webhook_url,
)
from tests.fakes.line import FakeLine

CHANNEL_SECRET = "line-channel-secret"
USER = "U" + "4af4980629" * 3 + "ab"
LINE = {"line_channel_access_token": FakeLine.access_token, "line_channel_secret": CHANNEL_SECRET}


@pytest.fixture
async def fake() -> AsyncIterator[FakeLine]:
    async with FakeLine(profiles={USER: "Sara Al Ahmed"}) as server:
        yield server


def make_settings(url: str = UNREACHABLE, **overrides: Any) -> Settings:
    return settings(LINE, line_api_url=url, **overrides)


@pytest.fixture
def connector(fake: FakeLine, http: aiohttp.ClientSession) -> LineConnector:
    return LineConnector(make_settings(fake.url), http, timeout=0.5)


def outbound(recipient: str = USER, **kw: Any) -> OutboundRequest:
    return outbound_message(Channel.LINE, recipient, **kw)


def sign(body: bytes, secret: str = CHANNEL_SECRET) -> str:
    """As LINE signs: base64 of HMAC-SHA256(channel secret, raw body)."""
    return base64_hmac_sha256(secret, body)


def webhook(body: Any, signature: str | None = SIGN) -> WebhookRequest:
    return signed_post(webhook_url("line"), body, "X-Line-Signature", sign, signature)


def message_event(message: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    event = {
        "type": "message",
        "message": message,
        "webhookEventId": "01FZ74A0TDDPYRVKNK77XKC3ZR",
        "deliveryContext": {"isRedelivery": False},
        "timestamp": STAMP_MS,
        "source": {"type": "user", "userId": USER},
        "replyToken": "757913772c4646b784d4b7ce46d12671",
        "mode": "active",
        **overrides,
    }
    return {"destination": "Uxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "events": [event]}


# --- configuration -----------------------------------------------------------


def test_line_is_offered_only_with_a_channel_access_token() -> None:
    assert LineConnector.configured(make_settings())
    assert not LineConnector.configured(settings(line_channel_access_token=None))


# --- sending -----------------------------------------------------------------


async def test_line_push_sends_text_with_bearer_token_and_retry_key(
    fake: FakeLine, connector: LineConnector
) -> None:
    result = await connector.send(outbound())

    assert result.outcome is SendOutcome.SENT
    assert result.channel_message_id == "461230966842064001"
    (push,) = fake.pushes
    assert push.headers["Authorization"] == f"Bearer {FakeLine.access_token}"
    assert push.headers["X-Line-Retry-Key"] == retry_key("m-1")
    assert push.json == {"to": USER, "messages": [{"type": "text", "text": "Your fix has shipped"}]}


def test_line_retry_key_is_a_uuid_derived_from_our_message_id() -> None:
    assert retry_key("m-1") == retry_key("m-1")
    assert retry_key("m-1") != retry_key("m-2")
    assert str(uuid.UUID(retry_key("m-1"))) == retry_key("m-1")


@pytest.mark.parametrize("lists_sent", [True, False], ids=["body-lists-id", "header-only"])
async def test_line_409_for_an_accepted_retry_key_is_sent_not_sent_twice(
    fake: FakeLine, connector: LineConnector, lists_sent: bool
) -> None:
    fake.conflict_lists_sent_messages = lists_sent
    first = await connector.send(outbound())

    again = await connector.send(outbound())

    assert again.outcome is SendOutcome.SENT
    request_id, _ = fake.accepted[retry_key("m-1")]
    expected = first.channel_message_id if lists_sent else request_id
    assert again.channel_message_id == expected
    assert [p.headers["X-Line-Retry-Key"] for p in fake.pushes] == [retry_key("m-1")] * 2


async def test_line_retry_after_a_5xx_reuses_the_retry_key(
    fake: FakeLine, connector: LineConnector
) -> None:
    fake.fail_next(500)
    first = await connector.send(outbound(message_id="m-7"))

    second = await connector.send(outbound(message_id="m-7"))

    assert first.outcome is SendOutcome.RETRY
    assert second.outcome is SendOutcome.SENT
    keys = {p.headers["X-Line-Retry-Key"] for p in fake.pushes}
    assert keys == {retry_key("m-7")}


@pytest.mark.parametrize(
    ("status", "message", "headers", "outcome", "reason", "retry_after"),
    [
        (
            429,
            "The API rate limit has been exceeded. Try again later.",
            {"Retry-After": "7"},
            SendOutcome.RETRY,
            "rate limiting",
            7.0,
        ),
        (
            429,
            "You have reached your monthly limit.",
            {},
            SendOutcome.LIMIT_LEARNED,
            "used up its messages for this month",
            None,
        ),
        (500, "Internal server error", {}, SendOutcome.RETRY, "server error", None),
        (503, "Service unavailable", {}, SendOutcome.RETRY, "server error", None),
        (
            400,
            "The property, 'to', in the request body is invalid (line: -, column: -)",
            {},
            SendOutcome.FAILED,
            "does not know this user",
            None,
        ),
        (
            400,
            "The request body has 1 error(s)",
            {},
            SendOutcome.FAILED,
            "LINE refused the message (The request body has 1 error(s))",
            None,
        ),
        (401, "Authentication failed", {}, SendOutcome.FAILED, "LINE_CHANNEL_ACCESS_TOKEN", None),
        (
            403,
            "Access to this API is not available for your account",
            {},
            SendOutcome.FAILED,
            "may not send push messages",
            None,
        ),
    ],
    ids=[
        "429-rate",
        "429-monthly-limit",
        "500",
        "503",
        "400-invalid-user",
        "400-invalid-body",
        "401-bad-token",
        "403-not-allowed",
    ],
)
async def test_line_send_maps_each_answer(
    fake: FakeLine,
    connector: LineConnector,
    status: int,
    message: str,
    headers: dict[str, str],
    outcome: SendOutcome,
    reason: str,
    retry_after: float | None,
) -> None:
    fake.fail_next(status, message=message, headers=headers)

    result = await connector.send(outbound())

    assert result.outcome is outcome
    assert reason in in_words(result.reason)
    assert result.retry_after == retry_after
    assert USER not in in_words(result.reason) and "Your fix" not in in_words(result.reason)


async def test_line_unknown_user_is_refused_by_the_api(
    fake: FakeLine, connector: LineConnector
) -> None:
    result = await connector.send(outbound(recipient="not-a-user"))

    assert result.outcome is SendOutcome.FAILED
    assert "does not know this user" in in_words(result.reason)


async def test_line_bad_token_answered_by_the_api_is_a_failure(
    fake: FakeLine, http: aiohttp.ClientSession
) -> None:
    wrong = LineConnector(make_settings(fake.url, line_channel_access_token="nope"), http)

    result = await wrong.send(outbound())

    assert result.outcome is SendOutcome.FAILED
    assert "LINE_CHANNEL_ACCESS_TOKEN" in in_words(result.reason)


async def test_line_timeout_is_retried(fake: FakeLine, connector: LineConnector) -> None:
    fake.slow_next(2.0)

    result = await connector.send(outbound())

    assert result.outcome is SendOutcome.RETRY
    assert "in time" in in_words(result.reason)


async def test_line_connection_error_is_retried(http: aiohttp.ClientSession) -> None:
    nowhere = LineConnector(make_settings(), http, timeout=2)

    result = await nowhere.send(outbound())

    assert result.outcome is SendOutcome.RETRY


async def test_line_refused_mode_is_outside_the_window_and_sends_nothing(
    fake: FakeLine, connector: LineConnector
) -> None:
    result = await connector.send(outbound(mode=SendMode.REFUSED))

    assert result.outcome is SendOutcome.OUTSIDE_WINDOW
    assert fake.pushes == []


# --- profile -------------------------------------------------------------------


async def test_line_profile_splits_the_display_name_at_the_first_space(
    fake: FakeLine, connector: LineConnector
) -> None:
    assert await connector.profile(USER) == ("Sara", "Al Ahmed")
    assert fake.requests[-1].path == f"/v2/bot/profile/{USER}"


async def test_line_profile_of_an_unknown_user_is_empty(connector: LineConnector) -> None:
    assert await connector.profile("U" + "0" * 32) == ("", "")


# --- webhook -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signature", "valid"),
    [
        ("sign", True),
        (sign(b"other body"), False),
        (sign(b"{}", secret="not-the-secret"), False),
        ("", False),
        (None, False),
    ],
    ids=["right", "other-body", "other-secret", "empty", "missing"],
)
def test_line_signature_is_base64_hmac_sha256_of_the_body(
    connector: LineConnector, signature: str | None, valid: bool
) -> None:
    request = webhook(message_event({"type": "text", "id": "1", "text": "Hi"}), signature)

    assert connector.verify(request) is valid


def test_line_text_message_becomes_an_inbound_message(connector: LineConnector) -> None:
    body = message_event(
        {"type": "text", "id": "468789577898262530", "quoteToken": "q", "text": "Hi, any news?"}
    )

    events = connector.parse(webhook(body))

    assert events == [
        InboundMessage(
            channel=Channel.LINE,
            identity=USER,
            channel_message_id="468789577898262530",
            sent_at=AT,
            text="Hi, any news?",
        )
    ]


@pytest.mark.parametrize(
    ("message", "text"),
    [
        ({"type": "image", "contentProvider": {"type": "line"}}, "📷 Photo"),
        ({"type": "video", "duration": 6000, "contentProvider": {"type": "line"}}, "🎥 Video"),
        (
            {"type": "audio", "duration": 6000, "contentProvider": {"type": "line"}},
            "🎤 Voice message",
        ),
        ({"type": "file", "fileName": "invoice.pdf", "fileSize": 2138}, "📄 File invoice.pdf"),
        (
            {"type": "location", "latitude": 25.2048, "longitude": 55.2708},
            "📍 Location 25.2048, 55.2708",
        ),
        (
            {
                "type": "location",
                "title": "Office",
                "address": "Dubai",
                "latitude": 25.2048,
                "longitude": 55.2708,
            },
            "📍 Location 25.2048, 55.2708: Office, Dubai",
        ),
        (
            {"type": "sticker", "packageId": "446", "stickerId": "1988", "keywords": ["Happy"]},
            "Sticker Happy",
        ),
    ],
    ids=["image", "video", "audio", "file", "location", "location-titled", "sticker"],
)
def test_line_non_text_messages_are_described(
    connector: LineConnector, message: dict[str, Any], text: str
) -> None:
    (event,) = connector.parse(webhook(message_event({"id": "9", **message})))

    assert isinstance(event, InboundMessage)
    assert event.text == text


@pytest.mark.parametrize(
    "body",
    [
        {"destination": "U1", "events": []},
        message_event(
            {"type": "text", "id": "1", "text": "in a group"},
            source={"type": "group", "groupId": "C1", "userId": USER},
        ),
    ],
    ids=["verification-no-events", "group-message"],
)
def test_line_events_we_do_not_care_about_are_ignored(
    connector: LineConnector, body: dict[str, Any]
) -> None:
    assert connector.parse(webhook(body)) == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        {"destination": "U1"},
        {"destination": "U1", "events": ["x"]},
        message_event({"type": "text", "text": "no id"}),
        message_event({"type": "text", "id": "1", "text": "no time"}, timestamp=None),
        message_event({"type": "text", "id": "1", "text": "no user"}, source={"type": "user"}),
    ],
    ids=["not-json", "array", "no-events", "event-not-object", "no-id", "no-timestamp", "no-user"],
)
def test_line_malformed_but_well_signed_body_is_rejected(
    connector: LineConnector, body: Any
) -> None:
    request = webhook(body)
    assert connector.verify(request)

    with pytest.raises(MalformedWebhook):
        connector.parse(request)


def test_line_has_no_handshake_and_answers_200(connector: LineConnector) -> None:
    get = WebhookRequest("GET", webhook_url("line"), {}, {}, b"")

    assert connector.handshake(get) is None
    assert connector.reply([]).status == 200


@pytest.mark.parametrize(
    ("kind", "unreachable"),
    [("unfollow", UnreachableReason.UNFOLLOWED), ("follow", None)],
    ids=["unfollow", "follow"],
)
def test_line_follow_and_unfollow_change_reachability(
    connector: LineConnector, kind: str, unreachable: UnreachableReason | None
) -> None:
    # https://developers.line.biz/en/reference/messaging-api/#unfollow-event
    event: dict[str, Any] = {
        "type": kind,
        "mode": "active",
        "timestamp": STAMP_MS,
        "source": {"type": "user", "userId": USER},
        "webhookEventId": "01FZ74A0TDDPYRVKNK77XKC3ZR",
        "deliveryContext": {"isRedelivery": False},
    }
    if kind == "follow":
        event["replyToken"] = "85cbe770fa8b4f45bbe077b1d4be4a36"
        event["follow"] = {"isUnblocked": True}
    [parsed] = connector.parse(webhook({"destination": "U1", "events": [event]}))
    assert parsed == ReachabilityEvent(Channel.LINE, USER, AT, unreachable, kind)


@pytest.mark.parametrize(
    ("limit", "used", "expected"),
    [(1000, 250, LineQuota(1000, 250)), (None, 7, LineQuota(None, 7))],
    ids=["limited", "no-limit"],
)
async def test_line_quota_reads_target_and_consumption(
    fake: FakeLine,
    connector: LineConnector,
    limit: int | None,
    used: int,
    expected: LineQuota,
) -> None:
    fake.quota_limit, fake.quota_used = limit, used
    assert await connector.quota() == expected
    assert [r.path for r in fake.requests] == [
        "/v2/bot/message/quota",
        "/v2/bot/message/quota/consumption",
    ]


async def test_line_quota_unknown_when_line_refuses(http: aiohttp.ClientSession) -> None:
    async with FakeLine() as fake:
        wrong = LineConnector(make_settings(fake.url, line_channel_access_token="nope"), http)
        assert await wrong.quota() is None

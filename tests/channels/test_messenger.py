"""Messenger Send API connector against a local Graph API stand-in."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from bot.channels.base import (
    InboundMessage,
    MalformedWebhook,
    OutboundRequest,
    SendOutcome,
    StatusUpdate,
    WebhookRequest,
)
from bot.channels.messenger import MESSENGER_MESSAGES_PER_SECOND, MessengerConnector
from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.models import MessageStatus
from bot.domain.windows import SendMode
from tests.channels.conftest import (
    AT,
    GRAPH_UNREACHABLE,
    META_SETTINGS,
    SIGN,
    STAMP_MS,
    TEXT,
    VERIFY_TOKEN,
    in_words,
    messaging_webhook,
    meta_sign,
    meta_webhook,
    outbound_message,
    settings,
)
from tests.fakes.graph import FakeGraph

PAGE_ID = "1234567890"
PSID = "6543210987654321"


MESSENGER = {**META_SETTINGS, "messenger_page_token": FakeGraph.page_token}


def make_settings(url: str = GRAPH_UNREACHABLE, **overrides: Any) -> Settings:
    return settings(MESSENGER, messenger_api_url=url, **overrides)


@pytest.fixture
def connector(graph: FakeGraph, http: aiohttp.ClientSession) -> MessengerConnector:
    return MessengerConnector(make_settings(graph.url), http, timeout=0.3)


def outbound(mode: SendMode = SendMode.FREE, recipient: str = PSID, **kw: Any) -> OutboundRequest:
    return outbound_message(Channel.MESSENGER, recipient, mode=mode, **kw)


def webhook(body: Any, signature: str | None = SIGN) -> WebhookRequest:
    return meta_webhook("messenger", body, signature)


def page_event(**event: Any) -> dict[str, Any]:
    return messaging_webhook("page", PAGE_ID, PSID, **event)


def customer_message(**message: Any) -> dict[str, Any]:
    return page_event(message={"mid": "m_AbCdEf123", **message})


# --- configuration and sending ----------------------------------------------------------


def test_messenger_is_offered_only_with_a_page_token() -> None:
    assert MessengerConnector.configured(make_settings())
    assert not MessengerConnector.configured(make_settings(messenger_page_token=None))


def test_messenger_rate_limit_is_conservative(http: aiohttp.ClientSession) -> None:
    connector = MessengerConnector(make_settings(), http)
    assert connector.sender.limiter.rate == MESSENGER_MESSAGES_PER_SECOND == 40


@pytest.mark.parametrize(
    ("mode", "tag", "expected"),
    [
        (SendMode.FREE, None, {"messaging_type": "RESPONSE"}),
        (SendMode.HUMAN_AGENT, None, {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}),
        (
            SendMode.MESSAGE_TAG,
            "ACCOUNT_UPDATE",
            {"messaging_type": "MESSAGE_TAG", "tag": "ACCOUNT_UPDATE"},
        ),
    ],
    ids=["inside-24h-response", "24h-7d-human-agent", "agent-picked-tag"],
)
async def test_messenger_sends_with_the_messaging_type_and_tag_of_the_mode(
    connector: MessengerConnector,
    graph: FakeGraph,
    mode: SendMode,
    tag: str | None,
    expected: dict[str, str],
) -> None:
    result = await connector.send(outbound(mode, tag=tag))

    assert result.outcome is SendOutcome.SENT
    assert result.channel_message_id is not None
    assert result.channel_message_id.startswith("m_")
    [request] = graph.sent
    assert request.path == "/v21.0/me/messages"
    assert request.headers["Authorization"] == f"Bearer {graph.page_token}"
    assert "access_token" not in request.query  # the token stays out of URLs and logs
    assert request.json == {"recipient": {"id": PSID}, "message": {"text": TEXT}, **expected}


@pytest.mark.parametrize(
    ("request_", "outcome"),
    [
        (outbound(SendMode.MESSAGE_TAG, tag=None), SendOutcome.FAILED),
        (outbound(SendMode.TEMPLATE, template="x"), SendOutcome.FAILED),
        (outbound(text=""), SendOutcome.FAILED),
        (outbound(SendMode.REFUSED), SendOutcome.OUTSIDE_WINDOW),
    ],
    ids=["tag-not-chosen", "template", "empty-text", "refused"],
)
async def test_messenger_unsendable_requests_never_reach_the_api(
    connector: MessengerConnector, graph: FakeGraph, request_: OutboundRequest, outcome: SendOutcome
) -> None:
    result = await connector.send(request_)
    assert result.outcome is outcome
    assert in_words(result.reason)
    assert graph.sent == []


@pytest.mark.parametrize(
    ("code", "subcode", "http_status", "outcome", "words"),
    [
        (10, 2018278, 400, SendOutcome.OUTSIDE_WINDOW, "outside its messaging window"),
        (10, None, 400, SendOutcome.OUTSIDE_WINDOW, "outside its messaging window"),
        (100, 2018278, 400, SendOutcome.OUTSIDE_WINDOW, "outside its messaging window"),
        (551, 1545041, 400, SendOutcome.UNREACHABLE, "isn't available on Messenger"),
        (551, None, 400, SendOutcome.UNREACHABLE, "isn't available on Messenger"),
        (100, 2018001, 400, SendOutcome.FAILED, "No Messenger user matches"),
        (613, None, 400, SendOutcome.RETRY, "rate limit"),
        (4, None, 400, SendOutcome.RETRY, "rate limit"),
        (32, None, 400, SendOutcome.RETRY, "rate limit"),
        (1200, None, 500, SendOutcome.RETRY, "temporary send failure"),
        (190, None, 401, SendOutcome.FAILED, "MESSENGER_PAGE_TOKEN"),
        (200, 2018028, 403, SendOutcome.FAILED, "admins, developers and testers"),
        (100, None, 400, SendOutcome.FAILED, "invalid"),
    ],
    ids=[
        "10-2018278-outside-window",
        "10-outside-window",
        "subcode-2018278-outside-window",
        "551-1545041-person-unavailable",
        "551-person-unavailable",
        "100-2018001-no-matching-user",
        "613-rate-limit",
        "4-rate-limit",
        "32-page-rate-limit",
        "1200-temporary-failure",
        "190-bad-token",
        "200-2018028-app-not-approved",
        "100-invalid-parameter",
    ],
)
async def test_messenger_errors_map_to_outcomes_in_plain_words(
    connector: MessengerConnector,
    graph: FakeGraph,
    code: int,
    subcode: int | None,
    http_status: int,
    outcome: SendOutcome,
    words: str,
) -> None:
    graph.error_next(code, subcode=subcode, status=http_status, message=f"(#{code}) {TEXT}")
    result = await connector.send(outbound())

    assert result.outcome is outcome
    assert words in in_words(result.reason)
    for secret in (PSID, TEXT, graph.page_token):
        assert secret not in in_words(result.reason)


async def test_messenger_error_10_is_outside_the_window(
    connector: MessengerConnector, graph: FakeGraph
) -> None:
    graph.error_next(
        10, subcode=2018278, message="(#10) This message is sent outside of allowed window."
    )
    assert (await connector.send(outbound())).outcome is SendOutcome.OUTSIDE_WINDOW


async def test_messenger_429_honours_retry_after(
    connector: MessengerConnector, graph: FakeGraph
) -> None:
    graph.fail_next(status=429, body=b"", headers={"Retry-After": "12"})
    result = await connector.send(outbound())
    assert (result.outcome, result.retry_after) == (SendOutcome.RETRY, 12)


async def test_messenger_rate_limit_waits_for_metas_estimated_time(
    connector: MessengerConnector, graph: FakeGraph
) -> None:
    usage = {PAGE_ID: [{"type": "messenger", "estimated_time_to_regain_access": 2}]}
    graph.error_next(613, headers={"X-Business-Use-Case-Usage": json.dumps(usage)})
    result = await connector.send(outbound())
    assert (result.outcome, result.retry_after) == (SendOutcome.RETRY, 120)


async def test_messenger_server_error_is_retried(
    connector: MessengerConnector, graph: FakeGraph
) -> None:
    graph.fail_next(status=503, body="<html>unavailable</html>")
    assert (await connector.send(outbound())).outcome is SendOutcome.RETRY


async def test_messenger_timeout_is_retried(
    connector: MessengerConnector, graph: FakeGraph
) -> None:
    graph.slow_next(2.0)
    result = await connector.send(outbound())
    assert result.outcome is SendOutcome.RETRY
    assert "in time" in in_words(result.reason)


# --- profile -----------------------------------------------------------------------------


async def test_messenger_profile_gives_first_and_last_name(
    connector: MessengerConnector, graph: FakeGraph
) -> None:
    graph.profiles[PSID] = {"first_name": "Sara", "last_name": "Ahmed", "profile_pic": "x"}
    assert await connector.profile(PSID) == ("Sara", "Ahmed")
    [request] = graph.requests
    assert request.method == "GET"
    assert request.path == f"/v21.0/{PSID}"
    assert request.query["fields"] == "first_name,last_name"


@pytest.mark.parametrize(
    "script",
    [
        lambda g: None,
        lambda g: g.error_next(100, subcode=33),
        lambda g: g.fail_next(status=500),
        lambda g: g.slow_next(2.0),
        lambda g: g.fail_next(status=200, body="not json"),
    ],
    ids=["unknown-user", "graph-error", "server-error", "timeout", "garbage"],
)
async def test_messenger_profile_failures_give_empty_names(
    connector: MessengerConnector, graph: FakeGraph, script: Any
) -> None:
    script(graph)
    assert await connector.profile(PSID) == ("", "")


# --- webhooks ---------------------------------------------------------------------------------


def test_messenger_webhook_signature_is_verified(connector: MessengerConnector) -> None:
    assert connector.verify(webhook(customer_message(text="Hi")))
    assert not connector.verify(webhook(customer_message(text="Hi"), signature=None))
    assert not connector.verify(webhook(customer_message(text="Hi"), signature=meta_sign(b"x")))


def test_messenger_subscribe_handshake(connector: MessengerConnector) -> None:
    def get(token: str) -> WebhookRequest:
        query = {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "CHALLENGE"}
        return WebhookRequest("GET", "https://x/webhooks/messenger", {}, query, b"")

    good, bad = connector.handshake(get(VERIFY_TOKEN)), connector.handshake(get("nope"))
    assert good is not None and (good.status, good.body) == (200, "CHALLENGE")
    assert bad is not None and bad.status == 403


def test_messenger_text_message_is_inbound(connector: MessengerConnector) -> None:
    [event] = connector.parse(webhook(customer_message(text="Hi")))
    assert event == InboundMessage(
        channel=Channel.MESSENGER,
        identity=PSID,
        channel_message_id="m_AbCdEf123",
        sent_at=AT,
        text="Hi",
    )


@pytest.mark.parametrize(
    ("message", "text"),
    [
        (
            {"text": "the caption", "attachments": [{"type": "image", "payload": {"url": "u"}}]},
            "📷 Photo: the caption",
        ),
        (
            {
                "attachments": [
                    {"type": "image", "payload": {"url": "u", "sticker_id": 369239263222822}}
                ]
            },
            "🎨 Sticker",
        ),
        ({"attachments": [{"type": "video", "payload": {"url": "u"}}]}, "🎥 Video"),
        ({"attachments": [{"type": "audio", "payload": {"url": "u"}}]}, "🎵 Audio"),
        ({"attachments": [{"type": "file", "payload": {"url": "u"}}]}, "📄 File"),
        (
            {
                "attachments": [
                    {
                        "type": "location",
                        "payload": {"coordinates": {"lat": 25.2048, "long": 55.2708}},
                    }
                ]
            },
            "📍 Location 25.2048, 55.2708",
        ),
        (
            {"attachments": [{"type": "fallback", "title": "Our blog", "url": "https://x"}]},
            "🔗 Link Our blog",
        ),
        (
            {
                "attachments": [
                    {"type": "image", "payload": {"url": "a"}},
                    {"type": "image", "payload": {"url": "b"}},
                ]
            },
            "📷 Photo\n📷 Photo",
        ),
    ],
    ids=["photo-caption", "sticker", "video", "audio", "file", "location", "link", "two-photos"],
)
def test_messenger_attachments_are_described_with_their_caption(
    connector: MessengerConnector, message: dict[str, Any], text: str
) -> None:
    [event] = connector.parse(webhook(customer_message(**message)))
    assert isinstance(event, InboundMessage)
    assert event.text == text


def test_messenger_postback_is_a_customer_interaction(connector: MessengerConnector) -> None:
    body = page_event(postback={"title": "Talk to an agent", "payload": "AGENT", "mid": "m_pb1"})
    [event] = connector.parse(webhook(body))
    assert isinstance(event, InboundMessage)
    assert (event.channel_message_id, event.text, event.sent_at) == (
        "m_pb1",
        "🔘 Talk to an agent",
        AT,
    )


def test_messenger_delivery_with_mids_marks_each_message_delivered(
    connector: MessengerConnector,
) -> None:
    body = page_event(delivery={"mids": ["m_1", "m_2"], "watermark": STAMP_MS})
    events = connector.parse(webhook(body))
    assert events == [
        StatusUpdate(Channel.MESSENGER, MessageStatus.DELIVERED, AT, channel_message_id="m_1"),
        StatusUpdate(Channel.MESSENGER, MessageStatus.DELIVERED, AT, channel_message_id="m_2"),
    ]


def test_messenger_delivery_without_mids_is_a_watermark_receipt(
    connector: MessengerConnector,
) -> None:
    body = page_event(delivery={"watermark": STAMP_MS - 1000})
    del body["entry"][0]["messaging"][0]["timestamp"]
    [event] = connector.parse(webhook(body))
    assert event == StatusUpdate(
        Channel.MESSENGER,
        MessageStatus.DELIVERED,
        datetime(2026, 11, 18, 11, 59, 59, tzinfo=UTC),
        recipient=PSID,
        up_to=datetime(2026, 11, 18, 11, 59, 59, tzinfo=UTC),
    )


def test_messenger_read_is_a_watermark_receipt_for_the_customer(
    connector: MessengerConnector,
) -> None:
    [event] = connector.parse(webhook(page_event(read={"watermark": STAMP_MS - 5000})))
    assert event == StatusUpdate(
        Channel.MESSENGER,
        MessageStatus.READ,
        AT,
        recipient=PSID,
        up_to=datetime(2026, 11, 18, 11, 59, 55, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    "body",
    [
        customer_message(text="our own words", is_echo=True, app_id=1517776481860111),
        page_event(reaction={"mid": "m_1", "action": "react", "emoji": "👍"}),
        page_event(optin={"ref": "x"}),
        {"object": "instagram", "entry": []},
        {"object": "page", "entry": [{"id": PAGE_ID, "time": STAMP_MS, "standby": [{}]}]},
        {
            "object": "page",
            "entry": [
                {
                    "id": PAGE_ID,
                    "messaging": [
                        {
                            "sender": {"user_ref": "guest"},
                            "timestamp": STAMP_MS,
                            "message": {"mid": "m"},
                        }
                    ],
                }
            ],
        },
    ],
    ids=["echo", "reaction", "optin", "other-object", "standby", "chat-plugin-guest"],
)
def test_messenger_events_we_do_not_show_are_ignored(
    connector: MessengerConnector, body: dict[str, Any]
) -> None:
    assert connector.parse(webhook(body)) == []


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        json.dumps({"entry": []}).encode(),
        json.dumps({"object": "page"}).encode(),
        json.dumps(page_event(message={"text": "no mid"})).encode(),
        json.dumps(
            {"object": "page", "entry": [{"messaging": [{"message": {"mid": "m"}}]}]}
        ).encode(),
        json.dumps(
            {
                "object": "page",
                "entry": [{"messaging": [{"sender": {"id": PSID}, "message": {"mid": "m"}}]}],
            }
        ).encode(),
        json.dumps(page_event(read={})).encode(),
    ],
    ids=[
        "not-json",
        "no-object",
        "no-entry",
        "message-without-mid",
        "no-sender",
        "message-without-timestamp",
        "read-without-watermark",
    ],
)
def test_messenger_malformed_but_signed_body_is_rejected(
    connector: MessengerConnector, raw: bytes
) -> None:
    request = webhook(raw)
    assert connector.verify(request)
    with pytest.raises(MalformedWebhook):
        connector.parse(request)


def test_messenger_reply_is_an_empty_200(connector: MessengerConnector) -> None:
    assert (connector.reply([]).status, connector.reply([]).body) == (200, "")

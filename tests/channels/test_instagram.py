"""Instagram Messaging API connector against a local Graph API stand-in."""

from __future__ import annotations

import json
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
from bot.channels.instagram import INSTAGRAM_MESSAGES_PER_SECOND, InstagramConnector
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

IG_ID = "17841400000000000"
IGSID = "1234567890123456"


INSTAGRAM = {**META_SETTINGS, "instagram_token": FakeGraph.instagram_token}


def make_settings(url: str = GRAPH_UNREACHABLE, **overrides: Any) -> Settings:
    return settings(INSTAGRAM, instagram_api_url=url, **overrides)


@pytest.fixture
def connector(graph: FakeGraph, http: aiohttp.ClientSession) -> InstagramConnector:
    return InstagramConnector(make_settings(graph.url), http, timeout=0.3)


def outbound(mode: SendMode = SendMode.FREE, recipient: str = IGSID, **kw: Any) -> OutboundRequest:
    return outbound_message(Channel.INSTAGRAM, recipient, mode=mode, **kw)


def webhook(body: Any, signature: str | None = SIGN) -> WebhookRequest:
    return meta_webhook("instagram", body, signature)


def ig_event(**event: Any) -> dict[str, Any]:
    return messaging_webhook("instagram", IG_ID, IGSID, **event)


def customer_message(**message: Any) -> dict[str, Any]:
    return ig_event(message={"mid": "aWdfZAG1faXRlbTpJRDoxNzg0", **message})


# --- configuration and sending ----------------------------------------------------------


def test_instagram_is_offered_only_with_a_token() -> None:
    assert InstagramConnector.configured(make_settings())
    assert not InstagramConnector.configured(make_settings(instagram_token=None))


def test_instagram_rate_limit_is_conservative(http: aiohttp.ClientSession) -> None:
    connector = InstagramConnector(make_settings(), http)
    assert connector.sender.limiter.rate == INSTAGRAM_MESSAGES_PER_SECOND == 40


async def test_instagram_free_text_is_sent_untagged(
    connector: InstagramConnector, graph: FakeGraph
) -> None:
    result = await connector.send(outbound())

    assert result.outcome is SendOutcome.SENT
    assert result.channel_message_id
    [request] = graph.sent
    assert request.path == "/v21.0/me/messages"
    assert request.headers["Authorization"] == f"Bearer {graph.instagram_token}"
    assert request.json == {"recipient": {"id": IGSID}, "message": {"text": TEXT}}


@pytest.mark.parametrize(
    ("mode", "tag"),
    [(SendMode.HUMAN_AGENT, None), (SendMode.MESSAGE_TAG, "HUMAN_AGENT")],
    ids=["human-agent-mode", "human-agent-tag"],
)
async def test_instagram_between_24h_and_7d_sends_with_the_human_agent_tag(
    connector: InstagramConnector, graph: FakeGraph, mode: SendMode, tag: str | None
) -> None:
    result = await connector.send(outbound(mode, tag=tag))
    assert result.outcome is SendOutcome.SENT
    assert graph.sent[0].json == {
        "recipient": {"id": IGSID},
        "message": {"text": TEXT},
        "messaging_type": "MESSAGE_TAG",
        "tag": "HUMAN_AGENT",
    }


@pytest.mark.parametrize(
    ("request_", "outcome"),
    [
        (outbound(SendMode.MESSAGE_TAG, tag="ACCOUNT_UPDATE"), SendOutcome.FAILED),
        (outbound(SendMode.TEMPLATE, template="x"), SendOutcome.FAILED),
        (outbound(text=" "), SendOutcome.FAILED),
        (outbound(SendMode.REFUSED), SendOutcome.OUTSIDE_WINDOW),
    ],
    ids=["other-tag", "template", "empty-text", "refused"],
)
async def test_instagram_unsendable_requests_never_reach_the_api(
    connector: InstagramConnector, graph: FakeGraph, request_: OutboundRequest, outcome: SendOutcome
) -> None:
    result = await connector.send(request_)
    assert result.outcome is outcome
    assert in_words(result.reason)
    assert graph.sent == []


@pytest.mark.parametrize(
    ("code", "subcode", "http_status", "outcome", "words"),
    [
        (10, 2534022, 400, SendOutcome.OUTSIDE_WINDOW, "outside its messaging window"),
        (10, 2018278, 400, SendOutcome.OUTSIDE_WINDOW, "outside its messaging window"),
        (10, None, 400, SendOutcome.OUTSIDE_WINDOW, "outside its messaging window"),
        (551, 1545041, 400, SendOutcome.UNREACHABLE, "isn't available on Instagram"),
        (613, None, 400, SendOutcome.RETRY, "rate limit"),
        (4, None, 400, SendOutcome.RETRY, "rate limit"),
        (190, None, 401, SendOutcome.FAILED, "INSTAGRAM_TOKEN"),
        (100, None, 400, SendOutcome.FAILED, "invalid"),
    ],
    ids=[
        "10-2534022-outside-window",
        "10-2018278-outside-window",
        "10-outside-window",
        "551-person-unavailable",
        "613-rate-limit",
        "4-rate-limit",
        "190-bad-token",
        "100-invalid-parameter",
    ],
)
async def test_instagram_errors_map_like_messenger(
    connector: InstagramConnector,
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
    for secret in (IGSID, TEXT, graph.instagram_token):
        assert secret not in in_words(result.reason)


async def test_instagram_429_honours_retry_after(
    connector: InstagramConnector, graph: FakeGraph
) -> None:
    graph.fail_next(status=429, body={"error": {"code": 4}}, headers={"Retry-After": "3"})
    result = await connector.send(outbound())
    assert (result.outcome, result.retry_after) == (SendOutcome.RETRY, 3)


async def test_instagram_server_error_is_retried(
    connector: InstagramConnector, graph: FakeGraph
) -> None:
    graph.fail_next(status=500, body={"error": {"message": "oops", "code": 2}})
    assert (await connector.send(outbound())).outcome is SendOutcome.RETRY


async def test_instagram_timeout_is_retried(
    connector: InstagramConnector, graph: FakeGraph
) -> None:
    graph.slow_next(2.0)
    assert (await connector.send(outbound())).outcome is SendOutcome.RETRY


# --- profile -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        ({"name": "Sara Ahmed", "username": "sara.a"}, ("Sara", "Ahmed", "sara.a")),
        ({"username": "sara.a"}, ("sara.a", "", "sara.a")),
        ({}, ("", "", "")),
    ],
    ids=["name", "username-only", "nothing"],
)
async def test_instagram_profile_splits_the_name(
    connector: InstagramConnector,
    graph: FakeGraph,
    profile: dict[str, str],
    expected: tuple[str, str, str],
) -> None:
    graph.profiles[IGSID] = profile
    assert await connector.profile(IGSID) == expected
    assert graph.requests[0].query["fields"] == "name,username"


async def test_instagram_profile_failure_gives_empty_names(
    connector: InstagramConnector, graph: FakeGraph
) -> None:
    graph.error_next(190, status=401)
    assert await connector.profile(IGSID) == ("", "", "")


# --- webhooks ---------------------------------------------------------------------------------


def test_instagram_webhook_signature_is_verified(connector: InstagramConnector) -> None:
    assert connector.verify(webhook(customer_message(text="Hi")))
    assert not connector.verify(webhook(customer_message(text="Hi"), signature=None))
    assert not connector.verify(
        webhook(customer_message(text="Hi"), signature=meta_sign(b"x", "other-secret"))
    )


def test_instagram_subscribe_handshake(connector: InstagramConnector) -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "42"}
    reply = connector.handshake(
        WebhookRequest("GET", "https://x/webhooks/instagram", {}, query, b"")
    )
    assert reply is not None and (reply.status, reply.body) == (200, "42")


def test_instagram_text_message_is_inbound(connector: InstagramConnector) -> None:
    [event] = connector.parse(webhook(customer_message(text="Hi")))
    assert event == InboundMessage(
        channel=Channel.INSTAGRAM,
        identity=IGSID,
        channel_message_id="aWdfZAG1faXRlbTpJRDoxNzg0",
        sent_at=AT,
        text="Hi",
    )


@pytest.mark.parametrize(
    ("message", "text"),
    [
        ({"attachments": [{"type": "image", "payload": {"url": "u"}}]}, "📷 Photo"),
        ({"attachments": [{"type": "video", "payload": {"url": "u"}}]}, "🎥 Video"),
        ({"attachments": [{"type": "audio", "payload": {"url": "u"}}]}, "🎵 Audio"),
        ({"attachments": [{"type": "file", "payload": {"url": "u"}}]}, "📄 File"),
        ({"attachments": [{"type": "share", "payload": {"url": "u"}}]}, "🔗 Link"),
        ({"attachments": [{"type": "story_mention", "payload": {"url": "u"}}]}, "📣 Story mention"),
        (
            {"attachments": [{"type": "ig_reel", "payload": {"url": "u", "title": "Unboxing"}}]},
            "🎬 Reel Unboxing",
        ),
        ({"is_unsupported": True}, "❔ A message type this app cannot show"),
    ],
    ids=["photo", "video", "audio", "file", "share", "story-mention", "reel", "unsupported"],
)
def test_instagram_attachments_are_described(
    connector: InstagramConnector, message: dict[str, Any], text: str
) -> None:
    [event] = connector.parse(webhook(customer_message(**message)))
    assert isinstance(event, InboundMessage)
    assert event.text == text


def test_instagram_seen_with_a_mid_marks_that_message_read(connector: InstagramConnector) -> None:
    [event] = connector.parse(webhook(ig_event(read={"mid": "aWdf000001"})))
    assert event == StatusUpdate(
        Channel.INSTAGRAM, MessageStatus.READ, AT, channel_message_id="aWdf000001"
    )


def test_instagram_seen_with_a_watermark_is_a_watermark_receipt(
    connector: InstagramConnector,
) -> None:
    [event] = connector.parse(webhook(ig_event(read={"watermark": STAMP_MS})))
    assert event == StatusUpdate(
        Channel.INSTAGRAM, MessageStatus.READ, AT, recipient=IGSID, up_to=AT
    )


@pytest.mark.parametrize(
    "body",
    [
        customer_message(text="sent by us", is_echo=True),
        customer_message(is_deleted=True),
        ig_event(reaction={"mid": "m", "action": "react", "reaction": "love"}),
        {"object": "page", "entry": []},
        {
            "object": "instagram",
            "entry": [{"id": IG_ID, "time": STAMP_MS, "changes": [{"field": "comments"}]}],
        },
    ],
    ids=["echo", "unsent", "reaction", "page-object", "comment-change"],
)
def test_instagram_events_we_do_not_show_are_ignored(
    connector: InstagramConnector, body: dict[str, Any]
) -> None:
    assert connector.parse(webhook(body)) == []


@pytest.mark.parametrize(
    "raw",
    [
        b"<xml/>",
        json.dumps({"object": "instagram", "entry": "nope"}).encode(),
        json.dumps(ig_event(message={"text": "no mid"})).encode(),
        json.dumps(ig_event(read={})).encode(),
    ],
    ids=["not-json", "entry-not-a-list", "message-without-mid", "read-without-mid-or-watermark"],
)
def test_instagram_malformed_but_signed_body_is_rejected(
    connector: InstagramConnector, raw: bytes
) -> None:
    request = webhook(raw)
    assert connector.verify(request)
    with pytest.raises(MalformedWebhook):
        connector.parse(request)

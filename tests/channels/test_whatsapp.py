"""WhatsApp Cloud API connector against a local Graph API stand-in."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from bot.channels.base import (
    InboundMessage,
    MalformedWebhook,
    OutboundRequest,
    RateLimiter,
    SendOutcome,
    StatusUpdate,
    WebhookRequest,
)
from bot.channels.whatsapp import WHATSAPP_MESSAGES_PER_SECOND, WhatsAppConnector
from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.messages import Content, TemplateUse
from bot.domain.models import MessageStatus
from bot.domain.reachability import LearnedLimit, UnreachableReason
from bot.domain.templates import fill, parse_template, send_components
from bot.domain.windows import SendMode
from tests.channels.conftest import (
    AT,
    GRAPH_UNREACHABLE,
    META_SETTINGS,
    SIGN,
    STAMP,
    TEXT,
    VERIFY_TOKEN,
    in_words,
    meta_sign,
    meta_webhook,
    outbound_message,
    settings,
)
from tests.fakes.graph import FakeGraph

WA_ID = "971501234567"
WHATSAPP = {
    **META_SETTINGS,
    "whatsapp_token": FakeGraph.whatsapp_token,
    "whatsapp_phone_number_id": FakeGraph.phone_number_id,
}


def make_settings(url: str = GRAPH_UNREACHABLE, **overrides: Any) -> Settings:
    return settings(WHATSAPP, whatsapp_api_url=url, **overrides)


@pytest.fixture
def connector(graph: FakeGraph, http: aiohttp.ClientSession) -> WhatsAppConnector:
    return WhatsAppConnector(make_settings(graph.url), http, timeout=0.3)


def outbound(mode: SendMode = SendMode.FREE, recipient: str = WA_ID, **kw: Any) -> OutboundRequest:
    return outbound_message(Channel.WHATSAPP, recipient, mode=mode, **kw)


def webhook(body: Any, signature: str | None = SIGN) -> WebhookRequest:
    return meta_webhook("whatsapp", body, signature)


def change(value: dict[str, Any], field: str = "messages") -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": field,
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": FakeGraph.phone_number_id,
                            },
                            **value,
                        },
                    }
                ],
            }
        ],
    }


def customer_message(message_type: str = "text", **content: Any) -> dict[str, Any]:
    if not content and message_type == "text":
        content = {"text": {"body": "Hi"}}
    return change(
        {
            "contacts": [{"profile": {"name": "Sara Ahmed"}, "wa_id": WA_ID}],
            "messages": [
                {
                    "from": WA_ID,
                    "id": "wamid.HBgLOTcxNTAxMjM0NTY3FQIAEhgg",
                    "timestamp": str(STAMP),
                    "type": message_type,
                    **content,
                }
            ],
        }
    )


def status(state: str, **extra: Any) -> dict[str, Any]:
    return change(
        {
            "statuses": [
                {
                    "id": "wamid.OUR000001",
                    "status": state,
                    "timestamp": str(STAMP),
                    "recipient_id": WA_ID,
                    **extra,
                }
            ]
        }
    )


# --- configuration ----------------------------------------------------------------


def test_whatsapp_is_offered_only_with_token_and_phone_number_id() -> None:
    assert WhatsAppConnector.configured(make_settings())
    assert not WhatsAppConnector.configured(make_settings(whatsapp_token=None))
    assert not WhatsAppConnector.configured(make_settings(whatsapp_phone_number_id=None))


def test_whatsapp_rate_limit_is_the_cloud_api_throughput(http: aiohttp.ClientSession) -> None:
    connector = WhatsAppConnector(make_settings(), http)
    assert connector.sender.limiter.rate == WHATSAPP_MESSAGES_PER_SECOND == 80


# --- sending ----------------------------------------------------------------------


async def test_whatsapp_free_text_is_sent_as_a_text_message(
    connector: WhatsAppConnector, graph: FakeGraph
) -> None:
    result = await connector.send(outbound())

    assert result.outcome is SendOutcome.SENT
    assert result.channel_message_id is not None
    assert result.channel_message_id.startswith("wamid.")
    [request] = graph.sent
    assert request.path == f"/v21.0/{graph.phone_number_id}/messages"
    assert request.headers["Authorization"] == f"Bearer {graph.whatsapp_token}"
    assert request.json == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": WA_ID,
        "type": "text",
        "text": {"body": TEXT},
    }


async def test_whatsapp_e164_recipient_is_sent_as_a_wa_id(
    connector: WhatsAppConnector, graph: FakeGraph
) -> None:
    await connector.send(outbound(recipient=f"+{WA_ID}"))
    assert graph.sent[0].json["to"] == WA_ID


async def test_whatsapp_template_is_sent_with_its_body_parameters(
    connector: WhatsAppConnector, graph: FakeGraph
) -> None:
    result = await connector.send(
        outbound(
            SendMode.TEMPLATE,
            text="",
            template="order_update",
            template_language="ar",
            template_params=("Sara", "#1234"),
        )
    )

    assert result.outcome is SendOutcome.SENT
    assert graph.sent[0].json["type"] == "template"
    assert graph.sent[0].json["template"] == {
        "name": "order_update",
        "language": {"code": "ar"},
        "components": [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": "Sara"},
                    {"type": "text", "text": "#1234"},
                ],
            }
        ],
    }


async def test_whatsapp_named_template_names_each_body_parameter(
    connector: WhatsAppConnector, graph: FakeGraph
) -> None:
    result = await connector.send(
        outbound(
            SendMode.TEMPLATE,
            text="",
            template="shipping_update",
            template_language="en_US",
            template_params=("Sara", "today"),
            template_param_names=("first_name", "day"),
        )
    )

    assert result.outcome is SendOutcome.SENT
    assert graph.sent[0].json["template"]["components"] == [
        {
            "type": "body",
            "parameters": [
                {"type": "text", "parameter_name": "first_name", "text": "Sara"},
                {"type": "text", "parameter_name": "day", "text": "today"},
            ],
        }
    ]


async def test_whatsapp_template_without_parameters_has_no_components(
    connector: WhatsAppConnector, graph: FakeGraph
) -> None:
    await connector.send(outbound(SendMode.TEMPLATE, template="hello_world"))
    assert graph.sent[0].json["template"] == {
        "name": "hello_world",
        "language": {"code": "en_US"},
    }


@pytest.mark.parametrize(
    ("request_", "outcome"),
    [
        (outbound(SendMode.TEMPLATE, template=None), SendOutcome.FAILED),
        (outbound(text="  "), SendOutcome.FAILED),
        (outbound(SendMode.MESSAGE_TAG, tag="HUMAN_AGENT"), SendOutcome.FAILED),
        (outbound(SendMode.REFUSED), SendOutcome.OUTSIDE_WINDOW),
    ],
    ids=["template-not-chosen", "empty-text", "message-tag", "refused"],
)
async def test_whatsapp_unsendable_requests_never_reach_the_api(
    connector: WhatsAppConnector, graph: FakeGraph, request_: OutboundRequest, outcome: SendOutcome
) -> None:
    result = await connector.send(request_)
    assert result.outcome is outcome
    assert in_words(result.reason)
    assert graph.sent == []


async def test_whatsapp_error_131047_is_outside_the_window(
    connector: WhatsAppConnector, graph: FakeGraph
) -> None:
    graph.error_next(
        131047,
        message="(#131047) Re-engagement message",
        details="Message failed to send because more than 24 hours have passed",
    )
    result = await connector.send(outbound())
    assert result.outcome is SendOutcome.OUTSIDE_WINDOW
    assert "24 hours" in in_words(result.reason)


@pytest.mark.parametrize(
    ("code", "http_status", "outcome", "words"),
    [
        (131026, 400, SendOutcome.FAILED, "may not be on WhatsApp"),
        (131051, 400, SendOutcome.FAILED, "does not support this message type"),
        (132000, 400, SendOutcome.FAILED, "number of template parameters"),
        (132001, 404, SendOutcome.FAILED, "template does not exist"),
        (131056, 400, SendOutcome.RETRY, "Too many messages to this customer"),
        (130429, 400, SendOutcome.RETRY, "throughput limit"),
        (131048, 400, SendOutcome.FAILED, "spam"),
        (190, 401, SendOutcome.FAILED, "access token is invalid or expired"),
        (100, 400, SendOutcome.FAILED, "invalid"),
        (131000, 500, SendOutcome.RETRY, "unknown error"),
        (987654, 400, SendOutcome.FAILED, "error 987654"),
    ],
    ids=[
        "131026-undeliverable",
        "131051-unsupported-type",
        "132000-template-param-count",
        "132001-template-missing",
        "131056-pair-rate-limit",
        "130429-throughput",
        "131048-spam-rate-limit",
        "190-bad-token",
        "100-invalid-parameter",
        "131000-something-went-wrong",
        "unknown-code",
    ],
)
async def test_whatsapp_errors_map_to_outcomes_in_plain_words(
    connector: WhatsAppConnector,
    graph: FakeGraph,
    code: int,
    http_status: int,
    outcome: SendOutcome,
    words: str,
) -> None:
    graph.error_next(
        code, status=http_status, message=f"(#{code}) vendor words with {WA_ID} and {TEXT}"
    )
    result = await connector.send(outbound())

    assert result.outcome is outcome
    assert words in in_words(result.reason)
    for secret in (WA_ID, TEXT, graph.whatsapp_token):
        assert secret not in in_words(result.reason)


async def test_whatsapp_429_honours_retry_after(
    connector: WhatsAppConnector, graph: FakeGraph
) -> None:
    graph.fail_next(
        status=429, body={"error": {"message": "slow down"}}, headers={"Retry-After": "7"}
    )
    result = await connector.send(outbound())
    assert result.outcome is SendOutcome.RETRY
    assert result.retry_after == 7


async def test_whatsapp_throttle_waits_for_metas_estimated_time_to_regain_access(
    connector: WhatsAppConnector, graph: FakeGraph
) -> None:
    usage = {"102290129340398": [{"type": "whatsapp", "estimated_time_to_regain_access": 5}]}
    graph.error_next(80007, headers={"X-Business-Use-Case-Usage": json.dumps(usage)})
    result = await connector.send(outbound())
    assert result.outcome is SendOutcome.RETRY
    assert result.retry_after == 300


@pytest.mark.parametrize(
    ("status", "body"),
    [(500, None), (502, "<html>Bad gateway</html>"), (503, {"error": {"message": "down"}})],
    ids=["500-empty", "502-html", "503-json"],
)
async def test_whatsapp_server_errors_are_retried(
    connector: WhatsAppConnector, graph: FakeGraph, status: int, body: Any
) -> None:
    graph.fail_next(status=status, body=body if body is not None else b"")
    result = await connector.send(outbound())
    assert result.outcome is SendOutcome.RETRY
    assert result.retry_after is None


async def test_whatsapp_transient_graph_error_is_retried(
    connector: WhatsAppConnector, graph: FakeGraph
) -> None:
    graph.error_next(555555, is_transient=True)
    assert (await connector.send(outbound())).outcome is SendOutcome.RETRY


async def test_whatsapp_timeout_is_retried(connector: WhatsAppConnector, graph: FakeGraph) -> None:
    graph.slow_next(2.0)
    result = await connector.send(outbound())
    assert result.outcome is SendOutcome.RETRY
    assert "in time" in in_words(result.reason)


async def test_whatsapp_unreachable_api_is_retried(http: aiohttp.ClientSession) -> None:
    connector = WhatsAppConnector(make_settings("http://127.0.0.1:9/v21.0"), http, timeout=2)
    result = await connector.send(outbound())
    assert result.outcome is SendOutcome.RETRY
    assert "reach WhatsApp" in in_words(result.reason)


async def test_whatsapp_success_without_a_message_id_is_not_sent_twice(
    connector: WhatsAppConnector, graph: FakeGraph
) -> None:
    graph.fail_next(status=200, body={"messaging_product": "whatsapp"})
    result = await connector.send(outbound())
    assert result.outcome is SendOutcome.FAILED


async def test_whatsapp_sends_go_through_the_rate_limiter(
    graph: FakeGraph, http: aiohttp.ClientSession
) -> None:
    class CountingLimiter(RateLimiter):
        calls = 0

        async def acquire(self) -> None:
            CountingLimiter.calls += 1
            await super().acquire()

    limiter = CountingLimiter(rate=1000, burst=10)
    connector = WhatsAppConnector(make_settings(graph.url), http, rate_limiter=limiter)
    await connector.send(outbound())
    await connector.send(outbound())
    assert CountingLimiter.calls == 2


# --- webhook authentication ----------------------------------------------------------


def test_whatsapp_webhook_with_the_app_secrets_signature_is_verified(
    connector: WhatsAppConnector,
) -> None:
    assert connector.verify(webhook(customer_message()))


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "sha256=" + "0" * 64,
        meta_sign(b"other body"),
        meta_sign(b"x", "wrong-secret"),
        "sha1=abc",
    ],
    ids=["missing", "empty", "zeros", "other-body", "wrong-secret", "sha1"],
)
def test_whatsapp_webhook_with_a_bad_or_missing_signature_is_refused(
    connector: WhatsAppConnector, signature: str | None
) -> None:
    assert not connector.verify(webhook(customer_message(), signature=signature))


def test_whatsapp_signature_header_name_is_case_insensitive(connector: WhatsAppConnector) -> None:
    raw = json.dumps(customer_message()).encode()
    request = WebhookRequest(
        "POST", "https://x/webhooks/whatsapp", {"x-hub-signature-256": meta_sign(raw)}, {}, raw
    )
    assert connector.verify(request)


def test_whatsapp_webhook_is_refused_without_an_app_secret(http: aiohttp.ClientSession) -> None:
    connector = WhatsAppConnector(make_settings(meta_app_secret=None), http)
    assert not connector.verify(webhook(customer_message()))


def handshake_request(method: str = "GET", **query: str) -> WebhookRequest:
    return WebhookRequest(method, "https://bot.example.com/webhooks/whatsapp", {}, query, b"")


def test_whatsapp_subscribe_handshake_echoes_the_challenge(connector: WhatsAppConnector) -> None:
    reply = connector.handshake(
        handshake_request(
            **{
                "hub.mode": "subscribe",
                "hub.verify_token": VERIFY_TOKEN,
                "hub.challenge": "1158201444",
            }
        )
    )
    assert reply is not None
    assert (reply.status, reply.body) == (200, "1158201444")


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
    ],
    ids=["wrong-token", "no-token", "not-subscribe"],
)
def test_whatsapp_subscribe_handshake_with_a_wrong_token_is_forbidden(
    connector: WhatsAppConnector, query: dict[str, str]
) -> None:
    reply = connector.handshake(handshake_request(**query))
    assert reply is not None
    assert reply.status == 403
    assert "1" not in reply.body


def test_whatsapp_post_is_not_a_handshake(connector: WhatsAppConnector) -> None:
    assert connector.handshake(webhook(customer_message())) is None
    assert connector.handshake(handshake_request()) is None


def test_whatsapp_reply_is_an_empty_200(connector: WhatsAppConnector) -> None:
    reply = connector.reply([])
    assert (reply.status, reply.body) == (200, "")


# --- parsing: customer messages ---------------------------------------------------------


def test_whatsapp_text_message_names_the_customer_and_their_number(
    connector: WhatsAppConnector,
) -> None:
    [event] = connector.parse(webhook(customer_message()))
    assert event == InboundMessage(
        channel=Channel.WHATSAPP,
        identity=WA_ID,
        channel_message_id="wamid.HBgLOTcxNTAxMjM0NTY3FQIAEhgg",
        sent_at=AT,
        text="Hi",
        first_name="Sara",
        last_name="Ahmed",
        phone=f"+{WA_ID}",
    )


def test_whatsapp_profile_name_splits_on_the_first_space(connector: WhatsAppConnector) -> None:
    body = customer_message()
    body["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["name"] = "سارة بنت أحمد"
    [event] = connector.parse(webhook(body))
    assert isinstance(event, InboundMessage)
    assert (event.first_name, event.last_name) == ("سارة", "بنت أحمد")


@pytest.mark.parametrize(
    ("message_type", "content", "text"),
    [
        ("image", {"image": {"caption": "the caption", "id": "1"}}, "📷 Photo: the caption"),
        ("image", {"image": {"id": "1"}}, "📷 Photo"),
        ("video", {"video": {"caption": "look", "id": "1"}}, "🎥 Video: look"),
        ("audio", {"audio": {"id": "1", "voice": True}}, "🎤 Voice message"),
        ("audio", {"audio": {"id": "1"}}, "🎵 Audio"),
        (
            "document",
            {"document": {"id": "1", "filename": "invoice.pdf", "caption": "see this"}},
            "📄 File invoice.pdf: see this",
        ),
        ("sticker", {"sticker": {"id": "1", "animated": False}}, "🎨 Sticker"),
        (
            "location",
            {"location": {"latitude": 25.2048, "longitude": 55.2708}},
            "📍 Location 25.2048, 55.2708",
        ),
        (
            "location",
            {"location": {"latitude": 25.2048, "longitude": 55.2708, "name": "Dubai Mall"}},
            "📍 Location 25.2048, 55.2708: Dubai Mall",
        ),
        (
            "location",
            {"location": {"latitude": 35.689487, "longitude": 139.691706}},
            "📍 Location 35.689487, 139.691706",
        ),
        (
            "contacts",
            {"contacts": [{"name": {"formatted_name": "Omar Ali"}, "phones": []}]},
            "👤 Contact: Omar Ali",
        ),
        ("button", {"button": {"text": "Yes, please", "payload": "YES"}}, "🔘 Yes, please"),
        (
            "interactive",
            {
                "interactive": {
                    "type": "button_reply",
                    "button_reply": {"id": "b1", "title": "Track"},
                }
            },
            "🔘 Track",
        ),
        (
            "interactive",
            {"interactive": {"type": "list_reply", "list_reply": {"id": "l1", "title": "Refund"}}},
            "🔘 Refund",
        ),
        ("reaction", {"reaction": {"message_id": "wamid.X", "emoji": "👍"}}, "Reacted 👍"),
        ("unsupported", {"errors": [{"code": 131051}]}, "❔ A message type this app cannot show"),
    ],
    ids=[
        "photo-caption",
        "photo",
        "video",
        "voice",
        "audio",
        "document",
        "sticker",
        "location",
        "location-named",
        "location-precise",
        "contact",
        "button",
        "button-reply",
        "list-reply",
        "reaction",
        "unsupported",
    ],
)
def test_whatsapp_non_text_messages_are_described_with_their_caption(
    connector: WhatsAppConnector, message_type: str, content: dict[str, Any], text: str
) -> None:
    [event] = connector.parse(webhook(customer_message(message_type, **content)))
    assert isinstance(event, InboundMessage)
    assert event.text == text
    assert event.sent_at == AT


@pytest.mark.parametrize(
    "body",
    [
        customer_message(
            "system", system={"body": "changed number", "type": "user_changed_number"}
        ),
        customer_message("reaction", reaction={"message_id": "wamid.X", "emoji": ""}),
        change(
            {"message_template_id": 1, "event": "APPROVED"}, field="message_template_status_update"
        ),
        {"object": "page", "entry": []},
        change({}),
    ],
    ids=["system", "reaction-removed", "template-status", "other-object", "empty-value"],
)
def test_whatsapp_events_we_do_not_show_are_ignored(
    connector: WhatsAppConnector, body: dict[str, Any]
) -> None:
    assert connector.parse(webhook(body)) == []


# --- parsing: statuses -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("sent", MessageStatus.SENT),
        ("delivered", MessageStatus.DELIVERED),
        ("read", MessageStatus.READ),
    ],
    ids=["sent", "delivered", "read"],
)
def test_whatsapp_statuses_update_our_message(
    connector: WhatsAppConnector, state: str, expected: MessageStatus
) -> None:
    [event] = connector.parse(webhook(status(state)))
    assert event == StatusUpdate(
        channel=Channel.WHATSAPP, status=expected, at=AT, channel_message_id="wamid.OUR000001"
    )


def test_whatsapp_failed_status_carries_the_reason_in_words(connector: WhatsAppConnector) -> None:
    errors = [{"code": 131026, "title": "Message undeliverable"}]
    [event] = connector.parse(webhook(status("failed", errors=errors)))
    assert isinstance(event, StatusUpdate)
    assert event.status is MessageStatus.FAILED
    assert "may not be on WhatsApp" in in_words(event.reason)


def test_whatsapp_failed_status_131047_is_outside_the_window(
    connector: WhatsAppConnector,
) -> None:
    errors = [{"code": 131047, "title": "Re-engagement message"}]
    [event] = connector.parse(webhook(status("failed", errors=errors)))
    assert isinstance(event, StatusUpdate)
    assert event.status is MessageStatus.OUTSIDE_WINDOW


def test_whatsapp_failed_status_with_an_unknown_code_names_the_code(
    connector: WhatsAppConnector,
) -> None:
    [event] = connector.parse(webhook(status("failed", errors=[{"code": 4242}])))
    assert isinstance(event, StatusUpdate)
    assert event.status is MessageStatus.FAILED
    assert "4242" in in_words(event.reason)


def test_whatsapp_message_and_status_in_one_webhook_are_both_parsed(
    connector: WhatsAppConnector,
) -> None:
    body = customer_message()
    body["entry"][0]["changes"].append(status("read")["entry"][0]["changes"][0])
    events = connector.parse(webhook(body))
    assert [type(e) for e in events] == [InboundMessage, StatusUpdate]


# --- parsing: malformed ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        json.dumps({"object": "whatsapp_business_account"}).encode(),
        json.dumps(
            customer_message("text", text={"body": "Hi"}) | {"entry": [{"changes": [{}]}]}
        ).encode(),
        json.dumps(
            change({"messages": [{"from": WA_ID, "timestamp": str(STAMP), "type": "text"}]})
        ).encode(),
        json.dumps(
            change({"messages": [{"from": WA_ID, "id": "w", "timestamp": "soon", "type": "text"}]})
        ).encode(),
        json.dumps(change({"statuses": [{"id": "w", "status": "read"}]})).encode(),
    ],
    ids=[
        "not-json",
        "not-utf8",
        "not-an-object",
        "no-entry",
        "change-without-field",
        "message-without-id",
        "bad-timestamp",
        "status-without-timestamp",
    ],
)
def test_whatsapp_malformed_but_signed_body_is_rejected(
    connector: WhatsAppConnector, raw: bytes
) -> None:
    request = webhook(raw)
    assert connector.verify(request)
    with pytest.raises(MalformedWebhook) as caught:
        connector.parse(request)
    assert WA_ID not in str(caught.value)


# --- reachability and learned limits (issue 9) ----------------------------------------------


async def test_whatsapp_131050_says_the_customer_stopped_marketing(
    connector: WhatsAppConnector, graph: FakeGraph
) -> None:
    graph.error_next(131050, message="(#131050) Unable to deliver the message")
    result = await connector.send(outbound())
    assert result.outcome is SendOutcome.UNREACHABLE
    assert result.unreachable is UnreachableReason.MARKETING_STOPPED
    assert result.code == "131050"


async def test_whatsapp_131049_is_metas_marketing_limit_never_retried(
    connector: WhatsAppConnector, graph: FakeGraph
) -> None:
    graph.error_next(131049, message="(#131049) This message was not delivered")
    result = await connector.send(outbound())
    assert result.outcome is SendOutcome.LIMIT_LEARNED
    assert result.learned is LearnedLimit.WHATSAPP_MARKETING
    assert in_words(result.reason) == (
        "Meta limits marketing messages to this customer; try again after 24 h"
    )


def test_whatsapp_failed_status_131050_says_the_customer_stopped_marketing(
    connector: WhatsAppConnector,
) -> None:
    errors = [{"code": 131050, "title": "Unable to deliver the message"}]
    [event] = connector.parse(webhook(status("failed", errors=errors)))
    assert isinstance(event, StatusUpdate)
    assert event.status is MessageStatus.FAILED
    assert event.unreachable is UnreachableReason.MARKETING_STOPPED


def template_request(use: TemplateUse) -> OutboundRequest:
    return OutboundRequest(
        "m-1", Channel.WHATSAPP, WA_ID, SendMode.TEMPLATE, content=Content(template=use)
    )


COUPON = {
    "name": "fall_sale",
    "language": "en_US",
    "status": "APPROVED",
    "category": "MARKETING",
    "components": [
        {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
        {"type": "BODY", "text": "Use {{1}} for {{2}} off."},
        {"type": "BUTTONS", "buttons": [{"type": "COPY_CODE", "example": "25OFF"}]},
    ],
}


async def test_whatsapp_template_components_are_sent_as_the_message_carries_them(
    connector: WhatsAppConnector, graph: FakeGraph
) -> None:
    graph.templates["waba"] = [COUPON]
    template = parse_template(COUPON)
    assert template is not None
    values = {"header": "A-1", "body.1": "25OFF", "body.2": "25%", "button.0": "25OFF"}
    use = TemplateUse("fall_sale", "en_US", ("25OFF", "25%"), components=fill(template, values))

    result = await connector.send(template_request(use))

    assert result.outcome is SendOutcome.SENT
    assert graph.sent[0].json["template"]["components"] == send_components(use.components)
    assert graph.sent[0].json["template"]["components"][-1] == {
        "type": "button",
        "sub_type": "copy_code",
        "index": "0",
        "parameters": [{"type": "coupon_code", "coupon_code": "25OFF"}],
    }


async def test_whatsapp_body_parameters_alone_for_a_richer_template_fail_with_132000(
    connector: WhatsAppConnector, graph: FakeGraph
) -> None:
    """What the composer sent before issue 12: Meta (and the fake) refuse it."""
    graph.templates["waba"] = [COUPON]
    use = TemplateUse("fall_sale", "en_US", ("25OFF", "25%"))

    result = await connector.send(template_request(use))

    assert result.outcome is SendOutcome.FAILED
    assert "number of template parameters" in in_words(result.reason)

"""Website chat: signed JSON to our widget backend, signed JSON webhooks back."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
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
from bot.channels.webchat import WebchatConnector
from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.models import MessageStatus
from tests.channels.conftest import (
    TEXT,
    in_words,
    outbound_message,
    settings,
    sha256_signature,
    signed_post,
)
from tests.fakes.webchat import FakeWebchatBackend

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
SECRET = "webchat-secret"
WEBHOOK_URL = "https://followup.example.com/webhooks/webchat"


@pytest.fixture
async def backend() -> AsyncIterator[FakeWebchatBackend]:
    async with FakeWebchatBackend(secret=SECRET) as fake:
        yield fake


def settings_for(url: str, secret: str = SECRET) -> Settings:
    return settings(webchat_webhook_url=url, webchat_secret=secret)


@pytest.fixture
def webchat(backend: FakeWebchatBackend, http: aiohttp.ClientSession) -> WebchatConnector:
    return WebchatConnector(settings_for(backend.url), http, clock=lambda: NOW, timeout=0.5)


def outbound(message_id: str = "m-7", text: str = TEXT) -> OutboundRequest:
    return outbound_message(Channel.WEBCHAT, "v_123", message_id=message_id, text=text)


def signed(payload: Any, secret: str = SECRET) -> WebhookRequest:
    return signed_post(
        WEBHOOK_URL,
        payload,
        "X-Webchat-Signature",
        lambda body: sha256_signature(secret, body),
        headers={"Content-Type": "application/json"},
    )


# --- configuration --------------------------------------------------------------------


def test_webchat_is_offered_only_with_url_and_secret() -> None:
    assert not WebchatConnector.configured(settings())
    assert not WebchatConnector.configured(
        settings(webchat_webhook_url="https://chat.example.com/in")
    )
    assert WebchatConnector.configured(settings_for("https://chat.example.com/in"))


# --- sending --------------------------------------------------------------------------


async def test_webchat_send_posts_signed_json_with_an_idempotency_key(
    webchat: WebchatConnector, backend: FakeWebchatBackend
) -> None:
    result = await webchat.send(outbound(text="مرحبا سارة"))

    assert result.outcome is SendOutcome.SENT
    assert result.channel_message_id == "wc_m-7"
    [request] = backend.requests
    assert request.method == "POST"
    assert request.headers["Idempotency-Key"] == "m-7"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Webchat-Signature"] == sha256_signature(SECRET, request.body)
    assert request.json == {
        "type": "message",
        "visitor": {"id": "v_123"},
        "message": {"id": "m-7", "text": "مرحبا سارة", "sent_at": "2026-11-24T12:00:00Z"},
    }


async def test_webchat_retry_is_shown_once(
    webchat: WebchatConnector, backend: FakeWebchatBackend
) -> None:
    first = await webchat.send(outbound())
    second = await webchat.send(outbound())

    assert first == second
    assert len(backend.requests) == 2
    assert list(backend.shown) == ["m-7"]


async def test_webchat_without_a_backend_id_keeps_ours(
    webchat: WebchatConnector, backend: FakeWebchatBackend
) -> None:
    backend.answer_ids = False

    result = await webchat.send(outbound())

    assert result.outcome is SendOutcome.SENT
    assert result.channel_message_id == "m-7"


async def test_webchat_wrong_secret_fails_in_words(
    backend: FakeWebchatBackend, http: aiohttp.ClientSession
) -> None:
    connector = WebchatConnector(settings_for(backend.url, secret="stale"), http)

    result = await connector.send(outbound())

    assert result.outcome is SendOutcome.FAILED
    assert "WEBCHAT_SECRET" in in_words(result.reason)
    assert "stale" not in in_words(result.reason)


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (400, "HTTP 400"),
        (404, "does not know this visitor"),
        (410, "session has ended"),
        (422, "HTTP 422"),
    ],
    ids=["400", "404", "410", "422"],
)
async def test_webchat_client_errors_fail(
    webchat: WebchatConnector, backend: FakeWebchatBackend, status: int, words: str
) -> None:
    backend.fail_next(status, body={"error": "visitor v_123 said secret things"})

    result = await webchat.send(outbound())

    assert result.outcome is SendOutcome.FAILED
    assert words in in_words(result.reason)
    assert "v_123" not in in_words(result.reason)


@pytest.mark.parametrize(
    ("status", "headers", "retry_after"),
    [
        (429, {"Retry-After": "7"}, 7.0),
        (429, {}, None),
        (500, {}, None),
        (503, {"Retry-After": "20"}, 20.0),
    ],
    ids=["429-retry-after", "429-bare", "500", "503-retry-after"],
)
async def test_webchat_rate_limits_and_server_errors_are_retried(
    webchat: WebchatConnector,
    backend: FakeWebchatBackend,
    status: int,
    headers: dict[str, str],
    retry_after: float | None,
) -> None:
    backend.fail_next(status, headers=headers)

    result = await webchat.send(outbound())

    assert result.outcome is SendOutcome.RETRY
    assert result.retry_after == retry_after


async def test_webchat_timeout_is_retried(
    webchat: WebchatConnector, backend: FakeWebchatBackend
) -> None:
    backend.slow_next(2.0)

    result = await webchat.send(outbound())

    assert result.outcome is SendOutcome.RETRY
    assert "in time" in in_words(result.reason)


async def test_webchat_backend_down_is_retried(http: aiohttp.ClientSession) -> None:
    connector = WebchatConnector(settings_for("http://127.0.0.1:1/outbound"), http)

    result = await connector.send(outbound())

    assert result.outcome is SendOutcome.RETRY


# --- inbound webhook ------------------------------------------------------------------

SPEC_MESSAGE: dict[str, Any] = {
    "type": "message",
    "visitor": {"id": "v_123", "name": "Sara Ahmed", "email": "sara@example.com"},
    "message": {"id": "wm_1", "text": "Hi", "sent_at": "2026-11-24T12:00:00Z"},
    "timestamp": 1795003200,
}


def test_webchat_spec_message_is_parsed(webchat: WebchatConnector) -> None:
    request = signed(SPEC_MESSAGE)
    assert webchat.verify(request)

    [event] = webchat.parse(request)

    assert event == InboundMessage(
        channel=Channel.WEBCHAT,
        identity="v_123",
        channel_message_id="wm_1",
        sent_at=NOW,
        text="Hi",
        first_name="Sara",
        last_name="Ahmed",
        email="sara@example.com",
    )


@pytest.mark.parametrize(
    "request_",
    [
        signed(SPEC_MESSAGE, secret="someone-else"),
        WebhookRequest("POST", WEBHOOK_URL, {}, {}, json.dumps(SPEC_MESSAGE).encode()),
        WebhookRequest(
            "POST",
            WEBHOOK_URL,
            signed(SPEC_MESSAGE).headers,
            {},
            json.dumps({**SPEC_MESSAGE, "timestamp": 1}).encode(),
        ),
        WebhookRequest(
            "POST",
            WEBHOOK_URL,
            {"X-Webchat-Signature": "sha256="},
            {},
            json.dumps(SPEC_MESSAGE).encode(),
        ),
    ],
    ids=["wrong-secret", "missing-header", "tampered-body", "empty-signature"],
)
def test_webchat_webhook_with_a_bad_or_missing_signature_is_refused(
    webchat: WebchatConnector, request_: WebhookRequest
) -> None:
    assert not webchat.verify(request_)


def test_webchat_sent_at_with_an_offset_becomes_utc(webchat: WebchatConnector) -> None:
    payload = {**SPEC_MESSAGE, "message": {"id": "wm_2", "sent_at": "2026-11-24T16:00:00+04:00"}}

    [event] = webchat.parse(signed(payload))

    assert isinstance(event, InboundMessage)
    assert event.sent_at == NOW
    assert event.text == ""


def test_webchat_without_sent_at_uses_the_envelope_timestamp(webchat: WebchatConnector) -> None:
    payload = {**SPEC_MESSAGE, "message": {"id": "wm_3", "text": "Hi"}}

    [event] = webchat.parse(signed(payload))

    assert isinstance(event, InboundMessage)
    assert event.sent_at == datetime.fromtimestamp(1795003200, tz=UTC)


def test_webchat_anonymous_visitor_has_no_name_or_email(webchat: WebchatConnector) -> None:
    payload = {**SPEC_MESSAGE, "visitor": {"id": "v_9"}}

    [event] = webchat.parse(signed(payload))

    assert isinstance(event, InboundMessage)
    assert (event.identity, event.first_name, event.last_name, event.email) == (
        "v_9",
        "",
        "",
        None,
    )


@pytest.mark.parametrize(
    ("attachments", "text", "expected"),
    [
        ([{"type": "image", "name": "r.jpg"}], "the receipt", "📷 Photo: the receipt"),
        ([{"type": "audio"}], "", "🎤 Voice message"),
        ([{"type": "video"}], "", "🎥 Video"),
        ([{"type": "file", "name": "invoice.pdf"}], "", "📎 invoice.pdf"),
        (
            [{"type": "location", "latitude": 25.2048, "longitude": 55.2708}],
            "",
            "📍 Location 25.2048, 55.2708",
        ),
        ([{"type": "contact"}], "", "👤 Contact"),
        ([{"type": "sticker"}], "", "📎 File"),
    ],
    ids=["photo-caption", "voice", "video", "file", "location", "contact", "unknown"],
)
def test_webchat_attachments_become_a_short_description(
    webchat: WebchatConnector, attachments: list[dict[str, Any]], text: str, expected: str
) -> None:
    message = {"id": "wm_4", "text": text, "sent_at": "2026-11-24T12:00:00Z"}
    payload = {**SPEC_MESSAGE, "message": {**message, "attachments": attachments}}

    [event] = webchat.parse(signed(payload))

    assert isinstance(event, InboundMessage)
    assert event.text == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [("delivered", MessageStatus.DELIVERED), ("read", MessageStatus.READ)],
    ids=["delivered", "read"],
)
def test_webchat_receipts_move_our_message(
    webchat: WebchatConnector, status: str, expected: MessageStatus
) -> None:
    payload = {
        "type": "status",
        "message": {"id": "m-7"},
        "status": status,
        "at": "2026-11-24T12:00:00Z",
    }

    [event] = webchat.parse(signed(payload))

    assert event == StatusUpdate(
        channel=Channel.WEBCHAT, status=expected, at=NOW, channel_message_id="m-7"
    )


@pytest.mark.parametrize("kind", ["typing", "visitor_left"])
def test_webchat_events_we_do_not_need_are_ignored(webchat: WebchatConnector, kind: str) -> None:
    assert webchat.parse(signed({"type": kind, "visitor": {"id": "v_123"}})) == []


MALFORMED: list[tuple[str, Any]] = [
    ("not-json", b"{nope"),
    ("not-utf8", b"\xff\xfe"),
    ("not-an-object", [1, 2]),
    ("no-type", {"visitor": {"id": "v"}}),
    ("no-visitor", {"type": "message", "message": {"id": "m", "sent_at": "2026-11-24T12:00:00Z"}}),
    ("no-visitor-id", {**SPEC_MESSAGE, "visitor": {"name": "Sara"}}),
    ("no-message-id", {**SPEC_MESSAGE, "message": {"text": "Hi", "sent_at": "2026-11-24T12:00Z"}}),
    ("no-time", {"type": "message", "visitor": {"id": "v"}, "message": {"id": "m"}}),
    ("bad-time", {**SPEC_MESSAGE, "message": {"id": "m", "sent_at": "yesterday"}}),
    ("naive-time", {**SPEC_MESSAGE, "message": {"id": "m", "sent_at": "2026-11-24T12:00:00"}}),
    ("bad-attachments", {**SPEC_MESSAGE, "message": {**SPEC_MESSAGE["message"], "attachments": 3}}),
    ("status-unknown", {"type": "status", "message": {"id": "m"}, "status": "x", "at": "2026"}),
    ("status-no-at", {"type": "status", "message": {"id": "m"}, "status": "read"}),
    (
        "status-no-id",
        {"type": "status", "message": {}, "status": "read", "at": "2026-11-24T12:00:00Z"},
    ),
]


@pytest.mark.parametrize("payload", [p for _, p in MALFORMED], ids=[i for i, _ in MALFORMED])
def test_webchat_malformed_webhook_is_refused(webchat: WebchatConnector, payload: Any) -> None:
    with pytest.raises(MalformedWebhook):
        webchat.parse(signed(payload))


def test_webchat_has_no_handshake_and_replies_200(webchat: WebchatConnector) -> None:
    assert webchat.handshake(WebhookRequest("GET", WEBHOOK_URL, {}, {}, b"")) is None
    reply = webchat.reply([])
    assert (reply.status, reply.body) == (200, "")

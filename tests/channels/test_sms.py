"""SMS through Twilio's REST shape: sending, signatures, inbound and status webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

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
from bot.channels.sms import EMPTY_TWIML, SmsConnector
from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.models import MessageStatus
from bot.domain.reachability import UnreachableReason
from tests.channels.conftest import TEXT, in_words, outbound_message, settings
from tests.fakes.twilio import FakeTwilio

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
CUSTOMER = "+971501234567"
OUR_NUMBER = "+15550001111"
WEBHOOK_URL = "https://followup.example.com/webhooks/sms"


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio() as fake:
        yield fake


def settings_for(twilio: FakeTwilio, **overrides: object) -> Settings:
    values: dict[str, Any] = {
        "sms_api_url": twilio.url,
        "twilio_account_sid": twilio.account_sid,
        "twilio_auth_token": twilio.auth_token,
        "sms_from": OUR_NUMBER,
        "public_base_url": "https://followup.example.com",
    }
    return settings(values, **overrides)


@pytest.fixture
def sms(twilio: FakeTwilio, http: aiohttp.ClientSession) -> SmsConnector:
    return SmsConnector(
        settings_for(twilio), http, clock=lambda: NOW, rate_per_second=1000, timeout=0.5
    )


def outbound(text: str = TEXT, recipient: str = CUSTOMER) -> OutboundRequest:
    return outbound_message(Channel.SMS, recipient, text=text)


def signed(
    params: dict[str, str], *, token: str = "twilio-auth-token", url: str = WEBHOOK_URL
) -> WebhookRequest:
    """A webhook request signed exactly as Twilio signs it."""
    data = url + "".join(k + params[k] for k in sorted(params))
    signature = base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest())
    headers = {
        "X-Twilio-Signature": signature.decode(),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return WebhookRequest("POST", url, headers, {}, urlencode(params).encode())


# --- configuration --------------------------------------------------------------------


def test_sms_is_offered_only_with_its_credentials() -> None:
    assert not SmsConnector.configured(settings())
    assert not SmsConnector.configured(settings(twilio_account_sid="AC1", twilio_auth_token="t"))
    assert SmsConnector.configured(
        settings(twilio_account_sid="AC1", twilio_auth_token="t", sms_from=OUR_NUMBER)
    )


# --- sending --------------------------------------------------------------------------


async def test_sms_send_posts_twilio_form_with_basic_auth_and_status_callback(
    sms: SmsConnector, twilio: FakeTwilio
) -> None:
    result = await sms.send(outbound("مرحبا، تم الإصلاح"))

    assert result.outcome is SendOutcome.SENT
    assert result.channel_message_id is not None
    assert result.channel_message_id.startswith("SM")
    [request] = twilio.requests
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{twilio.account_sid}/Messages.json"
    assert request.form == {
        "To": CUSTOMER,
        "From": OUR_NUMBER,
        "Body": "مرحبا، تم الإصلاح",
        "StatusCallback": "https://followup.example.com/webhooks/sms",
    }
    assert request.headers["Authorization"].startswith("Basic ")


async def test_sms_send_omits_status_callback_without_public_base_url(
    twilio: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    connector = SmsConnector(settings_for(twilio, public_base_url=None), http, rate_per_second=1000)

    result = await connector.send(outbound())

    assert result.outcome is SendOutcome.SENT
    assert "StatusCallback" not in twilio.requests[0].form


async def test_sms_send_with_a_wrong_auth_token_fails_in_words(
    twilio: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    connector = SmsConnector(
        settings_for(twilio, twilio_auth_token="wrong"), http, rate_per_second=1000
    )

    result = await connector.send(outbound())

    assert result.outcome is SendOutcome.FAILED
    assert "credentials" in in_words(result.reason)
    assert "wrong" not in in_words(result.reason)


@pytest.mark.parametrize(
    ("code", "status", "words"),
    [
        (21211, 400, "not a valid number"),
        (21614, 400, "not a mobile number"),
        (21408, 400, "country is not enabled"),
        (30007, 400, "filtered"),
        (20003, 401, "credentials"),
        (99999, 400, "error 99999"),
    ],
    ids=["invalid-number", "not-mobile", "region", "filtered", "auth", "unknown"],
)
async def test_sms_twilio_errors_fail_in_words(
    sms: SmsConnector, twilio: FakeTwilio, code: int, status: int, words: str
) -> None:
    twilio.fail_next(status, code=code)

    result = await sms.send(outbound())

    assert result.outcome is SendOutcome.FAILED
    assert words in in_words(result.reason)
    assert CUSTOMER not in in_words(result.reason)


async def test_sms_invalid_number_reason_never_quotes_the_number(sms: SmsConnector) -> None:
    # The fake, like Twilio, quotes the number in its own message.
    result = await sms.send(outbound(recipient="12345"))

    assert result.outcome is SendOutcome.FAILED
    assert in_words(result.reason) == "The phone number is not a valid number"
    assert result.code == "21211"  # the channel's own code, for the record


@pytest.mark.parametrize(
    ("status", "code", "headers", "retry_after"),
    [
        (429, 20429, {"Retry-After": "7"}, 7.0),
        (429, None, {}, None),
        (400, 20429, {}, None),
        (500, None, {}, None),
        (503, None, {"Retry-After": "30"}, 30.0),
    ],
    ids=["429-retry-after", "429-bare", "code-20429", "500", "503-retry-after"],
)
async def test_sms_rate_limits_and_server_errors_are_retried(
    sms: SmsConnector,
    twilio: FakeTwilio,
    status: int,
    code: int | None,
    headers: dict[str, str],
    retry_after: float | None,
) -> None:
    twilio.fail_next(status, code=code, headers=headers)

    result = await sms.send(outbound())

    assert result.outcome is SendOutcome.RETRY
    assert result.retry_after == retry_after


async def test_sms_timeout_is_retried(sms: SmsConnector, twilio: FakeTwilio) -> None:
    twilio.slow_next(2.0)

    result = await sms.send(outbound())

    assert result.outcome is SendOutcome.RETRY
    assert "in time" in in_words(result.reason)


async def test_sms_gateway_down_is_retried(twilio: FakeTwilio, http: aiohttp.ClientSession) -> None:
    connector = SmsConnector(
        settings_for(twilio, sms_api_url="http://127.0.0.1:1"), http, rate_per_second=1000
    )

    result = await connector.send(outbound())

    assert result.outcome is SendOutcome.RETRY


# --- webhook verification -------------------------------------------------------------

INBOUND = {
    "MessageSid": "SM1234567890abcdef1234567890abcdef",
    "SmsSid": "SM1234567890abcdef1234567890abcdef",
    "AccountSid": "AC00000000000000000000000000000001",
    "From": CUSTOMER,
    "To": OUR_NUMBER,
    "Body": "Thanks, it works now",
    "NumMedia": "0",
    "NumSegments": "1",
    "SmsStatus": "received",
    "ApiVersion": "2010-04-01",
}


def test_sms_webhook_with_twilio_signature_is_verified(sms: SmsConnector) -> None:
    assert sms.verify(signed(INBOUND))


def test_sms_webhook_signed_with_the_default_port_is_verified(sms: SmsConnector) -> None:
    # Twilio's own validators accept the URL with and without the default port.
    request = signed(INBOUND, url="https://followup.example.com:443/webhooks/sms")
    unsigned_port = WebhookRequest(
        request.method, WEBHOOK_URL, request.headers, request.query, request.body
    )

    assert sms.verify(unsigned_port)


@pytest.mark.parametrize(
    "request_",
    [
        signed(INBOUND, token="someone-else"),
        WebhookRequest(
            "POST",
            WEBHOOK_URL,
            signed(INBOUND, url="https://followup.example.com/webhooks/whatsapp").headers,
            {},
            urlencode(INBOUND).encode(),
        ),
        WebhookRequest("POST", WEBHOOK_URL, {}, {}, urlencode(INBOUND).encode()),
        WebhookRequest(
            "POST",
            WEBHOOK_URL,
            signed(INBOUND).headers,
            {},
            urlencode({**INBOUND, "Body": "tampered"}).encode(),
        ),
    ],
    ids=["wrong-token", "other-url", "missing-header", "tampered-body"],
)
def test_sms_webhook_with_a_bad_or_missing_signature_is_refused(
    sms: SmsConnector, request_: WebhookRequest
) -> None:
    assert not sms.verify(request_)


def test_sms_has_no_handshake(sms: SmsConnector) -> None:
    assert sms.handshake(WebhookRequest("GET", WEBHOOK_URL, {}, {}, b"")) is None


def test_sms_reply_is_empty_twiml(sms: SmsConnector) -> None:
    reply = sms.reply([])

    assert (reply.status, reply.content_type) == (200, "text/xml")
    assert reply.body == '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
    assert reply.body == EMPTY_TWIML


# --- inbound messages -----------------------------------------------------------------


def test_sms_inbound_message_is_parsed_with_the_arrival_time(sms: SmsConnector) -> None:
    request = signed(INBOUND)
    assert sms.verify(request)

    [event] = sms.parse(request)

    assert event == InboundMessage(
        channel=Channel.SMS,
        identity=CUSTOMER,
        channel_message_id="SM1234567890abcdef1234567890abcdef",
        sent_at=NOW,
        text="Thanks, it works now",
        phone=CUSTOMER,
    )


@pytest.mark.parametrize(
    ("media", "body", "text"),
    [
        (["image/jpeg"], "the receipt", "📷 Photo: the receipt"),
        (["image/png", "image/jpeg"], "", "📷 Photo"),
        (["audio/amr"], "", "🎤 Voice message"),
        (["video/mp4"], "look", "🎥 Video: look"),
        (["text/vcard"], "", "👤 Contact"),
        (["application/pdf"], "invoice", "📎 File: invoice"),
        (["image/gif", "video/3gpp"], "both", "📷 Photo, 🎥 Video: both"),
    ],
    ids=["photo-caption", "two-photos", "voice", "video", "contact", "file", "mixed"],
)
def test_sms_mms_media_becomes_a_short_description(
    sms: SmsConnector, media: list[str], body: str, text: str
) -> None:
    params = {**INBOUND, "Body": body, "NumMedia": str(len(media))}
    for index, content_type in enumerate(media):
        params[f"MediaContentType{index}"] = content_type
        params[f"MediaUrl{index}"] = f"https://api.twilio.com/media/{index}"

    [event] = sms.parse(signed(params))

    assert isinstance(event, InboundMessage)
    assert event.text == text


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe not utf-8",
        b"MessageSid",
        urlencode({"From": CUSTOMER, "Body": "no sid"}).encode(),
        urlencode({"MessageSid": "SM1", "Body": "no sender"}).encode(),
        urlencode({"MessageSid": "SM1", "From": CUSTOMER}).encode(),
        urlencode({"MessageSid": "SM1", "From": CUSTOMER, "NumMedia": "x"}).encode(),
    ],
    ids=["not-utf8", "not-a-form", "no-sid", "no-from", "no-body", "bad-num-media"],
)
def test_sms_malformed_webhook_is_refused(sms: SmsConnector, body: bytes) -> None:
    with pytest.raises(MalformedWebhook):
        sms.parse(WebhookRequest("POST", WEBHOOK_URL, {}, {}, body))


# --- status callbacks -----------------------------------------------------------------


def status_callback(state: str, error_code: str | None = None) -> dict[str, str]:
    params = {
        "MessageSid": "SMabc",
        "SmsSid": "SMabc",
        "MessageStatus": state,
        "SmsStatus": state,
        "AccountSid": "AC00000000000000000000000000000001",
        "From": OUR_NUMBER,
        "To": CUSTOMER,
        "ApiVersion": "2010-04-01",
    }
    if error_code is not None:
        params["ErrorCode"] = error_code
    return params


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("sent", MessageStatus.SENT),
        ("delivered", MessageStatus.DELIVERED),
        ("read", MessageStatus.READ),
    ],
    ids=["sent", "delivered", "read"],
)
def test_sms_status_callback_moves_the_message(
    sms: SmsConnector, state: str, status: MessageStatus
) -> None:
    [event] = sms.parse(signed(status_callback(state)))

    assert event == StatusUpdate(
        channel=Channel.SMS, status=status, at=NOW, channel_message_id="SMabc"
    )


@pytest.mark.parametrize(
    ("state", "code", "words"),
    [
        ("undelivered", "30003", "unreachable"),
        ("undelivered", "30004", "blocked"),
        ("failed", "30005", "unknown or no longer in service"),
        ("undelivered", "30006", "landline"),
        ("undelivered", "30007", "filtered"),
        ("undelivered", "30008", "unknown error"),
        ("failed", "21610", "unsubscribed"),
        ("failed", "30999", "error 30999"),
        ("failed", "", "could not deliver"),
    ],
    ids=["30003", "30004", "30005", "30006", "30007", "30008", "21610", "unknown", "no-code"],
)
def test_sms_undelivered_status_fails_with_the_reason_in_words(
    sms: SmsConnector, state: str, code: str, words: str
) -> None:
    [event] = sms.parse(signed(status_callback(state, code)))

    assert isinstance(event, StatusUpdate)
    assert event.status is MessageStatus.FAILED
    assert words in in_words(event.reason)


@pytest.mark.parametrize("state", ["queued", "accepted", "sending", "scheduled"])
def test_sms_status_callbacks_an_agent_does_not_need_are_ignored(
    sms: SmsConnector, state: str
) -> None:
    assert sms.parse(signed(status_callback(state))) == []


async def test_sms_empty_message_fails_in_words(sms: SmsConnector) -> None:
    result = await sms.send(outbound(text=""))

    assert result.outcome is SendOutcome.FAILED
    assert in_words(result.reason) == "The message is empty"


async def test_sms_21610_says_the_customer_opted_out(sms: SmsConnector, twilio: FakeTwilio) -> None:
    twilio.fail_next(400, code=21610)

    result = await sms.send(outbound())

    assert result.outcome is SendOutcome.UNREACHABLE
    assert result.unreachable is UnreachableReason.OPTED_OUT
    assert "unsubscribed" in in_words(result.reason) and CUSTOMER not in in_words(result.reason)


@pytest.mark.parametrize(
    ("body", "opt_out_type", "unreachable", "keyword"),
    [
        ("STOP", None, UnreachableReason.OPTED_OUT, "STOP"),
        (" unsubscribe ", None, UnreachableReason.OPTED_OUT, "UNSUBSCRIBE"),
        ("Quit", "STOP", UnreachableReason.OPTED_OUT, "QUIT"),
        ("arret", "STOP", UnreachableReason.OPTED_OUT, "STOP"),
        ("START", None, None, "START"),
        ("unstop", "START", None, "UNSTOP"),
    ],
    ids=["stop", "unsubscribe", "quit-advanced", "custom-advanced", "start", "unstop"],
)
def test_sms_opt_out_keywords_are_reachability_events_not_messages(
    sms: SmsConnector,
    body: str,
    opt_out_type: str | None,
    unreachable: UnreachableReason | None,
    keyword: str,
) -> None:
    params = {**INBOUND, "Body": body}
    if opt_out_type:
        params["OptOutType"] = opt_out_type  # Twilio Advanced Opt-Out
    assert sms.parse(signed(params)) == [
        ReachabilityEvent(Channel.SMS, CUSTOMER, NOW, unreachable, keyword)
    ]

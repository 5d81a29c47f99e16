"""WeChat connector against a local Official Account API stand-in and a real Redis."""

from __future__ import annotations

import asyncio
import hashlib
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
from bot.channels.wechat import WeChatConnector
from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.reachability import LearnedLimit, UnreachableReason
from bot.domain.windows import SendMode
from bot.store.connection import create_redis
from bot.store.keys import Keys
from bot.store.wechat import WeChatStore
from tests.channels.conftest import (
    AT,
    STAMP,
    UNREACHABLE,
    in_words,
    outbound_message,
    settings,
    webhook_url,
)
from tests.conftest import StoreEnv
from tests.fakes.wechat import FakeWeChat

WEBHOOK_TOKEN = "wechat-server-token"
OPENID = "oLOkR5PG536EbZgd9WcCfGaLfoM8"
WECHAT = {
    "wechat_app_id": FakeWeChat.app_id,
    "wechat_app_secret": FakeWeChat.app_secret,
    "wechat_token": WEBHOOK_TOKEN,
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeWeChat]:
    async with FakeWeChat() as server:
        yield server


def make_settings(url: str = UNREACHABLE, **overrides: Any) -> Settings:
    return settings(WECHAT, wechat_api_url=url, **overrides)


def token_key(env: StoreEnv) -> str:
    return env.keys.wechat_token()


def make_connector(
    env: StoreEnv, fake: FakeWeChat, http: aiohttp.ClientSession, **kw: Any
) -> WeChatConnector:
    values: dict[str, Any] = {"timeout": 0.5, "clock": lambda: STAMP + 30, **kw}
    return WeChatConnector(
        make_settings(fake.url),
        http,
        store=WeChatStore(env.redis, env.keys),
        **values,
    )


@pytest.fixture
def connector(env: StoreEnv, fake: FakeWeChat, http: aiohttp.ClientSession) -> WeChatConnector:
    return make_connector(env, fake, http)


def outbound(**kw: Any) -> OutboundRequest:
    return outbound_message(Channel.WECHAT, OPENID, **kw)


def signed_query(token: str = WEBHOOK_TOKEN, **extra: str) -> dict[str, str]:
    """As WeChat signs: sha1 of the sorted concatenation of token, timestamp, nonce."""
    timestamp, nonce = str(STAMP), "1514711492"
    signature = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce, **extra}


def webhook(
    body: bytes, query: dict[str, str] | None = None, method: str = "POST"
) -> WebhookRequest:
    return WebhookRequest(
        method=method,
        url=webhook_url("wechat"),
        headers={"Content-Type": "text/xml"},
        query=signed_query() if query is None else query,
        body=body,
    )


def xml_message(kind: str, fields: str, msg_id: str = "23637352235060880") -> bytes:
    return (
        "<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName>"
        f"<FromUserName><![CDATA[{OPENID}]]></FromUserName>"
        f"<CreateTime>{STAMP}</CreateTime><MsgType><![CDATA[{kind}]]></MsgType>"
        f"{fields}<MsgId>{msg_id}</MsgId></xml>"
    ).encode()


# --- configuration -----------------------------------------------------------


def test_wechat_is_offered_only_with_app_id_secret_and_server_token() -> None:
    assert WeChatConnector.configured(make_settings())
    assert not WeChatConnector.configured(make_settings(wechat_app_secret=None))
    assert not WeChatConnector.configured(make_settings(wechat_token=None))


# --- sending and the shared access token ----------------------------------------


async def test_wechat_send_fetches_a_stable_token_and_sends_a_customer_service_message(
    env: StoreEnv, fake: FakeWeChat, connector: WeChatConnector
) -> None:
    result = await connector.send(outbound(text="تم إصلاح المشكلة"))

    assert result.outcome is SendOutcome.SENT
    assert result.channel_message_id == "m-1"  # WeChat returns no id: ours stands in
    (token_request,) = fake.token_requests
    assert token_request.json == {
        "grant_type": "client_credential",
        "appid": FakeWeChat.app_id,
        "secret": FakeWeChat.app_secret,
    }
    (send,) = fake.sends
    assert send.query == {"access_token": "token-1"}
    assert send.json == {
        "touser": OPENID,
        "msgtype": "text",
        "text": {"content": "تم إصلاح المشكلة"},
    }
    assert "تم".encode() in send.body  # UTF-8 as is, not \u escapes


async def test_wechat_token_is_cached_in_redis_a_few_minutes_short_of_expires_in(
    env: StoreEnv, fake: FakeWeChat, connector: WeChatConnector
) -> None:
    await connector.send(outbound())
    await connector.send(outbound(message_id="m-2"))

    assert len(fake.token_requests) == 1
    assert await env.redis.get(token_key(env)) == "token-1"
    ttl = await env.redis.ttl(token_key(env))
    assert 7200 - 300 - 5 <= ttl <= 7200 - 300


async def test_wechat_two_connectors_sharing_redis_fetch_the_token_once(
    env: StoreEnv, fake: FakeWeChat, http: aiohttp.ClientSession
) -> None:
    fake.token_delay = 0.2
    replicas = [
        make_connector(env, fake, http, timeout=2),
        make_connector(env, fake, http, timeout=2),
    ]

    results = await asyncio.gather(
        *(replica.send(outbound(message_id=f"m-{i}")) for i in range(3) for replica in replicas)
    )

    assert [r.outcome for r in results] == [SendOutcome.SENT] * 6
    assert len(fake.token_requests) == 1
    assert {s.query["access_token"] for s in fake.sends} == {"token-1"}


@pytest.mark.parametrize("errcode", [40001, 42001, 40014], ids=["40001", "42001", "40014"])
async def test_wechat_invalid_token_is_dropped_refreshed_once_and_the_send_retried_once(
    env: StoreEnv, fake: FakeWeChat, connector: WeChatConnector, errcode: int
) -> None:
    await env.redis.set(token_key(env), "token-0", ex=3600)  # revoked behind our back
    fake.fail_next(errcode)

    result = await connector.send(outbound())

    assert result.outcome is SendOutcome.SENT
    assert [s.query["access_token"] for s in fake.sends] == ["token-0", "token-1"]
    assert len(fake.token_requests) == 1
    assert await env.redis.get(token_key(env)) == "token-1"


async def test_wechat_stale_token_handed_out_again_is_force_refreshed(
    env: StoreEnv, fake: FakeWeChat, connector: WeChatConnector
) -> None:
    await env.redis.set(token_key(env), "token-1", ex=3600)
    fake.revoked.add("token-1")  # WeChat refuses it, yet stable_token's normal mode returns it

    result = await connector.send(outbound())

    assert result.outcome is SendOutcome.SENT
    assert [r.json.get("force_refresh") for r in fake.token_requests] == [None, True]
    assert [s.query["access_token"] for s in fake.sends] == ["token-1", "token-2"]
    assert await env.redis.get(token_key(env)) == "token-2"


async def test_wechat_token_refused_twice_is_a_failure_not_a_loop(
    env: StoreEnv, fake: FakeWeChat, connector: WeChatConnector
) -> None:
    fake.fail_next(40001)
    fake.fail_next(40001)

    result = await connector.send(outbound())

    assert result.outcome is SendOutcome.FAILED
    assert "WECHAT_APP_SECRET" in in_words(result.reason)
    assert len(fake.sends) == 2


@pytest.mark.parametrize(
    ("errcode", "outcome", "reason"),
    [
        (45015, SendOutcome.LIMIT_LEARNED, "more than 48 hours"),
        (45047, SendOutcome.LIMIT_LEARNED, "messages allowed since the customer's last message"),
        (43004, SendOutcome.FAILED, "no longer follows"),
        (40003, SendOutcome.FAILED, "invalid OpenID"),
        (45009, SendOutcome.RETRY, "daily API limit"),
        (-1, SendOutcome.RETRY, "busy"),
        (40007, SendOutcome.FAILED, "WeChat refused the message (errcode 40007: error rid:"),
    ],
    ids=[
        "45015-out-of-time",
        "45047-out-of-count",
        "43004-unsubscribed",
        "40003-invalid-openid",
        "45009-api-limit",
        "minus-1-busy",
        "unknown",
    ],
)
async def test_wechat_send_errcodes_are_mapped(
    fake: FakeWeChat,
    connector: WeChatConnector,
    errcode: int,
    outcome: SendOutcome,
    reason: str,
) -> None:
    fake.fail_next(errcode)

    result = await connector.send(outbound())

    assert result.outcome is outcome
    assert reason in in_words(result.reason)
    assert OPENID not in in_words(result.reason) and "token-1" not in in_words(result.reason)


async def test_wechat_error_45015_teaches_the_window_is_closed(
    fake: FakeWeChat, connector: WeChatConnector
) -> None:
    fake.fail_next(45015)

    result = await connector.send(outbound())
    assert result.outcome is SendOutcome.LIMIT_LEARNED
    assert result.learned is LearnedLimit.WECHAT_WINDOW_CLOSED


async def test_wechat_unfollowed_customer_is_refused_by_the_api(
    fake: FakeWeChat, connector: WeChatConnector
) -> None:
    fake.followers = {"someone-else"}

    result = await connector.send(outbound())

    assert result.outcome is SendOutcome.FAILED
    assert "no longer follows" in in_words(result.reason)


@pytest.mark.parametrize(
    ("http_status", "outcome"),
    [(500, SendOutcome.RETRY), (502, SendOutcome.RETRY), (429, SendOutcome.RETRY)],
    ids=["500", "502", "429"],
)
async def test_wechat_http_errors_are_retried(
    fake: FakeWeChat, connector: WeChatConnector, http_status: int, outcome: SendOutcome
) -> None:
    fake.fail_next(endpoint="send", http_status=http_status)

    assert (await connector.send(outbound())).outcome is outcome


async def test_wechat_timeout_is_retried(fake: FakeWeChat, connector: WeChatConnector) -> None:
    fake.slow_next(2.0)

    result = await connector.send(outbound())

    assert result.outcome is SendOutcome.RETRY
    assert "in time" in in_words(result.reason)


@pytest.mark.parametrize(
    ("settings", "failure", "outcome", "reason"),
    [
        ({"wechat_app_secret": "wrong"}, None, SendOutcome.FAILED, "WECHAT_APP_SECRET"),
        ({"wechat_app_id": "wx-wrong"}, None, SendOutcome.FAILED, "WECHAT_APP_ID"),
        ({}, 40164, SendOutcome.FAILED, "IP whitelist"),
        ({}, -1, SendOutcome.RETRY, "busy"),
        ({}, 500, SendOutcome.RETRY, "server error"),
    ],
    ids=["bad-secret", "bad-app-id", "ip-not-whitelisted", "busy", "http-500"],
)
async def test_wechat_token_fetch_failures_are_mapped_and_nothing_is_sent(
    env: StoreEnv,
    fake: FakeWeChat,
    http: aiohttp.ClientSession,
    settings: dict[str, str],
    failure: int | None,
    outcome: SendOutcome,
    reason: str,
) -> None:
    if failure == 500:
        fake.fail_next(endpoint="token", http_status=500)
    elif failure is not None:
        fake.fail_next(failure, endpoint="token")
    connector = WeChatConnector(
        make_settings(fake.url, **settings),
        http,
        store=WeChatStore(env.redis, env.keys),
    )

    result = await connector.send(outbound())

    assert result.outcome is outcome
    assert reason in in_words(result.reason)
    assert "wrong" not in in_words(result.reason) and FakeWeChat.app_secret not in in_words(
        result.reason
    )
    assert fake.sends == []
    assert await env.redis.get(token_key(env)) is None


async def test_wechat_refused_mode_is_outside_the_window_and_sends_nothing(
    fake: FakeWeChat, connector: WeChatConnector
) -> None:
    result = await connector.send(outbound(mode=SendMode.REFUSED))

    assert result.outcome is SendOutcome.OUTSIDE_WINDOW
    assert fake.requests == []


# --- webhook -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "valid"),
    [
        (signed_query(), True),
        (signed_query(token="not-the-token"), False),
        ({**signed_query(), "nonce": "other"}, False),
        ({k: v for k, v in signed_query().items() if k != "signature"}, False),
        ({}, False),
    ],
    ids=["right", "other-token", "tampered-nonce", "no-signature", "no-query"],
)
def test_wechat_signature_is_sha1_of_sorted_token_timestamp_nonce(
    connector: WeChatConnector, query: dict[str, str], valid: bool
) -> None:
    assert connector.verify(webhook(xml_message("text", "<Content>Hi</Content>"), query)) is valid


def test_wechat_handshake_echoes_echostr_when_signed(connector: WeChatConnector) -> None:
    reply = connector.handshake(webhook(b"", signed_query(echostr="4212843478"), method="GET"))

    assert reply is not None
    assert (reply.status, reply.body, reply.content_type) == (200, "4212843478", "text/plain")


def test_wechat_handshake_with_a_bad_signature_is_refused(connector: WeChatConnector) -> None:
    query = signed_query(token="not-the-token", echostr="4212843478")

    reply = connector.handshake(webhook(b"", query, method="GET"))

    assert reply is not None and reply.status == 401 and "4212843478" not in reply.body


def test_wechat_post_is_not_a_handshake(connector: WeChatConnector) -> None:
    assert connector.handshake(webhook(xml_message("text", "<Content>Hi</Content>"))) is None


def test_wechat_text_message_becomes_an_inbound_message(connector: WeChatConnector) -> None:
    events = connector.parse(webhook(xml_message("text", "<Content><![CDATA[Hi]]></Content>")))

    assert events == [
        InboundMessage(
            channel=Channel.WECHAT,
            identity=OPENID,
            channel_message_id="23637352235060880",
            sent_at=AT,
            text="Hi",
        )
    ]


@pytest.mark.parametrize(
    ("kind", "fields", "text"),
    [
        ("image", "<PicUrl><![CDATA[http://x/p]]></PicUrl><MediaId>m</MediaId>", "📷 Photo"),
        ("voice", "<MediaId>m</MediaId><Format>amr</Format>", "🎤 Voice message"),
        (
            "voice",
            "<MediaId>m</MediaId><Format>amr</Format><Recognition>你好</Recognition>",
            "🎤 Voice message: 你好",
        ),
        ("video", "<MediaId>m</MediaId><ThumbMediaId>t</ThumbMediaId>", "🎥 Video"),
        ("shortvideo", "<MediaId>m</MediaId><ThumbMediaId>t</ThumbMediaId>", "🎥 Video"),
        (
            "location",
            "<Location_X>25.2048</Location_X><Location_Y>55.2708</Location_Y>"
            "<Scale>20</Scale><Label><![CDATA[Dubai]]></Label>",
            "📍 Location 25.2048, 55.2708: Dubai",
        ),
        (
            "link",
            "<Title><![CDATA[Order 1]]></Title><Description>d</Description>"
            "<Url><![CDATA[https://example.com/o/1]]></Url>",
            "🔗 Link: Order 1 https://example.com/o/1",
        ),
    ],
    ids=["image", "voice", "voice-recognised", "video", "shortvideo", "location", "link"],
)
def test_wechat_non_text_messages_are_described(
    connector: WeChatConnector, kind: str, fields: str, text: str
) -> None:
    (event,) = connector.parse(webhook(xml_message(kind, fields)))

    assert isinstance(event, InboundMessage)
    assert event.text == text


def wechat_event(event: str) -> bytes:
    return (
        "<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName>"
        f"<FromUserName><![CDATA[{OPENID}]]></FromUserName><CreateTime>{STAMP}</CreateTime>"
        f"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event></xml>"
    ).encode()


def test_wechat_other_events_are_ignored(connector: WeChatConnector) -> None:
    assert connector.parse(webhook(wechat_event("CLICK"))) == []


@pytest.mark.parametrize(
    ("event", "unreachable"),
    [("unsubscribe", UnreachableReason.UNSUBSCRIBED), ("subscribe", None)],
    ids=["unsubscribe", "subscribe"],
)
def test_wechat_unsubscribe_and_subscribe_change_reachability(
    connector: WeChatConnector, event: str, unreachable: UnreachableReason | None
) -> None:
    assert connector.parse(webhook(wechat_event(event))) == [
        ReachabilityEvent(Channel.WECHAT, OPENID, AT, unreachable, event)
    ]


@pytest.mark.parametrize(
    "body",
    [
        b"not xml",
        b"<xml><FromUserName>x</FromUserName>",
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><xml>&lol;</xml>',
        b"<notxml><MsgType>text</MsgType></notxml>",
        xml_message("text", "<Content>Hi</Content>").replace(b"FromUserName", b"Sender"),
        xml_message("text", "<Content>Hi</Content>")
        .replace(b"<MsgId>", b"<Other>")
        .replace(b"</MsgId>", b"</Other>"),
        xml_message("text", "<Content>Hi</Content>").replace(str(STAMP).encode(), b"yesterday"),
        b"<xml><ToUserName>gh_1</ToUserName><Encrypt><![CDATA[abc]]></Encrypt></xml>",
    ],
    ids=[
        "not-xml",
        "unclosed",
        "doctype-entities",
        "wrong-root",
        "no-sender",
        "no-msgid",
        "bad-createtime",
        "encrypted-mode",
    ],
)
def test_wechat_malformed_but_well_signed_body_is_rejected(
    connector: WeChatConnector, body: bytes
) -> None:
    request = webhook(body)
    assert connector.verify(request)

    with pytest.raises(MalformedWebhook):
        connector.parse(request)


def test_wechat_processed_post_is_answered_success(connector: WeChatConnector) -> None:
    reply = connector.reply([])

    assert (reply.status, reply.body) == (200, "success")


async def test_wechat_unreachable_token_cache_is_retried(
    fake: FakeWeChat, http: aiohttp.ClientSession
) -> None:
    redis = create_redis("redis://127.0.0.1:9/0")
    connector = WeChatConnector(
        make_settings(fake.url), http, store=WeChatStore(redis, Keys(partitions=1, prefix="t"))
    )
    try:
        result = await connector.send(outbound())
    finally:
        await redis.aclose()

    assert result.outcome is SendOutcome.RETRY
    assert fake.requests == []


# --- freshness: the signature covers the query, not the body ---------------------------


def signed_at(timestamp: int, nonce: str = "1514711492") -> dict[str, str]:
    stamp = str(timestamp)
    signature = hashlib.sha1("".join(sorted([WEBHOOK_TOKEN, stamp, nonce])).encode()).hexdigest()
    return {"signature": signature, "timestamp": stamp, "nonce": nonce}


@pytest.mark.parametrize(
    ("offset", "valid"),
    [(0, True), (299, True), (-299, True), (301, False), (-301, False), (10**9, False)],
    ids=["now", "4m59s-old", "4m59s-ahead", "5m01s-old", "5m01s-ahead", "years-ahead"],
)
def test_wechat_callback_must_be_signed_within_five_minutes(
    env: StoreEnv, fake: FakeWeChat, http: aiohttp.ClientSession, offset: int, valid: bool
) -> None:
    connector = make_connector(env, fake, http, clock=lambda: STAMP)
    request = webhook(xml_message("text", "<Content>Hi</Content>"), signed_at(STAMP - offset))

    assert connector.verify(request) is valid


@pytest.mark.parametrize("timestamp", ["abc", "1e10", "", "１７９５００３２００", "9" * 30])
def test_wechat_timestamp_that_is_no_epoch_is_refused(
    connector: WeChatConnector, timestamp: str
) -> None:
    nonce = "1514711492"
    signature = hashlib.sha1(
        "".join(sorted([WEBHOOK_TOKEN, timestamp, nonce])).encode()
    ).hexdigest()
    query = {"signature": signature, "timestamp": timestamp, "nonce": nonce}

    assert connector.verify(webhook(xml_message("text", "<Content>Hi</Content>"), query)) is False


async def test_wechat_nonce_is_taken_once_and_given_back_on_release(
    connector: WeChatConnector,
) -> None:
    request = webhook(xml_message("text", "<Content>Hi</Content>"), signed_query())
    other = webhook(xml_message("text", "<Content>Hi</Content>"), signed_at(STAMP, "99"))

    assert await connector.claim(request) is True
    assert await connector.claim(request) is False  # a replay, whatever its body
    assert await connector.claim(other) is True
    await connector.release(request)
    assert await connector.claim(request) is True


@pytest.mark.parametrize(
    "body",
    [
        xml_message("text", "<Content>Hi</Content>").replace(str(STAMP).encode(), b"1" + b"0" * 23),
        b'<?xml version="1.0"?><!DOCTYPE xml SYSTEM "http://evil.example/x.dtd"><xml/>',
        b'<xml xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="/etc/passwd"/></xml>',
    ],
    ids=["createtime-10e23", "external-dtd", "xinclude"],
)
def test_wechat_hostile_xml_is_malformed(connector: WeChatConnector, body: bytes) -> None:
    with pytest.raises(MalformedWebhook):
        connector.parse(webhook(body))

"""`GET|POST /webhooks/{channel}` end to end: the web app of `serve` on a real Redis.

Each channel's webhook is signed as its vendor signs it (SPEC "Relay and
delivery status"): a missing or wrong signature is answered 401 and changes
nothing; a well-signed but malformed body is answered 400 and changes nothing
("Configuration and endpoints"). Payload shapes follow `tests/channels/`.
Profile lookups (Messenger, Instagram, LINE) go to local fakes; every other
API base points at a port that refuses, and no inbound webhook calls it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.app import WEBHOOK_CONSUMER_KEY, build_web_app
from bot.channels.sms import EMPTY_TWIML
from bot.channels.whatsapp_templates import FetchedTemplates
from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.messages import Content
from bot.domain.models import ConversationStatus, MessageStatus
from bot.domain.windows import Form, PolicySettings
from bot.services.followup import FollowupOutcome, FollowupRequest, FollowupService
from bot.services.template_sync import TemplateSync
from bot.store.connection import create_redis
from bot.store.contacts import ContactDraft
from bot.store.keys import ContactId
from bot.store.search import SearchFilters
from bot.store.templates import TemplateStore
from handlers.webhooks import body_limit
from tests.conftest import StoreEnv
from tests.fakes.graph import FakeGraph
from tests.fakes.line import FakeLine

Client = TestClient[web.Request, web.Application]

#: A port nothing listens on: a connector that tried to call out would fail fast.
REFUSING = "http://127.0.0.1:9"
PUBLIC_URL = "https://followup.example.com"

META_APP_SECRET = "meta-app-secret"
META_VERIFY_TOKEN = "meta-verify-token"
TELEGRAM_SECRET = "telegram-webhook-secret_1"
LINE_SECRET = "line-channel-secret"
VIBER_TOKEN = "viber-auth-token"
WECHAT_TOKEN = "wechat-server-token"
TWILIO_TOKEN = "twilio-auth-token"
WEBCHAT_SECRET = "webchat-secret"  # also signs inbound e-mail (SPEC: "signed the same way")
WRONG_SECRET = "not-the-secret"

WA_ID = "971501234567"
PSID = "6543210987654321"
IGSID = "1234567890123456"
TELEGRAM_CHAT = 42
LINE_USER = "U" + "4af4980629" * 3 + "ab"
VIBER_USER = "01234567890A="
OPENID = "oLOkR5PG536EbZgd9WcCfGaLfoM8"
PHONE = "+971501234567"
OUR_NUMBER = "+15550001111"
EMAIL = "sara@example.com"
VISITOR = "v_123"

STAMP = 1795003200  # 2026-11-18T12:00:00Z: the customer's message, by the channel's clock
AT = datetime(2026, 11, 18, 12, 0, 0, tzinfo=UTC)


# --- how each channel signs and shapes its webhooks ------------------------------------


@dataclass(frozen=True)
class Hook:
    """One webhook request as the channel sends it."""

    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)


def _hmac_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _iso(stamp: int) -> str:
    return datetime.fromtimestamp(stamp, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sign_meta(body: bytes, secret: str) -> Hook:
    return Hook(
        body,
        {
            "X-Hub-Signature-256": "sha256=" + _hmac_hex(secret, body),
            "Content-Type": "application/json",
        },
    )


def sign_telegram(body: bytes, secret: str) -> Hook:
    return Hook(
        body,
        {"X-Telegram-Bot-Api-Secret-Token": secret, "Content-Type": "application/json"},
    )


def sign_line(body: bytes, secret: str) -> Hook:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return Hook(
        body,
        {"X-Line-Signature": base64.b64encode(digest).decode(), "Content-Type": "application/json"},
    )


def sign_viber(body: bytes, secret: str) -> Hook:
    return Hook(
        body,
        {"X-Viber-Content-Signature": _hmac_hex(secret, body), "Content-Type": "application/json"},
    )


def sign_wechat(body: bytes, secret: str) -> Hook:
    """WeChat signs the query: sha1 of the sorted token, timestamp and nonce (new each time)."""
    timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**10))
    signature = hashlib.sha1("".join(sorted([secret, timestamp, nonce])).encode()).hexdigest()
    return Hook(
        body,
        {"Content-Type": "text/xml"},
        {"signature": signature, "timestamp": timestamp, "nonce": nonce},
    )


def sign_twilio(body: bytes, secret: str) -> Hook:
    """Twilio signs the public URL it calls plus the sorted form fields (HMAC-SHA1)."""
    params = parse_qsl(body.decode(errors="replace"), keep_blank_values=True)
    data = f"{PUBLIC_URL}/webhooks/sms" + "".join(k + v for k, v in sorted(params))
    digest = hmac.new(secret.encode(), data.encode(), hashlib.sha1).digest()
    return Hook(
        body,
        {
            "X-Twilio-Signature": base64.b64encode(digest).decode(),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )


def sign_email(body: bytes, secret: str) -> Hook:
    return Hook(
        body,
        {
            "X-Email-Signature": "sha256=" + _hmac_hex(secret, body),
            "Content-Type": "message/rfc822",
        },
    )


def sign_webchat(body: bytes, secret: str) -> Hook:
    return Hook(
        body,
        {
            "X-Webchat-Signature": "sha256=" + _hmac_hex(secret, body),
            "Content-Type": "application/json",
        },
    )


def whatsapp_change(value: dict[str, Any]) -> bytes:
    return _json(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "102290129340398",
                    "changes": [
                        {
                            "field": "messages",
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
    )


def whatsapp_message(n: int, stamp: int) -> bytes:
    return whatsapp_change(
        {
            "contacts": [{"profile": {"name": "Sara Ahmed"}, "wa_id": WA_ID}],
            "messages": [
                {
                    "from": WA_ID,
                    "id": f"wamid.HBgL{n:020d}",
                    "timestamp": str(stamp),
                    "type": "text",
                    "text": {"body": "Hi, any news?"},
                }
            ],
        }
    )


def messaging_event(object_name: str, customer: str, stamp_ms: int, **event: Any) -> bytes:
    """Messenger (`page`) and Instagram (`instagram`) share the Messenger Platform shape."""
    return _json(
        {
            "object": object_name,
            "entry": [
                {
                    "id": "1234567890",
                    "time": stamp_ms + 500,
                    "messaging": [
                        {
                            "sender": {"id": customer},
                            "recipient": {"id": "1234567890"},
                            "timestamp": stamp_ms,
                            **event,
                        }
                    ],
                }
            ],
        }
    )


def messenger_message(n: int, stamp: int) -> bytes:
    return messaging_event(
        "page", PSID, stamp * 1000, message={"mid": f"m_AbCdEf{n}", "text": "Hi"}
    )


def instagram_message(n: int, stamp: int) -> bytes:
    return messaging_event(
        "instagram", IGSID, stamp * 1000, message={"mid": f"aWdfZAG1faXRlbTpJRDo{n}", "text": "Hi"}
    )


def telegram_message(n: int, stamp: int) -> bytes:
    return _json(
        {
            "update_id": 900 + n,
            "message": {
                "message_id": n,
                "from": {
                    "id": TELEGRAM_CHAT,
                    "is_bot": False,
                    "first_name": "Sara",
                    "last_name": "Ahmed",
                    "username": "Sara_Ahmed",
                },
                "chat": {"id": TELEGRAM_CHAT, "first_name": "Sara", "type": "private"},
                "date": stamp,
                "text": "Hi",
            },
        }
    )


def line_message(n: int, stamp: int) -> bytes:
    return _json(
        {
            "destination": "U" + "0" * 32,
            "events": [
                {
                    "type": "message",
                    "message": {"id": str(468789577898262530 + n), "type": "text", "text": "Hi"},
                    "webhookEventId": f"01FZ74A0TDDPYRVKNK77XKC3Z{n}",
                    "deliveryContext": {"isRedelivery": False},
                    "timestamp": stamp * 1000,
                    "source": {"type": "user", "userId": LINE_USER},
                    "replyToken": "757913772c4646b784d4b7ce46d12671",
                    "mode": "active",
                }
            ],
        }
    )


def viber_message(n: int, stamp: int) -> bytes:
    return _json(
        {
            "event": "message",
            "timestamp": stamp * 1000,
            "chat_hostname": "SN-376_",
            "message_token": 4912661846655238145 + n,
            "sender": {"id": VIBER_USER, "name": "Sara Al Ahmed", "language": "en"},
            "message": {"type": "text", "text": "Hi"},
            "silent": False,
        }
    )


def wechat_message(n: int, stamp: int) -> bytes:
    return (
        "<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName>"
        f"<FromUserName><![CDATA[{OPENID}]]></FromUserName>"
        f"<CreateTime>{stamp}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[Hi]]></Content><MsgId>{23637352235060880 + n}</MsgId></xml>"
    ).encode()


def sms_message(n: int, stamp: int) -> bytes:
    # Twilio's inbound webhook carries no timestamp: `stamp` has nowhere to go.
    sid = f"SM{n:032x}"
    return urlencode(
        {
            "MessageSid": sid,
            "SmsSid": sid,
            "AccountSid": "AC00000000000000000000000000000001",
            "From": PHONE,
            "To": OUR_NUMBER,
            "Body": "Thanks, it works now",
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        }
    ).encode()


def email_message(n: int, stamp: int, *, message_id: bool = True) -> bytes:
    mail = EmailMessage()
    mail["From"] = "Sara Ahmed <Sara@Example.com>"
    mail["To"] = "support@acme.example"
    mail["Subject"] = "Re: Order 77"
    mail["Date"] = format_datetime(datetime.fromtimestamp(stamp, tz=UTC))
    if message_id:
        mail["Message-ID"] = f"<c{n}@mail.example.com>"
    mail.set_content("Thanks, it works now.")
    return mail.as_bytes()


def webchat_message(n: int, stamp: int) -> bytes:
    return _json(
        {
            "type": "message",
            "visitor": {"id": VISITOR, "name": "Sara Ahmed", "email": EMAIL},
            "message": {"id": f"wm_{n}", "text": "Hi", "sent_at": _iso(stamp)},
            "timestamp": stamp,
        }
    )


@dataclass(frozen=True)
class Case:
    """One channel's inbound webhook: shape, signature and the answer it expects."""

    channel: Channel
    identity: str
    message: Callable[[int, int], bytes]  # (sequence number, epoch seconds) → body
    sign: Callable[[bytes, str], Hook]
    secret: str
    malformed: bytes  # well-signed, but not a message we can read
    reply: tuple[str, str] = ("", "text/plain")  # (body, content type)
    name: tuple[str, str] = ("", "")  # from the webhook or the profile API
    timed: bool = True  # the webhook carries the customer's own time

    def signed(self, body: bytes) -> Hook:
        return self.sign(body, self.secret)

    def unsigned(self, body: bytes) -> Hook:
        """The same request with its signature (header or query) left out."""
        hook = self.signed(body)
        keep = {"Content-Type": hook.headers["Content-Type"]}
        return Hook(body, keep)


CASES = [
    Case(
        Channel.WHATSAPP,
        WA_ID,
        whatsapp_message,
        sign_meta,
        META_APP_SECRET,
        malformed=whatsapp_change({"messages": [{"from": WA_ID, "type": "text"}]}),
        name=("Sara", "Ahmed"),
    ),
    Case(
        Channel.MESSENGER,
        PSID,
        messenger_message,
        sign_meta,
        META_APP_SECRET,
        malformed=_json(
            {
                "object": "page",
                "entry": [{"messaging": [{"sender": {"id": PSID}, "message": {"mid": "m_1"}}]}],
            }
        ),
        name=("Layla", "Nasser"),
    ),
    Case(
        Channel.INSTAGRAM,
        IGSID,
        instagram_message,
        sign_meta,
        META_APP_SECRET,
        malformed=b'{"object": "instagram", "entry": ',
        name=("Omar", "Saleh"),
    ),
    Case(
        Channel.TELEGRAM,
        str(TELEGRAM_CHAT),
        telegram_message,
        sign_telegram,
        TELEGRAM_SECRET,
        malformed=_json({"update_id": 901, "message": {"chat": {"id": 42}, "text": "Hi"}}),
        name=("Sara", "Ahmed"),
    ),
    Case(
        Channel.LINE,
        LINE_USER,
        line_message,
        sign_line,
        LINE_SECRET,
        malformed=_json(
            {
                "events": [
                    {
                        "type": "message",
                        "message": {"id": "1", "type": "text", "text": "Hi"},
                        "source": {"type": "user", "userId": LINE_USER},
                    }
                ]
            }
        ),
        name=("Sara", "Al Ahmed"),
    ),
    Case(
        Channel.VIBER,
        VIBER_USER,
        viber_message,
        sign_viber,
        VIBER_TOKEN,
        malformed=_json(
            {
                "event": "message",
                "timestamp": STAMP * 1000,
                "sender": {"id": VIBER_USER},
                "message": {"type": "text", "text": "Hi"},
            }
        ),
        name=("Sara", "Al Ahmed"),
    ),
    Case(
        Channel.WECHAT,
        OPENID,
        wechat_message,
        sign_wechat,
        WECHAT_TOKEN,
        malformed=(
            f"<xml><FromUserName>{OPENID}</FromUserName><CreateTime>{STAMP}</CreateTime>"
            "<MsgType>text</MsgType><Content>Hi</Content></xml>"
        ).encode(),
        reply=("success", "text/plain"),
    ),
    Case(
        Channel.SMS,
        PHONE,
        sms_message,
        sign_twilio,
        TWILIO_TOKEN,
        malformed=urlencode({"MessageSid": "SM1", "Body": "no sender"}).encode(),
        reply=(EMPTY_TWIML, "text/xml"),
        timed=False,
    ),
    Case(
        Channel.EMAIL,
        EMAIL,
        email_message,
        sign_email,
        WEBCHAT_SECRET,
        malformed=email_message(99, STAMP, message_id=False),
        name=("Sara", "Ahmed"),
    ),
    Case(
        Channel.WEBCHAT,
        VISITOR,
        webchat_message,
        sign_webchat,
        WEBCHAT_SECRET,
        malformed=_json({"type": "message", "visitor": {"id": VISITOR}, "message": {"text": "Hi"}}),
        name=("Sara", "Ahmed"),
    ),
]
IDS = [case.channel.value for case in CASES]
BY_CHANNEL = {case.channel: case for case in CASES}
META = [Channel.WHATSAPP, Channel.MESSENGER, Channel.INSTAGRAM]

#: What to leave out so that one channel is not offered.
WITHOUT: dict[Channel, dict[str, Any]] = {
    Channel.WHATSAPP: {"whatsapp_token": None},
    Channel.MESSENGER: {"messenger_page_token": None},
    Channel.INSTAGRAM: {"instagram_token": None},
    Channel.TELEGRAM: {"telegram_bot_token": None},
    Channel.LINE: {"line_channel_access_token": None},
    Channel.VIBER: {"viber_auth_token": None},
    Channel.WECHAT: {"wechat_token": None},
    Channel.SMS: {"sms_from": None},
    Channel.EMAIL: {"smtp_host": None},
    Channel.WEBCHAT: {"webchat_webhook_url": None},
}


# --- the app, its fakes and the store -----------------------------------------------------


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def graph() -> AsyncIterator[FakeGraph]:
    fake = FakeGraph(
        profiles={
            PSID: {"first_name": "Layla", "last_name": "Nasser"},
            IGSID: {"name": "Omar Saleh", "username": "omar.s"},
        }
    )
    async with fake:
        yield fake


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def line() -> AsyncIterator[FakeLine]:
    fake = await FakeLine(profiles={LINE_USER: "Sara Al Ahmed"}).start()
    try:
        yield fake
    finally:
        await fake.close()


def settings_for(env: StoreEnv, graph: FakeGraph, line: FakeLine, **overrides: Any) -> Settings:
    """Every channel configured (all ten offered), under the test's private key prefix."""
    values: dict[str, Any] = {
        "redis_key_prefix": env.keys.prefix,
        "partitions": env.keys.partitions,
        "public_base_url": PUBLIC_URL,
        "whatsapp_api_url": f"{REFUSING}/v21.0",
        "whatsapp_token": FakeGraph.whatsapp_token,
        "whatsapp_phone_number_id": FakeGraph.phone_number_id,
        "messenger_api_url": graph.url,
        "messenger_page_token": FakeGraph.page_token,
        "instagram_api_url": graph.url,
        "instagram_token": FakeGraph.instagram_token,
        "meta_app_secret": META_APP_SECRET,
        "meta_verify_token": META_VERIFY_TOKEN,
        "telegram_api_url": REFUSING,
        "telegram_bot_token": "123456:telegram-bot-token",
        "telegram_webhook_secret": TELEGRAM_SECRET,
        "line_api_url": line.url,
        "line_channel_access_token": FakeLine.access_token,
        "line_channel_secret": LINE_SECRET,
        "viber_api_url": REFUSING,
        "viber_auth_token": VIBER_TOKEN,
        "wechat_api_url": REFUSING,
        "wechat_app_id": "wx1234567890abcdef",
        "wechat_app_secret": "wechat-app-secret",
        "wechat_token": WECHAT_TOKEN,
        "sms_api_url": REFUSING,
        "twilio_account_sid": "AC00000000000000000000000000000001",
        "twilio_auth_token": TWILIO_TOKEN,
        "sms_from": OUR_NUMBER,
        "smtp_host": "127.0.0.1",
        "smtp_port": 9,
        "email_from": "Acme Support <support@acme.example>",
        "webchat_webhook_url": f"{REFUSING}/widget",
        "webchat_secret": WEBCHAT_SECRET,
        **overrides,
    }
    return Settings(_env_file=None, **values)


@asynccontextmanager
async def serving(settings: Settings, redis_url: str) -> AsyncIterator[Client]:
    """The app of `serve`, with a Redis client of its own (it closes it on cleanup)."""
    app = build_web_app(settings, create_redis(redis_url))
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="session")
async def client(
    env: StoreEnv, redis_url: str, graph: FakeGraph, line: FakeLine
) -> AsyncIterator[Client]:
    async with serving(settings_for(env, graph, line), redis_url) as client:
        yield client


async def post(client: Client, channel: Channel | str, hook: Hook) -> aiohttp.ClientResponse:
    name = channel.value if isinstance(channel, Channel) else channel
    response = await client.post(
        f"/webhooks/{name}", data=hook.body, headers=dict(hook.headers), params=dict(hook.query)
    )
    await response.read()
    # The events are stored and answered at once, processed just after.
    await client.server.app[WEBHOOK_CONSUMER_KEY].settle()
    return response


async def get(
    client: Client, channel: Channel | str, query: Mapping[str, str] | None = None
) -> aiohttp.ClientResponse:
    name = channel.value if isinstance(channel, Channel) else channel
    response = await client.get(f"/webhooks/{name}", params=dict(query or {}))
    await response.read()
    return response


async def snapshot(env: StoreEnv) -> dict[str, tuple[str, Any]]:
    """Every key under the test's prefix with its type and value (TTLs left out)."""
    redis = env.redis
    state: dict[str, tuple[str, Any]] = {}
    alive = env.keys.consumer_alive("")
    async for key in redis.scan_iter(match=f"{env.keys.prefix}:*", count=1000):
        if str(key).startswith(alive[: alive.index("{")]):
            continue  # a process's heartbeat, not data
        if ":{wechat}:nonce:" in str(key):
            continue  # a WeChat callback's nonce, kept a few minutes against replays
        kind = await redis.type(key)
        value: Any
        if kind == "hash":
            value = await redis.hgetall(key)
        elif kind == "string":
            value = await redis.get(key)
        elif kind == "zset":
            value = await redis.zrange(key, 0, -1, withscores=True)
        elif kind == "list":
            value = await redis.lrange(key, 0, -1)
        elif kind == "set":
            value = sorted(await redis.smembers(key))
        elif kind == "stream":
            value = await redis.xrange(key)
            if not value:
                continue  # an empty stream holds nothing (its consumer group made it)
        else:
            value = None
        state[str(key)] = (str(kind), value)
    return state


async def customer_entries(env: StoreEnv, contact_id: str) -> int:
    """Customer messages of this contact waiting in the Slack thread queue."""
    payloads = await env.redis.hvals(env.keys.thread_pending())
    entries = [json.loads(raw) for raw in payloads]
    wanted = ("inbound", contact_id)
    return sum(1 for e in entries if (e.get("kind"), e.get("contact_id")) == wanted)


# --- 1, 2: a signed customer message, and the same delivery again -------------------------


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_signed_message_creates_the_contact_opens_the_conversation_and_starts_the_window(
    client: Client, env: StoreEnv, case: Case
) -> None:
    before = datetime.now(UTC).replace(microsecond=0)

    response = await post(client, case.channel, case.signed(case.message(1, STAMP)))

    after = datetime.now(UTC)
    assert response.status == 200
    assert (await response.text(), response.content_type) == case.reply
    contact = await env.contacts.find_by_identity(case.channel, case.identity)
    assert contact is not None
    assert contact.conversation.status is ConversationStatus.OPEN
    assert (contact.first_name, contact.last_name) == case.name
    window_start = contact.conversation.last_inbound_at[case.channel]
    if case.timed:
        assert window_start == AT  # the channel's time, not the arrival time
    else:
        assert before <= window_start <= after
    # Shown in the conversation's thread: the customer's message is queued for Slack once.
    assert await customer_entries(env, contact.id) == 1


@pytest.mark.parametrize(
    ("channel", "query"),
    [
        (Channel.TELEGRAM, "@sara_ahmed"),
        (Channel.TELEGRAM, "SARA_AHMED"),
        (Channel.INSTAGRAM, "@omar.s"),
    ],
    ids=["telegram_at", "telegram_bare", "instagram_profile"],
)
async def test_the_customers_username_is_stored_and_found(
    client: Client, env: StoreEnv, channel: Channel, query: str
) -> None:
    """Telegram's `from.username` and Instagram's profile `username` become findable handles."""
    case = BY_CHANNEL[channel]
    assert (await post(client, channel, case.signed(case.message(1, STAMP)))).status == 200
    contact = await env.contacts.find_by_identity(channel, case.identity)
    assert contact is not None
    page = await env.search.search(query, SearchFilters(status=None))
    assert [c.id for c in page.contacts] == [contact.id]


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_repeated_delivery_of_the_same_message_changes_nothing(
    client: Client, env: StoreEnv, case: Case
) -> None:
    body = case.message(1, STAMP)
    assert (await post(client, case.channel, case.signed(body))).status == 200
    first = await env.contacts.find_by_identity(case.channel, case.identity)
    assert first is not None
    entries = await env.redis.hlen(env.keys.thread_pending())
    state = await snapshot(env)

    # Signed again as the channel does for a retry (WeChat: a new timestamp and nonce).
    again = await post(client, case.channel, case.signed(body))

    assert again.status == 200
    assert (await again.text(), again.content_type) == case.reply
    contact = await env.contacts.find_by_identity(case.channel, case.identity)
    assert contact is not None and contact.id == first.id
    assert contact.version == first.version
    assert await env.redis.hlen(env.keys.thread_pending()) == entries
    assert await snapshot(env) == state


# --- 3, 4: bad signatures and malformed bodies -----------------------------------------


@pytest.mark.parametrize("signature", ["wrong", "missing"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_badly_signed_message_is_401_and_creates_nothing(
    client: Client, env: StoreEnv, case: Case, signature: str
) -> None:
    body = case.message(1, STAMP)
    hook = case.sign(body, WRONG_SECRET) if signature == "wrong" else case.unsigned(body)

    response = await post(client, case.channel, hook)

    assert response.status == 401
    assert await env.contacts.find_by_identity(case.channel, case.identity) is None
    assert await snapshot(env) == {}


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_badly_signed_message_does_not_touch_an_existing_contact(
    client: Client, env: StoreEnv, case: Case
) -> None:
    assert (await post(client, case.channel, case.signed(case.message(1, STAMP)))).status == 200
    state = await snapshot(env)
    later = case.message(2, STAMP + 3600)

    wrong = await post(client, case.channel, case.sign(later, WRONG_SECRET))
    missing = await post(client, case.channel, case.unsigned(later))

    assert (wrong.status, missing.status) == (401, 401)
    assert await snapshot(env) == state


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_well_signed_malformed_body_is_400_and_changes_nothing(
    client: Client, env: StoreEnv, case: Case
) -> None:
    assert (await post(client, case.channel, case.signed(case.message(1, STAMP)))).status == 200
    state = await snapshot(env)

    response = await post(client, case.channel, case.signed(case.malformed))

    assert response.status == 400
    assert await snapshot(env) == state


async def test_signed_email_with_a_large_attachment_is_accepted_under_the_body_limit(
    client: Client, env: StoreEnv
) -> None:
    mail = EmailMessage()
    mail["From"] = "Sara Ahmed <Sara@Example.com>"
    mail["To"] = "support@acme.example"
    mail["Subject"] = "Re: Order 77"
    mail["Date"] = format_datetime(AT)
    mail["Message-ID"] = "<big@mail.example.com>"
    mail.set_content("The invoice is attached.")
    scan = bytes(range(256)) * (8 * 1024)  # 2 MiB, about 2.7 MiB once base64-encoded
    mail.add_attachment(scan, maintype="application", subtype="pdf", filename="invoice.pdf")
    body = mail.as_bytes()
    assert 2 * 1024 * 1024 < len(body) < body_limit(Channel.EMAIL)

    response = await post(client, Channel.EMAIL, sign_email(body, WEBCHAT_SECRET))

    assert response.status == 200
    contact = await env.contacts.find_by_identity(Channel.EMAIL, EMAIL)
    assert contact is not None and contact.conversation.last_inbound_at[Channel.EMAIL] == AT


async def test_body_over_the_limit_is_413_and_changes_nothing(
    client: Client, env: StoreEnv
) -> None:
    body = b'{"type": "message", "padding": "' + b"x" * body_limit(Channel.WEBCHAT) + b'"}'

    response = await post(client, Channel.WEBCHAT, sign_webchat(body, WEBCHAT_SECRET))

    assert response.status == 413
    assert await snapshot(env) == {}


@pytest.mark.parametrize("channel", [Channel.WHATSAPP, Channel.EMAIL], ids=["json", "email"])
async def test_chunked_body_over_the_limit_is_413_while_it_streams(
    client: Client, env: StoreEnv, channel: Channel
) -> None:
    limit = body_limit(channel)
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        # No Content-Length: only counting while reading can refuse it.
        nonlocal sent
        while sent < 4 * limit:
            sent += 64 * 1024
            yield b"x" * (64 * 1024)

    response = await client.post(f"/webhooks/{channel.value}", data=chunks())

    assert response.status == 413
    assert await snapshot(env) == {}


# --- 5: subscribe handshakes --------------------------------------------------------------


@pytest.mark.parametrize("channel", META, ids=[c.value for c in META])
async def test_meta_subscribe_handshake_echoes_the_challenge_only_for_the_verify_token(
    client: Client, env: StoreEnv, channel: Channel
) -> None:
    query = {"hub.mode": "subscribe", "hub.challenge": "1158201444"}

    good = await get(client, channel, {**query, "hub.verify_token": META_VERIFY_TOKEN})
    wrong = await get(client, channel, {**query, "hub.verify_token": "guessed"})
    missing = await get(client, channel, query)

    assert (good.status, await good.text()) == (200, "1158201444")
    assert (wrong.status, missing.status) == (403, 403)
    assert "1158201444" not in await wrong.text()
    assert await snapshot(env) == {}


async def test_wechat_handshake_echoes_echostr_only_when_signed(
    client: Client, env: StoreEnv
) -> None:
    signed = dict(sign_wechat(b"", WECHAT_TOKEN).query)
    forged = dict(sign_wechat(b"", WRONG_SECRET).query)

    good = await get(client, Channel.WECHAT, {**signed, "echostr": "5838479218127813673"})
    bad = await get(client, Channel.WECHAT, {**forged, "echostr": "5838479218127813673"})
    unsigned = await get(client, Channel.WECHAT, {"echostr": "5838479218127813673"})

    assert (good.status, await good.text()) == (200, "5838479218127813673")
    assert (bad.status, unsigned.status) == (401, 401)
    assert "5838479218127813673" not in await bad.text()
    assert await snapshot(env) == {}


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_get_that_is_no_handshake_is_405(client: Client, env: StoreEnv, case: Case) -> None:
    # Channels without a handshake, and Meta/WeChat GETs without hub.mode/echostr.
    response = await get(client, case.channel)

    assert response.status == 405
    assert response.headers["Allow"] == "POST"
    assert await snapshot(env) == {}


# --- 6: channels that do not exist or are not set up ------------------------------------------


@pytest.mark.parametrize("name", ["icq", "slack", "WhatsApp", "whatsapp.php"])
async def test_unknown_channel_is_404(client: Client, env: StoreEnv, name: str) -> None:
    signed = BY_CHANNEL[Channel.WHATSAPP].signed(whatsapp_message(1, STAMP))

    assert (await post(client, name, signed)).status == 404
    assert (await get(client, name)).status == 404
    assert await snapshot(env) == {}


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_channel_without_credentials_is_not_offered(
    env: StoreEnv, redis_url: str, graph: FakeGraph, line: FakeLine, case: Case
) -> None:
    settings = settings_for(env, graph, line, **WITHOUT[case.channel])

    async with serving(settings, redis_url) as client:
        posted = await post(client, case.channel, case.signed(case.message(1, STAMP)))
        got = await get(client, case.channel)
        state = await snapshot(env)
        # The other nine are still offered.
        other = next(c for c in CASES if c.channel is not case.channel)
        still = await post(client, other.channel, other.signed(other.message(1, STAMP)))

    assert (posted.status, got.status) == (404, 404)
    assert state == {}
    assert still.status == 200


async def test_nothing_is_offered_without_any_channel_credentials(
    env: StoreEnv, redis_url: str
) -> None:
    settings = Settings(
        _env_file=None, redis_key_prefix=env.keys.prefix, partitions=env.keys.partitions
    )

    async with serving(settings, redis_url) as client:
        for case in CASES:
            posted = await post(client, case.channel, case.signed(case.message(1, STAMP)))
            assert posted.status == 404, case.channel
            assert (await get(client, case.channel)).status == 404, case.channel

    assert await snapshot(env) == {}


# --- 7: delivery statuses of our messages ----------------------------------------------------


@dataclass(frozen=True)
class StatusCase:
    """A channel's receipts for one of our messages, named by the channel's id for it."""

    channel: Channel
    channel_message_id: str
    delivered: Callable[[str, int], bytes]  # (channel message id, epoch seconds) → body
    read: Callable[[str, int], bytes]


def whatsapp_status(state: str) -> Callable[[str, int], bytes]:
    def body(mid: str, stamp: int) -> bytes:
        return whatsapp_change(
            {
                "statuses": [
                    {"id": mid, "status": state, "timestamp": str(stamp), "recipient_id": WA_ID}
                ]
            }
        )

    return body


def messenger_delivery(mid: str, stamp: int) -> bytes:
    return messaging_event(
        "page", PSID, stamp * 1000, delivery={"mids": [mid], "watermark": stamp * 1000}
    )


def messenger_read(mid: str, stamp: int) -> bytes:
    # Messenger reads name no message: everything sent up to the watermark was read.
    return messaging_event("page", PSID, stamp * 1000, read={"watermark": stamp * 1000})


def viber_receipt(event: str) -> Callable[[str, int], bytes]:
    def body(token: str, stamp: int) -> bytes:
        return _json(
            {
                "event": event,
                "timestamp": stamp * 1000,
                "chat_hostname": "SN-376_",
                "message_token": int(token),
                "user_id": VIBER_USER,
            }
        )

    return body


def twilio_status(state: str) -> Callable[[str, int], bytes]:
    def body(sid: str, stamp: int) -> bytes:
        return urlencode(
            {
                "MessageSid": sid,
                "SmsSid": sid,
                "MessageStatus": state,
                "SmsStatus": state,
                "AccountSid": "AC00000000000000000000000000000001",
                "From": OUR_NUMBER,
                "To": PHONE,
                "ApiVersion": "2010-04-01",
            }
        ).encode()

    return body


def webchat_receipt(state: str) -> Callable[[str, int], bytes]:
    def body(message_id: str, stamp: int) -> bytes:
        return _json(
            {"type": "status", "message": {"id": message_id}, "status": state, "at": _iso(stamp)}
        )

    return body


STATUS_CASES = [
    StatusCase(
        Channel.WHATSAPP,
        "wamid.HBgMOUR000001",
        whatsapp_status("delivered"),
        whatsapp_status("read"),
    ),
    StatusCase(Channel.MESSENGER, "m_OUR000001", messenger_delivery, messenger_read),
    StatusCase(
        Channel.VIBER, "5741311803571721001", viber_receipt("delivered"), viber_receipt("seen")
    ),
    StatusCase(
        Channel.SMS,
        "SM0000000000000000000000000000abc1",
        twilio_status("delivered"),
        twilio_status("read"),
    ),
    StatusCase(Channel.WEBCHAT, "wm_our_1", webchat_receipt("delivered"), webchat_receipt("read")),
]
STATUS_IDS = [case.channel.value for case in STATUS_CASES]


async def sent_followup(
    env: StoreEnv, channel: Channel, channel_message_id: str
) -> tuple[int, str]:
    """A follow-up accepted, then sent by the relay under the channel's id for it."""
    now = datetime.now(UTC).replace(microsecond=0)
    identity = BY_CHANNEL[channel].identity
    created = await env.contacts.create(
        ContactDraft(
            first_name="Sara",
            identities={channel: identity},
            last_inbound_at={channel: now - timedelta(minutes=5)},
        ),
        now,
    )
    followups = FollowupService(env.contacts, env.outbox, PolicySettings(), lambda: now)
    result = await followups.send(
        FollowupRequest(
            created.contact_id,
            channel,
            "U_AGENT",
            f"k-{channel.value}",
            Form.TEXT,
            content=Content("Your fix has shipped"),
        )
    )
    assert result.outcome is FollowupOutcome.ACCEPTED and result.message_id
    partition = ContactId.parse(created.contact_id).partition
    await env.outbox.record_status(
        partition, result.message_id, MessageStatus.SENT, now, channel_message_id=channel_message_id
    )
    await env.outbox.link_channel_message(channel, channel_message_id, partition, result.message_id)
    return partition, result.message_id


@pytest.mark.parametrize("case", STATUS_CASES, ids=STATUS_IDS)
async def test_receipts_move_our_message_forward_and_never_back(
    client: Client, env: StoreEnv, case: StatusCase
) -> None:
    partition, message_id = await sent_followup(env, case.channel, case.channel_message_id)
    sign = BY_CHANNEL[case.channel]
    stamp = int(datetime.now(UTC).timestamp()) + 60
    x = case.channel_message_id

    delivered = await post(client, case.channel, sign.signed(case.delivered(x, stamp)))
    message = await env.outbox.get_message(partition, message_id)
    assert delivered.status == 200
    assert message is not None and message.status is MessageStatus.DELIVERED

    read = await post(client, case.channel, sign.signed(case.read(x, stamp + 60)))
    message = await env.outbox.get_message(partition, message_id)
    assert read.status == 200
    assert message is not None and message.status is MessageStatus.READ
    state = await snapshot(env)

    late = await post(client, case.channel, sign.signed(case.delivered(x, stamp + 120)))

    assert late.status == 200
    message = await env.outbox.get_message(partition, message_id)
    assert message is not None and message.status is MessageStatus.READ
    assert [h.status for h in message.history] == [
        MessageStatus.QUEUED,
        MessageStatus.SENT,
        MessageStatus.DELIVERED,
        MessageStatus.READ,
    ]
    assert await snapshot(env) == state


@pytest.mark.parametrize("case", STATUS_CASES, ids=STATUS_IDS)
async def test_receipt_for_a_message_we_do_not_know_is_accepted_and_changes_nothing(
    client: Client, env: StoreEnv, case: StatusCase
) -> None:
    partition, message_id = await sent_followup(env, case.channel, case.channel_message_id)
    state = await snapshot(env)
    unknown = "5741311803571729999" if case.channel is Channel.VIBER else "not-ours-1"
    stamp = int(datetime.now(UTC).timestamp()) - 3600  # before we sent: no watermark match

    response = await post(
        client, case.channel, BY_CHANNEL[case.channel].signed(case.delivered(unknown, stamp))
    )

    assert response.status == 200
    assert await snapshot(env) == state
    message = await env.outbox.get_message(partition, message_id)
    assert message is not None and message.status is MessageStatus.SENT


@pytest.mark.parametrize("case", STATUS_CASES, ids=STATUS_IDS)
async def test_badly_signed_receipt_is_401_and_changes_nothing(
    client: Client, env: StoreEnv, case: StatusCase
) -> None:
    partition, message_id = await sent_followup(env, case.channel, case.channel_message_id)
    state = await snapshot(env)
    body = case.read(case.channel_message_id, int(datetime.now(UTC).timestamp()) + 60)

    response = await post(client, case.channel, BY_CHANNEL[case.channel].sign(body, WRONG_SECRET))

    assert response.status == 401
    assert await snapshot(env) == state
    message = await env.outbox.get_message(partition, message_id)
    assert message is not None and message.status is MessageStatus.SENT


# --- hostile bodies: a 4xx, never a 5xx, and nothing stored --------------------------------


def _deep_json(depth: int) -> bytes:
    return b'{"type": "message", "x": ' + b"[" * depth + b"]" * depth + b"}"


def _nested_mime(depth: int) -> bytes:
    opening, closing = [], []
    for level in reversed(range(depth)):
        boundary = f"b{level}".encode()
        opening.append(
            b'Content-Type: multipart/mixed; boundary="'
            + boundary
            + b'"\r\n\r\n--'
            + boundary
            + b"\r\n"
        )
        closing.append(b"\r\n--" + boundary + b"--\r\n")
    text = b"Content-Type: text/plain\r\n\r\nHi\r\n"
    body = b"".join(opening) + text + b"".join(reversed(closing))
    head = (
        b"From: Sara Ahmed <sara@example.com>\r\nTo: support@acme.example\r\n"
        b"Message-ID: <deep@mail.example.com>\r\nMIME-Version: 1.0\r\n"
        b"Date: Wed, 18 Nov 2026 12:00:00 +0000\r\n"
    )
    return head + body


def _line_text(value: Any) -> bytes:
    event = json.loads(line_message(1, STAMP))
    event["events"][0]["message"]["text"] = value
    return _json(event)


def _viber_text(value: Any) -> bytes:
    event = json.loads(viber_message(1, STAMP))
    event["message"]["text"] = value
    return _json(event)


HOSTILE: dict[str, tuple[Channel, bytes]] = {
    "line-text-object": (Channel.LINE, _line_text({"text": "Hi"})),
    "line-text-number": (Channel.LINE, _line_text(42)),
    "line-timestamp-huge": (
        Channel.LINE,
        line_message(1, STAMP).replace(str(STAMP * 1000).encode(), b"1" + b"0" * 40),
    ),
    "line-timestamp-true": (
        Channel.LINE,
        line_message(1, STAMP).replace(str(STAMP * 1000).encode(), b"true"),
    ),
    "telegram-date-negative": (
        Channel.TELEGRAM,
        telegram_message(1, STAMP).replace(str(STAMP).encode(), b"-1"),
    ),
    "telegram-chat-id-true": (
        Channel.TELEGRAM,
        telegram_message(1, STAMP).replace(b'"chat": {"id": 42', b'"chat": {"id": true'),
    ),
    "whatsapp-text-without-body": (
        Channel.WHATSAPP,
        whatsapp_message(1, STAMP).replace(b'{"body": "Hi, any news?"}', b'{"x": 1}'),
    ),
    "messenger-a-year-ahead": (
        Channel.MESSENGER,
        messenger_message(1, STAMP).replace(
            str(STAMP * 1000).encode(), str((STAMP + 400 * 86400) * 1000).encode()
        ),
    ),
    "viber-text-object": (Channel.VIBER, _viber_text({"text": "Hi"})),
    "viber-text-list": (Channel.VIBER, _viber_text(["Hi"])),
    "sms-repeated-from": (Channel.SMS, sms_message(1, STAMP) + b"&From=%2B15550009999"),
    "webchat-json-10000-deep": (Channel.WEBCHAT, _deep_json(10_000)),
    "whatsapp-json-10000-deep": (Channel.WHATSAPP, _deep_json(10_000)),
    "telegram-json-array": (Channel.TELEGRAM, b"[1, 2, 3]"),
    "wechat-createtime-10e23": (
        Channel.WECHAT,
        wechat_message(1, STAMP).replace(str(STAMP).encode(), b"1" + b"0" * 23),
    ),
    "wechat-external-entity": (
        Channel.WECHAT,
        b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b"<xml><Content>&e;</Content></xml>",
    ),
    "email-mime-1000-deep": (Channel.EMAIL, _nested_mime(1_000)),
    "email-mime-30000-deep": (Channel.EMAIL, _nested_mime(30_000)),
}


@pytest.mark.parametrize("case", HOSTILE.values(), ids=HOSTILE.keys())
async def test_well_signed_hostile_body_is_400_fast_and_stores_nothing(
    client: Client, env: StoreEnv, case: tuple[Channel, bytes]
) -> None:
    channel, body = case
    started = time.monotonic()

    response = await post(client, channel, BY_CHANNEL[channel].signed(body))

    assert response.status == 400
    assert time.monotonic() - started < 1.0
    assert await snapshot(env) == {}


async def test_a_replayed_wechat_callback_is_403_whatever_its_body(
    client: Client, env: StoreEnv
) -> None:
    case = BY_CHANNEL[Channel.WECHAT]
    first = case.signed(case.message(1, STAMP))
    assert (await post(client, Channel.WECHAT, first)).status == 200
    state = await snapshot(env)
    # The same signed query (timestamp, nonce) carrying another body.
    replay = Hook(case.message(2, STAMP + 60), first.headers, first.query)

    response = await post(client, Channel.WECHAT, replay)

    assert response.status == 403
    assert await snapshot(env) == state


async def test_a_wechat_callback_older_than_five_minutes_is_401(
    client: Client, env: StoreEnv
) -> None:
    stamp, nonce = str(int(time.time()) - 6 * 60), "1514711492"
    signature = hashlib.sha1("".join(sorted([WECHAT_TOKEN, stamp, nonce])).encode()).hexdigest()
    hook = Hook(
        wechat_message(1, STAMP),
        {"Content-Type": "text/xml"},
        {"signature": signature, "timestamp": stamp, "nonce": nonce},
    )

    response = await post(client, Channel.WECHAT, hook)

    assert response.status == 401
    assert await snapshot(env) == {}


async def test_an_email_just_under_the_cap_nested_as_deep_as_allowed_leaves_healthz_answering(
    client: Client, env: StoreEnv
) -> None:
    # Parsed in a worker thread: the event loop answers meanwhile.
    attachment = b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    attachment += (b"QUFB" * 19 + b"\r\n") * 100_000
    body = _nested_mime(1).replace(b"Content-Type: text/plain\r\n\r\nHi\r\n", attachment)
    assert len(body) < body_limit(Channel.EMAIL)

    async def health() -> float:
        await asyncio.sleep(0.05)
        started = time.monotonic()
        assert (await client.get("/healthz")).status == 200
        return time.monotonic() - started

    response, health_took = await asyncio.gather(
        post(client, Channel.EMAIL, sign_email(body, WEBCHAT_SECRET)), health()
    )

    assert response.status == 200
    assert health_took < 1.0  # not the whole parse (seconds on a busy machine) in the loop


GARBAGE = {
    "empty": b"",
    "invalid-utf8": b"\xff\xfe\xfd{\x80",
    "json-null": b"null",
    "json-huge-number": b"1e999999",
    "json-nan": b'{"type": NaN}',
    "form-noise": b"a=%ZZ&&==&b",
    "xml-noise": b"<xml><<<",
    "nul-bytes": b"\x00" * 64,
}


@pytest.mark.parametrize("garbage", GARBAGE.values(), ids=GARBAGE.keys())
@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_any_garbage_body_signed_or_not_is_never_a_5xx_and_stores_nothing(
    client: Client, env: StoreEnv, case: Case, garbage: bytes
) -> None:
    signed = await post(client, case.channel, case.signed(garbage))
    unsigned = await post(client, case.channel, case.unsigned(garbage))

    assert 400 <= signed.status < 500 or signed.status == 200
    assert 400 <= unsigned.status < 500
    assert await snapshot(env) == {}


def template_status_update(event: str, stamp: int) -> bytes:
    """Meta's `message_template_status_update` change (the entry carries the time)."""
    return _json(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "102290129340398",
                    "time": stamp,
                    "changes": [
                        {
                            "field": "message_template_status_update",
                            "value": {
                                "event": event,
                                "message_template_id": 594425479261596,
                                "message_template_name": "order_shipped",
                                "message_template_language": "ar",
                                "reason": "NONE",
                            },
                        }
                    ],
                }
            ],
        }
    )


@pytest.mark.parametrize("event", ["APPROVED", "PAUSED", "DISABLED"])
async def test_a_signed_template_status_update_makes_the_template_sync_fetch_again(
    client: Client, env: StoreEnv, event: str
) -> None:
    fetched: list[int] = []

    async def fetch() -> FetchedTemplates:
        fetched.append(1)
        return FetchedTemplates([])

    sync = TemplateSync(TemplateStore(env.redis, env.keys), fetch, name="worker-1")
    await sync.sync_once()
    assert await sync.sync_once() is None  # synced this hour: the next look waits
    assert len(fetched) == 1

    response = await post(
        client, Channel.WHATSAPP, sign_meta(template_status_update(event, STAMP), META_APP_SECRET)
    )

    assert response.status == 200
    assert await sync.sync_once() == 0  # fetched again at the next look
    assert len(fetched) == 2


async def test_a_badly_signed_template_status_update_changes_nothing(
    client: Client, env: StoreEnv
) -> None:
    async def fetch() -> FetchedTemplates:
        return FetchedTemplates([])

    sync = TemplateSync(TemplateStore(env.redis, env.keys), fetch, name="worker-1")
    await sync.sync_once()
    response = await post(
        client,
        Channel.WHATSAPP,
        sign_meta(template_status_update("APPROVED", STAMP), WRONG_SECRET),
    )
    assert response.status == 401
    assert await sync.sync_once() is None

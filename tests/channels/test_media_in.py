"""Customers' files into the conversation's thread, every channel (issue 12, "Attachments in").

Each channel's webhook payload (the vendor's documented shape) is parsed by its
connector; the message goes through the inbound service onto the thread queue
(through the intake codec, as serve stores it); the poster fetches the file
the channel's way from a local fake of the channel's API and uploads it into
the thread with Slack's external-upload pair. A URL on another host is refused
with no request made; a file over the cap is said in the thread, not uploaded.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
import pytest_asyncio
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.base import (
    Connector,
    FileKeeper,
    InboundMedia,
    InboundMessage,
    WebhookRequest,
)
from bot.channels.registry import build_connectors
from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.media import MediaKind
from bot.media.store import FileMediaStore
from bot.services.inbound import InboundService
from bot.slack.inbound_files import ThreadFiles
from bot.slack.threads import PosterTuning, ThreadPoster, ThreadQueue
from bot.store.thread_queue import ThreadQueueStore
from bot.store.webhook_intake import decode_events, encode_events
from tests.conftest import StoreEnv
from tests.fakes.channel_files import FakeChannelFiles
from tests.fakes.slack import FakeSlack
from tests.fakes.telegram import FakeTelegram
from tests.slack.thread_poster import thread_poster
from tests.test_webhook_routes import (
    PUBLIC_URL,
    post,
    serving,
    sign_email,
    sign_line,
    sign_meta,
    sign_telegram,
    sign_twilio,
    sign_viber,
    sign_webchat,
    sign_wechat,
)

CHANNEL = "C0SUPPORT"
TELEGRAM_SECRET = "telegram-secret_1"
FAST = PosterTuning(post_rate=1000, post_burst=1000, update_rate=1000, update_burst=1000)
PHOTO = bytes(range(256)) * 64  # 16 KiB
WA_TOKEN = "wa-token"
LINE_TOKEN = "line-token"
TWILIO_SID = "AC00000000000000000000000000000001"
TWILIO_TOKEN = "twilio-token"
WECHAT_ACCESS = "wechat-access-token"


@pytest_asyncio.fixture(loop_scope="session")
async def slack() -> AsyncIterator[FakeSlack]:
    fake = await FakeSlack().start()
    yield fake
    await fake.close()


@pytest_asyncio.fixture(loop_scope="session")
async def files() -> AsyncIterator[FakeChannelFiles]:
    async with FakeChannelFiles() as fake:
        yield fake


@pytest_asyncio.fixture(loop_scope="session")
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


@dataclass
class World:
    env: StoreEnv
    slack: FakeSlack
    files: FakeChannelFiles
    telegram: FakeTelegram
    settings: Settings
    connectors: dict[Channel, Connector]
    thread_files: ThreadFiles
    now: datetime

    async def receive(self, channel: Channel, body: bytes, **query: str) -> InboundMessage:
        """The webhook parsed by its connector, stored and read back as serve does,
        then received (onto the thread queue)."""
        request = WebhookRequest("POST", "https://followup.example.com/", {}, query, body)
        connector = self.connectors[channel]
        parsed = connector.parse(request)
        if isinstance(connector, FileKeeper):
            parsed = await connector.keep_files(request, parsed)
        events = decode_events(encode_events(parsed))
        message = events[0]
        assert isinstance(message, InboundMessage)
        service = InboundService(
            self.env.contacts,
            self.env.outbox,
            lambda: self.now,
            threads=ThreadQueue(ThreadQueueStore(self.env.redis, self.env.keys)),
        )
        await service.receive(message)
        return message

    def poster(self, tuning: PosterTuning = FAST) -> ThreadPoster:
        client = AsyncWebClient(token=self.slack.token, base_url=self.slack.url)
        return thread_poster(
            self.env.redis,
            self.env.keys,
            client,
            CHANNEL,
            lambda: self.now,
            tuning=tuning,
            files=self.thread_files,
        )

    async def flush(self, tuning: PosterTuning = FAST) -> None:
        await self.poster(tuning).flush()


@pytest_asyncio.fixture(loop_scope="session")
async def world(
    env: StoreEnv,
    slack: FakeSlack,
    files: FakeChannelFiles,
    telegram: FakeTelegram,
    now: datetime,
    tmp_path: Path,
) -> AsyncIterator[World]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        redis_key_prefix=env.keys.prefix,
        partitions=env.keys.partitions,
        slack_api_url=slack.url,
        slack_bot_token=slack.token,  # type: ignore[arg-type]
        whatsapp_api_url=f"{files.url}/v21.0",
        whatsapp_token=WA_TOKEN,  # type: ignore[arg-type]
        whatsapp_phone_number_id="1234567890",
        messenger_api_url=files.url,
        messenger_page_token="page-token",  # type: ignore[arg-type]
        instagram_api_url=files.url,
        instagram_token="ig-token",  # type: ignore[arg-type]
        meta_app_secret="meta-secret",  # type: ignore[arg-type]
        telegram_api_url=telegram.url,
        telegram_bot_token=telegram.token,  # type: ignore[arg-type]
        line_api_url=files.url,
        line_channel_access_token=LINE_TOKEN,  # type: ignore[arg-type]
        line_channel_secret="line-secret",  # type: ignore[arg-type]
        viber_api_url=files.url,
        viber_auth_token="viber-token",  # type: ignore[arg-type]
        wechat_api_url=files.url,
        wechat_app_id="wx1234567890abcdef",
        wechat_app_secret="wechat-secret",  # type: ignore[arg-type]
        wechat_token="wechat-token",  # type: ignore[arg-type]
        sms_api_url=files.url,
        twilio_account_sid=TWILIO_SID,
        twilio_auth_token=TWILIO_TOKEN,  # type: ignore[arg-type]
        sms_from="+15550001111",
        webchat_webhook_url=f"{files.url}/widget",
        webchat_secret="webchat-secret",  # type: ignore[arg-type]
        smtp_host="127.0.0.1",
        smtp_port=9,
        email_from="Acme Support <support@acme.example>",
        media_max_bytes=1024 * 1024,
        media_store_url=(tmp_path / "media").as_uri(),
        public_base_url=PUBLIC_URL,
        telegram_webhook_secret=TELEGRAM_SECRET,  # type: ignore[arg-type]
    )
    # WeChat's access token, as a replica fetched and shared it.
    await env.redis.set(env.keys.wechat_token(), WECHAT_ACCESS)
    (tmp_path / "media").mkdir()
    store = FileMediaStore(tmp_path / "media")
    async with aiohttp.ClientSession() as http:
        connectors = build_connectors(settings, http, env.redis, env.keys, store)
        yield World(
            env,
            slack,
            files,
            telegram,
            settings,
            connectors,
            ThreadFiles(connectors, http, settings, store),
            now,
        )


def uploaded_into_thread(world: World, before: int) -> list[tuple[bytes, str, str, str]]:
    """Files completed since call number `before`: (bytes, name, thread_ts, caption)."""
    shown = []
    for call in world.slack.calls[before:]:
        if call.method != "files.completeUploadExternal":
            continue
        entries = call.args["files"]
        entries = json.loads(entries) if isinstance(entries, str) else entries
        for entry in entries:
            uploaded = world.slack.files[entry["id"]]
            assert call.args["channel_id"] == CHANNEL
            shown.append(
                (
                    uploaded.data,
                    entry["title"],
                    call.args["thread_ts"],
                    call.args["initial_comment"],
                )
            )
    return shown


def thread_lines(world: World, before: int) -> list[str]:
    return [
        str(call.args.get("text", ""))
        for call in world.slack.calls[before:]
        if call.method == "chat.postMessage" and "thread_ts" in call.args
    ]


def _unix(now: datetime) -> int:
    return int(now.timestamp())


# --- each channel's payload (the vendor's documented shape) -------------------------


def whatsapp(world: World) -> tuple[bytes, dict[str, str]]:
    # https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media#download-media
    bearer = f"Bearer {WA_TOKEN}"
    url = world.files.serve("/lookaside/wa-1", PHOTO, "image/jpeg", authorization=bearer)
    world.files.serve(
        "/v21.0/wamedia-1",
        {"messaging_product": "whatsapp", "url": url, "mime_type": "image/jpeg",
         "file_size": len(PHOTO), "id": "wamedia-1"},
        authorization=bearer,
    )  # fmt: skip
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": "1234567890"},
            "contacts": [{"profile": {"name": "Sara Ahmed"}, "wa_id": "971501234567"}],
            "messages": [{"from": "971501234567", "id": "wamid.m1",
                          "timestamp": str(_unix(world.now)), "type": "image",
                          "image": {"id": "wamedia-1", "mime_type": "image/jpeg",
                                    "sha256": "x", "caption": "my receipt"}}],
        }}]}],
    }  # fmt: skip
    return json.dumps(body).encode(), {}


def telegram_photo(world: World) -> tuple[bytes, dict[str, str]]:
    world.telegram.add_file("tg-file-big", PHOTO, "photos/file_7.jpg")
    body = {
        "update_id": 1,
        "message": {
            "message_id": 7, "date": _unix(world.now),
            "chat": {"id": 42, "type": "private", "first_name": "Sara"},
            "from": {"id": 42, "is_bot": False, "first_name": "Sara"},
            "photo": [
                {"file_id": "tg-file-small", "file_unique_id": "s", "width": 90, "height": 90},
                {"file_id": "tg-file-big", "file_unique_id": "b", "width": 800, "height": 800,
                 "file_size": len(PHOTO)},
            ],
            "caption": "my receipt",
        },
    }  # fmt: skip
    return json.dumps(body).encode(), {}


def line(world: World) -> tuple[bytes, dict[str, str]]:
    world.files.serve(
        "/v2/bot/message/468789577898262530/content",
        PHOTO,
        "image/jpeg",
        authorization=f"Bearer {LINE_TOKEN}",
    )
    body = {
        "destination": "U0",
        "events": [{
            "type": "message", "mode": "active", "timestamp": _unix(world.now) * 1000,
            "source": {"type": "user", "userId": "U" + "4af4980629" * 3 + "ab"},
            "webhookEventId": "01", "replyToken": "r",
            "deliveryContext": {"isRedelivery": False},
            "message": {"id": "468789577898262530", "type": "image",
                        "contentProvider": {"type": "line"}, "quoteToken": "q"},
        }],
    }  # fmt: skip
    return json.dumps(body).encode(), {}


def meta(world: World, channel: Channel) -> tuple[bytes, dict[str, str]]:
    url = world.files.serve(f"/cdn/{channel.value}.jpg", PHOTO, "image/jpeg")
    body = {
        "object": "page" if channel is Channel.MESSENGER else "instagram",
        "entry": [{"id": "1", "time": _unix(world.now) * 1000, "messaging": [{
            "sender": {"id": "6543210987654321"}, "recipient": {"id": "1"},
            "timestamp": _unix(world.now) * 1000,
            "message": {"mid": f"m_{channel.value}",
                        "attachments": [{"type": "image", "payload": {"url": url}}]},
        }]}],
    }  # fmt: skip
    return json.dumps(body).encode(), {}


def viber(world: World) -> tuple[bytes, dict[str, str]]:
    url = world.files.serve("/viber/photo.jpg", PHOTO, "image/jpeg")
    body = {
        "event": "message", "timestamp": _unix(world.now) * 1000,
        "message_token": 4912661846655238145,
        "sender": {"id": "01234567890A=", "name": "Sara Ahmed"},
        "message": {"type": "picture", "text": "my receipt", "media": url,
                    "thumbnail": url, "file_name": "receipt.jpg", "size": len(PHOTO)},
    }  # fmt: skip
    return json.dumps(body).encode(), {}


def wechat(world: World) -> tuple[bytes, dict[str, str]]:
    world.files.serve("/cgi-bin/media/get", PHOTO, "image/jpeg")
    body = (
        "<xml><ToUserName><![CDATA[gh_1]]></ToUserName>"
        "<FromUserName><![CDATA[oLOkR5PG536EbZgd9WcCfGaLfoM8]]></FromUserName>"
        f"<CreateTime>{_unix(world.now)}</CreateTime><MsgType><![CDATA[image]]></MsgType>"
        "<PicUrl><![CDATA[http://mmbiz.qpic.cn/x]]></PicUrl>"
        "<MediaId><![CDATA[wx-media-1]]></MediaId><MsgId>1234567890123456</MsgId></xml>"
    )
    return body.encode(), {}


def sms(world: World) -> tuple[bytes, dict[str, str]]:
    basic = "Basic " + base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
    path = f"/2010-04-01/Accounts/{TWILIO_SID}/Messages/MM1/Media/ME1"
    url = world.files.serve(path, PHOTO, "image/jpeg", authorization=basic)
    form = {
        "MessageSid": "MM1", "AccountSid": TWILIO_SID, "From": "+971501234567",
        "To": "+15550001111", "Body": "my receipt", "NumMedia": "1",
        "MediaUrl0": url, "MediaContentType0": "image/jpeg",
    }  # fmt: skip
    return urlencode(form).encode(), {}


def webchat(world: World) -> tuple[bytes, dict[str, str]]:
    url = world.files.serve("/widget/uploads/receipt.jpg", PHOTO, "image/jpeg")
    body = {
        "type": "message",
        "visitor": {"id": "v_123", "name": "Sara Ahmed"},
        "message": {"id": "wm_1", "text": "my receipt", "sent_at": world.now.isoformat(),
                    "attachments": [{"type": "image", "url": url, "name": "receipt.jpg",
                                     "mime_type": "image/jpeg", "size": len(PHOTO)}]},
    }  # fmt: skip
    return json.dumps(body).encode(), {}


def email(world: World, photo: bytes = PHOTO) -> tuple[bytes, dict[str, str]]:
    mail = EmailMessage()
    mail["From"] = "Sara Ahmed <sara@example.com>"
    mail["To"] = "support@acme.example"
    mail["Subject"] = "My receipt"
    mail["Message-ID"] = f"<{len(photo)}.receipt@example.com>"
    mail["Date"] = format_datetime(world.now)
    mail.set_content("Here is my receipt.")
    mail.add_attachment(photo, maintype="image", subtype="jpeg", filename="receipt.jpg")
    return mail.as_bytes(), {}


PAYLOADS: dict[Channel, Any] = {
    Channel.EMAIL: email,
    Channel.WHATSAPP: whatsapp,
    Channel.TELEGRAM: telegram_photo,
    Channel.LINE: line,
    Channel.MESSENGER: lambda world: meta(world, Channel.MESSENGER),
    Channel.INSTAGRAM: lambda world: meta(world, Channel.INSTAGRAM),
    Channel.VIBER: viber,
    Channel.WECHAT: wechat,
    Channel.SMS: sms,
    Channel.WEBCHAT: webchat,
}


@pytest.mark.parametrize("channel", list(PAYLOADS), ids=lambda c: c.value)
async def test_a_customers_photo_shows_in_the_thread_as_a_file(
    world: World, channel: Channel
) -> None:
    body, query = PAYLOADS[channel](world)
    message = await world.receive(channel, body, **query)
    assert [m.kind for m in message.media] == [MediaKind.IMAGE]
    before = len(world.slack.calls)
    await world.flush()
    contact = await world.env.contacts.find_by_identity(channel, message.identity)
    assert contact is not None and contact.conversation.thread_ts
    shown = uploaded_into_thread(world, before)
    assert len(shown) == 1
    data, _name, thread_ts, caption = shown[0]
    assert data == PHOTO
    assert thread_ts == contact.conversation.thread_ts
    assert caption.startswith("📷 Photo from the customer on ")
    if channel is Channel.WECHAT:
        fetched = world.files.requests_to("/cgi-bin/media/get")[-1]
        assert fetched.query == {"access_token": WECHAT_ACCESS, "media_id": "wx-media-1"}


SIGNED: dict[Channel, Any] = {
    Channel.WHATSAPP: lambda body: sign_meta(body, "meta-secret"),
    Channel.MESSENGER: lambda body: sign_meta(body, "meta-secret"),
    Channel.INSTAGRAM: lambda body: sign_meta(body, "meta-secret"),
    Channel.TELEGRAM: lambda body: sign_telegram(body, TELEGRAM_SECRET),
    Channel.LINE: lambda body: sign_line(body, "line-secret"),
    Channel.VIBER: lambda body: sign_viber(body, "viber-token"),
    Channel.WECHAT: lambda body: sign_wechat(body, "wechat-token"),
    Channel.SMS: lambda body: sign_twilio(body, TWILIO_TOKEN),
    Channel.EMAIL: lambda body: sign_email(body, "webchat-secret"),
    Channel.WEBCHAT: lambda body: sign_webchat(body, "webchat-secret"),
}


@pytest.mark.parametrize("channel", list(PAYLOADS), ids=lambda c: c.value)
async def test_a_signed_webhook_with_a_photo_puts_it_in_the_thread(
    world: World, redis_url: str, channel: Channel
) -> None:
    """Into the real app of serve: answered once stored, the file fetched only after,
    by the poster (the worker's), into the conversation's thread."""
    body, _ = PAYLOADS[channel](world)
    async with serving(world.settings, redis_url) as client:
        response = await post(client, channel, SIGNED[channel](body))
        assert response.status == 200
    # No file was fetched to answer the webhook, nor to process it (a profile may be).
    assert not [r for r in world.files.requests if r.path in world.files.files]
    assert world.telegram.requests == []
    before = len(world.slack.calls)
    await world.flush()
    shown = uploaded_into_thread(world, before)
    assert [(data, caption.split(" on ")[0]) for data, _, _, caption in shown] == [
        (PHOTO, "📷 Photo from the customer")
    ]
    # The same thread as the customer's message entry, posted just before it.
    posts = [c for c in world.slack.calls[before:] if c.method == "chat.postMessage"]
    assert {c.args["thread_ts"] for c in posts if "thread_ts" in c.args} == {shown[0][2]}


async def test_telegram_asks_getfile_for_the_largest_size(world: World) -> None:
    body, _ = telegram_photo(world)
    await world.receive(Channel.TELEGRAM, body)
    await world.flush()
    asked = [r.json for r in world.telegram.requests if r.path.endswith("/getFile")]
    assert asked[-1] == {"file_id": "tg-file-big"}


@pytest.mark.parametrize(
    "channel", [Channel.VIBER, Channel.MESSENGER, Channel.WEBCHAT, Channel.SMS]
)
async def test_a_url_on_another_host_is_refused_with_no_request(
    world: World, channel: Channel
) -> None:
    body, query = PAYLOADS[channel](world)
    # The payload names a server that is not the channel's (here: any other port).
    elsewhere = "https://attacker.example:8443/steal"
    text = body.decode()
    for path in list(world.files.files):
        text = text.replace(world.files.base_url + path, elsewhere)
        text = text.replace(
            urlencode({"u": world.files.base_url + path})[2:], urlencode({"u": elsewhere})[2:]
        )
    await world.receive(channel, text.encode(), **query)
    requests_before = len(world.files.requests)
    before = len(world.slack.calls)
    await world.flush()
    assert len(world.files.requests) == requests_before  # nothing was fetched
    assert uploaded_into_thread(world, before) == []
    said = thread_lines(world, before)
    assert any("attacker.example" in line and "not shown here" in line for line in said)


async def test_a_file_over_the_cap_is_said_with_its_name_and_size_and_not_uploaded(
    world: World,
) -> None:
    body, _ = viber(world)
    big = 5 * 1024 * 1024
    payload = json.loads(body)
    payload["message"].update(type="file", file_name="scan.pdf", size=big)
    payload["message_token"] = 77
    requests_before = len(world.files.requests)
    await world.receive(Channel.VIBER, json.dumps(payload).encode())
    before = len(world.slack.calls)
    await world.flush()
    assert len(world.files.requests) == requests_before
    assert uploaded_into_thread(world, before) == []
    said = thread_lines(world, before)
    assert any("scan.pdf (5 MB)" in line and "1 MB" in line for line in said), said


async def test_a_file_that_runs_past_the_cap_is_cut_off_and_said(world: World) -> None:
    body, _ = webchat(world)
    world.files.serve("/widget/uploads/receipt.jpg", PHOTO * 80, "image/jpeg")  # 1.25 MB
    payload = json.loads(body)
    del payload["message"]["attachments"][0]["size"]  # no size given: found on the way
    await world.receive(Channel.WEBCHAT, json.dumps(payload).encode())
    before = len(world.slack.calls)
    await world.flush()
    assert uploaded_into_thread(world, before) == []
    assert any("receipt.jpg" in line for line in thread_lines(world, before))


async def test_an_email_attachment_past_the_cap_is_never_stored_and_is_said(
    world: World,
) -> None:
    body, _ = email(world, PHOTO * 80)  # 1.25 MB, the cap is 1 MB
    message = await world.receive(Channel.EMAIL, body)
    assert [m.ref for m in message.media] == ["mime:0"]  # not kept
    before = len(world.slack.calls)
    await world.flush()
    assert uploaded_into_thread(world, before) == []
    said = thread_lines(world, before)
    assert any("receipt.jpg (1.2 MB)" in line for line in said), said


async def test_a_program_is_not_fetched_and_the_thread_says_so(world: World) -> None:
    body, _ = webchat(world)
    payload = json.loads(body)
    payload["message"]["attachments"][0].update(
        type="file", name="invoice.exe", mime_type="application/x-msdownload"
    )
    await world.receive(Channel.WEBCHAT, json.dumps(payload).encode())
    before = len(world.slack.calls)
    await world.flush()
    assert world.files.requests == []
    assert uploaded_into_thread(world, before) == []
    said = thread_lines(world, before)
    assert any("invoice.exe" in line and "could run as programs" in line for line in said)


async def test_a_whatsapp_media_url_on_another_host_is_refused(world: World) -> None:
    """The lookup's `url` is Meta's answer, yet only Meta's media hosts are fetched."""
    body, _ = whatsapp(world)
    lookup = world.files.files["/v21.0/wamedia-1"].body
    assert isinstance(lookup, dict)
    world.files.serve(
        "/v21.0/wamedia-1",
        {**lookup, "url": "https://attacker.example/media"},
        authorization=f"Bearer {WA_TOKEN}",
    )
    await world.receive(Channel.WHATSAPP, body)
    before = len(world.slack.calls)
    await world.flush()
    assert [r.path for r in world.files.requests] == ["/v21.0/wamedia-1"]
    assert uploaded_into_thread(world, before) == []
    assert any("attacker.example" in line for line in thread_lines(world, before))


async def test_the_posters_lock_is_renewed_while_a_slow_file_comes(world: World) -> None:
    """A file that takes longer than the lock's lease does not let another poster take
    the queue over (and upload it twice)."""
    body, _ = viber(world)
    await world.receive(Channel.VIBER, body)
    lock = world.env.keys.thread_lock()
    await world.env.redis.set(lock, "poster", px=600)
    world.files.slow_next(1.0)  # past the lease
    before = len(world.slack.calls)
    await world.flush(replace(FAST, lock_ms=600))
    assert len(uploaded_into_thread(world, before)) == 1
    assert await world.env.redis.get(lock) == "poster"  # held throughout, not lapsed


def viber_text(world: World, sender: str, name: str, text: str, token: int) -> bytes:
    body = {
        "event": "message", "timestamp": _unix(world.now) * 1000, "message_token": token,
        "sender": {"id": sender, "name": name}, "message": {"type": "text", "text": text},
    }  # fmt: skip
    return json.dumps(body).encode()


async def test_a_slow_file_holds_back_only_its_own_conversation(world: World) -> None:
    """The running poster fetches a customer's file beside the other threads: another
    customer's message is shown meanwhile, and what the same customer wrote after
    the file waits for it, in order."""
    body, _ = viber(world)
    await world.receive(Channel.VIBER, body)  # Sara's photo: its download takes 1 s
    await world.receive(
        Channel.VIBER, viber_text(world, "01234567890A=", "Sara Ahmed", "and the total", 7001)
    )
    await world.receive(Channel.VIBER, viber_text(world, "OMAR0000001=", "Omar", "hello?", 7002))
    world.files.slow_next(1.0)
    poster = world.poster()
    before = len(world.slack.calls)

    started = asyncio.get_running_loop().time()
    await poster.flush(wait_for_files=False)
    assert asyncio.get_running_loop().time() - started < 0.8  # did not wait for the file
    posted = [
        json.dumps(call.args, ensure_ascii=False)
        for call in world.slack.calls[before:]
        if call.method == "chat.postMessage" and "thread_ts" in call.args
    ]
    assert any("hello?" in post for post in posted), posted  # Omar's thread moved on
    assert not any("and the total" in post for post in posted), posted  # after the file
    assert uploaded_into_thread(world, before) == []

    deadline = started + 10
    while await world.env.redis.zcard(world.env.keys.thread_due()):
        assert asyncio.get_running_loop().time() < deadline, "the queue never emptied"
        await asyncio.sleep(0.05)
        await poster.flush(wait_for_files=False)
    [(data, name, _, _)] = uploaded_into_thread(world, before)
    assert (data, name) == (PHOTO, "receipt.jpg")
    calls = world.slack.calls[before:]
    uploaded_at = next(
        i for i, call in enumerate(calls) if call.method == "files.completeUploadExternal"
    )
    total_at = next(
        i
        for i, call in enumerate(calls)
        if call.method == "chat.postMessage" and "and the total" in json.dumps(call.args)
    )
    assert uploaded_at < total_at  # Sara's thread in the order she wrote


async def test_a_stopping_poster_leaves_a_file_it_could_not_finish_queued(world: World) -> None:
    body, _ = viber(world)
    await world.receive(Channel.VIBER, body)
    world.files.slow_next(5.0)
    poster = world.poster(replace(FAST, idle_wait=0.01, stop_files_wait=0.2))
    stop = asyncio.Event()
    running = asyncio.create_task(poster.run(stop))
    await asyncio.sleep(0.3)  # the file is on its way
    stop.set()
    await asyncio.wait_for(running, 5)
    due = await world.env.redis.zrange(world.env.keys.thread_due(), 0, -1)
    assert [entry for entry in due if "file" in entry], due  # shown by the next poster
    before = len(world.slack.calls)
    await world.flush()
    assert len(uploaded_into_thread(world, before)) == 1


def test_the_intake_codec_keeps_a_messages_files() -> None:
    message = InboundMessage(
        Channel.SMS,
        "+971501234567",
        "MM1",
        datetime(2026, 11, 24, 12, 0),
        "hi",
        media=(
            InboundMedia(MediaKind.IMAGE, "https://x/1", "image/jpeg", "a.jpg", 12),
            InboundMedia(MediaKind.DOCUMENT, "https://x/2"),
        ),
    )
    assert decode_events(encode_events([message])) == [message]


async def test_a_file_held_by_a_slack_outage_is_kept_and_not_fetched_again_at_once(
    world: World,
) -> None:
    """Slack away (a 503 with a gateway's text page) while a file is on its way: the
    entry stays queued — it was dropped, or the poster stopped on the page — and the
    running poster starts no file again until the pause is over (at once would fetch
    it again and again); then it is shown, once."""
    body, _ = viber(world)
    await world.receive(Channel.VIBER, body)
    poster = world.poster(replace(FAST, file_retry=0.5))
    await poster.flush(wait_for_files=False, limit=1)  # the message's entry, not the file
    before = len(world.slack.calls)
    world.slack.outage_for(0.3)
    await poster.flush(wait_for_files=False)
    deadline = asyncio.get_running_loop().time() + 10
    while poster.files_in_flight:  # the file's task ends: held, not shown
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.02)
    fetched = len(world.files.requests)
    assert fetched >= 1

    await poster.flush(wait_for_files=False)
    await asyncio.sleep(0.05)
    assert len(world.files.requests) == fetched  # not fetched again meanwhile
    due = await world.env.redis.zrange(world.env.keys.thread_due(), 0, -1)
    assert [entry for entry in due if entry.startswith("file:")], due  # still queued

    await asyncio.sleep(0.6)  # Slack is back, the pause is over
    await poster.flush()
    assert len(uploaded_into_thread(world, before)) == 1
    assert await world.env.redis.zcard(world.env.keys.thread_due()) == 0


def viber_picture(world: World, sender: str, name: str, path: str, token: int) -> bytes:
    url = world.files.serve(path, PHOTO, "image/jpeg")
    body = {
        "event": "message", "timestamp": _unix(world.now) * 1000, "message_token": token,
        "sender": {"id": sender, "name": name},
        "message": {"type": "picture", "media": url, "file_name": path.rsplit("/", 1)[-1],
                    "size": len(PHOTO)},
    }  # fmt: skip
    return json.dumps(body).encode()


class FaultyFetcher:
    """A connector whose fetching of one file always meets a fault of its own."""

    def __init__(self, real: Any, faulty: str) -> None:
        self.real = real
        self.faulty = faulty
        self.tries = 0

    async def media_source(self, media: InboundMedia) -> Any:
        if self.faulty in media.ref:
            self.tries += 1
            raise RuntimeError("a fault")
        return await self.real.media_source(media)


async def test_a_file_that_always_fails_is_given_up_and_holds_back_no_one_else(
    world: World,
) -> None:
    """A photo whose fetching always fails (a fault of its own, not Slack or Redis
    away): tried `file_tries` times, each after a longer wait, then the thread
    says it could not be fetched and what the customer wrote after it follows;
    meanwhile another customer's photo is shown at once (the failures hold back
    only their own conversation). It was tried every 5 s for ever, and every
    other file waited each time."""
    faulty = FaultyFetcher(world.connectors[Channel.VIBER], "cut-off")
    files = world.thread_files
    world.thread_files = ThreadFiles(
        {**world.connectors, Channel.VIBER: faulty},  # type: ignore[dict-item]
        files.http,
        world.settings,
        files.store,
    )
    await world.receive(
        Channel.VIBER, viber_picture(world, "01234567890A=", "Sara Ahmed", "/v/cut-off.jpg", 8001)
    )
    await world.receive(
        Channel.VIBER, viber_text(world, "01234567890A=", "Sara Ahmed", "did you get it?", 8002)
    )
    poster = world.poster(replace(FAST, file_retry=0.05, file_tries=3, max_pause=0.2))
    before = len(world.slack.calls)
    await poster.flush(wait_for_files=False)
    await asyncio.sleep(0.05)  # Sara's photo failed once and waits
    assert faulty.tries == 1
    await world.receive(
        Channel.VIBER, viber_picture(world, "OMAR0000001=", "Omar", "/v/omar.jpg", 8003)
    )

    deadline = asyncio.get_running_loop().time() + 10
    while await world.env.redis.zcard(world.env.keys.thread_due()) or poster.files_in_flight:
        assert asyncio.get_running_loop().time() < deadline, "the queue never emptied"
        await poster.flush(wait_for_files=False)
        await asyncio.sleep(0.02)

    assert faulty.tries == 3  # three tries, none after giving up
    [(data, name, _, _)] = uploaded_into_thread(world, before)  # Omar's, not Sara's
    assert (data, name) == (PHOTO, "omar.jpg")
    calls = world.slack.calls[before:]
    posts = {
        i: json.dumps(call.args, ensure_ascii=False)
        for i, call in enumerate(calls)
        if call.method == "chat.postMessage" and "thread_ts" in call.args
    }
    gave_up = [i for i, post in posts.items() if "could not be fetched after 3 tries" in post]
    assert len(gave_up) == 1 and "cut-off.jpg" in posts[gave_up[0]], posts
    asked = next(i for i, post in posts.items() if "did you get it?" in post)
    assert gave_up[0] < asked  # Sara's thread in the order she wrote
    omar_at = next(i for i, c in enumerate(calls) if c.method == "files.completeUploadExternal")
    assert omar_at < gave_up[0]  # Omar's photo did not wait for Sara's tries

"""Reachability events through `POST /webhooks/{channel}` (issue 9, point 2), each
vendor's documented payload, signed as it signs: recorded on the identity, shown in
the thread, and never taken for the customer writing (nothing reopens, no window)."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import urlencode

import pytest

from bot.domain.channels import Channel
from bot.domain.models import ConversationStatus
from bot.domain.reachability import UnreachableReason
from bot.store.contacts import ContactDraft
from tests.conftest import NOW, StoreEnv
from tests.test_webhook_routes import (  # noqa: F401 (the `client` fixture)
    BY_CHANNEL,
    LINE_USER,
    OPENID,
    OUR_NUMBER,
    PHONE,
    STAMP,
    TELEGRAM_CHAT,
    VIBER_USER,
    Client,
    _json,
    client,
    graph,
    line,
    post,
)


def sms(body: str) -> Callable[[int], bytes]:
    def build(n: int) -> bytes:
        sid = f"SM{n:032x}"
        return urlencode(
            {
                "MessageSid": sid,
                "SmsSid": sid,
                "AccountSid": "AC00000000000000000000000000000001",
                "From": PHONE,
                "To": OUR_NUMBER,
                "Body": body,
                "NumMedia": "0",
                "NumSegments": "1",
                "SmsStatus": "received",
                "ApiVersion": "2010-04-01",
            }
        ).encode()

    return build


def telegram(status: str, date: int = STAMP) -> Callable[[int], bytes]:
    # https://core.telegram.org/bots/api#chatmemberupdated
    def build(n: int) -> bytes:
        bot = {"id": 7, "is_bot": True, "first_name": "Acme", "username": "acme_bot"}
        old = "member" if status == "kicked" else "kicked"
        return _json(
            {
                "update_id": 800 + n,
                "my_chat_member": {
                    "chat": {"id": TELEGRAM_CHAT, "first_name": "Sara", "type": "private"},
                    "from": {"id": TELEGRAM_CHAT, "is_bot": False, "first_name": "Sara"},
                    "date": date,
                    "old_chat_member": {"user": bot, "status": old},
                    "new_chat_member": {"user": bot, "status": status},
                },
            }
        )

    return build


def line_event(kind: str) -> Callable[[int], bytes]:
    # https://developers.line.biz/en/reference/messaging-api/#unfollow-event
    def build(n: int) -> bytes:
        event = {
            "type": kind,
            "mode": "active",
            "timestamp": STAMP * 1000,
            "source": {"type": "user", "userId": LINE_USER},
            "webhookEventId": f"01FZ74A0TDDPYRVKNK77XKC3Y{n}",
            "deliveryContext": {"isRedelivery": False},
        }
        return _json({"destination": "U" + "0" * 32, "events": [event]})

    return build


def viber(event: str) -> Callable[[int], bytes]:
    # https://developers.viber.com/docs/api/rest-bot-api/#callbacks
    def build(n: int) -> bytes:
        body = {"event": event, "timestamp": STAMP * 1000, "chat_hostname": "SN-376_"}
        body["message_token"] = 4912661846655238000 + n
        if event == "unsubscribed":
            body["user_id"] = VIBER_USER
        else:
            body["user"] = {"id": VIBER_USER, "name": "Sara", "language": "en", "api_version": 1}
        return _json(body)

    return build


def wechat(event: str) -> Callable[[int], bytes]:
    def build(n: int) -> bytes:
        return (
            "<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName>"
            f"<FromUserName><![CDATA[{OPENID}]]></FromUserName><CreateTime>{STAMP}</CreateTime>"
            f"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event></xml>"
        ).encode()

    return build


IDENTITY = {
    Channel.SMS: PHONE,
    Channel.TELEGRAM: str(TELEGRAM_CHAT),
    Channel.LINE: LINE_USER,
    Channel.VIBER: VIBER_USER,
    Channel.WECHAT: OPENID,
}


@pytest.mark.parametrize(
    ("channel", "away", "back", "reason"),
    [
        (Channel.SMS, sms("STOP"), sms("START"), UnreachableReason.OPTED_OUT),
        (Channel.TELEGRAM, telegram("kicked"), telegram("member"), UnreachableReason.BLOCKED),
        (Channel.LINE, line_event("unfollow"), line_event("follow"), UnreachableReason.UNFOLLOWED),
        (Channel.VIBER, viber("unsubscribed"), viber("subscribed"), UnreachableReason.UNSUBSCRIBED),
        (
            Channel.WECHAT,
            wechat("unsubscribe"),
            wechat("subscribe"),
            UnreachableReason.UNSUBSCRIBED,
        ),
    ],
    ids=["sms", "telegram", "line", "viber", "wechat"],
)
async def test_a_channel_event_makes_the_identity_unreachable_then_reachable_again(
    client: Client,  # noqa: F811
    env: StoreEnv,
    channel: Channel,
    away: Callable[[int], bytes],
    back: Callable[[int], bytes],
    reason: UnreachableReason,
) -> None:
    identity = IDENTITY[channel]
    draft = ContactDraft(first_name="Sara", identities={channel: identity})
    cid = (await env.contacts.create(draft, NOW)).contact_id
    case = BY_CHANNEL[channel]

    response = await post(client, channel, case.signed(away(1)))

    assert response.status == 200
    contact = await env.contacts.require(cid)
    unreachable = contact.unreachable(channel)
    assert unreachable is not None and unreachable.reason is reason
    assert contact.conversation.status is ConversationStatus.CLOSED  # nothing reopened
    assert contact.conversation.last_inbound_at == {}  # no window started
    events = [
        entry["key"]
        for raw in await env.redis.hvals(env.keys.thread_pending())
        if (entry := json.loads(raw)).get("kind") == "event" and entry.get("contact_id") == cid
    ]
    assert len(events) == 1 and events[0].startswith("thread.event.")

    assert (await post(client, channel, case.signed(back(2)))).status == 200
    assert (await env.contacts.require(cid)).unreachable(channel) is None


@pytest.mark.parametrize(
    ("first", "then", "blocked"),
    [
        # In order: the later one wins.
        (("kicked", -60), ("member", 0), False),
        (("member", -60), ("kicked", 0), True),
        # Out of order (a webhook retried late): the older one changes nothing.
        (("member", 0), ("kicked", -60), False),
        (("kicked", 0), ("member", -60), True),
    ],
    ids=["kicked-then-member", "member-then-kicked", "late-kicked", "late-member"],
)
async def test_a_telegram_member_change_older_than_the_recorded_one_changes_nothing(
    client: Client,  # noqa: F811
    env: StoreEnv,
    first: tuple[str, int],
    then: tuple[str, int],
    blocked: bool,
) -> None:
    draft = ContactDraft(first_name="Sara", identities={Channel.TELEGRAM: str(TELEGRAM_CHAT)})
    cid = (await env.contacts.create(draft, NOW)).contact_id
    case = BY_CHANNEL[Channel.TELEGRAM]
    for n, (status, seconds) in enumerate((first, then)):
        hook = case.signed(telegram(status, STAMP + seconds)(n))
        assert (await post(client, Channel.TELEGRAM, hook)).status == 200
    unreachable = (await env.contacts.require(cid)).unreachable(Channel.TELEGRAM)
    if blocked:
        assert unreachable is not None and unreachable.reason is UnreachableReason.BLOCKED
    else:
        assert unreachable is None

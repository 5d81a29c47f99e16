"""Conversation threads through their own queue, against a local Slack Web API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
import pytest_asyncio
from slack_sdk.models.blocks import Block
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.base import InboundMessage
from bot.domain.channels import Channel
from bot.domain.messages import Content
from bot.domain.models import MessageStatus
from bot.domain.windows import Form, PolicySettings, SendMode
from bot.services.followup import FollowupRequest, FollowupService
from bot.services.inbound import InboundService
from bot.slack.threads import PosterTuning, ThreadPoster, ThreadQueue
from bot.slack.web_calls import SlackUnavailable
from bot.store.codec import MessageHash
from bot.store.contacts import ContactDraft
from bot.store.keys import ContactId
from bot.store.thread_queue import ThreadQueueStore
from tests.conftest import StoreEnv
from tests.fakes.slack import FakeSlack
from tests.slack.thread_poster import thread_poster

CHANNEL = "C0SUPPORT"
FAST = PosterTuning(post_rate=1000, post_burst=1000, update_rate=1000, update_burst=1000)


@pytest_asyncio.fixture(loop_scope="session")
async def slack() -> AsyncIterator[FakeSlack]:
    fake = await FakeSlack().start()
    yield fake
    await fake.close()


def poster_for(env: StoreEnv, slack: FakeSlack, now: datetime, name: str = "p1") -> ThreadPoster:
    client = AsyncWebClient(token=slack.token, base_url=slack.url)
    return thread_poster(env.redis, env.keys, client, CHANNEL, lambda: now, name=name, tuning=FAST)


def text_of(blocks: list[dict[str, object]]) -> str:
    parts = []
    for block in blocks:
        Block.parse(block)  # every block we send is valid Block Kit
        if "text" in block:
            parts.append(str(block["text"]["text"]))  # type: ignore[index]
        for element in block.get("elements", []):  # type: ignore[attr-defined]
            parts.append(str(element["text"]))
    return "\n".join(parts)


async def customer_writes(
    env: StoreEnv, now: datetime, queue: ThreadQueue, mid: str, text: str
) -> str:
    service = InboundService(env.contacts, env.outbox, lambda: now, threads=queue)
    message = InboundMessage(
        Channel.WHATSAPP, "971501234567", mid, now, text, first_name="Sara", last_name="Ahmed",
        phone="+971501234567",
    )  # fmt: skip
    return (await service.receive(message)).contact_id


async def test_first_message_creates_the_thread_and_posts_in_it(
    env: StoreEnv, slack: FakeSlack, now: datetime
) -> None:
    queue = ThreadQueue(ThreadQueueStore(env.redis, env.keys))
    cid = await customer_writes(env, now, queue, "wamid.1", "Hi, any news?")
    assert await poster_for(env, slack, now).flush() == 1
    root, entry = slack.calls_to("chat.postMessage")[-2:]
    assert "thread_ts" not in root.args and "Sara Ahmed" in text_of(root.args["blocks"])
    assert entry.args["thread_ts"] == (await env.contacts.require(cid)).conversation.thread_ts
    assert "Hi, any news?" in text_of(entry.args["blocks"])
    # Found again after a restart: the next entry goes to the same thread.
    await customer_writes(env, now, queue, "wamid.2", "Hello?")
    await poster_for(env, slack, now, name="p1").flush()
    assert slack.calls_to("chat.postMessage")[-1].args["thread_ts"] == entry.args["thread_ts"]


async def test_status_bursts_coalesce_into_one_entry_showing_the_latest(
    env: StoreEnv, slack: FakeSlack, now: datetime
) -> None:
    queue = ThreadQueue(ThreadQueueStore(env.redis, env.keys))
    cid = await customer_writes(env, now, queue, "wamid.a", "Hi")
    followup = FollowupService(env.contacts, env.outbox, PolicySettings(), lambda: now)
    result = await followup.send(
        FollowupRequest(cid, Channel.WHATSAPP, "U_A", "k1", Form.TEXT, content=Content("Fixed"))
    )
    assert result.message_id is not None
    p = ContactId.parse(cid).partition
    for status in (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ):
        message = await env.outbox.record_status(p, result.message_id, status, now)
        assert message is not None
        await queue.message_changed(cid, message)
    poster = poster_for(env, slack, now)
    before = len(slack.calls)
    await poster.flush()
    posts = [c for c in slack.calls[before:] if c.method == "chat.postMessage"]
    assert len(posts) == 3  # root, the customer's message, one entry for the follow-up
    assert "read" in text_of(posts[-1].args["blocks"])
    failed = await env.outbox.record_status(p, result.message_id, MessageStatus.FAILED, now)
    assert failed is None  # read is final; nothing to update
    message = await env.outbox.get_message(p, result.message_id)
    assert message is not None
    await queue.message_changed(cid, message)
    await poster.flush()
    update = slack.calls[-1]
    shown_at = await env.redis.hget(env.keys.message(p, result.message_id), MessageHash.SLACK_TS)
    assert update.method == "chat.update" and update.args["ts"] == shown_at
    assert "read" in text_of(update.args["blocks"])


async def test_outside_window_entry_shows_the_red_marker(
    env: StoreEnv, slack: FakeSlack, now: datetime
) -> None:
    queue = ThreadQueue(ThreadQueueStore(env.redis, env.keys))
    cid = await customer_writes(env, now - timedelta(days=2), queue, "wamid.old", "Hi")
    followup = FollowupService(env.contacts, env.outbox, PolicySettings(), lambda: now)
    result = await followup.send(
        FollowupRequest(cid, Channel.WHATSAPP, "U_A", "k9", Form.TEXT, content=Content("Hello"))
    )
    assert result.outcome.value == "refused" and result.decision is not None
    request = FollowupRequest(cid, Channel.WHATSAPP, "U_A", "k9", content=Content("Hello"))
    mid = await env.outbox.record_outside_window(request.message(cid, SendMode.FREE), now)
    message = await env.outbox.get_message(ContactId.parse(cid).partition, mid)
    assert message is not None
    await queue.message_changed(cid, message)
    await poster_for(env, slack, now).flush()
    assert "❗ not delivered — outside the messaging window" in text_of(
        slack.calls_to("chat.postMessage")[-1].args["blocks"]
    )


async def test_reopening_starts_a_new_thread_linking_the_previous(
    env: StoreEnv, slack: FakeSlack, now: datetime
) -> None:
    queue = ThreadQueue(ThreadQueueStore(env.redis, env.keys))
    cid = await customer_writes(env, now, queue, "wamid.r1", "First")
    poster = poster_for(env, slack, now)
    await poster.flush()
    first_thread = (await env.contacts.require(cid)).conversation.thread_ts
    await env.contacts.close(cid, now, unassign=False)
    await customer_writes(env, now + timedelta(days=3), queue, "wamid.r2", "Again")
    await poster.flush()
    contact = await env.contacts.require(cid)
    assert contact.conversation.thread_ts not in (None, first_thread)
    assert contact.conversation.previous_thread_ts == first_thread
    root = [c for c in slack.calls_to("chat.postMessage") if "thread_ts" not in c.args][-1]
    assert first_thread.replace(".", "") in text_of(root.args["blocks"])  # type: ignore[union-attr]


async def test_rate_limited_slack_delays_entries_but_loses_none(
    env: StoreEnv, slack: FakeSlack, now: datetime
) -> None:
    queue = ThreadQueue(ThreadQueueStore(env.redis, env.keys))
    slack.rate_limit_for(60, retry_after=7)
    try:
        await customer_writes(env, now, queue, "wamid.x1", "One")
        await customer_writes(env, now, queue, "wamid.x2", "Two")
        with pytest.raises(SlackUnavailable) as paused:
            await poster_for(env, slack, now).flush()
        assert paused.value.pause == 7
        assert await env.redis.zcard(env.keys.thread_due()) == 2
    finally:
        slack.rate_limit_for(0)
    assert await poster_for(env, slack, now).flush() == 2
    assert await env.redis.zcard(env.keys.thread_due()) == 0


async def test_slack_outage_keeps_entries(env: StoreEnv, slack: FakeSlack, now: datetime) -> None:
    queue = ThreadQueue(ThreadQueueStore(env.redis, env.keys))
    slack.outage_for(60)
    try:
        await customer_writes(env, now, queue, "wamid.o1", "Down?")
        with pytest.raises(SlackUnavailable):
            await poster_for(env, slack, now).flush()
        assert await env.redis.zcard(env.keys.thread_due()) == 1
    finally:
        slack.outage_for(0)
    assert await poster_for(env, slack, now).flush() == 1


async def test_one_poster_at_a_time(env: StoreEnv, slack: FakeSlack, now: datetime) -> None:
    first, second = poster_for(env, slack, now, "a"), poster_for(env, slack, now, "b")
    assert await first._hold_lock()
    assert not await second._hold_lock()
    assert await first._hold_lock()  # renewed by its holder


async def test_the_root_shows_each_window_in_words_as_the_deployments_policy_decides(
    env: StoreEnv, slack: FakeSlack, now: datetime
) -> None:
    draft = ContactDraft(
        first_name="Omar",
        identities={Channel.MESSENGER: "psid-1", Channel.WHATSAPP: "971500000001"},
        last_inbound_at={
            Channel.MESSENGER: now - timedelta(days=8),
            Channel.WHATSAPP: now - timedelta(hours=2),
        },
    )
    cid = (await env.contacts.create(draft, now)).contact_id
    await ThreadQueue(ThreadQueueStore(env.redis, env.keys)).root_changed(cid)
    client = AsyncWebClient(token=slack.token, base_url=slack.url)
    poster = thread_poster(
        env.redis,
        env.keys,
        client,
        CHANNEL,
        lambda: now,
        policy=PolicySettings(messenger_tags=("POST_PURCHASE_UPDATE",)),
        tuning=FAST,
    )

    await poster.flush()

    root = text_of(slack.calls_to("chat.postMessage")[-1].args["blocks"])
    assert "WhatsApp: window open, closes in 22 h" in root
    # MESSENGER_TAGS is configured here: after 7 days a tag still goes.
    assert "Messenger: window closed 1 d ago — message tag only" in root


def test_a_template_entry_shows_its_header_and_buttons_and_a_file_entry_its_file() -> None:
    from bot.domain.media import MediaKind
    from bot.domain.messages import Attachment, Content, OutboundMessage, TemplateUse
    from bot.domain.templates import FilledParameter, InputKind
    from bot.domain.windows import Form, SendMode
    from bot.slack.blocks import threads as thread_blocks

    template = TemplateUse(
        "order_shipped",
        "ar",
        parameters=("42",),
        parameter_names=(),
        components=(
            FilledParameter(
                InputKind.HEADER_MEDIA, "https://cdn.example.com/box.jpg", media="image"
            ),
            FilledParameter(InputKind.BODY, "42"),
            FilledParameter(InputKind.URL_SUFFIX, "track/42", index=0),
        ),
    )
    sent = OutboundMessage(
        "m1",
        "1-a",
        Channel.WHATSAPP,
        SendMode.TEMPLATE,
        Form.TEMPLATE,
        "U1",
        Content(template=template),
    )
    text = str([b.to_dict() for b in thread_blocks.outbound_entry(sent, "en")[1]])
    assert "order_shipped (42)" in text
    assert (
        "Header image: https://cdn.example.com/box.jpg" in text and "Link button: …track/42" in text
    )

    photo = Attachment(MediaKind.IMAGE, "receipt.jpg", "image/jpeg", 2048, "k.jpg")
    with_file = OutboundMessage(
        "m2",
        "1-a",
        Channel.TELEGRAM,
        SendMode.FREE,
        Form.TEXT,
        "U1",
        Content("Here", attachments=(photo,)),
    )
    assert "📎 receipt.jpg (2 KB)" in str(
        [b.to_dict() for b in thread_blocks.outbound_entry(with_file, "en")[1]]
    )

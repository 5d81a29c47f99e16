"""Block actions (`handlers/actions/`): the buttons in a conversation's thread.

Scenarios in the style of bolt-python's `tests/scenario_tests_async/`: signed
requests into `serve`'s real web app (`tests.slack.conftest.Surface`), the local
fake Slack Web API (`tests.fakes.slack`), a real Redis.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.domain.channels import Channel
from bot.domain.messages import Content, OutboundMessage
from bot.domain.models import (
    Contact,
    Conversation,
    ConversationStatus,
    MessageStatus,
)
from bot.domain.windows import Form, SendMode
from bot.slack import ids
from bot.slack.blocks import threads as thread_blocks
from bot.slack.blocks.close_modal import BLOCK_CLOSE_REASON
from bot.slack.threads import PosterTuning, ThreadPoster
from bot.store.templates import WhatsAppTemplate
from tests.fakes.slack import FakeSlack
from tests.slack.compose_steps import ephemerals, messages_of, submit
from tests.slack.conftest import (
    AGENT,
    OTHER_AGENT,
    SUPPORT_CHANNEL,
    Surface,
    buttons,
    running_surface,
    texts,
)
from tests.slack.thread_poster import thread_poster

# --- thread buttons ---------------------------------------------------
#
# Buttons in a conversation's thread: the root's Follow up / Reopen / Close, and
# *Follow up another way* on ❗ and failed entries.
#
# SPEC "Slack surface" (no slash commands in threads: buttons on the root) and
# "Reopening and assignment" (closing honours CLOSE_UNASSIGNS); issue 4, item 5.


FAST = PosterTuning(post_rate=1000, post_burst=1000, update_rate=1000, update_burst=1000)


def poster(surface: Surface) -> ThreadPoster:
    deps = surface.deps
    return thread_poster(
        deps.redis, deps.keys, deps.client, SUPPORT_CHANNEL, lambda: surface.now, tuning=FAST
    )


async def thread_of(surface: Surface, contact_id: str) -> tuple[str, dict[str, Any]]:
    """The contact's thread root as the poster put it in the support channel."""
    await surface.deps.threads.root_changed(contact_id)
    await poster(surface).flush()
    contact = await surface.deps.contacts.require(contact_id)
    ts = contact.conversation.thread_ts
    assert ts is not None
    return ts, surface.slack.messages[(SUPPORT_CHANNEL, ts)]


async def click_in_thread(
    surface: Surface, action: str, value: str, ts: str, *, user: str = AGENT
) -> str:
    """A tap on a button of a message in the support channel's thread; its response_url."""
    url = surface.slack.response_url()
    status, _ = await surface.interact(
        {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "team_id": "T0TEAM"},
            "container": {
                "type": "message",
                "message_ts": ts,
                "channel_id": SUPPORT_CHANNEL,
                "thread_ts": ts,
            },
            "channel": {"id": SUPPORT_CHANNEL, "name": "support"},
            "message": {"type": "message", "ts": ts, "thread_ts": ts},
            "response_url": url,
            "actions": [{"type": "button", "action_id": action, "block_id": "b", "value": value}],
        }
    )
    await surface.settle()
    assert status == 200
    return url


def test_the_root_offers_follow_up_and_reopen_when_closed_and_close_when_open() -> None:
    closed = Contact("1-a", "Sara", identities={Channel.TELEGRAM: "1"})
    opened = Contact(
        "1-b", "Omar", conversation=Conversation(status=ConversationStatus.OPEN, assignee=AGENT)
    )
    _, closed_blocks = thread_blocks.thread_root(closed, [], "en")
    _, open_blocks = thread_blocks.thread_root(opened, [], "en")

    def shown(built: list[Any]) -> list[tuple[str, str]]:
        return buttons([b.to_dict() for b in built])

    assert shown(closed_blocks) == [
        (ids.THREAD_FOLLOWUP, "1-a"),
        (ids.THREAD_REOPEN, "1-a"),
        (ids.CONTACT_EDIT, "1-a"),
        (ids.THREAD_REMIND, "1-a"),
    ]
    assert shown(open_blocks) == [
        (ids.THREAD_FOLLOWUP, "1-b"),
        (ids.THREAD_CLOSE, "1-b"),
        (ids.CONTACT_EDIT, "1-b"),
        (ids.THREAD_REMIND, "1-b"),
    ]


@pytest.mark.parametrize(
    ("status", "offered"),
    [
        (MessageStatus.QUEUED, False),
        (MessageStatus.DELIVERED, False),
        (MessageStatus.FAILED, True),
        (MessageStatus.OUTSIDE_WINDOW, True),
    ],
    ids=["queued", "delivered", "failed", "outside-window"],
)
def test_not_delivered_entries_offer_another_way(status: MessageStatus, offered: bool) -> None:
    message = OutboundMessage(
        "m1",
        "1-a",
        Channel.WHATSAPP,
        SendMode.FREE,
        Form.TEXT,
        AGENT,
        status=status,
        content=Content("Hi"),
    )

    _, built = thread_blocks.outbound_entry(message, "en")

    expected = [(ids.FOLLOWUP_ANOTHER_WAY, "1-a")] if offered else []
    assert buttons([b.to_dict() for b in built]) == expected


async def test_reopen_from_the_thread_assigns_the_agent_and_the_new_root_offers_close(
    surface: Surface,
) -> None:
    cid = await surface.contact("Sara", "Ahmed", identities={Channel.TELEGRAM: "7101"})
    ts, root = await thread_of(surface, cid)
    assert (ids.THREAD_REOPEN, cid) in buttons(root["blocks"])

    url = await click_in_thread(surface, ids.THREAD_REOPEN, cid, ts)

    contact = await surface.deps.contacts.require(cid)
    assert contact.conversation.status is ConversationStatus.OPEN
    assert contact.conversation.assignee == AGENT
    [answer] = surface.slack.answers_to(url)
    assert "Sara Ahmed's conversation is open and assigned to you." in answer["text"]
    # A reopened conversation gets a new thread, whose root offers Close.
    new_ts, new_root = await thread_of(surface, cid)
    assert new_ts != ts
    assert (ids.THREAD_CLOSE, cid) in buttons(new_root["blocks"])


async def test_reopen_on_a_stale_root_does_not_take_over(surface: Surface) -> None:
    cid = await surface.contact(
        "Sara", "Ahmed", identities={Channel.TELEGRAM: "7102"}, assignee=OTHER_AGENT, status="open"
    )
    ts, _ = await thread_of(surface, cid)

    url = await click_in_thread(surface, ids.THREAD_REOPEN, cid, ts)

    assert (await surface.deps.contacts.require(cid)).conversation.assignee == OTHER_AGENT
    [answer] = surface.slack.answers_to(url)
    assert f"already open, assigned to <@{OTHER_AGENT}>" in answer["text"]


@pytest.mark.parametrize(
    "close_unassigns", [False, True], ids=["keeps-assignee", "close-unassigns"]
)
async def test_close_from_the_thread_asks_for_a_reason_and_honours_close_unassigns(
    redis_url: str, slack: FakeSlack, close_unassigns: bool
) -> None:
    async with running_surface(redis_url, slack, close_unassigns=close_unassigns) as surface:
        cid = await surface.contact(
            "Sara", "Ahmed", identities={Channel.TELEGRAM: "7103"}, assignee=AGENT, status="open"
        )
        ts, root = await thread_of(surface, cid)
        assert (ids.THREAD_CLOSE, cid) in buttons(root["blocks"])

        await click_in_thread(surface, ids.THREAD_CLOSE, cid, ts)
        view = surface.last_view()
        assert view["callback_id"] == ids.CLOSE_VIEW
        effect = "Closing also unassigns it." if close_unassigns else "Closing keeps its assignee."
        assert effect in texts(view["blocks"])

        status, ack = await surface.submit(
            view,
            {
                BLOCK_CLOSE_REASON: {
                    ids.CLOSE_REASON: {"type": "plain_text_input", "value": " Fix  confirmed "}
                }
            },
        )
        await surface.settle()

        assert status == 200 and ack == {}
        conv = (await surface.deps.contacts.require(cid)).conversation
        assert conv.status is ConversationStatus.CLOSED
        assert conv.closed_reason == "Fix confirmed"
        assert conv.assignee == (None if close_unassigns else AGENT)
        await poster(surface).flush()
        replies = [m for m in surface.slack.messages.values() if m.get("thread_ts") == ts]
        assert any(f"Closed by <@{AGENT}>: Fix confirmed" in m["text"] for m in replies)
        refreshed = surface.slack.messages[(SUPPORT_CHANNEL, ts)]
        assert (ids.THREAD_REOPEN, cid) in buttons(refreshed["blocks"])


async def test_close_without_a_reason(surface: Surface) -> None:
    cid = await surface.contact(
        "Sara", "Ahmed", identities={Channel.TELEGRAM: "7104"}, assignee=AGENT, status="open"
    )
    ts, _ = await thread_of(surface, cid)
    await click_in_thread(surface, ids.THREAD_CLOSE, cid, ts)

    await submit(surface, surface.last_view())

    conv = (await surface.deps.contacts.require(cid)).conversation
    assert conv.status is ConversationStatus.CLOSED and conv.closed_reason is None
    # App Home follows the agent's actions: the closed one is among the recently closed.
    assert AGENT in surface.slack.home


async def test_follow_up_from_the_root_answers_in_the_thread(surface: Surface) -> None:
    cid = await surface.contact("Sara", "Ahmed", identities={Channel.TELEGRAM: "7105"})
    ts, _ = await thread_of(surface, cid)

    await click_in_thread(surface, ids.THREAD_FOLLOWUP, cid, ts)
    view = surface.last_view()
    assert view["callback_id"] == ids.COMPOSE_VIEW
    await submit(surface, view, {ids.COMPOSE_TEXT: "Following up"})

    [message] = await messages_of(surface, cid)
    assert message.content.text == "Following up"
    assert AGENT in surface.slack.home  # App Home republished after the send
    told = ephemerals(surface)[-1]
    assert (told["channel"], told["thread_ts"]) == (SUPPORT_CHANNEL, ts)


async def test_a_red_marked_entry_leads_to_what_can_be_sent_now(surface: Surface) -> None:
    await surface.deps.templates.replace_all(
        [WhatsAppTemplate("checking_in", "en", "UTILITY", "Checking in about {{1}}.")]
    )
    cid = await surface.contact(
        "Sara",
        "Ahmed",
        identities={Channel.WHATSAPP: "971501234567"},
        last_inbound={Channel.WHATSAPP: surface.now - timedelta(days=2)},
    )
    await surface.command(ids.FOLLOWUP, "Sara Ahmed Your order shipped")
    await surface.settle()
    await poster(surface).flush()
    [record] = await messages_of(surface, cid)
    entry = next(
        m for m in surface.slack.messages.values() if "not delivered" in texts(m.get("blocks", []))
    )
    assert (ids.FOLLOWUP_ANOTHER_WAY, cid) in buttons(entry["blocks"])
    assert record.status is MessageStatus.OUTSIDE_WINDOW

    await click_in_thread(surface, ids.FOLLOWUP_ANOTHER_WAY, cid, str(entry["thread_ts"]))

    view = surface.last_view()
    assert ids.COMPOSE_TEMPLATE in [b.get("element", {}).get("action_id") for b in view["blocks"]]

"""`/reopen <contact>` and the Reopen buttons (issue 4, item 3), through the real Bolt app.

SPEC "Reopening and assignment": `/reopen` reopens a closed conversation and
assigns it to the agent who ran it; taking over another agent's asks for a
confirmation and is announced in the thread.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from bot.domain.channels import Channel
from bot.domain.models import ConversationStatus, MessageStatus
from bot.domain.windows import Form
from bot.services.followup import FollowupRequest
from bot.slack import ids
from bot.store.keys import ContactId
from tests.slack.conftest import AGENT, OTHER_AGENT, Surface
from tests.slack.test_find_contact import buttons, texts

DAY = timedelta(days=1)


async def story(surface: Surface) -> str:
    """Sara wrote on WhatsApp 3 days ago and on Telegram 5 days ago; the other
    agent followed up (delivered), then closed the conversation 2 days ago."""
    now = surface.now
    deps = surface.deps
    cid = await surface.contact(
        "Sara",
        "Ahmed",
        phone="+971501234567",
        identities={Channel.WHATSAPP: "971501234567", Channel.TELEGRAM: "5550001"},
        assignee=OTHER_AGENT,
        status="open",
        last_inbound={
            Channel.WHATSAPP: now - 3 * DAY - timedelta(hours=1),
            Channel.TELEGRAM: now - 5 * DAY,
        },
    )
    sent = await deps.followups.send(
        FollowupRequest(
            cid, Channel.TELEGRAM, OTHER_AGENT, "k-story", Form.TEXT, text="Refund sent"
        )
    )
    assert sent.message_id is not None
    partition = ContactId.parse(cid).partition
    await deps.outbox.record_status(partition, sent.message_id, MessageStatus.DELIVERED, now)
    await deps.contacts.close(cid, now - 2 * DAY, unassign=False, reason="refund confirmed")
    return cid


async def thread_events(surface: Surface) -> list[dict[str, Any]]:
    """The lines queued for the conversation's thread (the poster posts them)."""
    deps = surface.deps
    pending = await deps.redis.hgetall(deps.keys.thread_pending())
    events = [json.loads(v) for v in pending.values()]
    return [e for e in events if e["k"] == "ev"]


async def test_reopen_a_closed_conversation_assigns_it_and_tells_its_story(
    surface: Surface,
) -> None:
    cid = await story(surface)

    status, ack, url = await surface.command(ids.REOPEN, "sara ahmed")
    await surface.settle()

    assert status == 200 and ack == {}
    contact = await surface.deps.contacts.require(cid)
    assert contact.conversation.status is ConversationStatus.OPEN
    assert contact.conversation.assignee == AGENT
    [answer] = surface.slack.answers_to(url)
    assert answer["response_type"] == "ephemeral"
    shown = texts(answer["blocks"])
    assert "🔓 Reopened *Sara Ahmed* — it's yours now." in shown
    assert f"Before: assigned to <@{OTHER_AGENT}>" in shown
    assert "Closed 2 d ago: refund confirmed" in shown
    assert "• 0 s ago · Telegram · ✓✓ delivered — Refund sent" in shown  # the clock stands still
    assert "Customer's last message: WhatsApp 3 d ago · Telegram 5 d ago" in shown
    assert "WhatsApp: window closed 2 d ago — template only" in shown
    assert "Telegram: no window — anything can be sent" in shown
    assert (ids.CONTACT_FOLLOWUP, cid) in buttons(answer["blocks"])
    assert [e["key"] for e in await thread_events(surface)][-1] == "thread.event.reopened"


async def test_another_agents_open_conversation_asks_before_taking_over(
    surface: Surface,
) -> None:
    cid = await surface.contact(
        "Omar", "Khalil", email="omar@example.com", assignee=OTHER_AGENT, status="open"
    )

    _, _, url = await surface.command(ids.REOPEN, "omar@example.com")
    await surface.settle()

    [question] = surface.slack.answers_to(url)
    assert f"*Omar Khalil* is open and assigned to <@{OTHER_AGENT}>" in question["text"]
    assert (ids.REOPEN_TAKEOVER, cid) in buttons(question["blocks"])
    assert (ids.REOPEN_CANCEL, cid) in buttons(question["blocks"])
    unchanged = await surface.deps.contacts.require(cid)
    assert unchanged.conversation.assignee == OTHER_AGENT  # nothing happens before the yes

    status, _, click_url = await surface.click(ids.REOPEN_TAKEOVER, cid)
    await surface.settle()

    assert status == 200
    [card] = surface.slack.answers_to(click_url)
    assert card["replace_original"] is True
    assert f"You took over *Omar Khalil* from <@{OTHER_AGENT}>" in texts(card["blocks"])
    taken = await surface.deps.contacts.require(cid)
    assert taken.conversation.assignee == AGENT
    [event] = await thread_events(surface)  # announced in the thread
    assert event["key"] == "thread.event.taken_over"
    assert event["params"] == {"agent": f"<@{AGENT}>", "previous": f"<@{OTHER_AGENT}>"}
    # Both agents' Home tabs are redrawn.
    assert {AGENT, OTHER_AGENT} <= set(surface.slack.home)


async def test_cancelling_a_takeover_leaves_the_conversation_with_its_agent(
    surface: Surface,
) -> None:
    cid = await surface.contact(
        "Omar", email="omar@example.com", assignee=OTHER_AGENT, status="open"
    )
    _, _, url = await surface.click(ids.REOPEN_CANCEL, cid)
    await surface.settle()
    [answer] = surface.slack.answers_to(url)
    assert answer["replace_original"] is True
    assert f"stays with <@{OTHER_AGENT}>" in answer["text"]
    assert (await surface.deps.contacts.require(cid)).conversation.assignee == OTHER_AGENT


async def test_already_open_and_yours_says_so_with_the_same_card(surface: Surface) -> None:
    await surface.contact("Layla", email="layla@example.com", assignee=AGENT, status="open")
    _, _, url = await surface.command(ids.REOPEN, "layla@example.com")
    await surface.settle()
    [answer] = surface.slack.answers_to(url)
    shown = texts(answer["blocks"])
    assert "*Layla* is already open and yours." in shown
    assert "No follow-up has been sent to this customer yet." in shown
    assert "The customer has not written yet." in shown
    assert await thread_events(surface) == []


async def test_an_ambiguous_contact_offers_the_matches_then_reopens_the_one_chosen(
    surface: Surface,
) -> None:
    first = await surface.contact("Noor", "Hassan", email="noor.h@example.com")
    await surface.contact("Noor", "Saleh", email="noor.s@example.com")

    _, _, url = await surface.command(ids.REOPEN, "noor")
    await surface.settle()

    [choices] = surface.slack.answers_to(url)
    assert "Several contacts match “noor”" in choices["text"]
    picks = [b for b in buttons(choices["blocks"]) if b[0] == ids.CONTACT_CHOOSE_REOPEN]
    assert len(picks) == 2
    [value] = [v for _, v in picks if json.loads(v)["c"] == first]

    _, _, click_url = await surface.click(ids.CONTACT_CHOOSE_REOPEN, value)
    await surface.settle()

    [card] = surface.slack.answers_to(click_url)
    assert card["replace_original"] is True
    assert "Reopened *Noor Hassan*" in texts(card["blocks"])
    assert (await surface.deps.contacts.require(first)).conversation.assignee == AGENT


async def test_an_unknown_contact_is_said_so(surface: Surface) -> None:
    _, _, url = await surface.command(ids.REOPEN, "nobody@example.com")
    await surface.settle()
    [answer] = surface.slack.answers_to(url)
    assert answer["text"] == "No contact matches “nobody@example.com”."


async def test_a_query_too_short_to_search_is_explained(surface: Surface) -> None:
    _, _, url = await surface.command(ids.REOPEN, "s")
    await surface.settle()
    [answer] = surface.slack.answers_to(url)
    assert "at least 2 characters" in answer["text"]


async def test_an_empty_reopen_answers_with_the_usage_in_the_ack(surface: Surface) -> None:
    status, ack, url = await surface.command(ids.REOPEN, "   ")
    assert status == 200
    assert ack["response_type"] == "ephemeral"
    assert "/reopen Sara Ahmed" in ack["text"]
    await surface.settle()
    assert surface.slack.answers_to(url) == []


async def test_reopen_by_contact_id_and_from_a_search_result(surface: Surface) -> None:
    cid = await story(surface)
    _, _, url = await surface.command(ids.REOPEN, cid)
    await surface.settle()
    assert "Reopened *Sara Ahmed*" in texts(surface.slack.answers_to(url)[0]["blocks"])

    other = await surface.contact("Huda", email="huda@example.com")
    _, _, click_url = await surface.click(ids.CONTACT_REOPEN, other)
    await surface.settle()
    [card] = surface.slack.answers_to(click_url)
    assert card["replace_original"] is False  # the search results stay
    assert "Reopened *Huda*" in texts(card["blocks"])


async def test_reopen_from_app_home_refreshes_it_without_a_message(surface: Surface) -> None:
    cid = await story(surface)
    before = len(surface.slack.calls)
    status, _, _ = await surface.click(
        ids.CONTACT_REOPEN, cid, view={"id": "VHOME", "type": "home"}
    )
    await surface.settle()
    assert status == 200
    assert (await surface.deps.contacts.require(cid)).conversation.assignee == AGENT
    assert surface.slack.calls_to("chat.postMessage")[before:] == []
    assert "Sara Ahmed" in texts(surface.slack.home[AGENT]["blocks"])


async def test_a_takeover_needed_from_app_home_is_asked_by_direct_message(
    surface: Surface,
) -> None:
    cid = await surface.contact(
        "Omar", email="omar@example.com", assignee=OTHER_AGENT, status="open"
    )
    await surface.click(ids.CONTACT_REOPEN, cid, view={"id": "VHOME", "type": "home"})
    await surface.settle()
    [dm] = [
        c.args for c in surface.slack.calls_to("chat.postMessage") if c.args["channel"] == AGENT
    ]
    assert (ids.REOPEN_TAKEOVER, cid) in buttons(dm["blocks"])


async def test_a_contact_deleted_meanwhile_is_said_so(surface: Surface) -> None:
    cid = await surface.contact("Gone", email="gone@example.com")
    await surface.deps.contacts.delete(cid)
    _, _, url = await surface.click(ids.CONTACT_REOPEN, cid)
    await surface.settle()
    assert surface.slack.answers_to(url)[0]["text"] == "That contact no longer exists."


async def test_the_reopen_answer_in_arabic(surface: Surface) -> None:
    await story(surface)
    await surface.deps.people.pick_language(AGENT, "ar")
    _, _, url = await surface.command(ids.REOPEN, "sara ahmed")
    await surface.settle()
    shown = texts(surface.slack.answers_to(url)[0]["blocks"])
    assert "أُعيد فتح محادثة" in shown and "أُغلقت" in shown

"""`/followup <contact> [message]`: the modal, the one-line fast path, its refusals.

SPEC "Channel window rules" (the ❗ record of a one-line send the window
refuses) and "Reopening and assignment"; issue 4, item 4.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from bot.domain.channels import Channel
from bot.domain.models import ConversationStatus, MessageStatus
from bot.slack import ids
from bot.store.templates import WhatsAppTemplate
from tests.fakes.slack import FakeSlack
from tests.slack.compose_steps import (
    action_ids,
    buttons,
    ephemerals,
    messages_of,
    submit,
    texts,
)
from tests.slack.conftest import AGENT, OTHER_AGENT, Surface, running_surface

TEMPLATE = WhatsAppTemplate("order_update", "en", "UTILITY", "Hi {{1}}, your order shipped.")


async def answer_to(surface: Surface, url: str) -> dict[str, Any]:
    await surface.settle()
    answers = surface.slack.answers_to(url)
    assert answers, "no answer"
    return answers[-1]


async def test_without_anything_it_says_how_to_use_it(surface: Surface) -> None:
    status, ack, _ = await surface.command(ids.FOLLOWUP, "  ")

    assert status == 200 and ack["response_type"] == "ephemeral"
    assert "/followup <name, e-mail or phone> [message]" in ack["text"]


async def test_a_contact_alone_opens_the_compose_modal_on_the_command_s_trigger(
    surface: Surface,
) -> None:
    cid = await surface.contact("Sara", "Ahmed", identities={Channel.TELEGRAM: "7001"})

    status, ack, url = await surface.command(ids.FOLLOWUP, "Sara Ahmed", channel="C0TEAM")
    await surface.settle()

    assert status == 200 and ack == {}
    [opened] = surface.slack.calls_to("views.open")[-1:]
    assert opened.args["trigger_id"] == surface.trigger_ids[-1]
    view = surface.last_view()
    assert view["callback_id"] == ids.COMPOSE_VIEW and "Sara Ahmed" in texts(view["blocks"])
    assert surface.slack.answers_to(url) == []

    await submit(surface, view, {ids.COMPOSE_TEXT: "Hello"})
    [message] = await messages_of(surface, cid)
    assert message.text == "Hello"
    assert ephemerals(surface)[-1]["channel"] == "C0TEAM"  # where the command was run


async def test_a_one_line_follow_up_goes_at_once_where_free_text_is_allowed(
    surface: Surface,
) -> None:
    cid = await surface.contact(
        "Sara",
        "Ahmed",
        email="sara@example.com",
        identities={Channel.TELEGRAM: "7002"},
        assignee=AGENT,
    )

    _, ack, url = await surface.command(ids.FOLLOWUP, "sara@example.com Your fix is live")
    answer = await answer_to(surface, url)

    assert ack == {}
    [message] = await messages_of(surface, cid)
    assert (message.channel, message.mode, message.text) == (
        Channel.TELEGRAM,
        "free",
        "Your fix is live",
    )
    assert message.idempotency_key == surface.trigger_ids[-1]
    assert "On its way to *Sara Ahmed* on Telegram, as free text." in answer["text"]
    assert surface.slack.calls_to("views.open") == []


async def test_the_fast_path_picks_the_latest_channel_where_free_text_goes(
    surface: Surface,
) -> None:
    cid = await surface.contact(
        "Omar",
        "Khalil",
        identities={Channel.WHATSAPP: "971509990001", Channel.MESSENGER: "psid-9"},
        last_inbound={
            Channel.WHATSAPP: surface.now - timedelta(days=2),  # latest, but template only
            Channel.MESSENGER: surface.now - timedelta(days=3),  # HUMAN_AGENT still allowed
        },
    )

    _, _, url = await surface.command(ids.FOLLOWUP, "Omar Khalil Any update on your side?")
    answer = await answer_to(surface, url)

    [message] = await messages_of(surface, cid)
    assert (message.channel, message.mode) == (Channel.MESSENGER, "human_agent")
    assert "on Messenger, with the HUMAN_AGENT tag." in answer["text"]


async def test_refused_one_liner_is_recorded_with_the_red_marker_and_offers_a_template(
    surface: Surface,
) -> None:
    await surface.deps.templates.replace_all([TEMPLATE])
    cid = await surface.contact(
        "Sara",
        "Ahmed",
        identities={Channel.WHATSAPP: "971501234567"},
        assignee=OTHER_AGENT,
        last_inbound={Channel.WHATSAPP: surface.now - timedelta(days=3)},
    )

    _, _, url = await surface.command(ids.FOLLOWUP, "Sara Ahmed Your order shipped")
    answer = await answer_to(surface, url)

    [record] = await messages_of(surface, cid)
    assert record.status is MessageStatus.OUTSIDE_WINDOW and record.mode == "refused"
    contact = await surface.deps.contacts.require(cid)
    assert contact.conversation.status is ConversationStatus.CLOSED  # unchanged
    assert contact.conversation.assignee == OTHER_AGENT
    assert await surface.deps.outbox.outbox_length(int(cid.split("-")[0])) == 0  # not relayed
    shown = texts(answer["blocks"])
    assert "❗ Not sent to *Sara Ahmed* on WhatsApp" in shown
    assert "WhatsApp: window closed 2 d ago — template only" in shown
    assert "An approved template can go there now." in shown
    [(action, value)] = buttons(answer["blocks"])
    assert action == ids.USE_TEMPLATE

    await surface.click(ids.USE_TEMPLATE, value)
    await surface.settle()
    view = surface.last_view()
    assert ids.COMPOSE_TEMPLATE in action_ids(view) and ids.COMPOSE_TEXT not in action_ids(view)


async def test_refused_where_nothing_can_go_anywhere_says_so(surface: Surface) -> None:
    cid = await surface.contact(
        "Lina",
        "Haddad",
        identities={Channel.INSTAGRAM: "igsid-7"},
        last_inbound={Channel.INSTAGRAM: surface.now - timedelta(days=9)},
    )

    _, _, url = await surface.command(ids.FOLLOWUP, "Lina Haddad Are you there?")
    answer = await answer_to(surface, url)

    [record] = await messages_of(surface, cid)
    assert record.status is MessageStatus.OUTSIDE_WINDOW
    shown = texts(answer["blocks"])
    assert (
        "Instagram: window closed 2 d ago — nothing can be sent until the customer writes" in shown
    )
    assert "Nothing can be sent to Lina Haddad on any channel now" in shown
    assert buttons(answer["blocks"]) == []


async def test_refused_on_messenger_with_tags_offers_the_composer(
    redis_url: str, slack: FakeSlack
) -> None:
    async with running_surface(redis_url, slack, messenger_tags="ACCOUNT_UPDATE") as surface:
        cid = await surface.contact(
            "Lina",
            "Haddad",
            identities={Channel.MESSENGER: "psid-7"},
            last_inbound={Channel.MESSENGER: surface.now - timedelta(days=10)},
        )
        _, _, url = await surface.command(ids.FOLLOWUP, "Lina Haddad Your account is ready")
        answer = await answer_to(surface, url)

        assert "❗ Not sent" in answer["text"]
        [(action, value)] = buttons(answer["blocks"])
        assert (action, value) == (ids.FOLLOWUP_ANOTHER_WAY, cid)
        await surface.click(action, value)
        await surface.settle()
        assert ids.COMPOSE_TAG in action_ids(surface.last_view())


async def test_viber_past_its_free_quota_is_refused_without_a_red_record(
    redis_url: str, slack: FakeSlack
) -> None:
    async with running_surface(redis_url, slack, viber_monthly_free=1) as surface:
        assert await surface.deps.outbox.reserve_viber(surface.now, 1)
        cid = await surface.contact(
            "Nour",
            "Saleh",
            identities={Channel.VIBER: "viber-9"},
            last_inbound={Channel.VIBER: surface.now - timedelta(days=2)},
        )
        _, _, url = await surface.command(ids.FOLLOWUP, "Nour Saleh Hello")
        answer = await answer_to(surface, url)

        assert await messages_of(surface, cid) == []  # a quota refusal, not ❗ (SPEC)
        assert "Not sent to *Nour Saleh* on Viber" in answer["text"]
        assert "this month's 1 free chatbot-initiated messages are used" in answer["text"]
        assert "❗" not in answer["text"]


async def test_another_agent_s_conversation_asks_before_taking_it_over(surface: Surface) -> None:
    cid = await surface.contact(
        "Sara",
        "Ahmed",
        identities={Channel.TELEGRAM: "7003"},
        assignee=OTHER_AGENT,
        status="open",
    )

    _, _, url = await surface.command(ids.FOLLOWUP, "Sara Ahmed I'll take it from here")
    answer = await answer_to(surface, url)

    assert await messages_of(surface, cid) == []
    assert f"assigned to <@{OTHER_AGENT}>. Take it over and send?" in answer["text"]
    [(action, value)] = buttons(answer["blocks"])
    assert action == ids.FOLLOWUP_LINE_SEND
    assert json.loads(value)["k"] == surface.trigger_ids[-1]  # the same follow-up, still

    _, _, click_url = await surface.click(action, value)
    confirmed = await answer_to(surface, click_url)
    [message] = await messages_of(surface, cid)
    assert message.idempotency_key == surface.trigger_ids[-1]
    assert (await surface.deps.contacts.require(cid)).conversation.assignee == AGENT
    assert f"You took the conversation over from <@{OTHER_AGENT}>." in texts(confirmed["blocks"])
    assert confirmed["replace_original"] is True

    _, _, again_url = await surface.click(action, value)  # a second tap
    again = await answer_to(surface, again_url)
    assert len(await messages_of(surface, cid)) == 1
    assert "was already sent; it goes only once" in again["text"]


async def test_an_ambiguous_contact_offers_choices_that_carry_the_message(
    surface: Surface,
) -> None:
    first = await surface.contact("Sara", "Ahmed", identities={Channel.TELEGRAM: "7004"})
    await surface.contact("Sara", "Mansour", identities={Channel.TELEGRAM: "7005"})

    _, _, url = await surface.command(ids.FOLLOWUP, "sara The fix is live")
    answer = await answer_to(surface, url)

    assert "Several contacts match “sara”" in answer["text"]
    choices = [b for b in buttons(answer["blocks"]) if b[0] == ids.CONTACT_CHOOSE_FOLLOWUP]
    assert len(choices) == 2
    value = next(v for _, v in choices if json.loads(v)["c"] == first)
    assert json.loads(value)["m"] == "The fix is live"

    container = {"type": "message", "message_ts": "1795000000.000900", "is_ephemeral": True}
    _, _, click_url = await surface.click(ids.CONTACT_CHOOSE_FOLLOWUP, value, container=container)
    sent = await answer_to(surface, click_url)
    await surface.click(ids.CONTACT_CHOOSE_FOLLOWUP, value, container=container)  # double tap
    await surface.settle()

    [message] = await messages_of(surface, first)
    assert message.text == "The fix is live"
    assert "On its way to *Sara Ahmed*" in sent["text"] and sent["replace_original"] is True


async def test_choosing_without_a_message_opens_the_modal(surface: Surface) -> None:
    first = await surface.contact("Sara", "Ahmed", identities={Channel.TELEGRAM: "7006"})
    await surface.contact("Sara", "Mansour", identities={Channel.TELEGRAM: "7007"})
    _, _, url = await surface.command(ids.FOLLOWUP, "sara")
    answer = await answer_to(surface, url)
    value = next(v for a, v in buttons(answer["blocks"]) if json.loads(v)["c"] == first)

    await surface.click(ids.CONTACT_CHOOSE_FOLLOWUP, value)
    await surface.settle()

    view = surface.last_view()
    assert view["callback_id"] == ids.COMPOSE_VIEW and "Sara Ahmed" in texts(view["blocks"])


async def test_a_message_too_long_to_carry_asks_to_choose_then_write(surface: Surface) -> None:
    await surface.contact("Sara", "Ahmed", identities={Channel.TELEGRAM: "7008"})
    await surface.contact("Sara", "Mansour", identities={Channel.TELEGRAM: "7009"})

    _, _, url = await surface.command(ids.FOLLOWUP, "sara " + "word " * 400)
    answer = await answer_to(surface, url)

    values = [
        json.loads(v) for a, v in buttons(answer["blocks"]) if a == ids.CONTACT_CHOOSE_FOLLOWUP
    ]
    assert values and all(v["m"] == "" for v in values)
    assert "too long to carry over" in texts(answer["blocks"])


async def test_an_unknown_contact_is_named(surface: Surface) -> None:
    _, _, url = await surface.command(ids.FOLLOWUP, "nobody Hello")
    answer = await answer_to(surface, url)

    assert answer["text"] == "No contact matches “nobody”."


async def test_a_one_liner_over_the_channel_limit_is_not_sent(surface: Surface) -> None:
    cid = await surface.contact(
        "Sara",
        "Ahmed",
        identities={Channel.SMS: "+971501234567"},
    )

    _, _, url = await surface.command(ids.FOLLOWUP, f"Sara Ahmed {'x' * 1700}")
    answer = await answer_to(surface, url)

    assert await messages_of(surface, cid) == []
    assert "Not sent: Too long for SMS: 1,700 characters, at most 1,600." in answer["text"]


async def test_the_fast_path_answers_in_arabic(surface: Surface) -> None:
    await surface.deps.people.pick_language(AGENT, "ar")
    await surface.contact("سارة", "أحمد", identities={Channel.LINE: "line-ar"})

    _, _, url = await surface.command(ids.FOLLOWUP, "سارة أحمد تم الإصلاح")
    answer = await answer_to(surface, url)

    assert answer["text"].startswith("✅ في الطريق إلى")
    assert "كنص حر" in answer["text"]


async def test_a_contact_without_any_channel_is_told_apart(surface: Surface) -> None:
    cid = await surface.contact("Hala", "Nasser", email="hala@example.com")

    _, _, url = await surface.command(ids.FOLLOWUP, "hala@example.com Hello")
    answer = await answer_to(surface, url)
    assert answer["text"] == "Hala Nasser has no channel we can write to."

    await surface.command(ids.FOLLOWUP, "hala@example.com")
    await surface.settle()
    view = surface.last_view()
    assert "submit" not in view
    assert "Hala Nasser has no channel we can write to." in texts(view["blocks"])
    assert await messages_of(surface, cid) == []


async def test_an_expired_trigger_gets_an_apology_not_silence(surface: Surface) -> None:
    cid = await surface.contact("Sara", "Ahmed", identities={Channel.TELEGRAM: "7010"})
    surface.slack.expired_triggers.add("1.expired")
    url = surface.slack.response_url()

    status, _ = await surface.interact(
        {
            "type": "block_actions",
            "trigger_id": "1.expired",
            "user": {"id": AGENT, "username": "agent", "team_id": "T0TEAM"},
            "container": {"type": "message", "is_ephemeral": True},
            "channel": {"id": "C0GENERAL", "name": "general"},
            "response_url": url,
            "actions": [
                {"type": "button", "action_id": ids.CONTACT_FOLLOWUP, "block_id": "b", "value": cid}
            ],
        }
    )
    answer = await answer_to(surface, url)

    assert status == 200
    assert answer["text"].startswith("Sorry, something went wrong on our side.")

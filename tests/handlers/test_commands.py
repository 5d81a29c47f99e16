"""Slash commands (`handlers/commands/`): `/find-contact`, `/followup`, `/reopen`,
and how their answers name contacts and channels, in the agent's language.

Scenarios in the style of bolt-python's `tests/scenario_tests_async/`: signed
requests into `serve`'s real web app (`tests.slack.conftest.Surface`), the local
fake Slack Web API (`tests.fakes.slack`), a real Redis.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from bot.domain.channels import Channel
from bot.domain.messages import Content
from bot.domain.models import ConversationStatus, MessageStatus
from bot.domain.reachability import Unreachable, UnreachableReason
from bot.domain.windows import Form
from bot.services.followup import FollowupRequest
from bot.slack import ids
from bot.slack.blocks.answers import LineSend
from bot.slack.blocks.compose_context import BLOCK_TEXT
from bot.store.contacts import ContactDraft
from bot.store.keys import ContactId
from bot.store.templates import WhatsAppTemplate
from tests.fakes.slack import FakeSlack
from tests.handlers.test_actions import thread_of
from tests.handlers.test_events import open_home
from tests.slack.compose_steps import (
    action_ids,
    change,
    ephemerals,
    messages_of,
    open_composer,
    submit,
)
from tests.slack.conftest import AGENT, NOW, OTHER_AGENT, Surface, buttons, running_surface, texts

# --- find contact -----------------------------------------------------
#
# `/find-contact`: results, filters, paging, the search modal, bad queries.
#
# SPEC "Finding a contact".


async def test_find_contact_lists_closed_matches_with_window_words_and_buttons(
    surface: Surface,
) -> None:
    wrote = surface.now - timedelta(days=3, hours=1)
    sara = await surface.contact(
        "Sara",
        "Ahmed",
        phone="+971501234567",
        identities={Channel.WHATSAPP: "971501234567"},
        assignee=AGENT,
        last_inbound={Channel.WHATSAPP: wrote},
    )

    status, ack, url = await surface.command(ids.FIND_CONTACT, "sara")
    await surface.settle()

    assert status == 200 and ack == {}
    [answer] = surface.slack.answers_to(url)
    assert answer["response_type"] == "ephemeral"
    shown = texts(answer["blocks"])
    assert "Sara Ahmed" in shown
    assert "WhatsApp: window closed 2 d ago — template only" in shown
    assert "last message 3 d ago" in shown
    assert (ids.CONTACT_REOPEN, sara) in buttons(answer["blocks"])
    assert (ids.CONTACT_FOLLOWUP, sara) in buttons(answer["blocks"])


async def test_find_contact_defaults_to_my_inbox_and_all_finds_others(surface: Surface) -> None:
    await surface.contact("Omar", "Khalil", email="omar@example.com", assignee=OTHER_AGENT)

    _, _, mine = await surface.command(ids.FIND_CONTACT, "omar")
    _, _, everyone = await surface.command(ids.FIND_CONTACT, "omar --all")
    await surface.settle()

    # My inbox · Closed finds nothing: the answer shows what every inbox holds, saying so.
    [answer] = surface.slack.answers_to(mine)
    assert answer["text"].startswith("Nothing for “omar” in My inbox · Closed")
    assert "found in all inboxes, any status:" in answer["text"]
    assert "Omar Khalil" in texts(answer["blocks"])
    assert "Omar Khalil" in texts(surface.slack.answers_to(everyone)[0]["blocks"])
    assert "Nothing for" not in surface.slack.answers_to(everyone)[0]["text"]


async def test_nothing_anywhere_still_says_no_contact_found(surface: Surface) -> None:
    _, _, mine = await surface.command(ids.FIND_CONTACT, "zzyzx")
    _, _, widest = await surface.command(ids.FIND_CONTACT, "zzyzx --all --any")
    await surface.settle()
    for url in (mine, widest):
        [answer] = surface.slack.answers_to(url)
        assert "No contact found" in answer["text"]


async def test_widened_results_page_on_with_the_wider_filters(surface: Surface) -> None:
    for n in range(7):
        await surface.contact(
            "Rasha", f"R{n}", email=f"rasha{n}@example.com", assignee=OTHER_AGENT, status="open"
        )
    _, _, url = await surface.command(ids.FIND_CONTACT, "rasha --by-name")
    await surface.settle()
    [answer] = surface.slack.answers_to(url)
    assert "found in all inboxes, any status" in answer["text"]
    [(_, more)] = [b for b in buttons(answer["blocks"]) if b[0] == ids.SEARCH_MORE]
    assert json.loads(more)["sc"] == "all" and json.loads(more)["st"] == "any"
    _, _, click_url = await surface.click(ids.SEARCH_MORE, more)
    await surface.settle()
    [page] = surface.slack.answers_to(click_url)
    assert "R5" in texts(page["blocks"]) and "R6" in texts(page["blocks"])


async def test_find_contact_open_and_any_filters(surface: Surface) -> None:
    await surface.contact("Layla", "Open", email="layla@example.com", assignee=AGENT, status="open")

    _, _, closed = await surface.command(ids.FIND_CONTACT, "layla")
    _, _, opened = await surface.command(ids.FIND_CONTACT, "layla --open")
    _, _, anything = await surface.command(ids.FIND_CONTACT, "layla --any")
    await surface.settle()

    widened = surface.slack.answers_to(closed)[0]
    assert "found in all inboxes, any status" in widened["text"]
    assert "Layla Open" in texts(widened["blocks"])
    assert "Layla Open" in texts(surface.slack.answers_to(opened)[0]["blocks"])
    assert "Layla Open" in texts(surface.slack.answers_to(anything)[0]["blocks"])


async def test_more_pages_through_results_on_each_click_s_own_response_url(
    surface: Surface,
) -> None:
    for n in range(12):
        await surface.contact(
            "Noor",
            f"N{n:02d}",
            email=f"noor{n}@example.com",
            assignee=AGENT,
            last_inbound={Channel.WEBCHAT: surface.now - timedelta(minutes=n)},
            identities={Channel.WEBCHAT: f"v{n}"},
        )

    _, _, url = await surface.command(ids.FIND_CONTACT, "noor --by-name")
    await surface.settle()
    first = surface.slack.answers_to(url)[0]
    assert "N00" in texts(first["blocks"]) and "N05" not in texts(first["blocks"])
    [(_, more)] = [b for b in buttons(first["blocks"]) if b[0] == ids.SEARCH_MORE]

    seen = []
    for _ in range(2):
        _, _, click_url = await surface.click(ids.SEARCH_MORE, more)
        await surface.settle()
        [page] = surface.slack.answers_to(click_url)
        assert page["replace_original"] is True
        seen.append(texts(page["blocks"]))
        nexts = [b for b in buttons(page["blocks"]) if b[0] == ids.SEARCH_MORE]
        more = nexts[0][1] if nexts else ""
    assert "N05" in seen[0] and "N09" in seen[0]
    assert "N10" in seen[1] and "N11" in seen[1]
    assert more == ""  # the last page has no More


async def test_bad_query_is_answered_in_the_ack(surface: Surface) -> None:
    status, ack, url = await surface.command(ids.FIND_CONTACT, "s")
    assert status == 200
    assert ack["response_type"] == "ephemeral"
    assert "at least 2 characters" in ack["text"]
    status, ack, _ = await surface.command(ids.FIND_CONTACT, "sara --everything")
    assert "--everything" in ack["text"]
    await surface.settle()
    assert surface.slack.answers_to(url) == []


async def test_no_query_opens_the_search_modal_and_its_results_come_back(
    surface: Surface,
) -> None:
    await surface.contact("Huda", "Saleh", email="huda@example.com", assignee=OTHER_AGENT)

    status, ack, _ = await surface.command(ids.FIND_CONTACT, "", channel="C0HERE")
    await surface.settle()
    assert status == 200 and ack == {}
    view = surface.last_view()
    assert view["callback_id"] == ids.SEARCH_VIEW

    def values(query: str) -> dict[str, Any]:
        return {
            "q": {ids.SEARCH_QUERY: {"type": "plain_text_input", "value": query}},
            "scope": {ids.SEARCH_SCOPE: {"selected_option": {"value": "all"}}},
            "status": {ids.SEARCH_STATUS: {"selected_option": {"value": "any"}}},
            "sort": {ids.SEARCH_SORT: {"selected_option": {"value": "recent"}}},
        }

    status, ack = await surface.submit(view, values("h"))
    assert ack["response_action"] == "errors" and "q" in ack["errors"]

    status, ack = await surface.submit(view, values("huda"))
    await surface.settle()
    assert status == 200 and ack == {}
    [posted] = surface.slack.calls_to("chat.postEphemeral")
    assert posted.args["channel"] == "C0HERE" and posted.args["user"] == AGENT
    assert "Huda Saleh" in texts(posted.args["blocks"])


async def test_the_search_modal_widens_an_empty_default_search(surface: Surface) -> None:
    await surface.contact("Huda", "Saleh", email="huda@example.com", assignee=OTHER_AGENT)
    await surface.command(ids.FIND_CONTACT, "", channel="C0HERE")
    await surface.settle()
    view = surface.last_view()
    values = {
        "q": {ids.SEARCH_QUERY: {"type": "plain_text_input", "value": "huda"}},
        "scope": {ids.SEARCH_SCOPE: {"selected_option": {"value": "mine"}}},
        "status": {ids.SEARCH_STATUS: {"selected_option": {"value": "closed"}}},
        "sort": {ids.SEARCH_SORT: {"selected_option": {"value": "recent"}}},
    }
    status, ack = await surface.submit(view, values)
    await surface.settle()
    assert status == 200 and ack == {}
    [posted] = surface.slack.calls_to("chat.postEphemeral")
    assert "Nothing for “huda” in My inbox · Closed" in posted.args["text"]
    assert "Huda Saleh" in texts(posted.args["blocks"])


async def test_a_request_with_a_bad_signature_is_refused(surface: Surface) -> None:
    response = await surface.post(
        "command=%2Ffind-contact&text=sara&user_id=U1",
        "application/x-www-form-urlencoded",
        secret="not-the-secret",
    )
    assert response.status == 401
    stale = await surface.post(
        "command=%2Ffind-contact&text=sara&user_id=U1",
        "application/x-www-form-urlencoded",
        timestamp=1_000_000_000,
    )
    assert stale.status == 401


async def test_more_value_fits_slack_limits() -> None:
    from bot.services.directory import FindArgs
    from bot.slack.blocks.contact_blocks import pack_page, unpack_page

    args = FindArgs(query="x" * 5000)
    packed = pack_page(args, 10)
    assert len(packed) < 2000
    back, offset = unpack_page(packed)
    assert offset == 10 and back.query == "x" * 500
    assert json.loads(packed)["o"] == 10


@pytest.mark.parametrize(
    "query", ["nour", "نور حداد", 'a\nb\t"c\\d/e\x01\x7f\u2028 é 😀', "x" * 600]
)
def test_more_value_is_what_json_dumps_gave(query: str) -> None:
    """pack_page goes through orjson: the same text as the standard library's."""
    from bot.services.directory import FindArgs
    from bot.slack.blocks.contact_blocks import MAX_PACKED_QUERY, pack_page

    args = FindArgs(query=query)
    expected = {"q": query[:MAX_PACKED_QUERY], "sc": args.scope.value}
    expected |= {"st": args.status.value if args.status else "any", "so": args.sort.value}
    expected["o"] = 20
    as_json = json.dumps(expected, ensure_ascii=False, separators=(",", ":"))
    assert pack_page(args, 20) == as_json


async def test_open_thread_answers_with_the_threads_link_asked_of_slack_once(
    surface: Surface,
) -> None:
    from tests.slack.conftest import SUPPORT_CHANNEL

    cid = await surface.contact("Sara", "Ahmed", email="sara@example.com", assignee=AGENT)
    _, _, url = await surface.click(ids.CONTACT_OPEN_THREAD, cid)
    await surface.settle()
    assert "no thread yet" in surface.slack.answers_to(url)[0]["text"]

    ts = "1795000999.000100"
    surface.slack.messages[(SUPPORT_CHANNEL, ts)] = {"ts": ts, "text": "root"}
    await surface.deps.contacts.set_thread(cid, ts)
    urls = []
    for _ in range(2):
        _, _, url = await surface.click(ids.CONTACT_OPEN_THREAD, cid)
        await surface.settle()
        urls.append(url)

    for url in urls:
        [answer] = surface.slack.answers_to(url)
        assert f"archives/{SUPPORT_CHANNEL}/p1795000999000100" in answer["text"]
    assert len(surface.slack.calls_to("chat.getPermalink")) == 1  # then kept in Redis


# --- followup command -------------------------------------------------
#
# `/followup <contact> [message]`: the modal, the one-line fast path, its refusals.
#
# SPEC "Channel window rules" (the ❗ record of a one-line send the window
# refuses) and "Reopening and assignment"; issue 4, item 4.


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
    assert message.content.text == "Hello"
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
    assert (message.channel, message.mode, message.content.text) == (
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
    assert message.content.text == "The fix is live"
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


# --- reopen -----------------------------------------------------------
#
# `/reopen <contact>` and the Reopen buttons (issue 4, item 3), through the real Bolt app.
#
# SPEC "Reopening and assignment": `/reopen` reopens a closed conversation and
# assigns it to the agent who ran it; taking over another agent's asks for a
# confirmation and is announced in the thread.


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
            cid, Channel.TELEGRAM, OTHER_AGENT, "k-story", Form.TEXT, content=Content("Refund sent")
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
    return [e for e in events if e["kind"] == "event"]


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


# --- language ---------------------------------------------------------
#
# The language of each answer: App Home choice, else the Slack locale, else the default.
#
# SPEC "Slack surface" (Slack's own interface has no Arabic, so the choice on
# App Home matters); issue 4, item 8.


async def test_a_first_command_is_answered_in_the_slack_locale(surface: Surface) -> None:
    surface.slack.users[AGENT] = {"id": AGENT, "locale": "ar-SA"}

    status, ack, _ = await surface.command(ids.FIND_CONTACT, "s")

    assert status == 200
    assert ack["text"].startswith("اكتب")  # the query error, in Arabic
    assert len(surface.slack.calls_to("users.info")) == 1


async def test_a_locale_we_do_not_speak_falls_back_to_the_default(surface: Surface) -> None:
    surface.slack.users[AGENT] = {"id": AGENT, "locale": "ja-JP"}

    _, ack, _ = await surface.command(ids.FIND_CONTACT, "s")

    assert ack["text"] == "Type at least 2 characters."


async def test_the_app_home_choice_wins_over_the_locale(surface: Surface) -> None:
    surface.slack.users[AGENT] = {"id": AGENT, "locale": "en-US"}
    await surface.deps.people.pick_language(AGENT, "ar")

    _, ack, _ = await surface.command(ids.FIND_CONTACT, "s")

    assert ack["text"].startswith("اكتب")


async def test_slack_not_saying_costs_one_question_not_one_per_request(surface: Surface) -> None:
    # users.info answers user_not_found for a user the fake does not know.
    for _ in range(3):
        _, ack, _ = await surface.command(ids.FIND_CONTACT, "s")
        assert ack["text"] == "Type at least 2 characters."

    assert len(surface.slack.calls_to("users.info")) == 1


# --- names and channels -----------------------------------------------
#
# The right channel first, and a name for everyone (issue 9, point 5).
#
# Through the real Bolt app with signed requests: the compose modal preselects
# the channel the customer wrote on last (in the form it allows), lists the
# other channels with what each allows now; a nameless contact is shown by its
# phone number, e-mail or channel handle on every surface, never by our id;
# a "nothing found" hint never suggests a flag the agent already gave.


ORDER_UPDATE = WhatsAppTemplate("order_update", "en", "UTILITY", "Hi {{1}}, order {{2}} shipped.")


NUMBER = "+971501234567"


SHOWN_NUMBER = "+971 50 123 4567"


OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


def chosen_channel(view: dict[str, Any]) -> str | None:
    """The channel the modal's select shows (None: a one-channel modal has no select)."""
    for block in view["blocks"]:
        if block.get("block_id") == "compose_channel":
            return str(block["accessory"]["initial_option"]["value"])
    return None


async def test_a_whatsapp_customer_whose_window_closed_gets_the_template_picker_not_sms(
    surface: Surface,
) -> None:
    await surface.deps.templates.replace_all([ORDER_UPDATE])
    cid = await surface.contact(
        "Sara",
        "Ahmed",
        phone=NUMBER,
        identities={Channel.WHATSAPP: "971501234567", Channel.SMS: NUMBER},
        last_inbound={Channel.WHATSAPP: surface.now - timedelta(days=3)},
    )

    view = await open_composer(surface, cid)

    assert chosen_channel(view) == "whatsapp"
    assert ids.COMPOSE_TEMPLATE in action_ids(view) and ids.COMPOSE_TEXT not in action_ids(view)
    shown = texts(view["blocks"])
    assert "WhatsApp: window closed 2 d ago — template only" in shown
    # The other channel, with what it allows now.
    assert "*Other channels*" in shown
    assert "SMS: no window — anything can be sent" in shown


async def test_the_channel_the_customer_wrote_on_last_is_preselected(surface: Surface) -> None:
    cid = await surface.contact(
        "Omar",
        "Khalil",
        email="omar@example.com",
        identities={
            Channel.TELEGRAM: "7001",
            Channel.LINE: "U4af4980629",
            Channel.EMAIL: "omar@example.com",
        },
        last_inbound={
            Channel.TELEGRAM: surface.now - timedelta(days=4),
            Channel.LINE: surface.now - timedelta(hours=2),
        },
    )

    view = await open_composer(surface, cid)

    assert chosen_channel(view) == "line"
    shown = texts(view["blocks"])
    assert "Telegram: no window — anything can be sent" in shown
    assert "E-mail: no window — anything can be sent" in shown


async def test_a_latest_channel_where_nothing_goes_is_passed_over_for_one_that_works(
    surface: Surface,
) -> None:
    cid = await surface.contact(
        "Huda",
        identities={Channel.WECHAT: OPENID, Channel.VIBER: "vb-1"},
        last_inbound={
            Channel.WECHAT: surface.now - timedelta(days=3),
            Channel.VIBER: surface.now - timedelta(days=5),
        },
    )

    view = await open_composer(surface, cid)

    assert chosen_channel(view) == "viber"
    assert "WeChat: window closed 1 d ago — nothing can be sent" in texts(view["blocks"])


async def test_a_nameless_sms_contact_is_its_number_when_a_follow_up_goes(
    surface: Surface,
) -> None:
    cid = await surface.contact("", phone=NUMBER, identities={Channel.SMS: NUMBER})

    _, _, url = await surface.command(ids.FOLLOWUP, f"{NUMBER} Your fix is live")
    answer = await answer_to(surface, url)

    assert f"On its way to *{SHOWN_NUMBER}* on SMS" in answer["text"]
    assert f"*{cid}*" not in answer["text"]


async def test_a_nameless_contact_is_its_number_in_search_results_and_the_modal(
    surface: Surface,
) -> None:
    cid = await surface.contact("", phone=NUMBER, identities={Channel.SMS: NUMBER}, assignee=AGENT)

    _, _, url = await surface.command(ids.FIND_CONTACT, "0501234567")
    answer = await answer_to(surface, url)
    shown = texts(answer["blocks"])
    assert f"*{SHOWN_NUMBER}*" in shown and f"*{cid}*" not in shown

    view = await open_composer(surface, cid)
    ack = await submit(surface, view, {ids.COMPOSE_TEXT: "Hello"})
    assert ack == {}
    assert f"On its way to *{SHOWN_NUMBER}* on SMS" in ephemerals(surface)[-1]["text"]


async def test_a_nameless_wechat_follower_is_shown_by_its_channel_and_openid(
    surface: Surface,
) -> None:
    cid = await surface.contact(
        "",
        identities={Channel.WECHAT: OPENID},
        last_inbound={Channel.WECHAT: surface.now - timedelta(hours=1)},
    )

    _, _, url = await surface.command(ids.REOPEN, cid)
    answer = await answer_to(surface, url)

    shown = texts(answer["blocks"])
    assert f"Reopened *WeChat {OPENID}*" in shown
    assert f"*{cid}*" not in shown


async def test_a_nameless_contact_is_its_email_on_app_home_and_the_thread_root(
    surface: Surface,
) -> None:
    cid = await surface.contact(
        "",
        email="layla@example.com",
        identities={Channel.EMAIL: "layla@example.com"},
        assignee=AGENT,
        status="open",
        last_inbound={Channel.EMAIL: surface.now - timedelta(hours=1)},
    )

    home = await open_home(surface)
    assert "*layla@example.com*" in texts(home["blocks"])
    assert cid not in texts(home["blocks"])

    _, root = await thread_of(surface, cid)
    assert root["text"].startswith("*layla@example.com*")


async def test_a_nameless_instagram_contact_is_its_username_in_search_results(
    surface: Surface,
) -> None:
    draft = ContactDraft(
        identities={Channel.INSTAGRAM: "17841400000000000"},
        handles={Channel.INSTAGRAM: "sara.a"},
        assignee=AGENT,
    )
    cid = (await surface.deps.contacts.create(draft, surface.now)).contact_id

    _, _, url = await surface.command(ids.FIND_CONTACT, "@sara.a")
    shown = texts((await answer_to(surface, url))["blocks"])

    assert "*@sara.a*" in shown and f"*{cid}*" not in shown


@pytest.mark.parametrize(
    ("flags", "suggested", "not_suggested"),
    [
        # Nothing found even by the widened search (All inboxes, any status,
        # which ran by itself): no flag could find more, so none is suggested.
        ("", [], ["--all", "--any"]),
        (" --all", [], ["--all", "--any"]),
        (" --any", [], ["--all", "--any"]),
        (" --all --any", [], ["--all", "--any"]),
    ],
    ids=["none-given", "all-given", "any-given", "both-given"],
)
async def test_a_hint_never_suggests_a_flag_already_given(
    surface: Surface, flags: str, suggested: list[str], not_suggested: list[str]
) -> None:
    _, _, url = await surface.command(ids.FIND_CONTACT, f"nobody{flags}")
    answer = await answer_to(surface, url)

    assert "No contact found" in answer["text"]
    hint = texts(answer["blocks"][-1:])
    for flag in suggested:
        assert f"`{flag}`" in hint
    for flag in not_suggested:
        assert flag not in hint
    if not suggested:
        assert "shorter query" in hint


OPTED_OUT_AT = NOW - timedelta(days=2)


async def opted_out_on_sms(surface: Surface, **kwargs: Any) -> str:
    """Sara has SMS (opted out two days ago) and e-mail; she wrote last by SMS."""
    kwargs.setdefault("assignee", AGENT)
    cid = await surface.contact(
        "Sara",
        "Ahmed",
        phone=NUMBER,
        email="sara@example.com",
        identities={Channel.SMS: NUMBER, Channel.EMAIL: "sara@example.com"},
        last_inbound={
            Channel.SMS: surface.now - timedelta(days=3),
            Channel.EMAIL: surface.now - timedelta(days=9),
        },
        **kwargs,
    )
    await surface.deps.contacts.set_reachability(
        cid, Channel.SMS, Unreachable(UnreachableReason.OPTED_OUT, OPTED_OUT_AT, "STOP")
    )
    return cid


OPTED_OUT_LINE = "🚫 SMS: the customer opted out of our messages, since"


async def test_an_unreachable_channel_is_marked_and_not_preselected_in_the_composer(
    surface: Surface,
) -> None:
    cid = await opted_out_on_sms(surface)

    view = await open_composer(surface, cid)

    # SMS is where she wrote last, but she cannot be reached there: e-mail comes first.
    assert chosen_channel(view) == "email"
    select = next(b["accessory"] for b in view["blocks"] if b.get("block_id") == "compose_channel")
    labels = [o["text"]["text"] for o in select["options"]]
    assert labels == ["SMS (unreachable since 2026-11-22)", "E-mail"]
    shown = texts(view["blocks"])
    assert OPTED_OUT_LINE in shown
    assert "SMS: no window" not in shown

    # Chosen anyway: the refusal, and what would work instead; no Send button.
    view = await change(surface, view, ids.COMPOSE_CHANNEL, "sms")
    assert "submit" not in view
    shown = texts(view["blocks"])
    assert "Nothing can be sent on SMS now." in shown
    assert OPTED_OUT_LINE in shown
    assert "What would go now: E-mail." in shown


async def test_a_modal_opened_before_the_opt_out_refuses_at_submit_with_the_reason(
    surface: Surface,
) -> None:
    cid = await surface.contact("Sara", phone=NUMBER, identities={Channel.SMS: NUMBER})
    view = await open_composer(surface, cid)
    await surface.deps.contacts.set_reachability(
        cid, Channel.SMS, Unreachable(UnreachableReason.OPTED_OUT, OPTED_OUT_AT, "STOP")
    )

    ack = await submit(surface, view, {ids.COMPOSE_TEXT: "Hello"})

    assert ack["response_action"] == "errors"
    assert "SMS: the customer opted out of our messages" in ack["errors"][BLOCK_TEXT]
    assert await messages_of(surface, cid) == []


async def test_the_one_liner_goes_where_the_customer_can_be_reached(surface: Surface) -> None:
    cid = await opted_out_on_sms(surface)

    _, _, url = await surface.command(ids.FOLLOWUP, "sara@example.com Your fix is live")
    answer = await answer_to(surface, url)

    assert "On its way to *Sara Ahmed* on E-mail" in answer["text"]
    [message] = await messages_of(surface, cid)
    assert message.channel is Channel.EMAIL


async def test_search_results_reopen_app_home_and_the_thread_root_show_it(
    surface: Surface,
) -> None:
    cid = await opted_out_on_sms(surface, status="open")

    _, _, url = await surface.command(ids.FIND_CONTACT, "sara --any")
    found = texts((await answer_to(surface, url))["blocks"])
    assert OPTED_OUT_LINE in found and "SMS: no window" not in found
    assert "E-mail: no window — anything can be sent" in found

    home = texts((await open_home(surface))["blocks"])
    assert OPTED_OUT_LINE in home

    _, root = await thread_of(surface, cid)
    assert OPTED_OUT_LINE in texts(root["blocks"])

    await surface.deps.conversations.close(cid, AGENT, reason="done")
    _, _, url = await surface.command(ids.REOPEN, "sara ahmed")
    reopened = texts((await answer_to(surface, url))["blocks"])
    assert "Reopened *Sara Ahmed*" in reopened and OPTED_OUT_LINE in reopened


async def test_whatsapp_marketing_stop_hides_marketing_templates_only(surface: Surface) -> None:
    promo = WhatsAppTemplate("winter_sale", "en", "MARKETING", "Our winter sale is on.")
    await surface.deps.templates.replace_all([ORDER_UPDATE, promo])
    cid = await surface.contact(
        "Sara",
        identities={Channel.WHATSAPP: "971501234567"},
        last_inbound={Channel.WHATSAPP: surface.now - timedelta(days=3)},
    )
    await surface.deps.contacts.set_reachability(
        cid,
        Channel.WHATSAPP,
        Unreachable(UnreachableReason.MARKETING_STOPPED, OPTED_OUT_AT, "131050"),
    )

    view = await open_composer(surface, cid)

    shown = texts(view["blocks"])
    assert "order_update (en)" in shown and "winter_sale" not in shown
    assert "WhatsApp: window closed 2 d ago — template only" in shown
    assert "stopped marketing messages (utility templates and free text still go)" in shown


async def test_a_one_liner_to_an_unreachable_channel_says_why_and_what_would_go(
    surface: Surface,
) -> None:
    cid = await opted_out_on_sms(surface)
    value = LineSend(cid, Channel.SMS, "Your fix is live", "k-unreachable").pack()
    assert value is not None

    _, _, url = await surface.click(ids.FOLLOWUP_LINE_SEND, value)
    answer = await answer_to(surface, url)

    assert answer["text"].startswith(
        "🚫 Not sent to *Sara Ahmed*: SMS: the customer opted out of our messages, since"
    )
    shown = texts(answer["blocks"])
    assert "What would go now: E-mail." in shown
    assert "not delivered" not in shown  # no ❗ record: it is no window refusal
    assert (ids.FOLLOWUP_ANOTHER_WAY, cid) in buttons(answer["blocks"])
    assert await messages_of(surface, cid) == []


async def test_a_customer_named_like_a_slack_mention_pings_nobody_in_the_thread(
    surface: Surface,
) -> None:
    cid = await surface.contact(
        "<!channel>",
        identities={Channel.TELEGRAM: "7009"},
        assignee=AGENT,
        status="open",
        last_inbound={Channel.TELEGRAM: surface.now - timedelta(hours=1)},
    )

    _, root = await thread_of(surface, cid)

    assert "<!channel>" not in root["text"] and "<!channel>" not in str(root["blocks"])
    assert root["text"].startswith("*&lt;!channel&gt;*")

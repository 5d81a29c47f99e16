"""The right channel first, and a name for everyone (issue 9, point 5).

Through the real Bolt app with signed requests: the compose modal preselects
the channel the customer wrote on last (in the form it allows), lists the
other channels with what each allows now; a nameless contact is shown by its
phone number, e-mail or channel handle on every surface, never by our id;
a "nothing found" hint never suggests a flag the agent already gave.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.domain.channels import Channel
from bot.domain.reachability import Unreachable, UnreachableReason
from bot.slack import ids
from bot.slack.blocks.answers import LineSend
from bot.slack.blocks.compose_modal import BLOCK_TEXT
from bot.store.contacts import ContactDraft
from bot.store.templates import WhatsAppTemplate
from tests.slack.compose_steps import (
    action_ids,
    buttons,
    change,
    ephemerals,
    messages_of,
    open_composer,
    submit,
    texts,
)
from tests.slack.conftest import AGENT, NOW, Surface
from tests.slack.test_home import open_home
from tests.slack.test_thread_buttons import thread_of

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


async def answer_to(surface: Surface, url: str) -> dict[str, Any]:
    await surface.settle()
    answers = surface.slack.answers_to(url)
    assert answers, "no answer"
    return answers[-1]


# --- the right channel first -----------------------------------------------------------


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


# --- a name for everyone -----------------------------------------------------------------


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


# --- hints never repeat a flag -------------------------------------------------------------


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


# --- unreachable identities, wherever the contact is shown (issue 9, point 2) -------------

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

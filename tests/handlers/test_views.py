"""View submissions (`handlers/views/`) and the modals' own actions: the compose
modal, its rules, and the edit-contact modal.

Scenarios in the style of bolt-python's `tests/scenario_tests_async/`: signed
requests into `serve`'s real web app (`tests.slack.conftest.Surface`), the local
fake Slack Web API (`tests.fakes.slack`), a real Redis.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from bot.channels.whatsapp import WhatsAppConnector
from bot.domain.channels import Channel
from bot.domain.limits import TEXT_LIMITS, Unit, text_limit
from bot.domain.messages import TemplateUse
from bot.domain.models import Contact, Conversation, ConversationStatus, MessageStatus
from bot.domain.templates import InputKind, parse_template
from bot.domain.windows import Decision, Form, PolicySettings, WindowInput, decide
from bot.relay.relay import Relay, RelayTuning
from bot.runtime import REDIS_KEY, http_session
from bot.services.compose_checks import Field, validate
from bot.services.compose_plan import Draft, line_channel, plan_for
from bot.slack import ids
from bot.slack.blocks.compose_context import BLOCK_TAKEOVER, BLOCK_TEMPLATE, BLOCK_TEXT, param_block
from bot.slack.blocks.contact_edit import BLOCKS
from bot.store.keys import ContactId, Keys
from bot.store.search import SearchFilters
from bot.store.templates import WhatsAppTemplate
from tests.fakes.graph import FakeGraph
from tests.fakes.slack import FakeSlack
from tests.slack.compose_steps import (
    action_ids,
    change,
    ephemerals,
    messages_of,
    open_composer,
    submit,
)
from tests.slack.conftest import AGENT, NOW, OTHER_AGENT, Surface, buttons, running_surface, texts

# --- compose modal ----------------------------------------------------
#
# The compose modal: it adapts to each channel's window, checks input, and queues once.
#
# SPEC "Slack surface" (a compose modal that adapts to the channel and window)
# and "Channel window rules"; issue 4, item 4.


ORDER_UPDATE = WhatsAppTemplate(
    "order_update", "en", "UTILITY", "Hi {{1}}, your order {{2}} has shipped."
)


FIX_SHIPPED = WhatsAppTemplate("fix_shipped", "en", "UTILITY", "The fix you asked about is live.")


def shown(view: dict[str, Any]) -> str:
    return texts(view["blocks"])


async def sara(surface: Surface, **kwargs: Any) -> str:
    kwargs.setdefault("phone", "+971501234567")
    return await surface.contact("Sara", "Ahmed", **kwargs)


async def test_a_channel_without_a_window_gets_plain_free_text(surface: Surface) -> None:
    cid = await sara(surface, identities={Channel.TELEGRAM: "7001"}, assignee=AGENT)

    view = await open_composer(surface, cid)

    assert view["callback_id"] == ids.COMPOSE_VIEW
    assert view["submit"]["text"] == "Send"
    assert "Telegram: no window — anything can be sent" in shown(view)
    assert ids.COMPOSE_TEXT in action_ids(view)
    assert ids.COMPOSE_CHANNEL not in action_ids(view)  # one channel: nothing to choose
    assert "Up to 4,096 characters on Telegram." in shown(view)

    ack = await submit(surface, view, {ids.COMPOSE_TEXT: "  Your fix is live.  "})

    assert ack == {}
    [message] = await messages_of(surface, cid)
    assert (message.channel, message.mode, message.form) == (Channel.TELEGRAM, "free", "text")
    assert message.content.text == "Your fix is live." and message.status is MessageStatus.QUEUED
    assert message.idempotency_key == view["id"]
    [told] = ephemerals(surface)
    assert told["channel"] == "C0GENERAL" and told["user"] == AGENT
    assert "On its way to *Sara Ahmed* on Telegram, as free text." in told["text"]
    assert "open again and assigned to you" in texts(told["blocks"])
    contact = await surface.deps.contacts.require(cid)
    assert contact.conversation.status is ConversationStatus.OPEN
    assert contact.conversation.assignee == AGENT


async def test_messenger_between_24h_and_7d_goes_with_the_human_agent_tag(
    surface: Surface,
) -> None:
    wrote = surface.now - timedelta(days=3)
    cid = await sara(
        surface, identities={Channel.MESSENGER: "psid-1"}, last_inbound={Channel.MESSENGER: wrote}
    )

    view = await open_composer(surface, cid)

    assert "Messenger: closes in 4 d — sent with the HUMAN_AGENT tag" in shown(view)
    assert "this goes with the HUMAN_AGENT tag" in shown(view)
    await submit(surface, view, {ids.COMPOSE_TEXT: "Any news on your side?"})
    [message] = await messages_of(surface, cid)
    assert message.mode == "human_agent"
    assert "with the HUMAN_AGENT tag" in ephemerals(surface)[-1]["text"]


async def test_messenger_after_7_days_offers_the_configured_message_tags(
    redis_url: str, slack: FakeSlack
) -> None:
    async with running_surface(
        redis_url, slack, messenger_tags="CUSTOMER_FEEDBACK,ACCOUNT_UPDATE"
    ) as surface:
        wrote = surface.now - timedelta(days=9)
        cid = await sara(
            surface,
            identities={Channel.MESSENGER: "psid-2"},
            last_inbound={Channel.MESSENGER: wrote},
        )
        view = await open_composer(surface, cid)

        assert "Messenger: window closed 2 d ago — message tag only" in shown(view)
        assert ids.COMPOSE_TAG in action_ids(view) and ids.COMPOSE_TEXT in action_ids(view)
        assert "only a message tag lets this go" in shown(view)

        ack = await submit(surface, view, {ids.COMPOSE_TEXT: "Your account is updated."})
        assert ack["response_action"] == "errors"
        assert ack["errors"] == {"compose_tag": "Pick a message tag."}
        assert await messages_of(surface, cid) == []

        ack = await submit(
            surface,
            view,
            {ids.COMPOSE_TEXT: "Your account is updated.", ids.COMPOSE_TAG: "ACCOUNT_UPDATE"},
        )
        assert ack == {}
        [message] = await messages_of(surface, cid)
        assert (message.mode, message.form, message.content.tag) == (
            "message_tag",
            "tagged",
            "ACCOUNT_UPDATE",
        )
        assert "with the message tag ACCOUNT_UPDATE" in ephemerals(surface)[-1]["text"]


async def test_messenger_after_7_days_without_tags_has_no_send_button(surface: Surface) -> None:
    wrote = surface.now - timedelta(days=8)
    cid = await sara(
        surface, identities={Channel.MESSENGER: "psid-3"}, last_inbound={Channel.MESSENGER: wrote}
    )

    view = await open_composer(surface, cid)

    assert view["submit"]["text"] == "Send when they write"  # issue 13: it may wait for them
    assert ids.COMPOSE_TAG not in action_ids(view)
    assert "Nothing can be sent on Messenger now." in shown(view)
    assert "nothing can be sent (no message tag is allowed)" in shown(view)
    assert "Nothing can be sent to Sara Ahmed on any channel now" in shown(view)


async def test_whatsapp_closed_window_offers_templates_with_parameters_and_a_preview(
    surface: Surface,
) -> None:
    await surface.deps.templates.replace_all([ORDER_UPDATE, FIX_SHIPPED])
    wrote = surface.now - timedelta(days=3)
    cid = await sara(
        surface,
        identities={Channel.WHATSAPP: "971501234567"},
        last_inbound={Channel.WHATSAPP: wrote},
    )

    view = await open_composer(surface, cid)
    assert "WhatsApp: window closed 2 d ago — template only" in shown(view)
    assert ids.COMPOSE_TEXT not in action_ids(view)
    assert "only an approved template can go" in shown(view)
    assert "fix_shipped (en)" in shown(view) and "order_update (en)" in shown(view)

    hash_before = view["hash"]
    view = await change(surface, view, ids.COMPOSE_TEMPLATE, ORDER_UPDATE.field)
    update = surface.slack.calls_to("views.update")[-1].args
    assert update["hash"] == hash_before and update["view_id"] == view["id"]
    assert action_ids(view).count("compose_param_1") == 1 and "compose_param_2" in action_ids(view)
    assert "Hi {{1}}, your order {{2}} has shipped." in shown(view)

    # Enter in a parameter input redraws the preview.
    view = await change(surface, view, "compose_param_1", "Sara")
    assert "Hi Sara, your order {{2}} has shipped." in shown(view)
    # So does the Preview button, with what is typed.
    from tests.slack.compose_steps import values_of

    typed = dict(view, state={"values": values_of(view, {"compose_param_2": "A-17"})})
    await surface.click(ids.COMPOSE_PREVIEW, ORDER_UPDATE.field, view=typed)
    await surface.settle()
    view = surface.slack.views[view["id"]]
    assert "Hi Sara, your order A-17 has shipped." in shown(view)

    ack = await submit(surface, view, {"compose_param_2": " "})
    assert ack["errors"] == {param_block(ORDER_UPDATE.field, 2): "Fill in parameter 2."}
    ack = await submit(surface, view, {"compose_param_2": "A-17\nB-2"})
    assert "can't have line breaks" in ack["errors"][param_block(ORDER_UPDATE.field, 2)]
    assert await messages_of(surface, cid) == []

    ack = await submit(surface, view, {"compose_param_2": "A-17"})
    assert ack == {}
    [message] = await messages_of(surface, cid)
    assert (message.mode, message.form) == ("template", "template")
    template = message.content.template
    assert template is not None
    assert TemplateUse(template.name, template.language, template.parameters) == TemplateUse(
        "order_update", "en", ("Sara", "A-17")
    )
    # Every value the template takes goes with it (here its two body parameters).
    assert [(c.kind, c.value) for c in template.components] == [
        (InputKind.BODY, "Sara"),
        (InputKind.BODY, "A-17"),
    ]
    assert "as the template order_update" in ephemerals(surface)[-1]["text"]


async def test_a_named_template_asks_for_each_parameter_by_name_and_queues_the_names(
    surface: Surface,
) -> None:
    shipping = WhatsAppTemplate(
        "shipping_update",
        "en",
        "UTILITY",
        "Hello {{first_name}}, your {{item}} ships today.",
        named=True,
    )
    await surface.deps.templates.replace_all([shipping])
    cid = await sara(
        surface,
        identities={Channel.WHATSAPP: "971501234567"},
        last_inbound={Channel.WHATSAPP: surface.now - timedelta(days=3)},
    )

    view = await open_composer(surface, cid)
    view = await change(surface, view, ids.COMPOSE_TEMPLATE, shipping.field)
    assert "Parameter first_name" in shown(view) and "Parameter item" in shown(view)
    assert "Hello {{first_name}}, your {{item}} ships today." in shown(view)

    ack = await submit(surface, view, {"compose_param_1": "Sara", "compose_param_2": " "})
    assert ack["errors"] == {param_block(shipping.field, 2): "Fill in parameter item."}

    ack = await submit(surface, view, {"compose_param_1": "Sara", "compose_param_2": "order"})
    assert ack == {}
    [message] = await messages_of(surface, cid)
    template = message.content.template
    assert template is not None and template.parameters == ("Sara", "order")
    assert template.parameter_names == ("first_name", "item")


async def test_whatsapp_template_must_be_picked(surface: Surface) -> None:
    await surface.deps.templates.replace_all([ORDER_UPDATE])
    cid = await sara(surface, identities={Channel.WHATSAPP: "971501234567"})  # never wrote

    view = await open_composer(surface, cid)
    assert "WhatsApp: the customer never wrote here — template only" in shown(view)

    ack = await submit(surface, view)
    assert ack["errors"] == {BLOCK_TEMPLATE: "Pick a template."}


async def test_whatsapp_inside_the_window_offers_free_text_or_a_template(surface: Surface) -> None:
    await surface.deps.templates.replace_all([FIX_SHIPPED])
    wrote = surface.now - timedelta(hours=2)
    cid = await sara(
        surface,
        identities={Channel.WHATSAPP: "971501234567"},
        last_inbound={Channel.WHATSAPP: wrote},
    )

    view = await open_composer(surface, cid)
    assert "WhatsApp: window open, closes in 22 h" in shown(view)
    assert ids.COMPOSE_FORM in action_ids(view) and ids.COMPOSE_TEXT in action_ids(view)

    view = await change(surface, view, ids.COMPOSE_FORM, "template")
    assert ids.COMPOSE_TEMPLATE in action_ids(view) and ids.COMPOSE_TEXT not in action_ids(view)
    view = await change(surface, view, ids.COMPOSE_TEMPLATE, FIX_SHIPPED.field)
    assert "The fix you asked about is live." in shown(view)
    assert ids.COMPOSE_PREVIEW not in [b[0] for b in _buttons(view)]  # no parameters

    assert await submit(surface, view) == {}
    [message] = await messages_of(surface, cid)
    assert message.mode == "template"
    assert message.content.template == TemplateUse("fix_shipped", "en")


def _buttons(view: dict[str, Any]) -> list[tuple[str, str]]:

    return buttons(view["blocks"])


async def test_whatsapp_with_no_template_synced_cannot_send_and_says_so(surface: Surface) -> None:
    wrote = surface.now - timedelta(days=2)
    cid = await sara(
        surface,
        identities={Channel.WHATSAPP: "971501234567"},
        last_inbound={Channel.WHATSAPP: wrote},
    )

    view = await open_composer(surface, cid)

    assert view["submit"]["text"] == "Send when they write"  # issue 13: it may wait for them
    assert "No approved WhatsApp template is synced yet." in shown(view)
    assert "WhatsApp: window closed 1 d ago — template only" in shown(view)


async def test_more_templates_than_a_select_holds_are_searched_as_the_agent_types(
    surface: Surface,
) -> None:
    many = [WhatsAppTemplate(f"notice_{n:03d}", "en", "UTILITY", f"Notice {n}") for n in range(120)]
    await surface.deps.templates.replace_all([*many, ORDER_UPDATE])
    cid = await sara(surface, identities={Channel.WHATSAPP: "971501234567"})

    view = await open_composer(surface, cid)
    [picker] = [b["element"] for b in view["blocks"] if b.get("block_id") == BLOCK_TEMPLATE]
    assert picker["type"] == "external_select" and picker["min_query_length"] == 0

    status, answer = await surface.interact(
        {
            "type": "block_suggestion",
            "user": {"id": AGENT, "team_id": "T0TEAM"},
            "action_id": ids.COMPOSE_TEMPLATE,
            "block_id": BLOCK_TEMPLATE,
            "value": "order",
            "view": view,
        }
    )
    assert status == 200
    assert answer == {
        "options": [
            {
                "text": {"type": "plain_text", "text": "order_update (en)", "emoji": True},
                "value": "order_update:en",
            }
        ]
    }
    status, answer = await surface.interact(
        {
            "type": "block_suggestion",
            "user": {"id": AGENT, "team_id": "T0TEAM"},
            "action_id": ids.COMPOSE_TEMPLATE,
            "block_id": BLOCK_TEMPLATE,
            "value": "",
            "view": view,
        }
    )
    assert len(answer["options"]) == 100  # Slack's most per answer


async def test_instagram_after_7_days_disables_send_and_points_to_a_channel_that_works(
    surface: Surface,
) -> None:
    cid = await sara(
        surface,
        identities={Channel.INSTAGRAM: "igsid-1", Channel.TELEGRAM: "7002"},
        last_inbound={Channel.INSTAGRAM: surface.now - timedelta(days=8)},
    )

    view = await open_composer(surface, cid)
    # The customer's latest channel allows nothing: the one that takes free text comes first.
    assert "Telegram: no window — anything can be sent" in shown(view)
    channel_select = next(
        b["accessory"] for b in view["blocks"] if b.get("block_id") == "compose_channel"
    )
    labels = [o["text"]["text"] for o in channel_select["options"]]
    assert labels == ["Instagram (nothing can be sent now)", "Telegram"]

    view = await change(
        surface, view, ids.COMPOSE_CHANNEL, "instagram", typed={ids.COMPOSE_TEXT: "Draft kept"}
    )
    assert view["submit"]["text"] == "Send when they write"  # issue 13: it may wait for them
    assert "Nothing can be sent on Instagram now." in shown(view)
    assert (
        "Instagram: window closed 1 d ago — nothing can be sent until the customer writes"
        in shown(view)
    )
    assert "pick one above" in shown(view)
    assert "Telegram: no window — anything can be sent" in shown(view)

    view = await change(surface, view, ids.COMPOSE_CHANNEL, "telegram")
    assert view["submit"]["text"] == "Send"
    text_input = next(b for b in view["blocks"] if b.get("block_id") == BLOCK_TEXT)
    assert text_input["element"]["initial_value"] == "Draft kept"  # kept across the switch


async def test_a_stale_redraw_loses_to_the_newer_one(surface: Surface) -> None:
    cid = await sara(surface, identities={Channel.TELEGRAM: "7003", Channel.SMS: "+971501234567"})
    view = await open_composer(surface, cid)
    await change(surface, view, ids.COMPOSE_CHANNEL, "sms")
    newer = surface.slack.views[view["id"]]

    await change(surface, view, ids.COMPOSE_CHANNEL, "telegram")  # with the old hash

    assert surface.slack.views[view["id"]] == newer  # Slack refused it: hash_conflict


async def test_viber_outside_the_window_goes_as_a_chatbot_message_counted_per_month(
    surface: Surface,
) -> None:
    for _ in range(3):
        assert await surface.deps.outbox.reserve_viber(surface.now, None)
    cid = await sara(
        surface,
        identities={Channel.VIBER: "viber-1"},
        last_inbound={Channel.VIBER: surface.now - timedelta(days=2)},
    )

    view = await open_composer(surface, cid)
    assert "chatbot-initiated message (3 of 10,000 free this month used)" in shown(view)

    await submit(surface, view, {ids.COMPOSE_TEXT: "Hello again"})
    [message] = await messages_of(surface, cid)
    assert message.mode == "chatbot"
    assert await surface.deps.outbox.viber_count(surface.now) == 4
    assert "as a chatbot-initiated message" in ephemerals(surface)[-1]["text"]


@pytest.mark.parametrize("terms", [False, True], ids=["free-quota-only", "commercial-terms"])
async def test_viber_past_the_free_quota_is_refused_unless_commercial_terms(
    redis_url: str, slack: FakeSlack, terms: bool
) -> None:
    async with running_surface(
        redis_url, slack, viber_monthly_free=2, viber_commercial_terms=terms
    ) as surface:
        for _ in range(2):
            assert await surface.deps.outbox.reserve_viber(surface.now, 2)
        cid = await sara(
            surface,
            identities={Channel.VIBER: "viber-2"},
            last_inbound={Channel.VIBER: surface.now - timedelta(days=2)},
        )
        view = await open_composer(surface, cid)
        if not terms:
            assert view["submit"]["text"] == "Send when they write"  # issue 13
            assert "this month's 2 free chatbot-initiated messages are used" in shown(view)
            return
        assert "paid chatbot-initiated message" in shown(view)
        await submit(surface, view, {ids.COMPOSE_TEXT: "Hello again"})
        [message] = await messages_of(surface, cid)
        assert message.mode == "chatbot"


async def test_wechat_shows_the_messages_and_time_left_in_its_window(surface: Surface) -> None:
    cid = await sara(
        surface,
        identities={Channel.WECHAT: "wx-1"},
        last_inbound={Channel.WECHAT: surface.now - timedelta(hours=1)},
    )

    view = await open_composer(surface, cid)

    assert "WeChat: window open, closes in 1 d — 20 of 20 messages left" in shown(view)
    assert "WeChat allows 20 messages per window: 20 left, and the window closes in 1 d." in shown(
        view
    )
    assert "Up to 2,048 bytes on WeChat" in shown(view)


async def test_wechat_outside_its_window_cannot_send(surface: Surface) -> None:
    cid = await sara(
        surface,
        identities={Channel.WECHAT: "wx-2"},
        last_inbound={Channel.WECHAT: surface.now - timedelta(days=3)},
    )

    view = await open_composer(surface, cid)

    assert view["submit"]["text"] == "Send when they write"  # issue 13: it may wait for them
    assert "WeChat: window closed 1 d ago — nothing can be sent until the customer writes" in shown(
        view
    )


@pytest.mark.parametrize(
    ("channel", "text", "error"),
    [
        (Channel.TELEGRAM, "   ", "Write the message."),
        (Channel.MESSENGER, "x" * 2001, "Too long for Messenger: 2,001 characters, at most 2,000."),
        (Channel.INSTAGRAM, "ب" * 501, "Too long for Instagram: 1,002 bytes, at most 1,000."),
        (Channel.WECHAT, "你" * 700, "Too long for WeChat: 2,100 bytes, at most 2,048."),
        (Channel.SMS, "y" * 1601, "Too long for SMS: 1,601 characters, at most 1,600."),
    ],
    ids=["empty", "messenger-2000", "instagram-1000-bytes", "wechat-2048-bytes", "sms-1600"],
)
async def test_bad_text_comes_back_as_a_field_error(
    surface: Surface, channel: Channel, text: str, error: str
) -> None:
    cid = await sara(
        surface,
        identities={channel: "id-1"},
        last_inbound={channel: surface.now - timedelta(hours=1)},
    )
    view = await open_composer(surface, cid)

    ack = await submit(surface, view, {ids.COMPOSE_TEXT: text})

    assert ack == {"response_action": "errors", "errors": {BLOCK_TEXT: error}}
    assert await messages_of(surface, cid) == []


async def test_a_window_that_closed_since_the_modal_opened_is_a_field_error(
    surface: Surface,
) -> None:
    cid = await sara(
        surface,
        identities={Channel.WHATSAPP: "971501234567"},
        last_inbound={Channel.WHATSAPP: surface.now - timedelta(hours=23)},
    )
    view = await open_composer(surface, cid)
    later = surface.now + timedelta(hours=2)
    surface.deps.followups.clock = lambda: later  # the agent took their time

    ack = await submit(surface, view, {ids.COMPOSE_TEXT: "Done!"})

    assert ack["errors"] == {
        BLOCK_TEXT: "WhatsApp: window closed 1 h ago — template only"
        " · No approved WhatsApp template is synced yet."
    }
    assert await messages_of(surface, cid) == []


async def test_a_double_submission_queues_one_message_and_answers_once(surface: Surface) -> None:
    cid = await sara(surface, identities={Channel.LINE: "line-1"})
    view = await open_composer(surface, cid)
    before = len(ephemerals(surface))

    assert await submit(surface, view, {ids.COMPOSE_TEXT: "Hello"}) == {}
    # The same view and hash again (a double click, or Slack retrying): taken once.
    assert await submit(surface, view, {ids.COMPOSE_TEXT: "Hello"}) == {}

    assert len(await messages_of(surface, cid)) == 1
    told = ephemerals(surface)[before:]
    assert len(told) == 1 and "On its way" in told[0]["text"]
    assert await surface.deps.outbox.outbox_length(int(cid.split("-")[0])) == 1


async def test_a_resubmission_after_a_redraw_is_answered_as_already_sent(
    surface: Surface,
) -> None:
    cid = await sara(surface, identities={Channel.LINE: "line-1"})
    view = await open_composer(surface, cid)
    assert await submit(surface, view, {ids.COMPOSE_TEXT: "Hello"}) == {}
    # Another submission of the same modal (its hash changed): a new request,
    # but the follow-up's own key (the view id) still sends once.
    assert await submit(surface, dict(view, hash="redrawn"), {ids.COMPOSE_TEXT: "Hello"}) == {}

    assert len(await messages_of(surface, cid)) == 1
    assert "was already sent; it goes only once" in ephemerals(surface)[-1]["text"]


async def test_a_conversation_of_another_agent_needs_the_takeover_ticked(surface: Surface) -> None:
    cid = await sara(
        surface, identities={Channel.TELEGRAM: "7004"}, assignee=OTHER_AGENT, status="open"
    )
    view = await open_composer(surface, cid)
    assert f"Assigned to <@{OTHER_AGENT}>. Sending takes the conversation over." in shown(view)

    ack = await submit(surface, view, {ids.COMPOSE_TEXT: "I'll take this"})
    assert ack["errors"] == {BLOCK_TAKEOVER: "Tick the box to take the conversation over."}
    assert await messages_of(surface, cid) == []

    ack = await submit(
        surface, view, {ids.COMPOSE_TEXT: "I'll take this", ids.TAKEOVER_CONFIRM: True}
    )
    assert ack == {}
    assert len(await messages_of(surface, cid)) == 1
    contact = await surface.deps.contacts.require(cid)
    assert contact.conversation.assignee == AGENT
    told = ephemerals(surface)[-1]
    assert f"You took the conversation over from <@{OTHER_AGENT}>." in texts(told["blocks"])


async def test_the_modal_speaks_arabic_to_an_agent_who_chose_it(surface: Surface) -> None:
    await surface.deps.people.pick_language(AGENT, "ar")
    cid = await sara(
        surface,
        identities={Channel.MESSENGER: "psid-ar"},
        last_inbound={Channel.MESSENGER: surface.now - timedelta(days=2)},
    )

    view = await open_composer(surface, cid)

    assert view["title"]["text"] == "متابعة" and view["submit"]["text"] == "إرسال"
    assert "وسم HUMAN_AGENT" in shown(view)
    ack = await submit(surface, view, {ids.COMPOSE_TEXT: " "})
    assert ack["errors"] == {BLOCK_TEXT: "اكتب الرسالة."}
    await submit(surface, view, {ids.COMPOSE_TEXT: "مرحبا سارة"})
    assert "في الطريق إلى" in ephemerals(surface)[-1]["text"]


async def test_follow_up_inside_a_modal_pushes_and_from_app_home_opens(surface: Surface) -> None:
    cid = await sara(surface, identities={Channel.TELEGRAM: "7005"})
    parent = {"id": "V0PARENT", "type": "modal", "hash": "h1", "previous_view_id": None}
    await surface.click(ids.CONTACT_FOLLOWUP, cid, view=parent)
    await surface.settle()
    assert surface.slack.calls_to("views.push")[-1].args["view"]["callback_id"] == ids.COMPOSE_VIEW

    home = {"id": "VHOME", "type": "home", "hash": "h2"}
    opened = len(surface.slack.calls_to("views.open"))
    await surface.click(ids.CONTACT_FOLLOWUP, cid, view=home)
    await surface.settle()
    assert len(surface.slack.calls_to("views.open")) == opened + 1
    # Answers go by direct message: there is no channel to answer in.
    view = surface.last_view()
    await submit(surface, view, {ids.COMPOSE_TEXT: "Hi"})
    assert surface.slack.calls_to("chat.postMessage")[-1].args["channel"] == AGENT


async def test_follow_up_from_a_pushed_modal_replaces_it_to_keep_the_stack_at_three(
    surface: Surface,
) -> None:
    cid = await sara(surface, identities={Channel.TELEGRAM: "7006"})
    # A modal pushed on another: Slack knows its id and hash.
    stored = surface.slack._open_view(
        {
            "view": {
                "type": "modal",
                "title": {"type": "plain_text", "text": "Contact"},
                "blocks": [],
            }
        }
    )["view"]
    pushed = dict(stored, previous_view_id="V0ROOT")
    pushes = len(surface.slack.calls_to("views.push"))

    await surface.click(ids.CONTACT_FOLLOWUP, cid, view=pushed)
    await surface.settle()

    assert len(surface.slack.calls_to("views.push")) == pushes
    assert surface.slack.views[pushed["id"]]["callback_id"] == ids.COMPOSE_VIEW


# --- compose rules ----------------------------------------------------
#
# The composer's rules without Slack: text limits, which channel, which forms.
#
# `bot.domain.limits` and `bot.services.compose` (SPEC "Channel window rules";
# issue 4, item 4).


TEMPLATE = WhatsAppTemplate("order_update", "en", "UTILITY", "Hi {{1}}, order {{2}} shipped.")


def contact_with(wrote: dict[Channel, timedelta | None]) -> Contact:
    """A contact on these channels; each with how long ago the customer wrote (None: never)."""
    return Contact(
        "0-1",
        "Sara",
        "Ahmed",
        identities={channel: f"id-{channel.value}" for channel in wrote},
        conversation=Conversation(
            last_inbound_at={c: NOW - ago for c, ago in wrote.items() if ago is not None}
        ),
    )


def decisions(contact: Contact) -> list[Decision]:
    inbound = contact.conversation.last_inbound_at
    return [
        decide(c, WindowInput(last_inbound_at=inbound.get(c)), NOW, PolicySettings())
        for c in contact.channels
    ]


def test_every_channel_has_a_text_limit() -> None:
    assert set(TEXT_LIMITS) == set(Channel)


@pytest.mark.parametrize(
    ("channel", "text", "size"),
    [
        (Channel.WHATSAPP, "سلام", 4),
        (Channel.INSTAGRAM, "سلام", 8),  # UTF-8 bytes
        (Channel.WECHAT, "你好", 6),
        (Channel.TELEGRAM, "hi 👋", 5),  # UTF-16: the emoji counts twice
        (Channel.LINE, "👋👋", 4),
        (Channel.SMS, "hi 👋", 4),
    ],
    ids=[
        "whatsapp-chars",
        "instagram-bytes",
        "wechat-bytes",
        "telegram-utf16",
        "line-utf16",
        "sms-chars",
    ],
)
def test_each_channel_measures_text_its_own_way(channel: Channel, text: str, size: int) -> None:
    assert text_limit(channel).measure(text) == size


def test_byte_limits_are_the_documented_ones() -> None:
    assert (text_limit(Channel.INSTAGRAM).amount, text_limit(Channel.INSTAGRAM).unit) == (
        1000,
        Unit.BYTES,
    )
    assert (text_limit(Channel.WECHAT).amount, text_limit(Channel.WECHAT).unit) == (
        2048,
        Unit.BYTES,
    )


@pytest.mark.parametrize(
    ("wrote", "expected"),
    [
        (
            {Channel.WHATSAPP: timedelta(hours=1), Channel.TELEGRAM: timedelta(hours=5)},
            Channel.WHATSAPP,
        ),
        (
            {Channel.WHATSAPP: timedelta(days=2), Channel.TELEGRAM: timedelta(days=5)},
            Channel.TELEGRAM,
        ),
        ({Channel.WHATSAPP: timedelta(days=2), Channel.TELEGRAM: None}, Channel.TELEGRAM),
        (
            {Channel.WHATSAPP: timedelta(days=2), Channel.INSTAGRAM: timedelta(days=9)},
            Channel.WHATSAPP,
        ),
        ({Channel.INSTAGRAM: None, Channel.WECHAT: None}, Channel.INSTAGRAM),
    ],
    ids=[
        "latest-allows-text",
        "latest-template-only-older-free",
        "never-wrote-but-no-window",
        "none-allows-text-latest-wins",
        "never-wrote-anywhere-first-channel",
    ],
)
def test_the_one_line_channel(wrote: dict[Channel, timedelta | None], expected: Channel) -> None:
    contact = contact_with(wrote)
    assert line_channel(contact, decisions(contact)) == expected


def test_the_composer_prefers_a_channel_where_something_can_go() -> None:
    contact = contact_with(
        {Channel.INSTAGRAM: timedelta(days=9), Channel.WHATSAPP: timedelta(days=10)}
    )

    plan = plan_for(contact, AGENT, decisions(contact), [TEMPLATE])

    assert plan.draft.channel is Channel.WHATSAPP and plan.draft.form is Form.TEMPLATE
    assert [o.channel for o in plan.alternatives] == []


def test_a_template_draft_keeps_its_parameters_and_reports_each_missing_one() -> None:
    contact = contact_with({Channel.WHATSAPP: timedelta(days=2)})
    draft = Draft(Channel.WHATSAPP, Form.TEMPLATE, TEMPLATE.field, params=("Sara",))

    plan = plan_for(contact, AGENT, decisions(contact), [TEMPLATE], draft)

    assert plan.draft.params == ("Sara", "")
    assert plan.preview == "Hi Sara, order {{2}} shipped."
    [problem] = validate(plan, plan.draft)
    assert (problem.field, problem.index) == (Field.PARAM, 2)


# --- edit contact -----------------------------------------------------
#
# Editing a contact (name, phone, e-mail) from its search result, /reopen answer
# and thread root; a phone or e-mail of another contact asks to merge the two.
#
# SPEC "Finding a contact". Signed requests into the real app (tests/slack/conftest.py).


OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


def typed(first: str = "", last: str = "", phone: str = "", email: str = "") -> dict[str, Any]:
    values = {"first_name": first, "last_name": last, "phone": phone, "email": email}
    actions = {
        "first_name": ids.EDIT_FIRST_NAME,
        "last_name": ids.EDIT_LAST_NAME,
        "phone": ids.EDIT_PHONE,
        "email": ids.EDIT_EMAIL,
    }
    return {
        BLOCKS[name]: {actions[name]: {"type": "plain_text_input", "value": value or None}}
        for name, value in values.items()
    }


async def open_editor(surface: Surface, contact_id: str) -> dict[str, Any]:
    status, ack, _ = await surface.click(ids.CONTACT_EDIT, contact_id)
    await surface.settle()
    assert status == 200 and ack == {}
    view = surface.last_view()
    assert view["callback_id"] == ids.EDIT_VIEW
    return view


async def names(surface: Surface, query: str) -> list[str]:
    page = await surface.deps.search.search(query, SearchFilters(status=None))
    return [c.display_name for c in page.contacts]


async def test_a_nameless_wechat_contact_gets_a_name_from_its_search_result(
    surface: Surface,
) -> None:
    wechat = await surface.contact("", identities={Channel.WECHAT: OPENID}, assignee=AGENT)
    _, _, url = await surface.command(ids.FIND_CONTACT, OPENID)
    await surface.settle()
    [answer] = surface.slack.answers_to(url)
    assert (ids.CONTACT_EDIT, wechat) in buttons(answer["blocks"])

    view = await open_editor(surface, wechat)
    status, ack = await surface.submit(view, typed("Li", "Wei", "+971 50 765 4321", "li@ex.com"))
    await surface.settle()

    assert status == 200 and ack == {}
    contact = await surface.deps.contacts.require(wechat)
    assert (contact.first_name, contact.last_name) == ("Li", "Wei")
    assert (contact.phone, contact.email) == ("+971507654321", "li@ex.com")
    # Re-indexed: found by the new name, phone and e-mail.
    assert await names(surface, "li wei") == ["Li Wei"]
    assert await names(surface, "0507654321") == ["Li Wei"]
    assert await names(surface, "li@ex.com") == ["Li Wei"]


async def test_an_invalid_phone_or_email_is_a_field_error(surface: Surface) -> None:
    sara = await surface.contact("Sara", "Ahmed", email="sara@example.com")
    view = await open_editor(surface, sara)
    assert "Sara" in str(view["blocks"]) and "sara@example.com" in str(view["blocks"])

    status, ack = await surface.submit(view, typed("Sara", "Ahmed", "12ab", "not-an-email"))

    assert status == 200 and ack["response_action"] == "errors"
    assert set(ack["errors"]) == {BLOCKS["phone"], BLOCKS["email"]}
    assert "valid phone number" in ack["errors"][BLOCKS["phone"]]
    contact = await surface.deps.contacts.require(sara)
    assert (contact.phone, contact.email) == (None, "sara@example.com")


async def test_edit_is_offered_on_the_reopen_answer_and_the_thread_root(
    surface: Surface,
) -> None:
    from bot.slack.blocks.threads import root_buttons

    omar = await surface.contact("Omar", "Saleh", email="omar@example.com", assignee=AGENT)
    _, _, url = await surface.command(ids.REOPEN, omar)
    await surface.settle()
    [answer] = surface.slack.answers_to(url)
    assert (ids.CONTACT_EDIT, omar) in buttons(answer["blocks"])
    contact = await surface.deps.contacts.require(omar)
    root = root_buttons(contact, "en").to_dict()
    assert (ids.CONTACT_EDIT, omar) in buttons([root])


async def test_a_phone_of_another_contact_asks_to_merge_and_merging_keeps_both(
    surface: Surface,
) -> None:
    wechat = await surface.contact("", identities={Channel.WECHAT: OPENID})
    sara = await surface.contact(
        "Sara",
        "Ahmed",
        phone="+971501234567",
        identities={Channel.WHATSAPP: "971501234567", Channel.TELEGRAM: "548213907"},
    )
    view = await open_editor(surface, wechat)

    status, ack = await surface.submit(view, typed("Sara", "Ahmed", "0501234567"))

    # Not saved: the modal asks whether the two are one customer.
    assert status == 200 and ack["response_action"] == "update"
    question = ack["view"]
    assert question["callback_id"] == ids.MERGE_VIEW
    assert "already belongs to *Sara Ahmed*" in str(question["blocks"])
    assert (await surface.deps.contacts.require(wechat)).phone is None

    status, ack = await surface.submit(dict(question, id="V0MERGE"), {})
    await surface.settle()

    assert status == 200 and ack == {}
    merged = await surface.deps.contacts.require(wechat)
    assert merged.name == "Sara Ahmed" and merged.phone == "+971501234567"
    assert set(merged.identities) == {Channel.WECHAT, Channel.WHATSAPP, Channel.TELEGRAM}
    # The other contact's id now leads to the survivor; search finds one contact.
    assert (await surface.deps.contacts.require(sara)).id == wechat
    assert await names(surface, "sara") == ["Sara Ahmed"]
    assert await names(surface, "548213907") == ["Sara Ahmed"]


async def test_contacts_with_two_identities_on_one_channel_are_not_merged(
    surface: Surface,
) -> None:
    one = await surface.contact("", identities={Channel.TELEGRAM: "111111111"})
    await surface.contact("Other", phone="+971501111111", identities={Channel.TELEGRAM: "2222"})
    view = await open_editor(surface, one)

    status, ack = await surface.submit(view, typed(phone="+971501111111"))

    assert status == 200 and ack["response_action"] == "errors"
    assert "cannot be merged" in ack["errors"][BLOCKS["phone"]]
    assert (await surface.deps.contacts.require(one)).phone is None


async def test_a_merge_confirmed_after_the_other_contact_went_says_so(surface: Surface) -> None:
    wechat = await surface.contact("", identities={Channel.WECHAT: OPENID})
    other = await surface.contact("Huda", phone="+971502222222")
    view = await open_editor(surface, wechat)
    _, ack = await surface.submit(view, typed(phone="+971502222222"))
    question = ack["view"]
    await surface.deps.contacts.delete(other)

    status, ack = await surface.submit(dict(question, id="V0MERGE2"), {})

    assert status == 200 and ack["response_action"] == "update"
    assert "no longer exists" in str(ack["view"]["blocks"])
    assert (await surface.deps.contacts.require(wechat)).phone is None


# --- WhatsApp templates as they are really built (issue 12) ---------------------------
# One input per value the chosen template needs, with its example as placeholder;
# its languages; its category and Meta's billing note; templates we cannot send
# listed with the reason; a preview of header, body, footer and buttons; field
# errors before anything reaches Meta.


def order_shipped(language: str, body: str, footer: str) -> dict[str, Any]:
    """Meta's template list entry: image header, body, footer, tracking link and quick reply."""
    return {
        "name": "order_shipped",
        "language": language,
        "status": "APPROVED",
        "category": "UTILITY",
        "parameter_format": "POSITIONAL",
        "components": [
            {
                "type": "HEADER",
                "format": "IMAGE",
                "example": {"header_handle": ["https://scontent.example/sample.png"]},
            },
            {"type": "BODY", "text": body, "example": {"body_text": [["Sara", "A-17"]]}},
            {"type": "FOOTER", "text": footer},
            {
                "type": "BUTTONS",
                "buttons": [
                    {
                        "type": "URL",
                        "text": "Track" if language == "en_US" else "تتبع",
                        "url": "https://acme.example/track/{{1}}",
                        "example": ["https://acme.example/track/A-17"],
                    },
                    {"type": "QUICK_REPLY", "text": "Stop" if language == "en_US" else "إيقاف"},
                ],
            },
        ],
    }


ENGLISH = order_shipped("en_US", "Hi {{1}}, order {{2}} has shipped.", "Acme")
ARABIC = order_shipped("ar", "مرحبا {{1}}، تم شحن الطلب {{2}}.", "أكمي")
VISIT = {
    "name": "store_visit",
    "language": "en_US",
    "status": "APPROVED",
    "category": "MARKETING",
    "components": [{"type": "HEADER", "format": "LOCATION"}, {"type": "BODY", "text": "Visit"}],
}


def synced(*items: dict[str, Any]) -> list[WhatsAppTemplate]:
    found = [parse_template(item) for item in items]
    assert all(found)
    return [t for t in found if t is not None]


async def closed_whatsapp_customer(surface: Surface) -> str:
    await surface.deps.templates.replace_all(synced(ENGLISH, ARABIC, VISIT))
    return await sara(
        surface,
        identities={Channel.WHATSAPP: "971501234567"},
        last_inbound={Channel.WHATSAPP: surface.now - timedelta(days=3)},
    )


def shown_plain(view: dict[str, Any]) -> str:
    """The view's texts without the bidi isolation marks put around parameters."""
    return shown(view).replace("\u2068", "").replace("\u2069", "")


def placeholders(view: dict[str, Any]) -> dict[str, str]:
    return {
        b["element"]["action_id"]: (b["element"].get("placeholder") or {}).get("text", "")
        for b in view["blocks"]
        if b["type"] == "input" and b["element"]["action_id"].startswith(ids.COMPOSE_PARAM)
    }


async def test_the_modal_asks_for_what_the_template_needs_and_sends_its_values(
    surface: Surface,
) -> None:
    cid = await closed_whatsapp_customer(surface)
    view = await open_composer(surface, cid)
    # One option per template, with its languages; the unavailable one listed with why.
    assert "order_shipped (ar, en_US)" in shown(view)
    assert "store_visit (en_US) (it needs a location header" in shown(view)

    view = await change(surface, view, ids.COMPOSE_TEMPLATE, "order_shipped:en_US")
    assert "Category: *utility*. Meta bills template messages by category." in shown(view)
    assert ids.COMPOSE_TEMPLATE_LANGUAGE in action_ids(view)
    assert placeholders(view) == {
        "compose_param_1": "https://scontent.example/sample.png",
        "compose_param_2": "Sara",
        "compose_param_3": "A-17",
        "compose_param_4": "A-17",
        "compose_param_5": "Stop",
    }
    for label in (
        "Header image: https link",
        "Parameter 1",
        "Button “Track”: end of its link",
        "Button “Stop”: reply payload (optional)",
    ):
        assert label in shown(view)

    view = await change(
        surface, view, "compose_param_4", "A-17", typed={"compose_param_1": "https://cdn.x/p.png"}
    )
    preview = shown(view)
    assert "🖼️ Image: https://cdn.x/p.png" in preview
    assert "Hi {{1}}, order {{2}} has shipped." in preview
    assert "_Acme_" in preview and "🔗 Track → https://acme.example/track/A-17" in preview
    assert "↩️ Stop" in preview

    field = "order_shipped:en_US"
    ack = await submit(
        surface,
        view,
        {"compose_param_1": "http://cdn.x/p.png", "compose_param_2": "Sara", "compose_param_3": ""},
    )
    assert ack["errors"] == {
        param_block(field, 1): "Header image: https link must be an https:// link.",
        param_block(field, 3): "Fill in parameter 2.",
    }
    ack = await submit(surface, view, {"compose_param_4": "A 17"})
    assert (
        ack["errors"][param_block(field, 4)] == "Button “Track”: end of its link can't have spaces."
    )
    assert await messages_of(surface, cid) == []

    ack = await submit(
        surface,
        view,
        {
            "compose_param_1": "https://cdn.x/p.png",
            "compose_param_2": "Sara",
            "compose_param_3": "A-17",
        },
    )
    assert ack == {}
    [message] = await messages_of(surface, cid)
    template = message.content.template
    assert template is not None
    assert (template.name, template.language) == ("order_shipped", "en_US")
    assert template.parameters == ("Sara", "A-17")


async def test_an_arabic_agent_starts_in_arabic_and_may_switch_language(surface: Surface) -> None:
    await surface.deps.people.pick_language(AGENT, "ar")
    cid = await closed_whatsapp_customer(surface)
    view = await open_composer(surface, cid)
    view = await change(surface, view, ids.COMPOSE_TEMPLATE, "order_shipped:ar")
    assert "مرحبا {{1}}، تم شحن الطلب {{2}}." in shown_plain(view)
    assert "تحتسب Meta رسوم رسائل القوالب حسب الفئة" in shown_plain(view)
    assert "الزر «تتبع»: نهاية رابطه" in shown_plain(view)

    typed = {"compose_param_2": "سارة"}
    view = await change(
        surface, view, ids.COMPOSE_TEMPLATE_LANGUAGE, "order_shipped:en_US", typed=typed
    )
    assert "Hi سارة, order {{2}} has shipped." in shown_plain(view)  # typed values kept
    ack = await submit(
        surface,
        view,
        {
            "compose_param_1": "https://cdn.x/p.png",
            "compose_param_3": "A-17",
            "compose_param_4": "A-17",
        },
    )
    assert ack == {}
    [message] = await messages_of(surface, cid)
    template = message.content.template
    assert template is not None
    assert (template.name, template.language) == ("order_shipped", "en_US")


@pytest.mark.parametrize(
    ("lang", "language", "body"),
    [("en", "en_US", "Sara"), ("ar", "ar", "سارة")],
    ids=["english", "arabic"],
)
async def test_an_image_and_tracking_link_template_reaches_meta_in_its_documented_shape(
    redis_url: str, slack: FakeSlack, lang: str, language: str, body: str
) -> None:
    """Outside WhatsApp's 24 h window, through signed Slack requests, the relay and
    the WhatsApp connector: the fake Graph API checks the components against the
    template it holds, as Meta does (132000 on a mismatch)."""
    async with FakeGraph() as graph:
        graph.templates["102290129340398"] = [ENGLISH, ARABIC]
        async with running_surface(
            redis_url,
            slack,
            whatsapp_api_url=graph.url,
            whatsapp_token=graph.whatsapp_token,
            whatsapp_phone_number_id=graph.phone_number_id,
        ) as surface:
            await surface.deps.people.pick_language(AGENT, lang)
            cid = await closed_whatsapp_customer(surface)
            view = await open_composer(surface, cid)
            view = await change(surface, view, ids.COMPOSE_TEMPLATE, f"order_shipped:{language}")
            ack = await submit(
                surface,
                view,
                {
                    "compose_param_1": "https://cdn.example/p.png",
                    "compose_param_2": body,
                    "compose_param_3": "A-17",
                    "compose_param_4": "A-17",
                },
            )
            assert ack == {}
            [queued] = await messages_of(surface, cid)
            await relay_once(surface, cid, queued.id)
    [request] = graph.sent
    assert request.json["type"] == "template"
    assert request.json["template"] == {
        "name": "order_shipped",
        "language": {"code": language},
        "components": [
            {
                "type": "header",
                "parameters": [{"type": "image", "image": {"link": "https://cdn.example/p.png"}}],
            },
            {
                "type": "body",
                "parameters": [{"type": "text", "text": body}, {"type": "text", "text": "A-17"}],
            },
            {
                "type": "button",
                "sub_type": "url",
                "index": "0",
                "parameters": [{"type": "text", "text": "A-17"}],
            },
            {
                "type": "button",
                "sub_type": "quick_reply",
                "index": "1",
                "parameters": [{"type": "payload", "payload": "Stop" if lang == "en" else "إيقاف"}],
            },
        ],
    }


async def relay_once(surface: Surface, contact_id: str, message_id: str) -> None:
    """Run the relay with the WhatsApp connector until `message_id` is sent (or fails)."""
    settings = surface.settings
    keys = Keys(partitions=settings.partitions, prefix=settings.redis_key_prefix)
    redis = surface.app[REDIS_KEY]
    outbox = surface.deps.outbox
    async with http_session() as http:
        relay = Relay(
            redis,
            keys,
            {Channel.WHATSAPP: WhatsAppConnector(settings, http)},
            PolicySettings(),
            lambda: surface.now,
            consumer="test",
            tuning=RelayTuning(block_ms=50),
        )
        stop = asyncio.Event()
        running = asyncio.create_task(relay.run(stop))
        partition = ContactId.parse(contact_id).partition
        for _ in range(250):
            message = await outbox.get_message(partition, message_id)
            if message is not None and message.status is not MessageStatus.QUEUED:
                break
            await asyncio.sleep(0.02)
        stop.set()
        await running
    assert message is not None and message.status is MessageStatus.SENT, message

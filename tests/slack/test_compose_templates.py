"""The compose modal with WhatsApp templates as they are really built (issue 12):
one input per value the chosen template needs, with its example as placeholder;
its languages; its category and Meta's billing note; templates we cannot send
listed with the reason; a preview of header, body, footer and buttons; field
errors before anything reaches Meta. Signed Slack requests into the real app."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.domain.channels import Channel
from bot.domain.templates import parse_template
from bot.slack import ids
from bot.slack.blocks.compose_modal import param_block
from bot.store.templates import WhatsAppTemplate
from tests.slack.compose_steps import action_ids, change, messages_of, open_composer, submit
from tests.slack.conftest import AGENT, Surface
from tests.slack.test_compose_modal import sara, shown


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
    assert (message.template, message.template_language) == ("order_shipped", "en_US")
    assert message.template_params == ("Sara", "A-17")


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
    assert (message.template, message.template_language) == ("order_shipped", "en_US")

"""`block_kit_json` gives exactly slack-sdk's `to_dict()`, and still validates."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    CheckboxesElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    ImageElement,
    InputBlock,
    MarkdownTextObject,
    Option,
    OptionGroup,
    OverflowMenuElement,
    PlainTextInputElement,
    PlainTextObject,
    RadioButtonsElement,
    RichTextBlock,
    RichTextElementParts,
    RichTextListElement,
    RichTextSectionElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.domain.channels import Channel
from bot.services.directory import FindArgs, parse_find_args
from bot.slack.blocks.compose_when import when_blocks
from bot.slack.blocks.contact_blocks import results_message, views_of
from bot.slack.blocks.search_modal import search_modal
from bot.slack.payloads import BuiltBlock, block_kit_json, compact_json
from tests.slack.conftest import AGENT, NOW, Surface


def options(n: int) -> list[Option]:
    return [Option(value=f"v{i}", label=f"Choice {i}", description=f"about {i}") for i in range(n)]


CONFIRM = ConfirmObject(
    title="Send it?", text="It goes to the customer.", confirm="Send", deny="Back", style="primary"
)

CASES: dict[str, Any] = {
    "section with fields and accessory": SectionBlock(
        block_id="s1",
        text=MarkdownTextObject(text="*Sara* · WhatsApp"),
        fields=[PlainTextObject(text="a"), MarkdownTextObject(text="b", verbatim=True)],
        accessory=ButtonElement(text="Go", action_id="go", value="1", confirm=CONFIRM),
    ),
    "actions with every kind of element": ActionsBlock(
        block_id="a1",
        elements=[
            ButtonElement(text="Reopen", action_id="r", value="c1", style="danger"),
            StaticSelectElement(action_id="sel", placeholder="Pick", options=options(3)),
            StaticSelectElement(
                action_id="grp",
                option_groups=[OptionGroup(label="G", options=options(2))],
            ),
            OverflowMenuElement(action_id="ov", options=options(2)),
        ],
    ),
    "context, divider, header": [
        ContextBlock(
            elements=[
                MarkdownTextObject(text="WhatsApp: window closed 2 d ago"),
                ImageElement(image_url="https://example.com/i.png", alt_text="icon"),
            ]
        ),
        DividerBlock(),
        HeaderBlock(text="Open conversations"),
    ],
    "inputs": [
        InputBlock(
            block_id="q",
            label="Message",
            hint="Sent as free text",
            optional=True,
            dispatch_action=True,
            element=PlainTextInputElement(
                action_id="t", multiline=True, max_length=4096, initial_value="Hello"
            ),
        ),
        InputBlock(
            label="Scope",
            element=RadioButtonsElement(
                action_id="r", options=options(2), initial_option=options(2)[1]
            ),
        ),
        InputBlock(label="Flags", element=CheckboxesElement(action_id="c", options=options(3))),
    ],
    "rich text (empty elements are allowed there)": RichTextBlock(
        elements=[
            RichTextSectionElement(elements=[]),
            RichTextSectionElement(elements=[RichTextElementParts.Text(text="hi")]),
            RichTextListElement(style="bullet", elements=[RichTextSectionElement(elements=[])]),
        ]
    ),
    "a modal": View(
        type="modal",
        callback_id="compose_view",
        title="Follow up",
        submit="Send",
        close="Cancel",
        private_metadata='{"c":"42"}',
        clear_on_close=True,
        blocks=[SectionBlock(text="Window open 3 h")],
    ),
    "a home tab": View(type="home", blocks=[HeaderBlock(text="Home"), DividerBlock()]),
    "options of every shape": [
        Option(value="label-only", label="Tomorrow 09:00"),
        Option(value="text", text=PlainTextObject(text="In 2 h", emoji=True)),
        Option(value="markdown", text=MarkdownTextObject(text="*WhatsApp*")),
        Option(value="described", label="Telegram", description="open 3 h"),
        Option(value="a dict", label="SMS", description={"type": "plain_text", "text": "x"}),
        Option(value="linked", label="Docs", url="https://example.com/docs"),
    ],
}


@pytest.mark.parametrize("value", list(CASES.values()), ids=list(CASES))
def test_block_kit_json_is_to_dict(value: Any) -> None:
    expected = [v.to_dict() for v in value] if isinstance(value, list) else value.to_dict()
    assert block_kit_json(value) == expected


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_the_search_modal_and_an_empty_result_come_out_the_same(lang: str) -> None:
    modal = search_modal(parse_find_args("sara --all --open"), "C0HERE", lang)
    assert block_kit_json(modal) == modal.to_dict()
    _, blocks = results_message(
        FindArgs(query="nobody"),
        [],
        agent=AGENT,
        offset=0,
        next_offset=None,
        truncated=False,
        now=NOW,
        lang=lang,
    )
    assert block_kit_json(blocks) == [b.to_dict() for b in blocks]


async def test_search_results_come_out_the_same(surface: Surface) -> None:
    for n in range(3):
        await surface.contact(
            "Sara",
            f"S{n}",
            phone=f"+97150123456{n}",
            identities={Channel.WHATSAPP: f"97150123456{n}", Channel.TELEGRAM: f"7{n}"},
            assignee=AGENT,
            last_inbound={Channel.WHATSAPP: surface.now - timedelta(hours=30 * n)},
        )
    args = parse_find_args("sara")
    page = await surface.deps.directory.find(args, AGENT, offset=0)
    decisions = await surface.deps.listeners.finder.decided(page.contacts)
    views = views_of(page.contacts, decisions)
    for lang in ("en", "ar"):
        _, blocks = results_message(
            args,
            views,
            agent=AGENT,
            offset=0,
            next_offset=3,
            truncated=True,
            now=surface.now,
            lang=lang,
        )
        assert len(blocks) > 5
        assert block_kit_json(blocks) == [b.to_dict() for b in blocks]


def test_it_validates_as_to_dict_does() -> None:
    too_long: list[Block] = [SectionBlock(text=MarkdownTextObject(text="x" * 3001))]
    with pytest.raises(SlackObjectFormationError):
        too_long[0].to_dict()
    with pytest.raises(SlackObjectFormationError):
        block_kit_json(too_long)
    bad_button = ButtonElement(text="Go", action_id="a" * 256, value="1")
    with pytest.raises(SlackObjectFormationError):
        block_kit_json(bad_button)
    for bad_option in (Option(value="v" * 151, label="x"), Option(value="v", label="x" * 76)):
        with pytest.raises(SlackObjectFormationError):
            bad_option.to_dict()
        with pytest.raises(SlackObjectFormationError):
            block_kit_json(StaticSelectElement(action_id="pick", options=[bad_option]))


def test_plain_json_passes_through() -> None:
    data = {"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}
    assert block_kit_json([data, "x", 1, None]) == [data, "x", 1, None]


def test_a_built_block_is_its_models_json_made_once() -> None:
    model = InputBlock(
        block_id="when",
        label=PlainTextObject(text="When", emoji=True),
        optional=True,
        element=StaticSelectElement(action_id="pick", options=options(3)),
    )
    built = BuiltBlock(model)
    assert built.to_dict() == model.to_dict()
    assert block_kit_json(built) is built.json  # shared, not converted again
    view = View(type="modal", title="Follow up", blocks=[SectionBlock(text="Sara"), built])
    assert block_kit_json(view) == view.to_dict()
    assert view.to_dict()["blocks"][1] == model.to_dict()


def test_a_built_block_is_validated_when_built() -> None:
    with pytest.raises(SlackObjectFormationError):
        BuiltBlock(SectionBlock(text=MarkdownTextObject(text="x" * 3001)))


def test_the_time_inputs_are_built_once_a_minute_on_the_customers_clock() -> None:
    dubai = ZoneInfo("Asia/Dubai")
    at = datetime(2026, 3, 2, 10, 5, 7, tzinfo=UTC)  # 14:05 in Dubai, a Monday
    first = block_kit_json(when_blocks(at, dubai, "en"))
    assert [b["block_id"] for b in first] == ["compose_when", "compose_when_at", "compose_remind"]
    tomorrow_9 = datetime(2026, 3, 3, 5, 0, tzinfo=UTC)  # 09:00 in Dubai
    monday_9 = datetime(2026, 3, 9, 5, 0, tzinfo=UTC)
    values = [o["value"] for o in first[0]["element"]["options"]]
    assert values == ["now", f"at:{int(tomorrow_9.timestamp())}", f"at:{int(monday_9.timestamp())}"]
    assert "14:05 (Asia/Dubai)" in first[1]["hint"]["text"]
    same_minute = block_kit_json(when_blocks(at + timedelta(seconds=50), dubai, "en"))
    assert all(a is b for a, b in zip(first, same_minute, strict=True))
    next_minute = block_kit_json(when_blocks(at + timedelta(seconds=53), dubai, "en"))
    assert "14:06 (Asia/Dubai)" in next_minute[1]["hint"]["text"]
    mine = block_kit_json(when_blocks(at, None, "en"))
    assert "not known" in mine[1]["hint"]["text"]
    assert block_kit_json(when_blocks(at, dubai, "ar"))[0] != first[0]


@pytest.mark.parametrize(
    "value",
    [
        {"c": "0-12", "x": "Hi é 😀 \u2028 \x7f", "fl": [["a.pdf", "application/pdf", 3, "u"]]},
        {"x": 'tab\tnewline\n quote" back\\ nul\x00 unit\x1f'},
        {"x": "lone \ud800 surrogate"},
    ],
    ids=["unicode", "escapes", "lone surrogate"],
)
def test_compact_json_is_the_stdlibs_compact_text(value: dict[str, Any]) -> None:
    assert compact_json(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))

"""Blocks filled into templates are exactly the JSON of the same models built
with the real values, and stay within Slack's limits."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)

from bot.domain.channels import Channel
from bot.domain.limits import TextLimit, Unit
from bot.domain.models import Contact, ConversationStatus
from bot.services.compose_plan import Draft
from bot.services.directory import parse_find_args
from bot.slack import ids
from bot.slack.blocks.compose_context import BLOCK_TEXT
from bot.slack.blocks.compose_modal import _channel_select, _text_input
from bot.slack.blocks.contact_blocks import (
    ContactView,
    button_row,
    channel_lines,
    contact_blocks,
    contact_summary,
    results_message,
    text_message,
    views_of,
)
from bot.slack.blocks.parts import context_block, section
from bot.slack.i18n import t
from bot.slack.payloads import BlockTemplate, BuiltBlock, Slot, block_kit_json
from tests.slack.conftest import AGENT, Surface

ID = Slot("id", 200)
TEXT = Slot("text", 3000)


def row(contact_id: str) -> ActionsBlock:
    return ActionsBlock(
        block_id=f"c:{contact_id}",
        elements=[
            ButtonElement(text=PlainTextObject(text="Go"), action_id="go", value=contact_id),
            ButtonElement(text=PlainTextObject(text="Edit"), action_id="edit", value=contact_id),
        ],
    )


def test_a_filled_template_is_the_models_json_with_the_values() -> None:
    template = BlockTemplate(row(ID.placeholder), [ID])
    filled = template.filled({ID: "3-17"})
    assert isinstance(filled, BuiltBlock)
    assert filled.to_dict() == row("3-17").to_dict()
    assert filled.block_id == "c:3-17"
    assert block_kit_json([filled]) == [row("3-17").to_dict()]
    # The template itself is untouched, and what holds no slot is shared, not copied.
    again = template.filled({ID: "0-1"})
    assert again.to_dict() == row("0-1").to_dict()
    assert template.json == row(ID.placeholder).to_dict()
    text = template.json["elements"][0]["text"]
    assert again.json["elements"][0]["text"] is text
    assert again.json["elements"][0] is not template.json["elements"][0]


def test_a_template_is_validated_with_each_slot_at_its_longest() -> None:
    label = Slot("label", 76)  # a button's text may have 75 characters
    model = ButtonElement(text=PlainTextObject(text=label.placeholder), action_id="a", value="1")
    with pytest.raises(SlackObjectFormationError):
        BlockTemplate(ActionsBlock(elements=[model]), [label])
    with pytest.raises(SlackObjectFormationError):
        BlockTemplate(SectionBlock(text=MarkdownTextObject(text=Slot("x", 3001).placeholder)), [])


def test_a_slot_the_model_cut_or_left_out_is_refused() -> None:
    cut = SectionBlock(text=MarkdownTextObject(text=TEXT.placeholder[:2999]))
    with pytest.raises(ValueError, match="text"):
        BlockTemplate(cut, [TEXT])
    with pytest.raises(ValueError, match="id"):
        BlockTemplate(SectionBlock(text=MarkdownTextObject(text=TEXT.placeholder)), [TEXT, ID])


@pytest.mark.parametrize(
    "values",
    [{ID: "x" * 201}, {ID: ""}, {}, {ID: "1-1", TEXT: "more"}],
    ids=["longer than its slot", "empty", "missing", "another slot's"],
)
def test_a_value_that_does_not_fit_is_refused(values: dict[Slot, str]) -> None:
    template = BlockTemplate(row(ID.placeholder), [ID])
    with pytest.raises(ValueError):
        template.filled(values)


def test_a_placeholder_is_as_long_as_the_slots_longest_value() -> None:
    assert len(ID.placeholder) == 200
    assert ID.placeholder != Slot("id2", 200).placeholder
    with pytest.raises(ValueError):
        Slot("a long name", 4)


LONG = "ش" * 3100


@pytest.mark.parametrize("text", ["*Sara* · WhatsApp", "سارة\nمفتوحة", LONG, ""])
@pytest.mark.parametrize("block_id", [None, "compose_contact"])
def test_a_section_is_its_model(text: str, block_id: str | None) -> None:
    model = SectionBlock(block_id=block_id, text=MarkdownTextObject(text=text[:3000]))
    assert block_kit_json(section(text, block_id)) == model.to_dict()


@pytest.mark.parametrize(
    "lines",
    [["one"], ["a", "ب"] * 5, [f"line {n}" for n in range(12)], [LONG, "x"], ["x", ""], []],
    ids=["one", "ten", "twelve", "a long one", "an empty one", "none"],
)
def test_a_context_line_is_its_model(lines: list[str]) -> None:
    model = ContextBlock(elements=[MarkdownTextObject(text=line[:2000]) for line in lines[:10]])
    assert block_kit_json(context_block(*lines)) == model.to_dict()


async def test_a_result_card_is_its_models_in_every_state(surface: Surface) -> None:
    cid = await surface.contact(
        "Sara",
        "Haddad",
        phone="+971501234567",
        email="sara@example.com",
        identities={Channel.WHATSAPP: "971501234567", Channel.TELEGRAM: "77"},
        last_inbound={Channel.WHATSAPP: surface.now - timedelta(hours=30)},
    )
    contact = await surface.deps.listeners.finder.get(cid)
    assert contact is not None
    [decisions] = await surface.deps.listeners.finder.decided([contact])
    conversation = contact.conversation
    states: list[Contact] = [
        contact,  # closed: Reopen shown
        replace(
            contact,
            conversation=replace(
                conversation, status=ConversationStatus.OPEN, assignee=AGENT, thread_ts="1.2"
            ),
        ),  # open and mine, with a thread: no Reopen, Open thread
        replace(contact, conversation=replace(conversation, thread_ts="1.2")),
    ]
    for state in states:
        for lang in ("en", "ar"):
            card = contact_blocks(ContactView(state, decisions), AGENT, surface.now, lang)
            conv = state.conversation
            reopen = conv.status is ConversationStatus.CLOSED or conv.assignee != AGENT
            lines = channel_lines(state, decisions, lang)
            models = [
                SectionBlock(
                    text=MarkdownTextObject(text=contact_summary(state, surface.now, lang))
                ),
                ContextBlock(elements=[MarkdownTextObject(text=line) for line in lines]),
                button_row(state.id, reopen, bool(conv.thread_ts), lang),
            ]
            assert block_kit_json(card) == [m.to_dict() for m in models]
            actions = block_kit_json(card)[2]
            assert actions["block_id"] == f"c:{state.id}"
            assert all(e["value"] == state.id for e in actions["elements"])
            has = {e["action_id"] for e in actions["elements"]}
            assert (ids.CONTACT_REOPEN in has) is reopen
            assert (ids.CONTACT_OPEN_THREAD in has) is bool(conv.thread_ts)


class _Plan:
    """What `_text_input` reads of a compose plan."""

    def __init__(self, text: str, limit: TextLimit | None, channel: Channel | None) -> None:
        self.draft = Draft(channel=channel, text=text)
        self.limit = limit


@pytest.mark.parametrize("text", ["", "Hello Sara", "مرحبا " * 700])
@pytest.mark.parametrize(
    ("limit", "channel"),
    [
        (None, None),
        (TextLimit(160, Unit.CHARACTERS), Channel.SMS),
        (TextLimit(2048, Unit.BYTES), Channel.LINE),
    ],
    ids=["no limit", "characters", "bytes"],
)
def test_the_message_input_is_its_model(
    text: str, limit: TextLimit | None, channel: Channel | None
) -> None:
    plan: Any = _Plan(text, limit, channel)
    for lang in ("en", "ar"):
        hint = None
        if limit is not None and channel is not None:
            key = "compose.text.hint_bytes" if limit.unit is Unit.BYTES else "compose.text.hint"
            label = {Channel.SMS: "SMS", Channel.LINE: "LINE"}[channel]
            hint = t(key, lang, limit=f"{limit.amount:,}", channel=label)
        model = InputBlock(
            block_id=BLOCK_TEXT,
            label=PlainTextObject(text=t("compose.text.label", lang), emoji=True),
            hint=PlainTextObject(text=hint, emoji=True) if hint else None,
            element=PlainTextInputElement(
                action_id=ids.COMPOSE_TEXT,
                multiline=True,
                max_length=3000,
                initial_value=text[:3000] or None,
                placeholder=PlainTextObject(text=t("compose.text.placeholder", lang), emoji=True),
            ),
        )
        assert block_kit_json(_text_input(plan, lang)) == model.to_dict()


def test_the_channel_select_names_the_chosen_channel() -> None:
    labels = (("whatsapp", "WhatsApp (closed)"), ("telegram", "Telegram"))
    chosen = block_kit_json(_channel_select(labels, "telegram", "en"))
    element = chosen["accessory"]
    assert [o["value"] for o in element["options"]] == ["whatsapp", "telegram"]
    assert element["initial_option"]["value"] == "telegram"
    assert "initial_option" not in block_kit_json(_channel_select(labels, "", "en"))["accessory"]


async def test_a_results_page_header_and_footnote_are_their_models(surface: Surface) -> None:
    await surface.contact("Sara", "Haddad", identities={Channel.TELEGRAM: "77"})
    args = parse_find_args("sara --all")
    page = await surface.deps.directory.find(args, AGENT, offset=0)
    views = views_of(page.contacts, await surface.deps.listeners.finder.decided(page.contacts))
    assert views
    for lang in ("en", "ar"):
        text, blocks = results_message(
            args,
            views,
            agent=AGENT,
            offset=0,
            next_offset=None,
            truncated=True,
            now=surface.now,
            lang=lang,
        )
        page_json = block_kit_json(blocks)
        assert page_json[0] == ContextBlock(elements=[MarkdownTextObject(text=text)]).to_dict()
        note = MarkdownTextObject(text=t("search.truncated", lang))
        assert page_json[-1] == ContextBlock(elements=[note]).to_dict()
    said, [only] = text_message("Sara *Haddad* & co")
    model = SectionBlock(text=MarkdownTextObject(text="Sara *Haddad* & co"))
    assert said == "Sara *Haddad* & co" and block_kit_json(only) == model.to_dict()

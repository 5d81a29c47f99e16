"""Reading the compose modal back (`read_compose`): Slack's view state into a Draft,
and a state Slack would never send refused as a malformed request."""

from __future__ import annotations

from typing import Any

import pytest

from bot.domain.channels import Channel
from bot.domain.windows import Form
from bot.slack import ids
from bot.slack.blocks.compose_context import (
    BLOCK_CHANNEL,
    BLOCK_FORM,
    BLOCK_TAKEOVER,
    BLOCK_TEXT,
    ComposeContext,
)
from bot.slack.compose_form import read_compose
from bot.slack.gate import MalformedSlackRequest

CONTEXT = ComposeContext("0-42", channel=Channel.TELEGRAM, form=Form.TEXT, text="kept")


def view(values: Any, metadata: Any = None) -> dict[str, Any]:
    return {
        "id": "V1",
        "private_metadata": CONTEXT.pack() if metadata is None else metadata,
        "state": {"values": values},
    }


def picked(value: str | None) -> dict[str, Any]:
    option = {"text": {"type": "plain_text", "text": "x"}, "value": value} if value else None
    return {"type": "static_select", "selected_option": option}


def test_typed_picked_and_ticked_come_back_as_the_draft() -> None:
    values = {
        BLOCK_CHANNEL: {ids.COMPOSE_CHANNEL: picked("telegram")},
        BLOCK_FORM: {ids.COMPOSE_FORM: picked("text")},
        BLOCK_TEXT: {ids.COMPOSE_TEXT: {"type": "plain_text_input", "value": "Hello Sara"}},
        BLOCK_TAKEOVER: {
            ids.TAKEOVER_CONFIRM: {"type": "checkboxes", "selected_options": [{"value": "yes"}]}
        },
    }

    context, draft = read_compose(view(values))

    assert context == CONTEXT
    assert (draft.channel, draft.form, draft.text, draft.takeover) == (
        Channel.TELEGRAM,
        Form.TEXT,
        "Hello Sara",
        True,
    )


def test_nothing_picked_keeps_the_context_and_its_kept_text() -> None:
    context, draft = read_compose(view({BLOCK_CHANNEL: {ids.COMPOSE_CHANNEL: picked(None)}}))

    assert context == CONTEXT
    assert (draft.channel, draft.form, draft.text, draft.takeover) == (
        Channel.TELEGRAM,
        Form.TEXT,
        "kept",
        False,
    )


def test_an_empty_text_input_reads_as_empty_text() -> None:
    values = {BLOCK_TEXT: {ids.COMPOSE_TEXT: {"type": "plain_text_input", "value": None}}}

    _, draft = read_compose(view(values))

    assert draft.text == ""


@pytest.mark.parametrize(
    ("values", "metadata"),
    [
        ({BLOCK_TEXT: {ids.COMPOSE_TEXT: {"value": {"not": "text"}}}}, None),
        ({BLOCK_CHANNEL: {ids.COMPOSE_CHANNEL: {"selected_option": "telegram"}}}, None),
        ({BLOCK_TAKEOVER: {ids.TAKEOVER_CONFIRM: {"selected_options": "yes"}}}, None),
        ([BLOCK_TEXT], None),
        ({}, "not json"),
        ({}, 42),
    ],
    ids=[
        "text-not-a-string",
        "option-not-an-object",
        "ticked-not-a-list",
        "values-not-an-object",
        "metadata-not-json",
        "metadata-not-a-string",
    ],
)
def test_a_state_slack_would_never_send_is_a_malformed_request(values: Any, metadata: Any) -> None:
    with pytest.raises(MalformedSlackRequest):
        read_compose(view(values, metadata))

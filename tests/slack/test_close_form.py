"""Reading the close modal back (`read_close`), and a state Slack would never send
refused as a malformed request."""

from __future__ import annotations

from typing import Any

import pytest

from bot.slack import ids
from bot.slack.blocks.close_modal import BLOCK_CLOSE_KEEP, BLOCK_CLOSE_REASON, read_close
from bot.slack.gate import MalformedSlackRequest

METADATA = '{"c":"0-42","o":"C1","t":""}'


def view(values: Any, metadata: Any = METADATA) -> dict[str, Any]:
    return {"id": "V1", "private_metadata": metadata, "state": {"values": values}}


def reason(value: Any) -> dict[str, Any]:
    return {BLOCK_CLOSE_REASON: {ids.CLOSE_REASON: {"type": "plain_text_input", "value": value}}}


def keep(value: str) -> dict[str, Any]:
    option = {"text": {"type": "plain_text", "text": "x"}, "value": value}
    return {
        BLOCK_CLOSE_KEEP: {ids.CLOSE_KEEP: {"type": "radio_buttons", "selected_option": option}}
    }


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (reason("  resolved   by phone "), ("0-42", "resolved by phone", True)),
        (reason(None), ("0-42", None, True)),
        ({**reason("done"), **keep("drop")}, ("0-42", "done", False)),
        (keep("keep"), ("0-42", None, True)),
    ],
    ids=["reason-spaces-folded", "no-reason", "drop-what-waits", "keep-what-waits"],
)
def test_the_close_modal_reads_back(values: Any, expected: tuple[str, str | None, bool]) -> None:
    assert read_close(view(values)) == expected


@pytest.mark.parametrize(
    ("values", "metadata"),
    [
        (reason({"not": "text"}), METADATA),
        ({BLOCK_CLOSE_KEEP: {ids.CLOSE_KEEP: {"selected_option": "drop"}}}, METADATA),
        ({}, "{}"),
        ({}, "not json"),
    ],
    ids=["reason-not-a-string", "option-not-an-object", "no-contact", "metadata-not-json"],
)
def test_a_close_state_slack_would_never_send_is_a_malformed_request(
    values: Any, metadata: Any
) -> None:
    with pytest.raises(MalformedSlackRequest):
        read_close(view(values, metadata))

"""Slack payloads typed at the edge (`handlers.payloads`): what listeners read, and a
payload that does not fit refused as the request's fault."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from bot.slack.gate import MalformedSlackRequest
from bot.slack.intake import RERUN, URL_EXPIRED
from handlers.payloads import (
    AppHomeOpened,
    BlockActions,
    BlockSuggestion,
    MessageShortcut,
    SlashCommand,
    ViewSubmission,
    parse,
)

COMMAND = {
    "command": "/followup",
    "text": "sara hello",
    "user_id": "U1",
    "channel_id": "C1",
    "trigger_id": "T.1",
    "response_url": "https://hooks.example/1",
    "team_id": "T0",
}
CLICK = {
    "type": "block_actions",
    "user": {"id": "U1", "username": "u1"},
    "trigger_id": "T.2",
    "container": {"type": "message", "message_ts": "1.5"},
    "actions": [
        {
            "action_id": "home_language",
            "value": None,
            "selected_option": {"value": "ar", "text": {"type": "plain_text", "text": "عربي"}},
        }
    ],
    "view": {"id": "V1", "type": "home"},
}
SUBMISSION = {
    "type": "view_submission",
    "user": {"id": "U1"},
    "view": {"id": "V2", "private_metadata": "C9", "state": {"values": {}}},
}
SHORTCUT = {
    "type": "message_action",
    "user": {"id": "U1"},
    "channel": {"id": "C0SUPPORT"},
    "message": {"ts": "2.0", "thread_ts": "1.0", "user": "U1", "text": "hi"},
    "trigger_id": "T.3",
}


def test_a_command_reads_as_typed() -> None:
    command = parse(SlashCommand, COMMAND)
    assert (command.agent, command.text, command.channel_id) == ("U1", "sara hello", "C1")
    assert (command.trigger_id, command.response_url) == ("T.1", "https://hooks.example/1")
    assert not command.rerun and not command.url_expired


def test_a_click_reads_its_one_action_and_where_it_happened() -> None:
    click = parse(BlockActions, CLICK)
    assert click.agent == "U1" and click.action.action_id == "home_language"
    assert click.action.value == ""  # Slack's null is no text
    assert click.action.selected_option is not None
    assert click.action.selected_option.value == "ar"
    assert click.from_home and click.container.message_ts == "1.5"
    assert click.response_url is None
    # What a builder reads back from the action (`read_compose`): the choice's value.
    assert click.action.as_dict()["selected_option"] == {"value": "ar"}


def test_a_submission_and_a_shortcut_read_as_typed() -> None:
    submission = parse(ViewSubmission, SUBMISSION)
    assert (submission.view_id, submission.private_metadata) == ("V2", "C9")
    asked = parse(MessageShortcut, SHORTCUT)
    assert asked.channel.id == "C0SUPPORT" and asked.message.root == "1.0"
    assert asked.message.is_reply
    suggestion = parse(BlockSuggestion, {"type": "block_suggestion", "user": {"id": "U1"}})
    assert suggestion.value == "" and suggestion.view is None
    assert parse(AppHomeOpened, {"type": "app_home_opened", "user": "U1"}).tab == "home"


@pytest.mark.parametrize(
    ("model", "body"),
    [
        (SlashCommand, {"text": "x"}),
        (BlockActions, {**CLICK, "actions": []}),
        (BlockActions, {**CLICK, "user": "U1"}),
        (ViewSubmission, {"type": "view_submission", "user": {"id": "U1"}}),
        (MessageShortcut, {**SHORTCUT, "message": ["not", "an", "object"]}),
        (AppHomeOpened, {"type": "app_home_opened"}),
    ],
    ids=[
        "command-without-user",
        "click-without-action",
        "click-user-not-object",
        "submission-without-view",
        "shortcut-message-not-object",
        "home-without-user",
    ],
)
def test_a_payload_that_does_not_fit_is_a_malformed_request(
    model: type[BaseModel], body: dict[str, Any]
) -> None:
    with pytest.raises(MalformedSlackRequest, match=model.__name__):
        parse(model, body)


def test_the_intakes_marks_read_as_flags() -> None:
    command = parse(SlashCommand, {**COMMAND, RERUN: True, URL_EXPIRED: True})
    assert command.rerun and command.url_expired


def test_a_submissions_inputs_read_by_block_and_action() -> None:
    state = {"values": {"when": {"when": {"type": "datetimepicker", "selected_date_time": 5}}}}
    submission = parse(ViewSubmission, {**SUBMISSION, "view": {"id": "V3", "state": state}})
    assert submission.element("when", "when")["selected_date_time"] == 5
    assert submission.element("when", "other") == {}
    assert submission.element("note", "note") == {}
    assert submission.state == state
    assert parse(ViewSubmission, {**SUBMISSION, "view": {"id": "V4"}}).state == {}

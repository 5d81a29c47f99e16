"""Every listener, fed well-signed payloads with odd values where Slack puts ids,
values and metadata, answers 2xx or 4xx — never a 5xx."""

from __future__ import annotations

from typing import Any

import pytest

from bot.slack import ids
from bot.slack.serving import BOLT_KEY
from tests.slack.conftest import AGENT, Surface

ODD_VALUES = ["", "x", "{}", "[]", "null", "c:999999999", "-1", "9" * 40, "é" * 300, '{"c": 1}']

ACTIONS = [
    ids.CONTACT_REOPEN,
    ids.CONTACT_FOLLOWUP,
    ids.CONTACT_OPEN_THREAD,
    ids.CONTACT_CLOSE,
    ids.CONTACT_CHOOSE_REOPEN,
    ids.CONTACT_CHOOSE_FOLLOWUP,
    ids.SEARCH_MORE,
    ids.REOPEN_TAKEOVER,
    ids.THREAD_FOLLOWUP,
    ids.THREAD_REOPEN,
    ids.THREAD_CLOSE,
    ids.FOLLOWUP_ANOTHER_WAY,
    ids.USE_TEMPLATE,
    ids.HOME_REFRESH,
    ids.REOPEN_CANCEL,
    ids.OPEN_THREAD_LINK,
    ids.FOLLOWUP_LINE_SEND,
]
VIEWS = [ids.SEARCH_VIEW, ids.COMPOSE_VIEW, ids.CLOSE_VIEW]


@pytest.mark.parametrize("action_id", ACTIONS)
async def test_a_button_with_an_odd_value_is_never_a_5xx(surface: Surface, action_id: str) -> None:
    statuses = set()
    for value in ODD_VALUES:
        status, _, _ = await surface.click(action_id, value)
        statuses.add(status)
        status, _, _ = await surface.click(
            action_id,
            value,
            container={"type": "message", "message_ts": "1.2", "channel_id": "C1"},
            message={"ts": "1.2", "thread_ts": "1.1", "text": "x"},
        )
        statuses.add(status)
    await surface.settle()
    assert max(statuses) < 500, statuses


@pytest.mark.parametrize("callback_id", VIEWS)
@pytest.mark.parametrize("metadata", ["", "x", "{}", "[1]", '{"contact": 5}', "null"])
async def test_a_view_submission_with_odd_metadata_and_state_is_never_a_5xx(
    surface: Surface, callback_id: str, metadata: str
) -> None:
    view: dict[str, Any] = {
        "id": "V0ODD",
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": metadata,
        "hash": "1.a",
    }
    statuses = set()
    for values in (
        {},
        {"b": {}},
        {"b": {"a": {}}},
        {"b": {"a": {"type": "plain_text_input", "value": None}}},
        {"b": {ids.COMPOSE_TEXT: {"type": "static_select", "selected_option": "x"}}},
    ):
        status, _ = await surface.submit(view, values)
        statuses.add(status)
    await surface.settle()
    assert max(statuses) < 500, statuses


@pytest.mark.parametrize("text", ["", " ", "x" * 3000, "<@U0>", "+971", "c:1 hello"])
@pytest.mark.parametrize("command", ids.COMMANDS)
async def test_a_command_with_odd_text_is_never_a_5xx(
    surface: Surface, command: str, text: str
) -> None:
    status, _, _ = await surface.command(command, text)
    await surface.settle()
    assert status < 500


async def test_a_shortcut_and_events_with_odd_fields_are_never_a_5xx(surface: Surface) -> None:
    statuses = set()
    for message in ({}, {"ts": "1.2"}, {"text": ""}, {"ts": "x", "text": "y", "user": "U0"}):
        status, _ = await surface.interact(
            {
                "type": "message_action",
                "callback_id": ids.FOLLOWUP_SHORTCUT,
                "user": {"id": AGENT},
                "channel": {"id": "C1"},
                "message": message,
                "response_url": surface.slack.response_url(),
            }
        )
        statuses.add(status)
    for event in (
        {"type": "app_home_opened"},
        {"type": "app_home_opened", "user": AGENT, "tab": "x"},
        {"type": "app_home_opened", "user": "", "tab": "home"},
        {"type": "message"},
    ):
        statuses.add(await surface.event(event))
    await surface.settle()
    assert max(statuses) < 500, statuses


async def test_a_bug_on_a_well_formed_request_is_a_500_logged_with_its_traceback(
    surface: Surface, caplog: pytest.LogCaptureFixture
) -> None:
    """Only what reads a payload (`gate.reads_payload`) answers 400; a KeyError
    anywhere else is a bug, never passed off as the request's fault."""

    async def buggy(ack: Any) -> None:
        raise KeyError("a bug of ours")

    surface.app[BOLT_KEY].action("test_buggy")(buggy)
    status, _, _ = await surface.click("test_buggy", "x")
    await surface.settle()
    assert status == 500
    failed = [r for r in caplog.records if r.getMessage() == "slack listener failed"]
    assert failed and failed[0].levelname == "ERROR" and failed[0].exc_info is not None

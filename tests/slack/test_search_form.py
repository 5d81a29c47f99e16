"""Reading the search modal back (`read_search_modal`): its state as `/find-contact`
arguments, and a state Slack would never send refused as a malformed request."""

from __future__ import annotations

from typing import Any

import pytest

from bot.domain.models import ConversationStatus
from bot.services.directory import FindArgs
from bot.slack import ids
from bot.slack.blocks.search_modal import (
    QUERY_BLOCK,
    SCOPE_BLOCK,
    SORT_BLOCK,
    STATUS_BLOCK,
    read_search_modal,
    search_modal,
)
from bot.slack.gate import MalformedSlackRequest
from bot.store.search import Scope, SortOrder


def picked(value: str) -> dict[str, Any]:
    return {"type": "radio_buttons", "selected_option": {"value": value}}


def state(query: Any = "sara", scope: str = "all", status: str = "any", sort: str = "name") -> Any:
    return {
        "values": {
            QUERY_BLOCK: {ids.SEARCH_QUERY: {"type": "plain_text_input", "value": query}},
            SCOPE_BLOCK: {ids.SEARCH_SCOPE: picked(scope)},
            STATUS_BLOCK: {ids.SEARCH_STATUS: picked(status)},
            SORT_BLOCK: {ids.SEARCH_SORT: picked(sort)},
        }
    }


def test_the_search_modal_reads_back_as_find_contact_arguments() -> None:
    args = read_search_modal(state(query="  sara  ", scope="all", status="open", sort="name"))

    assert args == FindArgs(
        query="sara", scope=Scope.ALL, status=ConversationStatus.OPEN, sort=SortOrder.NAME
    )


def test_the_modal_as_built_names_the_blocks_its_reader_reads() -> None:
    blocks = search_modal(FindArgs(), "C1", "en").to_dict()["blocks"]

    assert {QUERY_BLOCK, SCOPE_BLOCK, STATUS_BLOCK, SORT_BLOCK} <= {b["block_id"] for b in blocks}


@pytest.mark.parametrize(
    "bad",
    [state(query={"not": "text"}), state(scope="everyone"), state(status="pending"), ["q"]],
    ids=["query-not-a-string", "unknown-scope", "unknown-status", "state-not-an-object"],
)
def test_a_search_state_slack_would_never_send_is_a_malformed_request(bad: Any) -> None:
    with pytest.raises(MalformedSlackRequest):
        read_search_modal(bad)

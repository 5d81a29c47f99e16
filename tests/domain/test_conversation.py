"""Conversation rules that stand on the record itself."""

from __future__ import annotations

import pytest

from bot.domain.models import Conversation, ConversationStatus


@pytest.mark.parametrize(
    ("status", "assignee", "held_by"),
    [
        (ConversationStatus.OPEN, "U_OTHER", "U_OTHER"),
        (ConversationStatus.OPEN, "U_ME", None),
        (ConversationStatus.OPEN, None, None),
        (ConversationStatus.CLOSED, "U_OTHER", None),
    ],
    ids=["open-other", "open-mine", "open-unassigned", "closed-other"],
)
def test_a_takeover_is_only_from_another_agent_on_an_open_conversation(
    status: ConversationStatus, assignee: str | None, held_by: str | None
) -> None:
    conversation = Conversation(status=status, assignee=assignee)
    assert conversation.held_by_other("U_ME") == held_by

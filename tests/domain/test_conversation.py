"""Conversation rules: on the record itself, and the transitions as pure functions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain import conversations
from bot.domain.channels import Channel
from bot.domain.conversations import Happened, Refusal, RefusalReason, Transition
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


# --- transitions (bot/domain/conversations.py) ---------------------------------------

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
LATER = T0 + timedelta(hours=1)
CLOSED_WITH_THREAD = Conversation(
    status=ConversationStatus.CLOSED,
    assignee="U_OLD",
    thread_ts="111.1",
    closed_reason="done",
    closed_at=T0,
    opened_at=T0 - timedelta(days=1),
)
OPEN_OTHER = Conversation(status=ConversationStatus.OPEN, assignee="U_OTHER", thread_ts="222.2")
OPEN_MINE = Conversation(status=ConversationStatus.OPEN, assignee="U_ME", thread_ts="333.3")
OPEN_NOBODY = Conversation(status=ConversationStatus.OPEN, thread_ts="444.4")


@pytest.mark.parametrize(
    ("before", "happened", "assignee", "thread", "previous_thread"),
    [
        (CLOSED_WITH_THREAD, Happened.OPENED, "U_ME", None, "111.1"),
        (Conversation(), Happened.OPENED, "U_ME", None, None),
        (OPEN_OTHER, Happened.TAKEN_OVER, "U_ME", "222.2", None),
        (OPEN_NOBODY, Happened.ASSIGNED, "U_ME", "444.4", None),
    ],
    ids=["closed-new-period", "never-opened", "held-by-other", "open-unassigned"],
)
def test_reopen_opens_and_assigns_to_the_agent(
    before: Conversation,
    happened: Happened,
    assignee: str,
    thread: str | None,
    previous_thread: str | None,
) -> None:
    outcome = conversations.reopen(before, "U_ME", LATER)
    assert isinstance(outcome, Transition)
    after = outcome.after
    assert outcome.happened is happened
    assert (after.status, after.assignee) == (ConversationStatus.OPEN, assignee)
    assert (after.thread_ts, after.previous_thread_ts) == (thread, previous_thread)
    assert outcome.new_period is (before.status is ConversationStatus.CLOSED)
    if outcome.new_period:
        assert (after.opened_at, after.closed_at, after.closed_reason) == (LATER, None, None)
    else:
        assert after.opened_at == before.opened_at


def test_reopen_of_my_open_conversation_changes_nothing() -> None:
    assert conversations.reopen(OPEN_MINE, "U_ME", LATER) == Refusal(RefusalReason.UNCHANGED)


@pytest.mark.parametrize(
    ("before", "expected"),
    [
        (OPEN_OTHER, Happened.TAKEN_OVER),
        (OPEN_MINE, RefusalReason.NOT_HELD_BY_OTHER),
        (OPEN_NOBODY, RefusalReason.NOT_HELD_BY_OTHER),
        (CLOSED_WITH_THREAD, RefusalReason.NOT_HELD_BY_OTHER),
    ],
    ids=["other", "mine", "unassigned", "closed"],
)
def test_take_over_only_from_another_agent_on_an_open_conversation(
    before: Conversation, expected: Happened | RefusalReason
) -> None:
    outcome = conversations.take_over(before, "U_ME")
    if isinstance(expected, RefusalReason):
        assert outcome == Refusal(expected)
    else:
        assert isinstance(outcome, Transition) and outcome.happened is expected
        assert outcome.after == replace(before, assignee="U_ME")


@pytest.mark.parametrize(
    ("before", "agent", "by", "expected"),
    [
        (OPEN_NOBODY, "U_ME", "U_LEAD", Happened.ASSIGNED),
        (OPEN_OTHER, "U_ME", "U_LEAD", Happened.ASSIGNED),
        (OPEN_OTHER, "U_ME", "U_ME", Happened.TAKEN_OVER),
        (OPEN_OTHER, None, "U_LEAD", Happened.UNASSIGNED),
        (CLOSED_WITH_THREAD, "U_ME", "U_ME", Happened.TAKEN_OVER),
        (OPEN_MINE, "U_ME", "U_LEAD", RefusalReason.UNCHANGED),
    ],
    ids=["unassigned", "by-a-lead", "to-oneself", "unassign", "closed-stays-closed", "same"],
)
def test_assign_keeps_the_status(
    before: Conversation, agent: str | None, by: str, expected: Happened | RefusalReason
) -> None:
    outcome = conversations.assign(before, agent, by=by)
    if isinstance(expected, RefusalReason):
        assert outcome == Refusal(expected)
        return
    assert isinstance(outcome, Transition) and outcome.happened is expected
    assert outcome.after == replace(before, assignee=agent)


@pytest.mark.parametrize(
    ("before", "unassign", "reason", "expected_assignee", "expected_reason"),
    [
        (OPEN_MINE, False, None, "U_ME", None),
        (OPEN_MINE, True, "resolved", None, "resolved"),
        (CLOSED_WITH_THREAD, True, None, None, "done"),
    ],
    ids=["keeps-assignee", "unassigns-with-reason", "closed-again-to-unassign"],
)
def test_close(
    before: Conversation,
    unassign: bool,
    reason: str | None,
    expected_assignee: str | None,
    expected_reason: str | None,
) -> None:
    outcome = conversations.close(before, LATER, unassign=unassign, reason=reason)
    assert isinstance(outcome, Transition) and outcome.happened is Happened.CLOSED
    after = outcome.after
    assert (after.status, after.assignee) == (ConversationStatus.CLOSED, expected_assignee)
    assert (after.closed_at, after.closed_reason) == (LATER, expected_reason)
    assert after.thread_ts == before.thread_ts  # the thread stays until a reopen


@pytest.mark.parametrize(
    "unassign", [False, True], ids=["closed-unassigned", "closed-assigned-kept"]
)
def test_closing_a_closed_conversation_changes_nothing_unless_it_unassigns(
    unassign: bool,
) -> None:
    before = CLOSED_WITH_THREAD if not unassign else replace(CLOSED_WITH_THREAD, assignee=None)
    outcome = conversations.close(before, LATER, unassign=unassign, reason=None)
    assert outcome == Refusal(RefusalReason.UNCHANGED)


@pytest.mark.parametrize(
    ("before", "at", "window", "opens"),
    [
        (CLOSED_WITH_THREAD, LATER, LATER, True),
        (replace(OPEN_OTHER, last_inbound_at={Channel.WHATSAPP: T0}), LATER, LATER, False),
        (replace(OPEN_OTHER, last_inbound_at={Channel.WHATSAPP: LATER}), T0, LATER, False),
    ],
    ids=["reopens-closed", "restarts-window", "older-message-keeps-window"],
)
def test_a_customer_message_restarts_the_window_and_reopens(
    before: Conversation, at: datetime, window: datetime, opens: bool
) -> None:
    outcome = conversations.inbound(before, Channel.WHATSAPP, at, LATER)
    after = outcome.after
    assert outcome.happened is Happened.CUSTOMER_WROTE
    assert after.last_inbound_at[Channel.WHATSAPP] == window
    assert after.status is ConversationStatus.OPEN
    assert after.assignee == before.assignee  # the customer writing assigns no one
    assert outcome.new_period is opens
    if opens:
        assert (after.thread_ts, after.previous_thread_ts) == (None, before.thread_ts)


@pytest.mark.parametrize(
    ("before", "status", "assignee"),
    [
        (CLOSED_WITH_THREAD, ConversationStatus.OPEN, "U_ME"),
        (OPEN_OTHER, ConversationStatus.OPEN, "U_ME"),
        (OPEN_MINE, ConversationStatus.OPEN, "U_ME"),
    ],
    ids=["closed", "other", "mine"],
)
def test_sending_leaves_the_conversation_open_and_the_senders(
    before: Conversation, status: ConversationStatus, assignee: str
) -> None:
    after = conversations.send(before, "U_ME", LATER)
    assert (after.status, after.assignee) == (status, assignee)


def test_an_import_sets_only_newer_times_and_a_rerun_changes_nothing() -> None:
    before = replace(OPEN_NOBODY, last_inbound_at={Channel.SMS: LATER})
    times = {Channel.SMS: T0, Channel.EMAIL: T0}
    outcome = conversations.imported(before, status=None, assignee="U_ME", last_inbound_at=times)
    assert isinstance(outcome, Transition) and outcome.happened is Happened.IMPORTED
    assert outcome.after.last_inbound_at == {Channel.SMS: LATER, Channel.EMAIL: T0}
    assert not outcome.new_period  # an import opens no new thread
    again = conversations.imported(
        outcome.after, status=None, assignee="U_ME", last_inbound_at=times
    )
    assert again == Refusal(RefusalReason.UNCHANGED)

"""Conversation transitions: pure functions from a conversation to the next.

Each takes the conversation as it is (and `now`, the acting agent...) and
returns a `Transition` (the conversation before and after, and what happened,
for the thread) or a `Refusal` with its reason. Nothing here reads or writes:
the store commits a transition only if the conversation it was decided from
still holds (`bot/store/conversations.py`).

The rules (SPEC "Contacts, conversations and threads"):

* Opening a closed conversation starts a new open period: its thread will be
  a new one that links the previous; the closing reason and time go.
* Reopening assigns to the agent who reopens; on an open conversation held
  by another agent that is a takeover.
* A customer message restarts that channel's window (an older message than
  the one recorded changes no window) and reopens a closed conversation,
  keeping its assignee.
* Sending opens a closed conversation and assigns it to the sender.
* Closing keeps or drops the assignee as the company's CLOSE_UNASSIGNS says.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from bot.domain.channels import Channel
from bot.domain.models import Conversation, ConversationStatus

OPEN, CLOSED = ConversationStatus.OPEN, ConversationStatus.CLOSED


class Happened(StrEnum):
    """What a transition did, as the thread tells it."""

    OPENED = "opened"  # a closed conversation reopened by an agent
    TAKEN_OVER = "taken_over"  # from another agent
    ASSIGNED = "assigned"
    UNASSIGNED = "unassigned"
    CLOSED = "closed"
    CUSTOMER_WROTE = "customer_wrote"  # window restarted, reopened if closed
    IMPORTED = "imported"  # status, assignee, message times set by an import


class RefusalReason(StrEnum):
    UNCHANGED = "unchanged"  # the conversation is already as asked
    NOT_HELD_BY_OTHER = "not_held_by_other"  # a takeover of what no other agent holds


@dataclass(frozen=True, slots=True)
class Refusal:
    """Nothing to commit, and why."""

    reason: RefusalReason


@dataclass(frozen=True, slots=True)
class Transition:
    """The conversation before and after one transition."""

    before: Conversation
    after: Conversation
    happened: Happened

    @property
    def new_period(self) -> bool:
        """A closed conversation opened: a new thread will be started."""
        return self.before.status is CLOSED and self.after.status is OPEN

    @property
    def previous_assignee(self) -> str | None:
        return self.before.assignee


Outcome = Transition | Refusal


def _open_period(conv: Conversation, assignee: str | None, now: datetime) -> Conversation:
    """A closed conversation's new open period: a new thread, linking the previous."""
    return replace(
        conv,
        status=OPEN,
        assignee=assignee,
        opened_at=now,
        thread_ts=None,
        previous_thread_ts=conv.thread_ts or conv.previous_thread_ts,
        closed_reason=None,
        closed_at=None,
    )


def reopen(conv: Conversation, agent: str, now: datetime) -> Outcome:
    """Open (if closed) and assign to `agent`, who reopens it or takes it over."""
    if conv.status is OPEN:
        if conv.assignee == agent:
            return Refusal(RefusalReason.UNCHANGED)
        return take_over(conv, agent) if conv.assignee else assign(conv, agent, by=agent)
    return Transition(conv, _open_period(conv, agent, now), Happened.OPENED)


def take_over(conv: Conversation, agent: str) -> Outcome:
    """`agent` takes an open conversation from the agent who holds it."""
    if conv.held_by_other(agent) is None:
        return Refusal(RefusalReason.NOT_HELD_BY_OTHER)
    return Transition(conv, replace(conv, assignee=agent), Happened.TAKEN_OVER)


def assign(conv: Conversation, agent: str | None, *, by: str) -> Outcome:
    """Assign to `agent` (None: unassign), keeping the status. An agent who
    assigns to themselves what another holds takes it over."""
    if conv.assignee == agent:
        return Refusal(RefusalReason.UNCHANGED)
    after = replace(conv, assignee=agent)
    if agent is None:
        return Transition(conv, after, Happened.UNASSIGNED)
    if conv.assignee and by == agent:
        return Transition(conv, after, Happened.TAKEN_OVER)
    return Transition(conv, after, Happened.ASSIGNED)


def close(conv: Conversation, now: datetime, *, unassign: bool, reason: str | None) -> Outcome:
    """Close; `unassign` is CLOSE_UNASSIGNS. A closed conversation is closed
    again only to drop its assignee."""
    if conv.status is CLOSED and not (unassign and conv.assignee):
        return Refusal(RefusalReason.UNCHANGED)
    after = replace(
        conv,
        status=CLOSED,
        assignee=None if unassign else conv.assignee,
        closed_at=now,
        closed_reason=reason or conv.closed_reason,
    )
    return Transition(conv, after, Happened.CLOSED)


def inbound(conv: Conversation, channel: Channel, at: datetime, now: datetime) -> Transition:
    """A customer message on `channel` at `at` (the channel's own time)."""
    windows = conv.last_inbound_at
    if channel not in windows or at > windows[channel]:
        windows = {**windows, channel: at}
    after = replace(conv, last_inbound_at=windows)
    if conv.status is CLOSED:
        after = _open_period(after, conv.assignee, now)
    return Transition(conv, after, Happened.CUSTOMER_WROTE)


def send(conv: Conversation, sender: str, now: datetime) -> Conversation:
    """The conversation once `sender`'s follow-up is committed: open and theirs."""
    outcome = reopen(conv, sender, now)
    return outcome.after if isinstance(outcome, Transition) else conv


def imported(
    conv: Conversation,
    *,
    status: ConversationStatus | None,
    assignee: str | None,
    last_inbound_at: dict[Channel, datetime],
) -> Outcome:
    """An import's state: status and assignee as given (None: keep), message
    times only where newer (a re-run changes nothing). Opens no period."""
    windows = dict(conv.last_inbound_at)
    for channel, at in last_inbound_at.items():
        if channel not in windows or at > windows[channel]:
            windows[channel] = at
    after = replace(
        conv,
        status=status or conv.status,
        assignee=assignee if assignee is not None else conv.assignee,
        last_inbound_at=windows,
    )
    if (after.status, after.assignee, after.last_inbound_at) == (
        conv.status,
        conv.assignee,
        conv.last_inbound_at,
    ):
        return Refusal(RefusalReason.UNCHANGED)
    return Transition(conv, after, Happened.IMPORTED)

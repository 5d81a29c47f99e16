"""Follow-ups in time: what waits, and until when.

A scheduled item is a follow-up to send at a moment (`SEND_AT`), one to send
when the customer next writes (`WHEN_THEY_WRITE`), or a reminder to an agent
if the customer has not replied by a moment (`REMIND`). Times are aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class ItemKind(StrEnum):
    SEND_AT = "send_at"
    WHEN_THEY_WRITE = "when_they_write"
    REMIND = "remind"


class ItemState(StrEnum):
    PENDING = "pending"  # waits for its time
    WAITING = "waiting"  # waits for the customer's next message
    RUNNING = "running"  # taken by a process that is doing it now


@dataclass(frozen=True, slots=True)
class ScheduledItem:
    """One thing waiting. `payload` is the use case's own encoding (the follow-up
    for a send, the conversation for a reminder); the schedule never reads it."""

    id: str
    kind: ItemKind
    contact_id: str
    agent: str
    created_at: datetime
    due_at: datetime | None  # None: when the customer next writes
    payload: str = ""
    state: ItemState = ItemState.PENDING
    attempts: int = 0

    @property
    def partition(self) -> int:
        return int(self.id.split(":", 1)[0])

    @property
    def sends(self) -> bool:
        return self.kind is not ItemKind.REMIND


def cancelled_by_reply(item: ScheduledItem) -> bool:
    """A reminder is for "if no reply": the customer's message cancels it."""
    return item.kind is ItemKind.REMIND


def released_by_reply(item: ScheduledItem) -> bool:
    """A message waiting for the customer's next message goes when it comes."""
    return item.kind is ItemKind.WHEN_THEY_WRITE and item.state is ItemState.WAITING

"""`replaced`: dataclasses.replace for our frozen records, without re-running __init__."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.channels.base import SendResult
from bot.domain.models import (
    Contact,
    Conversation,
    MessageStatus,
    StatusChange,
)
from bot.domain.records import quick_init, replaced
from bot.store.outbox import ClaimedSend, OutboxEntry, SendRecord

AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CHANGE = StatusChange(MessageStatus.QUEUED, AT)


def test_replaced_equals_dataclasses_replace_and_leaves_the_original_alone() -> None:
    changes: dict[str, Any] = {"status": MessageStatus.SENT, "detail": "accepted"}
    assert replaced(CHANGE, **changes) == dataclasses.replace(CHANGE, **changes)
    assert CHANGE.status is MessageStatus.QUEUED and CHANGE.detail == ""


def test_a_replaced_record_stays_frozen() -> None:
    copy = replaced(CHANGE, detail="late")
    with pytest.raises(dataclasses.FrozenInstanceError):
        copy.detail = "changed"  # type: ignore[misc]


def test_replacing_a_field_that_does_not_exist_is_refused() -> None:
    with pytest.raises(TypeError, match="statuz"):
        replaced(CHANGE, statuz=MessageStatus.SENT)


# --- quick_init: the same records as the dataclass's own __init__ makes


def _pair() -> tuple[type[Any], type[Any]]:
    """The same frozen dataclass twice: as dataclasses builds it, and with quick_init."""

    def define() -> type[Any]:
        @dataclass(frozen=True)
        class Record:
            name: str
            count: int = 0
            tags: list[str] = field(default_factory=list)
            status: MessageStatus = MessageStatus.QUEUED

        return Record

    return define(), quick_init(define())


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("a",), {}),
        (("a", 3), {}),
        ((), {"name": "a", "tags": ["x"], "status": MessageStatus.READ}),
        (("a", 1, ["y"], MessageStatus.SENT), {}),
    ],
    ids=["defaults", "positional", "keywords", "all-positional"],
)
def test_quick_init_builds_what_the_dataclass_builds(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    plain, quick = _pair()
    assert vars(quick(*args, **kwargs)) == vars(plain(*args, **kwargs))
    assert repr(quick(*args, **kwargs)).endswith(repr(plain(*args, **kwargs)).split(".")[-1])


def test_quick_init_keeps_the_record_frozen_hashable_and_its_factories_fresh() -> None:
    _, quick = _pair()
    one, two = quick("a"), quick("a")
    assert one == two and one.tags is not two.tags
    with pytest.raises(dataclasses.FrozenInstanceError):
        one.count = 2
    with pytest.raises(TypeError):
        quick()  # the name is required, as before
    with pytest.raises(TypeError):
        quick("a", nonsense=1)


def test_quick_init_refuses_what_it_would_get_wrong() -> None:
    @dataclass(frozen=True, slots=True)
    class Slotted:
        name: str

    @dataclass(frozen=True)
    class Checked:
        name: str

        def __post_init__(self) -> None:
            if not self.name:
                raise ValueError("empty")

    for cls in (Slotted, Checked):
        with pytest.raises(TypeError, match="quick_init"):
            quick_init(cls)


@pytest.mark.parametrize(
    "cls",
    [
        StatusChange,
        Contact,
        Conversation,
        SendResult,
        OutboxEntry,
        ClaimedSend,
        SendRecord,
    ],
    ids=lambda cls: cls.__name__,
)
def test_the_records_built_for_every_send_use_quick_init(cls: type[Any]) -> None:
    assert "__dict__" in cls.__init__.__code__.co_names

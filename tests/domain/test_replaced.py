"""`replaced`: dataclasses.replace for our frozen records, without re-running __init__."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.domain.channels import Channel
from bot.domain.models import MessageStatus, OutboundMessage, StatusChange, replaced

AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
MESSAGE = OutboundMessage(
    id="m1", contact_id="c:0:1", channel=Channel.TELEGRAM, mode="free", form="text", sender="U1"
)


def test_replaced_equals_dataclasses_replace_and_leaves_the_original_alone() -> None:
    changes: dict[str, Any] = {
        "status": MessageStatus.SENT,
        "history": (StatusChange(MessageStatus.SENT, AT),),
    }
    assert replaced(MESSAGE, **changes) == dataclasses.replace(MESSAGE, **changes)
    assert MESSAGE.status is MessageStatus.QUEUED and MESSAGE.history == ()


def test_a_replaced_record_stays_frozen() -> None:
    copy = replaced(MESSAGE, reason="late")
    with pytest.raises(dataclasses.FrozenInstanceError):
        copy.reason = "changed"  # type: ignore[misc]


def test_replacing_a_field_that_does_not_exist_is_refused() -> None:
    with pytest.raises(TypeError, match="statuz"):
        replaced(MESSAGE, statuz=MessageStatus.SENT)

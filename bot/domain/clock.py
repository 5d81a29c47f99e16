"""The clock: services and connectors take one (tests pass a fixed one); the
domain itself takes `now` as an argument."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real clock, aware UTC."""
    return datetime.now(UTC)

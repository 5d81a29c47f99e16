"""The clock of connectors whose webhooks or messages need our own time.

SMS and e-mail stamp webhooks that carry no usable time; e-mail and web chat
date what they send. Tests pass a fixed clock instead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)

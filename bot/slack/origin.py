"""Where an agent started an interaction: the place to answer them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Origin:
    """Where the agent started: a channel (and thread) to answer them in, or none (DM)."""

    channel: str = ""
    thread_ts: str = ""

"""Reachability in words for an agent (catalogue `reach.*`), shared by every surface."""

from __future__ import annotations

from bot.domain.channels import CHANNEL_LABELS, Channel
from bot.domain.models import to_epoch
from bot.domain.reachability import Unreachable
from bot.slack.i18n import t


def since_text(unreachable: Unreachable) -> str:
    """When it started, as a Slack date the agent's client shows in their time zone."""
    epoch = to_epoch(unreachable.since)
    fallback = unreachable.since.strftime("%Y-%m-%d")
    return f"<!date^{epoch}^{{date_short}}|{fallback}>"


def reason_text(channel: Channel, unreachable: Unreachable, lang: str = "en") -> str:
    """ "SMS: the customer opted out of our messages"."""
    return t(unreachable.key, lang, channel=CHANNEL_LABELS[channel])


def unreachable_text(channel: Channel, unreachable: Unreachable, lang: str = "en") -> str:
    """ "🚫 SMS: the customer opted out of our messages, since <date>"."""
    return t(
        "reach.unreachable",
        lang,
        reason=reason_text(channel, unreachable, lang),
        since=since_text(unreachable),
    )

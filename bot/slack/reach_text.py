"""Reachability in words for an agent (catalogue `reach.*`), shared by every surface."""

from __future__ import annotations

from collections.abc import Sequence

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


def refusal_text(
    channel: Channel, unreachable: Unreachable, instead: Sequence[Channel], lang: str = "en"
) -> str:
    """A refused follow-up: why, since when, and what would go now instead."""
    lines = [
        t(
            "reach.refused",
            lang,
            reason=reason_text(channel, unreachable, lang),
            since=since_text(unreachable),
        )
    ]
    if instead:
        names = ", ".join(CHANNEL_LABELS[c] for c in instead)
        lines.append(t("reach.instead", lang, channels=names))
    else:
        lines.append(t("reach.no_other_channel", lang))
    return "\n".join(lines)

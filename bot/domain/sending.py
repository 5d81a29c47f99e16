"""What a send is judged from: the window policy's snapshot of a contact, and
reachability, read the same way by the follow-up service (at commit) and the
relay (at send).

Pure: the callers read the contact, the account-wide counters and a
template's category from the store and pass them in.
"""

from __future__ import annotations

from datetime import datetime

from bot.domain.channels import Channel
from bot.domain.messages import OutboundMessage
from bot.domain.models import Contact, to_epoch
from bot.domain.reachability import LearnedLimit, ReachScope, Unreachable
from bot.domain.windows import SendMode, WindowInput

#: A template no longer synced is judged as marketing: refused, not risked.
UNKNOWN_TEMPLATE_CATEGORY = "MARKETING"


def month_of(now: datetime) -> str:
    """The calendar month (UTC) a monthly count belongs to ("YYYY-MM")."""
    return f"{now.year:04d}-{now.month:02d}"


def window_input(
    contact: Contact,
    channel: Channel,
    now: datetime,
    *,
    viber_count: int = 0,
    line_month_spent: bool = False,
) -> WindowInput:
    """The policy's view of a contact on one channel, with the account's
    counts: this month's chatbot-initiated Viber messages (`viber_count`) and
    whether LINE refused a push for this month's limit (`line_month_spent`)."""
    conv = contact.conversation
    wechat = channel is Channel.WECHAT
    learned = conv.wechat_learned_now() if wechat else None
    return WindowInput(
        last_inbound_at=conv.last_inbound_at.get(channel),
        outbound_in_window=conv.wechat_count_in_current_window() if wechat else 0,
        viber_month_count=viber_count,
        # Only Viber's quota is counted by month (None: the month of `now`).
        viber_count_month=month_of(now) if channel is Channel.VIBER else None,
        window_spent=learned == LearnedLimit.WECHAT_COUNT_SPENT,
        window_closed=learned == LearnedLimit.WECHAT_WINDOW_CLOSED,
        month_spent=line_month_spent and channel is Channel.LINE,
    )


def counted_in_current_month(message: OutboundMessage, now: datetime) -> bool:
    """Whether `message` is in the Viber quota of the month of `now` already."""
    if message.channel is not Channel.VIBER:
        return False
    month = message.counted_month
    if month is None and message.mode is SendMode.CHATBOT and message.created_at:
        month = month_of(message.created_at)  # committed before the month was recorded
    return month == month_of(now)


def current_wechat_window(contact: Contact) -> int | None:
    """The start (epoch s) of the contact's current WeChat window: their last
    WeChat message; None when they never wrote there."""
    start = contact.conversation.last_inbound_at.get(Channel.WECHAT)
    return to_epoch(start) if start is not None else None


def counted_in_current_window(contact: Contact, message: OutboundMessage) -> bool:
    """Whether `message` is in the current WeChat window's count already: its
    commit (or an earlier send) counted it in the window still current. One
    counted in an earlier window is not (the customer wrote since)."""
    return (
        message.channel is Channel.WECHAT
        and message.counted_window is not None
        and message.counted_window == current_wechat_window(contact)
    )


def needs_template_category(contact: Contact, channel: Channel, template: str | None) -> bool:
    """Whether `unreachable_for` needs the template's category (a marketing stop)."""
    unreachable = contact.unreachable(channel)
    return unreachable is not None and unreachable.scope is ReachScope.MARKETING and bool(template)


def unreachable_for(
    contact: Contact,
    channel: Channel,
    template: str | None = None,
    template_category: str | None = None,
) -> Unreachable | None:
    """Why a message (free text, or `template` of `template_category`) cannot
    reach the customer on `channel`, or None: at commit and again at send, the
    same rule (a WhatsApp marketing stop refuses marketing templates only; a
    template whose category is unknown counts as marketing)."""
    unreachable = contact.unreachable(channel)
    if unreachable is None:
        return None
    category = None
    if unreachable.scope is ReachScope.MARKETING and template:
        category = template_category or UNKNOWN_TEMPLATE_CATEGORY
    return unreachable if unreachable.blocks(template_category=category) else None

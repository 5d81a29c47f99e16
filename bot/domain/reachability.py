"""Reachability of one channel identity: whether a customer can be sent to there.

Pure: no I/O, no clock. A customer can stop being reachable on one channel
and stay reachable on the others (SPEC "Reachability"). What makes an
identity unreachable, and what makes it reachable again, is the table below
as data; the connectors map each vendor's answer or event to an
`UnreachableReason`, the store keeps an `Unreachable` per identity, and the
follow-up service and the relay refuse before sending with `blocks(...)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from bot.domain.channels import CHANNEL_LABELS, Channel

__all__ = [
    "MESSAGE_CLEARS",
    "SMS_START_KEYWORDS",
    "SMS_STOP_KEYWORDS",
    "LearnedLimit",
    "LineQuota",
    "ReachScope",
    "Unreachable",
    "UnreachableReason",
    "event_applies",
    "sms_keyword",
]


class UnreachableReason(StrEnum):
    """Why an identity cannot be sent to; the catalogue key is `reach.reason.<value>`."""

    OPTED_OUT = "opted_out"  # SMS: STOP keyword, OptOutType=STOP, Twilio 21610
    BLOCKED = "blocked"  # Telegram: 403 "bot was blocked by the user"
    DEACTIVATED = "deactivated"  # Telegram: 403 "user is deactivated"
    UNSUBSCRIBED = "unsubscribed"  # Viber `unsubscribed` / status 6; WeChat `unsubscribe`
    UNFOLLOWED = "unfollowed"  # LINE `unfollow`
    UNAVAILABLE = "unavailable"  # Messenger / Instagram: "this person isn't available"
    MARKETING_STOPPED = "marketing_stopped"  # WhatsApp 131050: marketing templates only
    ADDRESS_REFUSED = "address_refused"  # e-mail: permanent (5xx) refusal of the recipient


class LearnedLimit(StrEnum):
    """A limit we could not see until the channel refused a message because of it."""

    WECHAT_COUNT_SPENT = "spent"  # WeChat 45047: the window's count is used up
    WECHAT_WINDOW_CLOSED = "closed"  # WeChat 45015: the window has closed
    LINE_MONTHLY = "line_monthly"  # LINE 429 "You have reached your monthly limit"
    WHATSAPP_MARKETING = "whatsapp_marketing"  # WhatsApp 131049: Meta's per-customer limit


class ReachScope(StrEnum):
    """What an unreachable identity refuses."""

    ALL = "all"  # nothing may be sent
    MARKETING = "marketing"  # only marketing templates are refused (WhatsApp 131050)


#: The scope each reason refuses.
REASON_SCOPE: Mapping[UnreachableReason, ReachScope] = MappingProxyType(
    {reason: ReachScope.ALL for reason in UnreachableReason}
    | {UnreachableReason.MARKETING_STOPPED: ReachScope.MARKETING}
)

#: Channels where any new message from the customer makes them reachable again.
#: SMS needs START/UNSTOP/YES (the carrier keeps blocking until then) and LINE
#: a `follow` event (an unfollowed account cannot be written to by the user).
MESSAGE_CLEARS: frozenset[Channel] = frozenset(
    {
        Channel.TELEGRAM,
        Channel.VIBER,
        Channel.WECHAT,
        Channel.MESSENGER,
        Channel.INSTAGRAM,
        Channel.WHATSAPP,
        Channel.EMAIL,
        Channel.WEBCHAT,
    }
)

#: Twilio's default opt-out and opt-in keywords (a message that is exactly one
#: of them, any case, surrounding spaces ignored):
#: https://help.twilio.com/articles/223134027
SMS_STOP_KEYWORDS: frozenset[str] = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
SMS_START_KEYWORDS: frozenset[str] = frozenset({"START", "UNSTOP", "YES"})


@dataclass(frozen=True, slots=True)
class Unreachable:
    """An identity the customer cannot be reached on: why, since when, how far."""

    reason: UnreachableReason
    since: datetime
    #: The channel's own words or code (e.g. "21610", "STOP"): never PII.
    detail: str = ""

    @property
    def scope(self) -> ReachScope:
        return REASON_SCOPE[self.reason]

    @property
    def refuses_all(self) -> bool:
        """Whether nothing at all may go there (not only marketing templates)."""
        return self.scope is ReachScope.ALL

    @property
    def key(self) -> str:
        """The catalogue key of the reason in words (params: `channel`)."""
        return f"reach.reason.{self.reason.value}"

    def blocks(self, *, template_category: str | None = None) -> bool:
        """Whether a message is refused: everything, or (MARKETING scope) a
        template whose category is MARKETING (Meta's category names)."""
        if self.scope is ReachScope.ALL:
            return True
        return (template_category or "").upper() == "MARKETING"


def reachability_event(
    channel: Channel, unreachable: Unreachable | None, keyword: str = ""
) -> tuple[str, dict[str, str]]:
    """The thread event (catalogue key, params) for an identity that became
    unreachable (`unreachable`), or reachable again (None). An SMS opt-out or
    opt-in keyword is shown as such. `reason_key` is the reason's own
    catalogue key (`reach.reason.*`), put in words in the thread's language."""
    label = CHANNEL_LABELS[channel]
    if channel is Channel.SMS and keyword:
        key = "thread.event.opt_out_keyword" if unreachable else "thread.event.opt_in_keyword"
        return key, {"channel": label, "keyword": keyword}
    if unreachable is None:
        return "thread.event.reachable", {"channel": label}
    key = (
        "thread.event.marketing_stopped"
        if unreachable.scope is ReachScope.MARKETING
        else "thread.event.unreachable"
    )
    return key, {"channel": label, "reason_key": unreachable.key}


def event_applies(at: datetime, recorded: datetime | None) -> bool:
    """Whether a reachability event of time `at` changes an identity whose
    newest recorded event is of time `recorded` (None: none recorded).

    Webhooks arrive late and out of order (a Telegram "kicked" retried after a
    newer "member", an SMS STOP delivered after a later START): an event older
    than the one recorded is stale and changes nothing. Times are compared in
    whole seconds (Telegram's `date`, and what the store keeps); a tie applies.
    """
    if recorded is None:
        return True
    return int(at.timestamp()) >= int(recorded.timestamp())


def sms_keyword(text: str, opt_out_type: str | None = None) -> bool | None:
    """What an inbound SMS says about reachability: False (opted out), True
    (opted back in) or None (an ordinary message).

    Twilio's Advanced Opt-Out names the kind in `OptOutType` (STOP, START,
    HELP): it wins over the body, since custom keywords may be configured.
    """
    kind = (opt_out_type or "").strip().upper()
    if kind == "STOP":
        return False
    if kind == "START":
        return True
    word = text.strip().upper()
    if word in SMS_STOP_KEYWORDS:
        return False
    if word in SMS_START_KEYWORDS:
        return True
    return None


@dataclass(frozen=True)
class LineQuota:
    """LINE's monthly push quota as its API reports it: `limit` None is no limit."""

    limit: int | None
    used: int

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.used)

    @property
    def has_room(self) -> bool:
        return self.limit is None or self.used < self.limit

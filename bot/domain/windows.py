"""Channel messaging-window rules: what may be sent now, and why.

Pure: no I/O, no clock. ``decide`` reads the ``WINDOW_RULES`` table and a
snapshot of the contact's window state; handlers, connectors and the relay
ask it and never re-decide. The Lua commit only re-checks what a
``Decision`` states (window start, ``counter_limit``).

Vendor references for the subtle parts:

* WhatsApp templates outside the 24 h customer-service window:
  https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-message-templates
* Messenger ``HUMAN_AGENT`` (24 h–7 d) and message tags:
  https://developers.facebook.com/docs/messenger-platform/send-messages/message-tags
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

from bot.domain.channels import Channel

__all__ = [
    "REASON_KEYS",
    "WINDOW_RULES",
    "Decision",
    "Form",
    "PolicySettings",
    "Reason",
    "SendDecision",
    "SendMode",
    "WindowInput",
    "WindowRule",
    "adapt_at_send",
    "after_free_text",
    "at_send",
    "count_at_send",
    "decide",
    "decide_at_send",
    "free_text_closes_at",
    "has_templates",
    "parse_stored_reason",
    "quota_at_send",
    "quota_returned_at_send",
    "stored_reason",
    "timeless_decision",
]


class SendMode(StrEnum):
    """How a message goes out."""

    FREE = "free"  # free-form, inside the window / no window
    HUMAN_AGENT = "human_agent"  # free text with the HUMAN_AGENT tag (Messenger/Instagram 24h-7d)
    MESSAGE_TAG = "message_tag"  # a tag the agent picked from the allowed list (Messenger)
    TEMPLATE = "template"  # an approved template (WhatsApp)
    CHATBOT = "chatbot"  # Viber chatbot-initiated message
    REFUSED = "refused"  # nothing can be sent


class Form(StrEnum):
    """What the agent composed."""

    TEXT = "text"
    TEMPLATE = "template"
    TAGGED = "tagged"  # free text with an agent-picked message tag


# --- reason keys (the i18n catalogue must translate every one) -------------

WINDOW_NONE = "window.none"  # channel
WINDOW_OPEN = "window.open"  # channel, closes_in_seconds
WINDOW_HUMAN_AGENT = "window.human_agent"  # channel, closes_in_seconds
WHATSAPP_TEMPLATE_ONLY = "window.whatsapp.template_only"  # closed_seconds_ago
MESSENGER_TAG_ONLY = "window.messenger.tag_only"  # closed_seconds_ago
MESSENGER_NO_TAGS = "window.messenger.no_tags"  # closed_seconds_ago
INSTAGRAM_CLOSED = "window.instagram.closed"  # closed_seconds_ago
WECHAT_OPEN = "window.wechat.open"  # closes_in_seconds, remaining, limit
WECHAT_CLOSED = "window.wechat.closed"  # closed_seconds_ago
WECHAT_LIMIT_REACHED = "window.wechat.limit_reached"  # limit
WECHAT_LIMIT_LEARNED = "window.wechat.limit_learned"  # (WeChat refused with 45047)
WECHAT_CLOSED_LEARNED = "window.wechat.closed_learned"  # (WeChat refused with 45015)
VIBER_CHATBOT = "window.viber.chatbot"  # used, limit, remaining
VIBER_CHATBOT_PAID = "window.viber.chatbot_paid"  # used, limit (past the free quota)
VIBER_QUOTA_EXHAUSTED = "window.viber.quota_exhausted"  # used, limit
NEVER_WROTE_TEMPLATE_ONLY = "window.never_wrote.template_only"  # channel
NEVER_WROTE_TAG_ONLY = "window.never_wrote.tag_only"  # channel
NEVER_WROTE_NO_TAGS = "window.never_wrote.no_tags"  # channel
NEVER_WROTE_NOTHING = "window.never_wrote.nothing"  # channel
FORM_TEMPLATE_NOT_SUPPORTED = "form.template_not_supported"  # channel
FORM_TAG_NOT_SUPPORTED = "form.tag_not_supported"  # channel
FORM_TAG_MISSING = "form.tag_missing"  # channel
FORM_TAG_NOT_ALLOWED = "form.tag_not_allowed"  # channel, tag
LINE_MONTH_SPENT = "reach.line_month_spent"  # (LINE refused a push: the month's are used up)
# Why the relay did not send a message it had queued (shown in the thread):
SEND_WINDOW_CLOSED = "send.refused.window_closed"  # the window closed before the send
SEND_WECHAT_REFUSED = "send.refused.wechat_refused"  # WeChat refused this window already
SEND_WECHAT_COUNT_SPENT = "send.refused.wechat_count_spent"  # limit
SEND_QUOTA_GONE = "send.refused.quota_gone"  # limit (Viber's free month used meanwhile)

REASON_KEYS: frozenset[str] = frozenset(
    {
        WINDOW_NONE,
        WINDOW_OPEN,
        WINDOW_HUMAN_AGENT,
        WHATSAPP_TEMPLATE_ONLY,
        MESSENGER_TAG_ONLY,
        MESSENGER_NO_TAGS,
        INSTAGRAM_CLOSED,
        WECHAT_OPEN,
        WECHAT_CLOSED,
        WECHAT_LIMIT_REACHED,
        WECHAT_LIMIT_LEARNED,
        WECHAT_CLOSED_LEARNED,
        VIBER_CHATBOT,
        VIBER_CHATBOT_PAID,
        VIBER_QUOTA_EXHAUSTED,
        NEVER_WROTE_TEMPLATE_ONLY,
        NEVER_WROTE_TAG_ONLY,
        NEVER_WROTE_NO_TAGS,
        NEVER_WROTE_NOTHING,
        FORM_TEMPLATE_NOT_SUPPORTED,
        FORM_TAG_NOT_SUPPORTED,
        FORM_TAG_MISSING,
        FORM_TAG_NOT_ALLOWED,
        LINE_MONTH_SPENT,
    }
)

#: The reasons the relay gives for not sending a queued message.
SEND_REFUSAL_KEYS: frozenset[str] = frozenset(
    {SEND_WINDOW_CLOSED, SEND_WECHAT_REFUSED, SEND_WECHAT_COUNT_SPENT, SEND_QUOTA_GONE}
)

#: The tag Meta applies for the 24 h–7 d stage; never an agent's pick.
HUMAN_AGENT_TAG = "HUMAN_AGENT"

_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_TEXT_MODES = frozenset({SendMode.FREE, SendMode.HUMAN_AGENT, SendMode.CHATBOT})
_FORM_MODES: Mapping[Form, frozenset[SendMode]] = MappingProxyType(
    {
        Form.TEXT: _TEXT_MODES,
        Form.TEMPLATE: frozenset({SendMode.TEMPLATE}),
        Form.TAGGED: frozenset({SendMode.MESSAGE_TAG}),
    }
)


@dataclass(frozen=True, slots=True)
class Reason:
    """A catalogue key and its parameters (ints and strs only, e.g. seconds)."""

    key: str
    params: Mapping[str, str | int] = field(default_factory=dict)


#: A catalogue key: dotted lower-case words (a stored reason of old, in
#: English, is none).
_KEY = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+")


def stored_reason(reason: Reason) -> str:
    """`reason` as it is stored with a message ("key" or "key {json params}"),
    put in words only when shown, in the thread's language."""
    if not reason.params:
        return reason.key
    return f"{reason.key} {json.dumps(dict(reason.params), ensure_ascii=False, sort_keys=True)}"


def parse_stored_reason(text: str) -> Reason | None:
    """The reason `stored_reason` stored, or None when `text` is none (words)."""
    key, _, params = text.partition(" ")
    if not _KEY.fullmatch(key):
        return None
    if not params:
        return Reason(key)
    try:
        values = json.loads(params)
    except ValueError:
        return None
    if not isinstance(values, dict) or not all(
        isinstance(v, str | int) and not isinstance(v, bool) for v in values.values()
    ):
        return None
    return Reason(key, values)


@dataclass(frozen=True)
class PolicySettings:
    """The configurable parts of the rules (from ``Settings``)."""

    messenger_tags: tuple[str, ...] = ()
    viber_commercial_terms: bool = False
    viber_monthly_free: int = 10000
    wechat_window_messages: int = 20

    def __post_init__(self) -> None:
        if self.viber_monthly_free < 0 or self.wechat_window_messages < 0:
            raise ValueError("viber_monthly_free and wechat_window_messages must be >= 0")


@dataclass(frozen=True, slots=True)
class WindowInput:
    """The snapshot the decision is made from."""

    last_inbound_at: datetime | None = None
    outbound_in_window: int = 0  # WeChat outbound count in the current window
    viber_month_count: int = 0  # chatbot-initiated Viber messages this month
    viber_count_month: str | None = None  # "YYYY-MM" the count belongs to (None = month of now)
    #: WeChat refused this window (learned, until the customer writes): 45047
    #: the count is spent, 45015 the window is closed, whatever our own counts say.
    window_spent: bool = False
    window_closed: bool = False
    #: The channel refused a push because the account's monthly limit is used
    #: up (LINE, learned: it has no window and we cannot count its quota).
    month_spent: bool = False


@dataclass(frozen=True)
class WindowRule:
    """One channel's window, as data. Lengths are measured from the last inbound."""

    window: timedelta | None  # free-text window; None = no window at all
    extended: timedelta | None = None  # end of the extended stage
    extended_mode: SendMode | None = None  # how free text goes in the extended stage
    after_window: SendMode = SendMode.REFUSED  # best mode once closed (or never wrote)
    templates: bool = False  # approved templates allowed, inside and outside
    message_tags: bool = False  # agent may pick a tag from PolicySettings.messenger_tags
    message_limit: bool = False  # outbound capped per window (wechat_window_messages)
    monthly_quota: bool = False  # outside-window sends count toward viber_monthly_free
    #: The account's monthly limit is learned from the channel's refusal
    #: (``WindowInput.month_spent``): nothing goes until the month ends.
    learned_monthly_limit: bool = False


_SECOND = timedelta(seconds=1)
_DAY = timedelta(days=1)
_NO_WINDOW = WindowRule(window=None, after_window=SendMode.FREE)

WINDOW_RULES: Mapping[Channel, WindowRule] = MappingProxyType(
    {
        Channel.TELEGRAM: _NO_WINDOW,
        Channel.LINE: WindowRule(
            window=None, after_window=SendMode.FREE, learned_monthly_limit=True
        ),
        Channel.WEBCHAT: _NO_WINDOW,
        Channel.SMS: _NO_WINDOW,
        Channel.EMAIL: _NO_WINDOW,
        Channel.WHATSAPP: WindowRule(window=_DAY, after_window=SendMode.TEMPLATE, templates=True),
        Channel.MESSENGER: WindowRule(
            window=_DAY,
            extended=7 * _DAY,
            extended_mode=SendMode.HUMAN_AGENT,
            after_window=SendMode.MESSAGE_TAG,
            message_tags=True,
        ),
        Channel.INSTAGRAM: WindowRule(
            window=_DAY, extended=7 * _DAY, extended_mode=SendMode.HUMAN_AGENT
        ),
        Channel.VIBER: WindowRule(window=_DAY, after_window=SendMode.CHATBOT, monthly_quota=True),
        Channel.WECHAT: WindowRule(window=2 * _DAY, message_limit=True),
    }
)


def has_templates(channel: Channel) -> bool:
    """Whether `channel` sends approved templates (the table's `templates` column)."""
    return WINDOW_RULES[channel].templates


#: Reason when a window-only channel (nothing after the window) has closed.
_CLOSED_REASON: Mapping[Channel, str] = MappingProxyType(
    {Channel.INSTAGRAM: INSTAGRAM_CLOSED, Channel.WECHAT: WECHAT_CLOSED}
)


@dataclass(frozen=True, slots=True)
class Decision:
    """What may be sent now on one channel, and why."""

    channel: Channel
    mode: SendMode  # the best thing that may be sent now (REFUSED when nothing)
    reason: Reason
    window_closes_at: datetime | None = None  # end of the current stage; None if none/closed
    window_closed_at: datetime | None = None  # when the last stage closed, if it has
    allowed_tags: tuple[str, ...] = ()
    counter_limit: int | None = None  # WeChat window limit / Viber free limit for the commit
    counts_toward_wechat_window: bool = False
    counts_toward_viber_quota: bool = False
    remaining: int | None = None  # WeChat messages left in window / Viber free left this month

    @property
    def may_send(self) -> bool:
        """True when at least one form can go out now."""
        return self.mode is not SendMode.REFUSED

    def check(self, form: Form, tag: str | None = None) -> SendMode:
        """The mode a message of this form goes out as, or REFUSED."""
        return self._evaluate(form, tag)[0]

    def check_reason(self, form: Form, tag: str | None = None) -> Reason:
        """Why this form is refused, or the decision's reason when it is allowed."""
        return self._evaluate(form, tag)[1]

    def _evaluate(self, form: Form, tag: str | None) -> tuple[SendMode, Reason]:
        rule = WINDOW_RULES[self.channel]
        refused = SendMode.REFUSED
        if form is Form.TEMPLATE:
            if not rule.templates:
                return refused, Reason(FORM_TEMPLATE_NOT_SUPPORTED, {"channel": self.channel.value})
            return (SendMode.TEMPLATE if self.may_send else refused), self.reason
        if form is Form.TAGGED:
            if not rule.message_tags:
                return refused, Reason(FORM_TAG_NOT_SUPPORTED, {"channel": self.channel.value})
            if not self.may_send:
                return refused, self.reason
            if not tag:
                return refused, Reason(FORM_TAG_MISSING, {"channel": self.channel.value})
            if tag not in self.allowed_tags:
                return refused, Reason(
                    FORM_TAG_NOT_ALLOWED, {"channel": self.channel.value, "tag": tag}
                )
            return SendMode.MESSAGE_TAG, self.reason
        return (self.mode if self.mode in _TEXT_MODES else refused), self.reason


#: Channels without a window: free text at any time, whatever the snapshot.
_NO_WINDOW_DECISIONS: Mapping[Channel, Decision] = MappingProxyType(
    {
        channel: Decision(
            channel,
            SendMode.FREE,
            Reason(WINDOW_NONE, MappingProxyType({"channel": channel.value})),
        )
        for channel, rule in WINDOW_RULES.items()
        if rule.window is None
    }
)
#: Channels where the decision is the same at every moment, whatever the snapshot.
_TIMELESS: Mapping[Channel, Decision] = MappingProxyType(
    {
        channel: decision
        for channel, decision in _NO_WINDOW_DECISIONS.items()
        if not WINDOW_RULES[channel].learned_monthly_limit
    }
)


def decide(
    channel: Channel, window: WindowInput, now: datetime, settings: PolicySettings
) -> Decision:
    """Decide what may be sent on ``channel`` at ``now`` (aware datetimes only).

    A ``last_inbound_at`` after ``now`` (clock skew) counts as just now: the
    window is open and closes at ``last_inbound_at`` plus its length.
    """
    now = _utc(now, "now")
    if window.outbound_in_window < 0 or window.viber_month_count < 0:
        raise ValueError("outbound_in_window and viber_month_count must be >= 0")
    rule = WINDOW_RULES[channel]
    if rule.window is None:
        if rule.learned_monthly_limit and window.month_spent:
            return Decision(channel, SendMode.REFUSED, Reason(LINE_MONTH_SPENT), remaining=0)
        return _NO_WINDOW_DECISIONS[channel]

    tags = _pickable_tags(settings) if rule.message_tags else ()
    closed_at: datetime | None = None
    if window.last_inbound_at is not None:
        inbound = _utc(window.last_inbound_at, "last_inbound_at")
        free_until = inbound + rule.window
        if now < free_until:
            return _inside(channel, rule, window, now, free_until, settings, tags)
        if rule.extended is not None and rule.extended_mode is not None:
            extended_until = inbound + rule.extended
            if now < extended_until:
                return Decision(
                    channel,
                    rule.extended_mode,
                    Reason(
                        WINDOW_HUMAN_AGENT,
                        {
                            "channel": channel.value,
                            "closes_in_seconds": _ceil(extended_until - now),
                        },
                    ),
                    window_closes_at=extended_until,
                    allowed_tags=tags,
                )
            closed_at = extended_until
        else:
            closed_at = free_until
    return _outside(channel, rule, window, now, closed_at, settings, tags)


def timeless_decision(channel: Channel) -> Decision | None:
    """The decision that holds at every moment on `channel`, whatever the
    snapshot (a channel without a window or learned limit: free text), else None."""
    return _TIMELESS.get(channel)


def at_send(
    window: WindowInput,
    *,
    counted_in_window: bool = False,
    counted_in_month: bool = False,
) -> WindowInput:
    """The snapshot a queued message is judged against when it is sent.

    A message the commit counted already (in the WeChat window's count, or in
    the Viber month's quota) is one of the counts it would be judged by: it
    is judged against the others only, so the last message a limit allows is
    sent (N accepted within a limit of N: N go). Anything that changed since
    the commit (more messages, a customer reply, a new month) still counts.
    """
    if not counted_in_window and not counted_in_month:
        return window
    return replace(
        window,
        outbound_in_window=max(0, window.outbound_in_window - 1)
        if counted_in_window
        else window.outbound_in_window,
        viber_month_count=max(0, window.viber_month_count - 1)
        if counted_in_month
        else window.viber_month_count,
    )


def count_at_send(decision: Decision, mode: SendMode, *, counted_in_window: bool) -> int | None:
    """The WeChat window count a send must take as it goes: the limit to take
    it under, or None when the send takes no count.

    A message counted by the commit in an earlier window (the customer wrote
    since: a new window, a new count) is not in the current window's count;
    it goes only if that count has room, and then it is one of its messages.
    The store takes the count atomically with the send's decision
    (`OutboxStore.count_in_window`): at the limit, the message is refused,
    as the commit would refuse it.
    """
    if mode is SendMode.REFUSED or not decision.counts_toward_wechat_window or counted_in_window:
        return None
    return decision.counter_limit


def quota_at_send(decision: Decision, mode: SendMode, *, counted_in_month: bool) -> bool:
    """Whether a send takes one of this month's chatbot-initiated Viber messages
    as it goes (under `decision.counter_limit`; refused when none is left).

    A message is counted in the month it goes out chatbot-initiated: one
    queued as free text whose window closed since, and one committed (and
    counted) in an earlier month, are not in this month's count yet. One
    this month's count holds already (its commit's, or an earlier try's) is
    not counted again.
    """
    return mode is SendMode.CHATBOT and decision.counts_toward_viber_quota and not counted_in_month


def quota_returned_at_send(mode: SendMode, *, counted_in_month: bool) -> bool:
    """Whether a send gives back the Viber quota its commit took: it was
    accepted chatbot-initiated, and goes inside a window the customer opened
    since (free text, not counted), in the month its count is in."""
    return counted_in_month and mode in (SendMode.FREE, SendMode.HUMAN_AGENT)


def adapt_at_send(
    queued_mode: SendMode, form: Form, tag: str | None, decision_now: Decision
) -> SendMode:
    """The relay decides again just before sending: the mode to send with, or REFUSED.

    Only changes that need no new choice from the agent: text moves between
    FREE, HUMAN_AGENT and CHATBOT (Viber, within quota) as the window now
    requires; a template or an agent-picked tag goes as long as it is still
    allowed. Anything else is REFUSED.
    """
    if queued_mode is SendMode.REFUSED:
        return SendMode.REFUSED
    if queued_mode not in _FORM_MODES[form]:
        raise ValueError(f"a {form} message cannot have been queued as {queued_mode}")
    # check() only ever yields a mode of the same form, so no agent choice is
    # invented here (text never becomes a template or a tagged message).
    return decision_now.check(form, tag)


@dataclass(frozen=True, slots=True)
class SendDecision:
    """The relay's second decision for one queued message, just before it goes.

    ``mode`` is how it goes, or REFUSED with ``reason`` (a catalogue key). A
    send that goes may still have a count to take as it goes, atomically in
    the store: one of the WeChat window's messages under ``window_count_limit``
    (refused at the limit), one of Viber's free chatbot-initiated messages of
    the month under ``quota_limit`` (``take_quota``); or a Viber count to give
    back (``give_back_quota``).
    """

    mode: SendMode
    reason: Reason | None = None
    #: A refusal by the window (shown ❗), not by an account's limit (failed).
    outside_window: bool = True
    window_count_limit: int | None = None
    take_quota: bool = False
    quota_limit: int | None = None
    give_back_quota: bool = False

    @property
    def refused(self) -> bool:
        return self.mode is SendMode.REFUSED


_SEND_FREE = SendDecision(SendMode.FREE)

#: What the commit decided cannot be undone by the relay: the refusals that
#: WeChat itself gave (45047, 45015) keep their own words in the thread.
_WECHAT_LEARNED = frozenset({WECHAT_CLOSED_LEARNED, WECHAT_LIMIT_LEARNED})


def decide_at_send(
    channel: Channel,
    queued_mode: SendMode,
    form: Form,
    tag: str | None,
    window: WindowInput,
    now: datetime,
    settings: PolicySettings,
    *,
    counted_in_window: bool = False,
    counted_in_month: bool = False,
    month_recorded: bool = False,
) -> SendDecision:
    """The one second decision the relay asks for a queued message.

    ``window`` is the contact's state now (``window_input``); the message's own
    counts, taken by its commit, are left out of it (``at_send``):
    ``counted_in_window`` when the current WeChat window's count holds it,
    ``counted_in_month`` when this month's Viber quota holds it, and
    ``month_recorded`` when the message records the month it was counted in
    (only such a message may give its count back).
    """
    timeless = _TIMELESS.get(channel)
    if timeless is not None:  # no window: no snapshot needed
        mode = adapt_at_send(queued_mode, form, tag, timeless)
        if mode is SendMode.FREE:
            return _SEND_FREE
        return SendDecision(mode, Reason(SEND_WINDOW_CLOSED) if mode is SendMode.REFUSED else None)
    judged = at_send(window, counted_in_window=counted_in_window, counted_in_month=counted_in_month)
    decision = decide(channel, judged, now, settings)
    mode = adapt_at_send(queued_mode, form, tag, decision)
    if mode is SendMode.REFUSED:
        key = decision.reason.key
        if key in _WECHAT_LEARNED:
            return SendDecision(mode, Reason(SEND_WECHAT_REFUSED))
        if key == LINE_MONTH_SPENT:
            return SendDecision(mode, decision.reason, outside_window=False)
        return SendDecision(mode, Reason(SEND_WINDOW_CLOSED))
    take_quota = quota_at_send(decision, mode, counted_in_month=counted_in_month)
    return SendDecision(
        mode,
        window_count_limit=count_at_send(decision, mode, counted_in_window=counted_in_window),
        take_quota=take_quota,
        quota_limit=decision.counter_limit if take_quota else None,
        give_back_quota=month_recorded
        and quota_returned_at_send(mode, counted_in_month=counted_in_month),
    )


def free_text_closes_at(channel: Channel, last_inbound_at: datetime | None) -> datetime | None:
    """When the last free-text stage of the window the agent depends on closes.

    The end of the window's free text for good: WhatsApp 24 h (then templates),
    Messenger and Instagram 7 d with HUMAN_AGENT (then tags or nothing),
    WeChat 48 h (then nothing). None when the channel has no window, when text
    still goes after it (Viber, as chatbot-initiated), or the customer never wrote.
    """
    rule = WINDOW_RULES[channel]
    if rule.window is None or rule.after_window in _TEXT_MODES or last_inbound_at is None:
        return None
    return _utc(last_inbound_at, "last_inbound_at") + (rule.extended or rule.window)


def after_free_text(
    channel: Channel,
    last_inbound_at: datetime | None,
    closes_at: datetime,
    settings: PolicySettings,
) -> SendMode:
    """What may still be sent once the free text closes for good at `closes_at`
    (see `free_text_closes_at`): a template on WhatsApp, a message tag on
    Messenger when `settings` allow any; REFUSED when nothing."""
    return decide(channel, WindowInput(last_inbound_at=last_inbound_at), closes_at, settings).mode


# --- internals -------------------------------------------------------------


def _inside(
    channel: Channel,
    rule: WindowRule,
    window: WindowInput,
    now: datetime,
    free_until: datetime,
    settings: PolicySettings,
    tags: tuple[str, ...],
) -> Decision:
    """The free-text window is open (the WeChat message cap may still refuse)."""
    closes_in = _ceil(free_until - now)
    if rule.message_limit:
        limit = settings.wechat_window_messages
        used = window.outbound_in_window
        if window.window_closed:
            # WeChat said 45015: our clock and theirs disagree; theirs wins.
            return Decision(channel, SendMode.REFUSED, Reason(WECHAT_CLOSED_LEARNED), remaining=0)
        if window.window_spent:
            # WeChat said 45047: the account's real limit is lower than ours.
            return Decision(
                channel,
                SendMode.REFUSED,
                Reason(WECHAT_LIMIT_LEARNED),
                counter_limit=limit,
                remaining=0,
            )
        if used >= limit:
            # Time will not help: only a customer reply resets the counter.
            return Decision(
                channel,
                SendMode.REFUSED,
                Reason(WECHAT_LIMIT_REACHED, {"limit": limit}),
                counter_limit=limit,
                remaining=0,
            )
        return Decision(
            channel,
            SendMode.FREE,
            Reason(
                WECHAT_OPEN,
                {"closes_in_seconds": closes_in, "remaining": limit - used, "limit": limit},
            ),
            window_closes_at=free_until,
            counter_limit=limit,
            counts_toward_wechat_window=True,
            remaining=limit - used,
        )
    return Decision(
        channel,
        SendMode.FREE,
        Reason(WINDOW_OPEN, {"channel": channel.value, "closes_in_seconds": closes_in}),
        window_closes_at=free_until,
        allowed_tags=tags,
        remaining=_viber_remaining(window, now, settings) if rule.monthly_quota else None,
    )


def _outside(
    channel: Channel,
    rule: WindowRule,
    window: WindowInput,
    now: datetime,
    closed_at: datetime | None,
    settings: PolicySettings,
    tags: tuple[str, ...],
) -> Decision:
    """Every stage has closed (``closed_at``), or the contact never wrote (None)."""
    wrote = closed_at is not None
    params: dict[str, str | int] = (
        {"closed_seconds_ago": _floor(now - closed_at)}
        if closed_at is not None
        else {"channel": channel.value}
    )
    if rule.after_window is SendMode.TEMPLATE:
        return Decision(
            channel,
            SendMode.TEMPLATE,
            Reason(WHATSAPP_TEMPLATE_ONLY if wrote else NEVER_WROTE_TEMPLATE_ONLY, params),
            window_closed_at=closed_at,
        )
    if rule.after_window is SendMode.MESSAGE_TAG:
        if tags:
            mode, key = SendMode.MESSAGE_TAG, MESSENGER_TAG_ONLY if wrote else NEVER_WROTE_TAG_ONLY
        else:
            mode, key = SendMode.REFUSED, MESSENGER_NO_TAGS if wrote else NEVER_WROTE_NO_TAGS
        return Decision(
            channel, mode, Reason(key, params), window_closed_at=closed_at, allowed_tags=tags
        )
    if rule.after_window is SendMode.CHATBOT:
        return _viber_chatbot(channel, window, now, closed_at, settings)
    return Decision(
        channel,
        SendMode.REFUSED,
        Reason(_CLOSED_REASON[channel] if wrote else NEVER_WROTE_NOTHING, params),
        window_closed_at=closed_at,
    )


def _viber_chatbot(
    channel: Channel,
    window: WindowInput,
    now: datetime,
    closed_at: datetime | None,
    settings: PolicySettings,
) -> Decision:
    """Outside the Viber window: a chatbot-initiated message, within the monthly quota."""
    used = _viber_used(window, now)
    limit = settings.viber_monthly_free
    remaining = max(0, limit - used)
    if used < limit or settings.viber_commercial_terms:
        params: dict[str, str | int] = {"used": used, "limit": limit}
        if used < limit:
            params["remaining"] = remaining
        return Decision(
            channel,
            SendMode.CHATBOT,
            Reason(VIBER_CHATBOT if used < limit else VIBER_CHATBOT_PAID, params),
            window_closed_at=closed_at,
            # With commercial terms there is no cap for the commit to enforce.
            counter_limit=None if settings.viber_commercial_terms else limit,
            counts_toward_viber_quota=True,
            remaining=remaining,
        )
    return Decision(
        channel,
        SendMode.REFUSED,
        Reason(VIBER_QUOTA_EXHAUSTED, {"used": used, "limit": limit}),
        window_closed_at=closed_at,
        remaining=0,
    )


def _viber_used(window: WindowInput, now: datetime) -> int:
    """This month's chatbot-initiated count; a count for another month is stale (0)."""
    month = window.viber_count_month
    if month is None:
        return window.viber_month_count
    if not _MONTH.fullmatch(month):
        raise ValueError(f"viber_count_month must be 'YYYY-MM', got {month!r}")
    return window.viber_month_count if month == now.strftime("%Y-%m") else 0


def _viber_remaining(window: WindowInput, now: datetime, settings: PolicySettings) -> int:
    return max(0, settings.viber_monthly_free - _viber_used(window, now))


def _pickable_tags(settings: PolicySettings) -> tuple[str, ...]:
    """Configured tags, deduplicated; HUMAN_AGENT is the automatic 24 h–7 d mode, not a pick."""
    return tuple(dict.fromkeys(t for t in settings.messenger_tags if t and t != HUMAN_AGENT_TAG))


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


def _ceil(delta: timedelta) -> int:
    """Whole seconds, rounded up: an open window never reads "closes in 0 s"."""
    return -(-delta // _SECOND)


def _floor(delta: timedelta) -> int:
    return delta // _SECOND

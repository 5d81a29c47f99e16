"""The one small contract every channel connector implements.

A connector speaks one channel's real API: it sends an outbound message and
maps the channel's answer to sent / retry later / failed / outside the window;
it verifies an inbound webhook exactly as the vendor signs it; it parses the
webhook into inbound messages and delivery statuses; and it answers the
channel's subscribe handshake where there is one. Channel quirks stay in the
connector's own file; nothing here knows Slack or Redis.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

import orjson
from multidict import CIMultiDictProxy

from bot.domain.channels import Channel
from bot.domain.events import InboundMedia as InboundMedia
from bot.domain.events import InboundMessage as InboundMessage
from bot.domain.events import ReachabilityEvent as ReachabilityEvent
from bot.domain.events import StatusUpdate as StatusUpdate
from bot.domain.events import TemplateChange as TemplateChange
from bot.domain.events import WebhookEvent as WebhookEvent
from bot.domain.messages import NO_CONTENT, Content
from bot.domain.reachability import LearnedLimit, UnreachableReason
from bot.domain.windows import Reason, SendMode
from bot.request_limits import json_depth_ok
from bot.store.builders import builder

#: Looks up a customer's name on channels whose webhooks carry none
#: (Messenger, Instagram, LINE profile APIs): (first, last), or ("", ""), and
#: where the profile has one (Instagram), the username third.
ProfileLookup = Callable[[str], Awaitable[tuple[str, ...]]]


@dataclass(frozen=True, slots=True)
class OutboundRequest:
    """One message to send, as the relay decided it: the message's content and
    what is particular to this send (mode included)."""

    message_id: str  # ours: stable across retries (LINE X-Line-Retry-Key, web chat id)
    channel: Channel
    recipient: str  # the channel identity: wa_id, PSID, IGSID, chat id, user id, phone, e-mail
    mode: SendMode
    content: Content = NO_CONTENT  # text or template, the agent's tag (MESSAGE_TAG), files
    contact_name: str = ""  # e-mail display name
    #: The conversation's last customer message to answer under, where the
    #: channel threads (e-mail: its Message-ID and subject); each connector
    #: makes of it what its channel needs.
    reply_to: str | None = None
    reply_subject: str = ""


class SendOutcome(StrEnum):
    SENT = "sent"  # the channel accepted it; channel_message_id set
    RETRY = "retry"  # try again later (timeout, 5xx, 429); retry_after may say when
    FAILED = "failed"  # final; reason in words
    OUTSIDE_WINDOW = "outside_window"  # final: the channel refused it as outside its window
    UNREACHABLE = "unreachable"  # final: the customer cannot be reached there (`unreachable`)
    LIMIT_LEARNED = "limit_learned"  # final: a limit we could not see (`learned`)


@dataclass(frozen=True, slots=True)
class SendResult:
    """The channel's answer to a send. `reason` says why it did not go, for an
    agent: a catalogue key (`send.*`) and its parameters, put in words in the
    thread's language; never secrets or PII."""

    outcome: SendOutcome
    channel_message_id: str | None = None
    reason: Reason | None = None
    retry_after: float | None = None  # seconds, when the channel said (Retry-After, retry_after)
    #: UNREACHABLE: why the identity cannot be reached; LIMIT_LEARNED: which limit.
    unreachable: UnreachableReason | None = None
    learned: LearnedLimit | None = None
    code: str = ""  # the channel's own error code, for the record (never PII)

    @classmethod
    def sent(cls, channel_message_id: str) -> SendResult:
        # Every message sent makes one: built through its slots (`bot.store.builders`).
        return _build_result(SendOutcome.SENT, channel_message_id, None, None, None, None, "")

    @classmethod
    def retry(
        cls, key: str, retry_after: float | None = None, *, code: str = "", **params: str | int
    ) -> SendResult:
        return cls(
            SendOutcome.RETRY, reason=Reason(key, params), retry_after=retry_after, code=code
        )

    @classmethod
    def failed(cls, key: str, *, code: str = "", **params: str | int) -> SendResult:
        """`key` (a `send.*` catalogue key) with `params`; `code`: the channel's own."""
        return cls(SendOutcome.FAILED, reason=Reason(key, params), code=code)

    @classmethod
    def outside_window(cls, key: str, *, code: str = "", **params: str | int) -> SendResult:
        return cls(SendOutcome.OUTSIDE_WINDOW, reason=Reason(key, params), code=code)

    @classmethod
    def not_reachable(
        cls, key: str, why: UnreachableReason, code: str = "", **params: str | int
    ) -> SendResult:
        """The channel says the customer cannot be reached on this identity."""
        return cls(SendOutcome.UNREACHABLE, reason=Reason(key, params), unreachable=why, code=code)

    @classmethod
    def limit(
        cls, key: str, learned: LearnedLimit, code: str = "", **params: str | int
    ) -> SendResult:
        """The channel refused because of a limit we could not see: remember it."""
        return cls(
            SendOutcome.LIMIT_LEARNED, reason=Reason(key, params), learned=learned, code=code
        )


_build_result = builder(SendResult)


@dataclass(frozen=True, slots=True)
class MediaSource:
    """Where a connector fetches an inbound file: the URL and the headers (credentials)."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class MediaFetcher(Protocol):
    """A connector whose customers' files can be fetched (its channel's documented way)."""

    async def media_source(self, media: InboundMedia) -> MediaSource:
        """The request that fetches `media` (`DownloadRefused` when it cannot be)."""
        ...


@runtime_checkable
class FileKeeper(Protocol):
    """A connector whose webhook carries the files themselves (e-mail's MIME parts):
    they are kept in the media store before the events are stored."""

    async def keep_files(
        self, request: WebhookRequest, events: Sequence[WebhookEvent]
    ) -> Sequence[WebhookEvent]:
        """`events`, their files' references now naming the stored copies."""
        ...


@dataclass(frozen=True)
class WebhookRequest:
    """An HTTP request to `/webhooks/{channel}`, as received (raw body kept)."""

    method: str
    url: str  # the full URL the sender signed (PUBLIC_BASE_URL-based when set)
    headers: CIMultiDictProxy[str] | Mapping[str, str]
    query: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class WebhookReply:
    """What to answer the channel (handshakes, WeChat's "success", Twilio's TwiML)."""

    status: int = 200
    body: str = ""
    content_type: str = "text/plain"


class MalformedWebhook(ValueError):
    """A well-signed body that cannot be understood: answered 400, nothing changes."""


#: No channel message was sent before this: an earlier time is a body's error
#: (a timestamp of 0, -1 or `true`, which parse as integers).
EARLIEST_EVENT = datetime(2000, 1, 1, tzinfo=UTC)
#: Channels' clocks drift a little; a day ahead of ours is no clock at all.
LATEST_EVENT_AHEAD = timedelta(days=1)


def check_event_times(events: Sequence[WebhookEvent], now: datetime) -> None:
    """MalformedWebhook when an event's time could not be a channel's: windows start there."""
    latest = now + LATEST_EVENT_AHEAD
    for event in events:
        at = event.sent_at if isinstance(event, InboundMessage) else event.at
        if not EARLIEST_EVENT <= at <= latest:
            raise MalformedWebhook("an event's time is out of range")


class Connector(Protocol):
    """One channel. Implementations live in `bot/channels/<channel>.py`."""

    channel: Channel

    async def send(self, message: OutboundRequest) -> SendResult: ...

    def verify(self, request: WebhookRequest) -> bool:
        """Whether the request carries the channel's valid signature or secret."""
        ...

    def handshake(self, request: WebhookRequest) -> WebhookReply | None:
        """The answer to a subscribe handshake (GET), or None when it is not one."""
        ...

    def parse(self, request: WebhookRequest) -> Sequence[WebhookEvent]:
        """Inbound messages and statuses in a verified request (MalformedWebhook)."""
        ...

    def reply(self, events: Sequence[WebhookEvent]) -> WebhookReply:
        """The answer to a verified, processed POST."""
        ...


@runtime_checkable
class ReplayGuarded(Protocol):
    """A connector whose signature does not cover the whole request (WeChat's covers
    the query, not the body): each verified callback must also be new."""

    async def claim(self, request: WebhookRequest) -> bool:
        """Take the callback's one-time token; False when it was seen before."""
        ...

    async def release(self, request: WebhookRequest) -> None:
        """Give the token back: the callback could not be processed."""
        ...


@dataclass
class RateLimiter:
    """A token bucket: at most `rate` sends per second with bursts of `burst`.

    Keeps one process under a channel's published limit; replicas share the
    limit by dividing it (a setting), which is what the vendors allow for.
    """

    rate: float
    burst: int = 1
    _tokens: float = field(init=False)
    _at: float = field(init=False)
    _lock: asyncio.Lock | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._tokens = float(self.burst)
        self._at = time.monotonic()

    async def acquire(self) -> None:
        """Returns when a token was taken."""
        if not self.take_now():
            await self._wait()

    def take_now(self) -> bool:
        """Take a token if one is there and nobody waits for one; False (nothing
        taken) when `acquire` must be awaited. A hot path's fast path: no
        coroutine when a send need not wait."""
        # No lock is needed (one event loop: nothing runs between the check and the take).
        return (self._lock is None or not self._lock.locked()) and self._take()

    async def _wait(self) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()  # made on first need: most buckets never wait
        async with self._lock:
            while True:
                if self._take():
                    return
                await asyncio.sleep((1 - self._tokens) / self.rate)

    def _take(self) -> bool:
        """Refill by the time passed; take a token if there is one."""
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


class Spacing:
    """At most one send per `1 / rate` seconds for each key (a chat), no burst.

    A token bucket of one per key, kept as the time each key may send next: a
    float per key, not an object, because a relay sends to thousands of
    different chats. Past `size` keys, those whose next time has come are
    dropped (they would not wait anyway), so a key that must still wait is
    never forgotten.
    """

    def __init__(self, rate: float, size: int = 10_000) -> None:
        self._interval = 1 / rate
        self._size = size
        self._next: dict[str, float] = {}

    def __len__(self) -> int:
        """How many keys are remembered."""
        return len(self._next)

    async def acquire(self, key: str) -> None:
        """Returns when `key` may send."""
        wait = self.reserve(key)
        if wait > 0:
            await asyncio.sleep(wait)

    def reserve(self, key: str) -> float:
        """Take `key`'s next slot; returns how many seconds to wait for it (0: none).
        `acquire` without a coroutine, for a hot path that seldom waits."""
        now = time.monotonic()
        slot = max(now, self._next.get(key, now))
        self._next[key] = slot + self._interval
        if len(self._next) > self._size:
            self._next = {k: at for k, at in self._next.items() if at > now}
        return slot - now


def as_text(value: object) -> str:
    """A JSON value as text when it is a string, else ''."""
    return value if isinstance(value, str) else ""


def message_text(value: object) -> str:
    """A message's text: a string, or '' when absent; MalformedWebhook for anything else
    (an object or a number where the text should be is no message to store)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedWebhook("the message text is not a string")
    return value


def json_object(raw: bytes, *, strict: bool = False) -> dict[str, Any]:
    """`raw` as a JSON object; `{}` when it is not one, or MalformedWebhook when `strict`.

    `strict` (a webhook) also refuses JSON nested deeper than any channel sends.
    """
    if strict and not json_depth_ok(raw):
        raise MalformedWebhook("the body nests deeper than any channel's webhook")
    try:
        value = orjson.loads(raw)  # every send's answer and every webhook: a hot path
    except ValueError as error:
        if strict:
            raise MalformedWebhook("the body is not JSON") from error
        return {}
    if isinstance(value, dict):
        return value
    if strict:
        raise MalformedWebhook("the body is not a JSON object")
    return {}


def backoff_seconds(attempt: int, *, base: float = 1.0, cap: float = 300.0) -> float:
    """Bounded exponential back-off with full jitter for retry number `attempt` (1-based)."""
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))


def retry_after_seconds(value: str | None) -> float | None:
    """A `Retry-After` header in seconds (delta-seconds form), else None."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(0.0, seconds)

"""What WhatsApp, Messenger and Instagram share: Meta's Graph API and webhooks.

* Webhooks are signed with `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of
  the raw body, keyed with the app secret>` and subscribed with a GET
  handshake (`hub.mode=subscribe`, `hub.verify_token`, `hub.challenge`):
  https://developers.facebook.com/docs/graph-api/webhooks/getting-started
* Graph API errors come as `{"error": {"message", "type", "code",
  "error_subcode", "is_transient", "error_data", "fbtrace_id"}}`:
  https://developers.facebook.com/docs/graph-api/guides/error-handling
* Messenger and Instagram share the Messenger Platform webhook shape
  (`entry[].messaging[]` with `message`, `delivery`, `read`, `postback`):
  https://developers.facebook.com/docs/messenger-platform/webhooks

Nothing here logs or returns a message text, a phone number or a token:
reasons are our own words keyed by the vendor's error code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from bot.channels.base import (
    InboundMedia,
    InboundMessage,
    MalformedWebhook,
    MediaSource,
    OutboundRequest,
    RateLimiter,
    SendOutcome,
    SendResult,
    StatusUpdate,
    WebhookEvent,
    WebhookReply,
    WebhookRequest,
    json_object,
    retry_after_seconds,
)
from bot.channels.http import post_or_retry
from bot.channels.media import MediaFiles, checked, send_parts
from bot.config import Settings
from bot.domain.channels import CHANNEL_LABELS, Channel
from bot.domain.media import MediaKind
from bot.domain.models import MessageStatus
from bot.domain.reachability import LearnedLimit, UnreachableReason
from bot.domain.windows import Reason
from bot.media.store import MediaStore

logger = logging.getLogger(__name__)

#: Total time allowed for one Graph API call (connect, send, read the answer).
DEFAULT_TIMEOUT_SECONDS = 15.0

SIGNATURE_HEADER = "X-Hub-Signature-256"
SIGNATURE_PREFIX = "sha256="


# --- webhook authentication and handshake ---------------------------------


def header(request: WebhookRequest, name: str) -> str | None:
    """A request header by case-insensitive name (plain mappings included)."""
    value = request.headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in request.headers.items():
        if key.lower() == lowered:
            return candidate
    return None


def verify_signature(request: WebhookRequest, app_secret: SecretStr | None) -> bool:
    """Whether `X-Hub-Signature-256` is the app secret's HMAC-SHA256 of the raw body."""
    if app_secret is None:
        return False
    given = header(request, SIGNATURE_HEADER)
    if given is None or not given.startswith(SIGNATURE_PREFIX):
        return False
    expected = hmac.new(
        app_secret.get_secret_value().encode(), request.body, hashlib.sha256
    ).hexdigest()
    # Meta sends lower-case hex; compare bytes so non-ASCII input cannot raise.
    return hmac.compare_digest(
        given[len(SIGNATURE_PREFIX) :].strip().lower().encode(), expected.encode()
    )


def subscribe_handshake(
    request: WebhookRequest, verify_token: SecretStr | None
) -> WebhookReply | None:
    """Meta's GET subscribe handshake: echo `hub.challenge` when the verify token matches.

    Not a handshake (not a GET, no `hub.mode`) → None; a wrong or missing
    token, or no META_VERIFY_TOKEN configured → 403.
    """
    if request.method.upper() != "GET" or "hub.mode" not in request.query:
        return None
    forbidden = WebhookReply(status=403, body="Forbidden")
    if verify_token is None or request.query.get("hub.mode") != "subscribe":
        return forbidden
    given = request.query.get("hub.verify_token", "")
    if not hmac.compare_digest(given.encode(), verify_token.get_secret_value().encode()):
        return forbidden
    challenge = request.query.get("hub.challenge")
    if not challenge:
        return WebhookReply(status=400, body="hub.challenge is missing")
    return WebhookReply(status=200, body=challenge)


# --- webhook bodies ---------------------------------------------------------

ModelT = TypeVar("ModelT", bound=BaseModel)


def load_body(body: bytes, model: type[ModelT]) -> ModelT:
    """Parse a JSON webhook body into `model`, or raise MalformedWebhook."""
    return validate(model, json_object(body, strict=True))


def validate(model: type[ModelT], data: object) -> ModelT:
    """`model` from decoded JSON, or MalformedWebhook.

    The error names only the failing fields, never the values (they may be
    a customer's text or number).
    """
    try:
        return model.model_validate(data)
    except ValidationError as error:
        fields = sorted(
            {
                ".".join(str(p) for p in e["loc"]) or "body"
                for e in error.errors(include_input=False)
            }
        )
        problem = f"missing or invalid fields: {', '.join(fields[:5])}"
    raise MalformedWebhook(problem)


def from_epoch_seconds(value: int) -> datetime:
    return datetime.fromtimestamp(value, tz=UTC)


def from_epoch_millis(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def split_name(full: str) -> tuple[str, str]:
    """`"Sara Ahmed Ali"` → `("Sara", "Ahmed Ali")`: first name up to the first space."""
    first, _, last = full.strip().partition(" ")
    return first, last.strip()


# Short descriptions of non-text messages, shown in the Slack thread.
_KIND_LABELS = {
    "photo": "📷 Photo",
    "video": "🎥 Video",
    "voice": "🎤 Voice message",
    "audio": "🎵 Audio",
    "file": "📄 File",
    "sticker": "🎨 Sticker",
    "location": "📍 Location",
    "contact": "👤 Contact",
    "reel": "🎬 Reel",
    "post": "🖼️ Post",
    "story_mention": "📣 Story mention",
    "story_reply": "💬 Story reply",
    "link": "🔗 Link",
    "order": "🛒 Order",
    "form": "📝 Form reply",
    "attachment": "📎 Attachment",
    "unsupported": "❔ A message type this app cannot show",
}


def describe(kind: str, caption: str = "", detail: str = "") -> str:
    """`describe("photo", "the caption")` → `"📷 Photo: the caption"`.

    `detail` follows the label after a space (a file name, coordinates).
    """
    label = _KIND_LABELS.get(kind, _KIND_LABELS["attachment"])
    if detail:
        label = f"{label} {detail}"
    return f"{label}: {caption}" if caption else label


def describe_location(latitude: float, longitude: float, name: str = "") -> str:
    """`"📍 Location 25.2048, 55.2708"` (and the place's name as the caption when given)."""
    # str() keeps every digit the channel sent (":g" would round to 6 significant digits).
    return describe("location", name, f"{latitude}, {longitude}")


# --- Graph API errors ---------------------------------------------------------


@dataclass(frozen=True)
class GraphError:
    """The `error` object of a Graph API answer (code/subcode as numbers)."""

    code: int | None
    subcode: int | None = None
    is_transient: bool = False
    fbtrace_id: str = ""


def graph_error(body: object) -> GraphError | None:
    """The Graph error in a decoded answer, or None when there is none."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if not isinstance(error, dict):
        return None
    return GraphError(
        code=_int_or_none(error.get("code")),
        subcode=_int_or_none(error.get("error_subcode")),
        is_transient=error.get("is_transient") is True,
        fbtrace_id=str(error.get("fbtrace_id") or ""),
    )


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


@dataclass(frozen=True)
class ErrorRule:
    """What one vendor error code means for a send (and for a status webhook).

    `key` is the catalogue key of the reason for an agent (with `params`; the
    channel is added where it is used), so the same words serve a
    failed-status webhook.
    """

    outcome: SendOutcome
    key: str
    unreachable: UnreachableReason | None = None  # UNREACHABLE: why
    learned: LearnedLimit | None = None  # LIMIT_LEARNED: which limit
    params: Mapping[str, str | int] = field(default_factory=dict)


@dataclass(frozen=True)
class ErrorTable:
    """Vendor error codes → outcome and words; a subcode rule wins over its code's."""

    by_code: Mapping[int, ErrorRule]
    by_subcode: Mapping[int, ErrorRule] = field(default_factory=dict)

    def rule(self, error: GraphError) -> ErrorRule | None:
        if error.subcode is not None and error.subcode in self.by_subcode:
            return self.by_subcode[error.subcode]
        if error.code is not None:
            return self.by_code.get(error.code)
        return None


def outside(key: str) -> ErrorRule:
    return ErrorRule(SendOutcome.OUTSIDE_WINDOW, key)


def retry(key: str) -> ErrorRule:
    return ErrorRule(SendOutcome.RETRY, key)


def failed(key: str, **params: str | int) -> ErrorRule:
    return ErrorRule(SendOutcome.FAILED, key, params=params)


def unreachable(key: str, why: UnreachableReason) -> ErrorRule:
    return ErrorRule(SendOutcome.UNREACHABLE, key, unreachable=why)


def learned(key: str, limit: LearnedLimit) -> ErrorRule:
    return ErrorRule(SendOutcome.LIMIT_LEARNED, key, learned=limit)


#: Graph API codes every Meta product shares:
#: https://developers.facebook.com/docs/graph-api/guides/error-handling#errorcodes
GRAPH_ERRORS: Mapping[int, ErrorRule] = {
    1: retry("send.graph.1"),
    2: retry("send.graph.2"),
    4: retry("send.graph.4"),
    17: retry("send.graph.17"),
    32: retry("send.graph.32"),
    341: retry("send.graph.341"),
    613: retry("send.graph.613"),
    100: failed("send.graph.100"),
    102: failed("send.graph.102"),
    190: failed("send.graph.190"),
    200: failed("send.graph.200"),
    368: failed("send.graph.368"),
}


def messaging_errors(token_setting: str) -> ErrorTable:
    """The Send API errors Messenger and Instagram share (the channel is named where used).

    https://developers.facebook.com/docs/messenger-platform/error-codes
    Code 10 is the Messenger Platform's "sent outside of allowed window"
    (subcode 2018278; 2018065 without News Messaging; Instagram 2534022).
    """
    window = outside("send.messaging.outside_window")
    # 551 "This person isn't available right now" (subcode 1545041), and
    # 2018108 "isn't accepting messages": the customer turned messages from
    # the account off or blocked it; a new message from them clears it.
    unavailable = unreachable("send.messaging.unavailable", UnreachableReason.UNAVAILABLE)
    return ErrorTable(
        by_code={
            **GRAPH_ERRORS,
            10: window,
            190: failed("send.messaging.token_invalid", setting=token_setting),
            551: unavailable,
            1200: retry("send.messaging.1200"),
            80006: retry("send.messaging.80006"),
        },
        by_subcode={
            2018278: window,
            2018065: window,
            2534022: window,
            1545041: unavailable,
            2018001: failed("send.messaging.2018001"),
            2018108: unreachable("send.messaging.2018108", UnreachableReason.UNAVAILABLE),
            2018028: failed("send.messaging.2018028"),
            2018022: retry("send.messaging.2018022"),
        },
    )


def usage_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds until Meta lifts a throttle, from `X-Business-Use-Case-Usage`.

    The header maps business ids to usage entries whose
    `estimated_time_to_regain_access` is in minutes:
    https://developers.facebook.com/docs/graph-api/overview/rate-limiting#headers-2
    """
    raw = headers.get("X-Business-Use-Case-Usage")
    if not raw:
        return None
    try:
        usage = json.loads(raw)
    except json.JSONDecodeError:
        return None
    minutes = [
        entry.get("estimated_time_to_regain_access")
        for entries in (usage.values() if isinstance(usage, dict) else ())
        if isinstance(entries, list)
        for entry in entries
        if isinstance(entry, dict)
    ]
    waits = [float(m) for m in minutes if isinstance(m, int | float) and not isinstance(m, bool)]
    longest = max(waits, default=0.0)
    return longest * 60 if longest > 0 else None


# --- sending ------------------------------------------------------------------------


MessageIdOf = Callable[[Any], str | None]


@dataclass
class GraphSender:
    """POSTs one JSON message to a Graph API endpoint and maps the answer to a SendResult."""

    http: aiohttp.ClientSession
    channel: Channel
    errors: ErrorTable
    limiter: RateLimiter
    timeout: float = DEFAULT_TIMEOUT_SECONDS

    @property
    def label(self) -> str:
        return CHANNEL_LABELS[self.channel]

    async def post(
        self, url: str, token: SecretStr, payload: dict[str, Any], message_id_of: MessageIdOf
    ) -> SendResult:
        await self.limiter.acquire()
        response = await post_or_retry(
            self.http,
            url,
            channel=self.channel,
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            json=payload,
            headers={"Authorization": f"Bearer {token.get_secret_value()}"},
        )
        if isinstance(response, SendResult):
            return response
        body = json_object(response.body)
        if 200 <= response.status < 300:
            message_id = message_id_of(body)
            if message_id:
                return SendResult.sent(message_id)
            # Accepted but unreadable: retrying could send it twice.
            return SendResult.failed("send.no_message_id_after_accept", channel=self.channel.value)
        return self.result_for_error(response.status, response.headers, body)

    def result_for_error(self, status: int, headers: Mapping[str, str], body: Any) -> SendResult:
        error = graph_error(body)
        wait = retry_after_seconds(headers.get("Retry-After")) or usage_retry_after(headers)
        rule = self.errors.rule(error) if error is not None else None
        if error is not None and rule is None:
            logger.warning(
                "unmapped graph error",
                extra={
                    "channel": self.channel.value,
                    "http_status": status,
                    "code": error.code,
                    "subcode": error.subcode,
                    "fbtrace_id": error.fbtrace_id,
                },
            )
        if rule is not None:
            if rule.outcome is SendOutcome.RETRY:
                return SendResult(SendOutcome.RETRY, reason=self._words(rule), retry_after=wait)
            code = str(error.subcode or error.code or "") if error is not None else ""
            return SendResult(
                rule.outcome,
                reason=self._words(rule),
                unreachable=rule.unreachable,
                learned=rule.learned,
                code=code,
            )
        if (error is not None and error.is_transient) or status == 429 or status >= 500:
            channel = self.channel.value
            return SendResult.retry("send.server_error", wait, channel=channel, status=status)
        channel = self.channel.value
        if error is not None and error.code is not None:
            return SendResult.failed("send.refused", channel=channel, detail=f"error {error.code}")
        return SendResult.failed("send.refused", channel=channel, detail=f"HTTP {status}")

    def _words(self, rule: ErrorRule) -> Reason:
        """The rule's reason, naming this channel."""
        return Reason(rule.key, {"channel": self.channel.value, **rule.params})


async def graph_get(
    http: aiohttp.ClientSession,
    url: str,
    token: SecretStr,
    params: Mapping[str, str],
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
) -> dict[str, Any] | None:
    """GET a Graph object as a dict; None on any failure (the caller has a fallback)."""
    try:
        async with http.get(
            url,
            params=dict(params),
            headers={"Authorization": f"Bearer {token.get_secret_value()}"},
            timeout=aiohttp.ClientTimeout(total=timeout_seconds),
        ) as response:
            if response.status != 200:
                return None
            body = await response.json(content_type=None)
    except (TimeoutError, aiohttp.ClientError, ValueError):
        return None
    return body if isinstance(body, dict) else None


# --- Messenger Platform webhooks (Messenger and Instagram) ----------------------


class _Party(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    user_ref: str | None = None  # chat-plugin guests: no PSID to send to


class _Coordinates(BaseModel):
    lat: float
    long: float


class _AttachmentPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    url: str | None = None
    title: str | None = None
    sticker_id: int | None = None
    coordinates: _Coordinates | None = None


class _Attachment(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str
    title: str | None = None  # `fallback` attachments (shared links)
    url: str | None = None
    payload: _AttachmentPayload | None = None


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore")

    mid: str
    text: str | None = None
    attachments: list[_Attachment] = []
    is_echo: bool = False
    is_deleted: bool = False  # Instagram: the customer unsent a message
    is_unsupported: bool = False  # Instagram: a type the API does not deliver


class _Delivery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    mids: list[str] = []
    watermark: int | None = None


class _Read(BaseModel):
    model_config = ConfigDict(extra="ignore")

    watermark: int | None = None
    mid: str | None = None  # Instagram `messaging_seen`


class _Postback(BaseModel):
    model_config = ConfigDict(extra="ignore")

    title: str = ""
    payload: str | None = None
    mid: str | None = None


class _Messaging(BaseModel):
    model_config = ConfigDict(extra="ignore")

    sender: _Party
    recipient: _Party | None = None
    timestamp: int | None = None  # milliseconds
    message: _Message | None = None
    delivery: _Delivery | None = None
    read: _Read | None = None
    postback: _Postback | None = None


class _Entry(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    time: int | None = None
    messaging: list[_Messaging] = []


class MessagingWebhook(BaseModel):
    """`{"object": "page" | "instagram", "entry": [{"messaging": [...]}]}`."""

    model_config = ConfigDict(extra="ignore")

    object: str
    entry: list[_Entry]


def parse_messaging_webhook(
    body: bytes, channel: Channel, object_name: str
) -> Sequence[WebhookEvent]:
    """Inbound messages and receipts of a Messenger or Instagram webhook.

    Echoes of our own messages, unsent messages, reactions, standby events
    and other objects are ignored.
    https://developers.facebook.com/docs/messenger-platform/reference/webhook-events
    """
    hook = load_body(body, MessagingWebhook)
    if hook.object != object_name:
        return []
    events: list[WebhookEvent] = []
    for entry in hook.entry:
        for item in entry.messaging:
            events.extend(_messaging_events(item, channel))
    return events


def _messaging_events(item: _Messaging, channel: Channel) -> list[WebhookEvent]:
    customer = item.sender.id
    if customer is None:
        return []  # a chat-plugin guest (user_ref): not a PSID/IGSID we can answer
    if item.message is not None:
        message = item.message
        if message.is_echo or message.is_deleted:
            return []
        sent_at = _required_millis(item.timestamp)
        return [
            InboundMessage(
                channel=channel,
                identity=customer,
                channel_message_id=message.mid,
                sent_at=sent_at,
                text=_message_text(message),
                media=_attachment_media(message),
            )
        ]
    if item.postback is not None:
        # A button the customer tapped: an interaction that opens the window.
        sent_at = _required_millis(item.timestamp)
        mid = item.postback.mid or f"postback:{customer}:{item.timestamp}"
        return [
            InboundMessage(
                channel=channel,
                identity=customer,
                channel_message_id=mid,
                sent_at=sent_at,
                text=f"🔘 {item.postback.title or item.postback.payload or 'Button'}",
            )
        ]
    if item.delivery is not None:
        return _receipts(item, channel, MessageStatus.DELIVERED, item.delivery.mids, customer)
    if item.read is not None:
        mids = [item.read.mid] if item.read.mid else []
        return _receipts(item, channel, MessageStatus.READ, mids, customer)
    return []


def _receipts(
    item: _Messaging,
    channel: Channel,
    status: MessageStatus,
    mids: list[str],
    customer: str,
) -> list[WebhookEvent]:
    receipt = item.delivery if status is MessageStatus.DELIVERED else item.read
    watermark = receipt.watermark if receipt is not None else None
    stamp = item.timestamp if item.timestamp is not None else watermark
    if stamp is None:
        raise MalformedWebhook("a receipt has neither timestamp nor watermark")
    at = from_epoch_millis(stamp)
    if mids:
        return [
            StatusUpdate(channel=channel, status=status, at=at, channel_message_id=mid)
            for mid in mids
        ]
    if watermark is None:
        raise MalformedWebhook("a receipt names neither messages nor a watermark")
    return [
        StatusUpdate(
            channel=channel,
            status=status,
            at=at,
            recipient=customer,
            up_to=from_epoch_millis(watermark),
        )
    ]


def _required_millis(value: int | None) -> datetime:
    if value is None:
        raise MalformedWebhook("a message event has no timestamp")
    return from_epoch_millis(value)


_ATTACHMENT_KINDS = {
    "image": MediaKind.IMAGE,
    "video": MediaKind.VIDEO,
    "audio": MediaKind.AUDIO,
    "file": MediaKind.DOCUMENT,
}


def _attachment_media(message: _Message) -> tuple[InboundMedia, ...]:
    """Each image, video, audio or file attachment's `payload.url` (a Facebook CDN URL):
    https://developers.facebook.com/docs/messenger-platform/reference/webhook-events/messages"""
    files: list[InboundMedia] = []
    for attachment in message.attachments:
        kind = _ATTACHMENT_KINDS.get(attachment.type)
        url = attachment.payload.url if attachment.payload is not None else None
        if kind is None or not url:
            continue
        if kind is MediaKind.IMAGE and attachment.payload and attachment.payload.sticker_id:
            kind = MediaKind.STICKER
        files.append(InboundMedia(kind=kind, ref=url))
    return tuple(files)


async def attachment_source(media: InboundMedia) -> MediaSource:
    """An attachment is fetched at its `payload.url`, as Meta gave it (no token)."""
    return MediaSource(media.ref)


def _message_text(message: _Message) -> str:
    """The text, or a description of each attachment with the text as its caption."""
    text = message.text or ""
    if message.is_unsupported and not message.attachments:
        return describe("unsupported", text)
    if not message.attachments:
        return text
    described = [_describe_attachment(a) for a in message.attachments]
    if text:
        described[0] = f"{described[0]}: {text}"
    return "\n".join(described)


def _describe_attachment(attachment: _Attachment) -> str:
    payload = attachment.payload or _AttachmentPayload()
    kind = attachment.type
    if kind == "image":
        return describe("sticker" if payload.sticker_id else "photo")
    if kind in ("video", "audio", "file"):
        return describe(kind)
    if kind == "location" and payload.coordinates is not None:
        return describe_location(
            payload.coordinates.lat, payload.coordinates.long, payload.title or ""
        )
    if kind in ("fallback", "share", "template"):
        return describe("link", "", attachment.title or payload.title or "")
    if kind in ("ig_reel", "reel"):
        return describe("reel", "", payload.title or "")
    if kind == "ig_post":
        return describe("post", "", payload.title or "")
    if kind == "story_mention":
        return describe("story_mention")
    return describe("attachment")


def profile_name(body: Mapping[str, Any] | None, *, first: str, last: str) -> tuple[str, str]:
    """(first, last) from a Graph user profile, or ("", "")."""
    if body is None:
        return "", ""
    given, family = body.get(first), body.get(last)
    return (given if isinstance(given, str) else ""), (family if isinstance(family, str) else "")


def ok_reply() -> WebhookReply:
    """Meta only needs a 200 within 20 s; the body is ignored."""
    return WebhookReply(status=200, body="")


__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "GRAPH_ERRORS",
    "ErrorRule",
    "ErrorTable",
    "GraphError",
    "GraphSender",
    "MessagingWebhook",
    "describe",
    "describe_location",
    "failed",
    "from_epoch_millis",
    "from_epoch_seconds",
    "graph_error",
    "graph_get",
    "header",
    "load_body",
    "messaging_errors",
    "ok_reply",
    "outside",
    "parse_messaging_webhook",
    "retry",
    "split_name",
    "subscribe_handshake",
    "usage_retry_after",
    "validate",
    "verify_signature",
]


#: Our kinds as the Send API's attachment types (a sticker goes as the image it is).
_SEND_API_TYPES = {
    MediaKind.IMAGE: "image",
    MediaKind.STICKER: "image",
    MediaKind.VIDEO: "video",
    MediaKind.AUDIO: "audio",
}


class SendApiConnector:
    """What Messenger and Instagram share: the Send API, Meta's signed webhooks.

    A subclass names its channel, label, webhook object, rate and token, and
    builds the channel's payload; everything else is here.
    """

    channel: Channel
    label: str
    webhook_object: str
    messages_per_second: int
    #: Where the files of a message are read from (given by the registry).
    media: MediaStore | None = None

    def __init__(
        self,
        settings: Settings,
        http: aiohttp.ClientSession,
        *,
        rate_limiter: RateLimiter | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        media: MediaStore | None = None,
    ) -> None:
        self.settings = settings
        self.http = http
        self.timeout = timeout
        self.media = media
        rate = self.messages_per_second
        self.sender = GraphSender(
            http=http,
            channel=self.channel,
            errors=self.errors(),
            limiter=rate_limiter or RateLimiter(rate=rate, burst=rate),
            timeout=timeout,
        )

    def errors(self) -> ErrorTable:
        raise NotImplementedError

    def token(self) -> SecretStr | None:
        raise NotImplementedError

    def api_url(self) -> str:
        raise NotImplementedError

    def payload(self, message: OutboundRequest) -> dict[str, Any] | SendResult:
        raise NotImplementedError

    async def send(self, message: OutboundRequest) -> SendResult:
        token = self.token()
        if token is None:
            return SendResult.failed("send.not_configured", channel=self.channel.value)
        url = f"{self.api_url()}/me/messages"
        if message.content.attachments:
            parts = self.with_files(message)
            if isinstance(parts, SendResult):
                return parts

            async def post(part: dict[str, Any]) -> SendResult:
                return await self.sender.post(url, token, part, send_api_message_id)

            return await send_parts(parts, post)
        built = self.payload(message)
        if isinstance(built, SendResult):
            return built
        return await self.sender.post(url, token, built, send_api_message_id)

    def with_files(self, message: OutboundRequest) -> list[dict[str, Any]] | SendResult:
        """The text (when there is one), then each file as an attachment Meta fetches
        from its signed link, one Send API call each (an attachment carries no text):
        `message.attachment = {type: image|video|audio|file, payload: {url,
        is_reusable: false}}`, under the text's messaging type and tag.
        https://developers.facebook.com/docs/messenger-platform/send-messages#url
        https://developers.facebook.com/docs/instagram-platform/instagram-api-with-instagram-login/messaging-api#send-media
        """
        text = message.content.text
        plain = dataclasses.replace(message.content, text=text or "-", attachments=())
        envelope = self.payload(dataclasses.replace(message, content=plain))
        if isinstance(envelope, SendResult):
            return envelope
        media = MediaFiles.of(self.media, self.settings)
        files = checked(message, media, by_url=True)
        if isinstance(files, SendResult):
            return files
        assert media is not None  # checked() refuses without it
        parts = [envelope] if text.strip() else []
        for file in files:
            attachment = {
                "type": _SEND_API_TYPES.get(file.kind, "file"),
                "payload": {"url": media.url(file.attachment), "is_reusable": False},
            }
            parts.append({**envelope, "message": {"attachment": attachment}})
        return parts

    def verify(self, request: WebhookRequest) -> bool:
        return verify_signature(request, self.settings.meta_app_secret)

    def handshake(self, request: WebhookRequest) -> WebhookReply | None:
        return subscribe_handshake(request, self.settings.meta_verify_token)

    def parse(self, request: WebhookRequest) -> Sequence[WebhookEvent]:
        """Messages, deliveries and reads of the channel's messaging webhooks."""
        return parse_messaging_webhook(request.body, self.channel, self.webhook_object)

    async def media_source(self, media: InboundMedia) -> MediaSource:
        """A customer's attachment: its `payload.url` (the channel's CDN hosts only)."""
        return await attachment_source(media)

    def reply(self, events: Sequence[WebhookEvent]) -> WebhookReply:
        return ok_reply()


def send_api_message_id(body: Any) -> str | None:
    """`{"recipient_id": ..., "message_id": "m_..."}` → the message id."""
    if isinstance(body, dict):
        mid = body.get("message_id")
        if isinstance(mid, str) and mid:
            return mid
    return None

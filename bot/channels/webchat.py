"""Website chat: our own widget backend, over signed JSON webhooks both ways.

The widget contract (every body signed `X-Webchat-Signature: sha256=<hex
HMAC-SHA256 of the raw body with WEBCHAT_SECRET>`):

Outbound, `POST WEBCHAT_WEBHOOK_URL` with `Idempotency-Key: <message id>` (the
backend de-duplicates on it, so a retried send never shows twice)::

    {"type": "message",
     "visitor": {"id": "v_123"},
     "message": {"id": "<our message id>", "text": "…", "sent_at": "2026-11-24T12:00:00Z",
                 "attachments": [{"type": "image", "name": "receipt.jpg",
                                  "mime_type": "image/jpeg", "size": 48213,
                                  "url": "https://…/media/<signed token>"}]}}

  answered 2xx (optionally `{"message": {"id": "<the backend's id>"}}`); 4xx is
  final, 429 / 5xx are retried (`Retry-After` honoured).

Inbound, `POST /webhooks/webchat`, a visitor's message::

    {"type": "message",
     "visitor": {"id": "v_123", "name": "Sara Ahmed", "email": "sara@example.com"},
     "message": {"id": "wm_1", "text": "Hi", "sent_at": "2026-11-24T12:00:00Z",
                 "attachments": [{"type": "image", "name": "receipt.jpg"}]},
     "timestamp": 1795003200}

  (`attachments` optional; `type` one of image, audio, video, file, location,
  contact; `text` may then be empty) or a receipt for one of our messages::

    {"type": "status", "message": {"id": "<our message id>"},
     "status": "delivered" | "read", "at": "2026-11-24T12:01:00Z"}

  Other `type`s (typing, visitor left, …) are ignored; both are answered 200.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp

from bot.channels.base import (
    InboundMedia,
    InboundMessage,
    MalformedWebhook,
    MediaSource,
    OutboundRequest,
    RateLimiter,
    SendResult,
    StatusUpdate,
    WebhookEvent,
    WebhookReply,
    WebhookRequest,
    as_text,
)
from bot.channels.http import post_or_retry
from bot.channels.media import MediaFiles, checked
from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.clock import Clock, utc_now
from bot.domain.media import MediaKind
from bot.domain.models import MessageStatus
from bot.media.store import MediaStore

logger = logging.getLogger(__name__)


SIGNATURE_HEADER = "X-Webchat-Signature"

# Our own backend publishes no limit; this keeps a burst of follow-ups from
# hammering it. A constructor argument, like every channel's rate.
DEFAULT_RATE_PER_SECOND = 50.0

_RECEIPTS = {"delivered": MessageStatus.DELIVERED, "read": MessageStatus.READ}

_ATTACHMENTS = {
    "image": "📷 Photo",
    "photo": "📷 Photo",
    "audio": "🎤 Voice message",
    "voice": "🎤 Voice message",
    "video": "🎥 Video",
    "file": "📎 File",
    "document": "📎 File",
    "location": "📍 Location",
    "contact": "👤 Contact",
}


def webchat_signature(secret: str, body: bytes) -> str:
    """The `X-Webchat-Signature` value for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _iso_z(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


#: Our files' kinds as the widget names attachment types (those it sends us too).
_WIDGET_TYPES = {
    MediaKind.IMAGE: "image",
    MediaKind.VIDEO: "video",
    MediaKind.AUDIO: "audio",
    MediaKind.STICKER: "image",
}


class WebchatConnector:
    """The website chat widget backend.

    `clock` gives our messages' `sent_at`; `rate_per_second` bounds our POSTs;
    `timeout` bounds one POST, in seconds.
    """

    channel = Channel.WEBCHAT
    #: Where the files of a message are read from (given by the registry).
    media: MediaStore | None = None

    def __init__(
        self,
        settings: Settings,
        http: aiohttp.ClientSession,
        *,
        clock: Clock = utc_now,
        rate_per_second: float = DEFAULT_RATE_PER_SECOND,
        timeout: float = 15.0,
        media: MediaStore | None = None,
    ) -> None:
        url, secret = settings.webchat_webhook_url, settings.webchat_secret
        if not (url and secret):
            raise ValueError("website chat needs WEBCHAT_WEBHOOK_URL and WEBCHAT_SECRET")
        self._http = http
        self._url = url
        self._secret = secret.get_secret_value()
        self._clock = clock
        self._limiter = RateLimiter(rate=rate_per_second, burst=max(1, int(rate_per_second)))
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self.media = media
        self._media_settings = settings

    @property
    def _media(self) -> MediaFiles | None:
        return MediaFiles.of(self.media, self._media_settings)

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return bool(settings.webchat_webhook_url and settings.webchat_secret)

    async def send(self, message: OutboundRequest) -> SendResult:
        sent: dict[str, Any] = {
            "id": message.message_id,
            "text": message.content.text,
            "sent_at": _iso_z(self._clock()),
        }
        if message.content.attachments:
            media = self._media
            files = checked(message, media, by_url=True)
            if isinstance(files, SendResult):
                return files
            assert media is not None  # checked() refuses without it
            sent["attachments"] = [
                {
                    "type": _WIDGET_TYPES.get(file.kind, "file"),
                    "name": file.attachment.file_name,
                    "mime_type": file.attachment.mime_type,
                    "size": file.attachment.size,
                    "url": media.url(file.attachment),
                }
                for file in files
            ]
        payload = {"type": "message", "visitor": {"id": message.recipient}, "message": sent}
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: webchat_signature(self._secret, body),
            "Idempotency-Key": message.message_id,
        }
        await self._limiter.acquire()
        response = await post_or_retry(
            self._http,
            self._url,
            channel=Channel.WEBCHAT,
            timeout=self._timeout,
            data=body,
            headers=headers,
        )
        if isinstance(response, SendResult):
            return response
        status, retry_after = response.status, response.retry_after
        if 200 <= status < 300:
            return SendResult.sent(_answered_id(response.body) or message.message_id)
        if status == 429:
            return SendResult.retry("send.rate_limited", retry_after, channel=Channel.WEBCHAT.value)
        if status >= 500:
            return SendResult.retry(
                "send.server_error", retry_after, channel=Channel.WEBCHAT.value, status=status
            )
        logger.warning("webchat backend refused a message", extra={"http_status": status})
        return _refusal(status)

    def verify(self, request: WebhookRequest) -> bool:
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:
            return False
        expected = webchat_signature(self._secret, request.body)
        return hmac.compare_digest(signature.strip().lower().encode(), expected.encode())

    def handshake(self, request: WebhookRequest) -> WebhookReply | None:
        return None  # Our widget backend has no subscribe handshake.

    async def media_source(self, media: InboundMedia) -> MediaSource:
        """An attachment's `url`, on the widget backend's own origin only."""
        return MediaSource(media.ref)

    def parse(self, request: WebhookRequest) -> Sequence[WebhookEvent]:
        try:
            event = json.loads(request.body)
        except (UnicodeDecodeError, ValueError) as error:
            raise MalformedWebhook("the body is not JSON") from error
        if not isinstance(event, dict):
            raise MalformedWebhook("the body is not a JSON object")
        kind = event.get("type")
        if kind == "message":
            return [_inbound(event)]
        if kind == "status":
            return [_receipt(event)]
        if not isinstance(kind, str):
            raise MalformedWebhook("no type")
        return []

    def reply(self, events: Sequence[WebhookEvent]) -> WebhookReply:
        return WebhookReply(status=200)


def _refusal(status: int) -> SendResult:
    if status in (401, 403):
        return SendResult.failed("send.webchat.signature")
    if status == 404:
        return SendResult.failed("send.webchat.unknown_visitor")
    if status == 410:
        return SendResult.failed("send.webchat.session_ended")
    return SendResult.failed("send.refused", channel=Channel.WEBCHAT.value, detail=f"HTTP {status}")


def _answered_id(raw: bytes) -> str | None:
    try:
        answer = json.loads(raw) if raw.strip() else None
    except ValueError:
        return None
    message = answer.get("message") if isinstance(answer, dict) else None
    value = message.get("id") if isinstance(message, dict) else None
    return str(value) if isinstance(value, str | int) and value != "" else None


def _object(event: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = event.get(key)
    if not isinstance(value, dict):
        raise MalformedWebhook(f"no {key} object")
    return value


def _string(event: Mapping[str, Any], key: str, *, required: bool = True) -> str:
    value = event.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise MalformedWebhook(f"no {key}")
    return value


def _time(value: Any, what: str) -> datetime:
    if not isinstance(value, str):
        raise MalformedWebhook(f"no {what}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise MalformedWebhook(f"{what} is not ISO 8601") from error
    if moment.tzinfo is None:
        raise MalformedWebhook(f"{what} has no UTC offset")
    return moment.astimezone(UTC)


def _inbound(event: Mapping[str, Any]) -> InboundMessage:
    visitor = _object(event, "visitor")
    message = _object(event, "message")
    if "sent_at" in message:
        sent_at = _time(message["sent_at"], "message.sent_at")
    else:
        sent_at = _epoch(event.get("timestamp"))
    text = _string(message, "text", required=False).strip()
    described = _attachments(message.get("attachments"))
    if described:
        text = f"{described}: {text}" if text else described
    name = _string(visitor, "name", required=False).strip()
    first, _, last = name.partition(" ")
    email = _string(visitor, "email", required=False).strip() or None
    return InboundMessage(
        channel=Channel.WEBCHAT,
        identity=_string(visitor, "id"),
        channel_message_id=_string(message, "id"),
        sent_at=sent_at,
        text=text,
        first_name=first,
        last_name=last.strip(),
        email=email,
        media=_media(message.get("attachments")),
    )


_MEDIA_KINDS = {
    "image": MediaKind.IMAGE,
    "photo": MediaKind.IMAGE,
    "audio": MediaKind.AUDIO,
    "voice": MediaKind.AUDIO,
    "video": MediaKind.VIDEO,
    "file": MediaKind.DOCUMENT,
    "document": MediaKind.DOCUMENT,
    "sticker": MediaKind.STICKER,
}


def _media(value: Any) -> tuple[InboundMedia, ...]:
    """Each attachment with a `url` (on the widget backend's host: nowhere else is
    fetched), with its `name`, `mime_type` and `size` where the widget gives them."""
    if not isinstance(value, list):
        return ()
    files = []
    for item in value:
        kind = _MEDIA_KINDS.get(str(item.get("type", "file")).lower())
        url = item.get("url")
        if kind is None or not isinstance(url, str) or not url:
            continue
        size = item.get("size")
        files.append(
            InboundMedia(
                kind=kind,
                ref=url,
                mime_type=as_text(item.get("mime_type")),
                file_name=as_text(item.get("name")),
                size=size if isinstance(size, int) and not isinstance(size, bool) else None,
            )
        )
    return tuple(files)


def _epoch(value: Any) -> datetime:
    """The envelope's `timestamp`, when a message carries no `sent_at`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedWebhook("no message.sent_at")
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError) as error:
        raise MalformedWebhook("timestamp is out of range") from error


def _attachments(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, list):
        raise MalformedWebhook("message.attachments is not a list")
    kinds: list[str] = []
    for item in value:
        if not isinstance(item, dict):
            raise MalformedWebhook("an attachment is not an object")
        kind = _ATTACHMENTS.get(str(item.get("type", "file")).lower(), "📎 File")
        if kind == "📍 Location" and "latitude" in item and "longitude" in item:
            kind = f"📍 Location {item['latitude']}, {item['longitude']}"
        elif kind == "📎 File" and isinstance(item.get("name"), str) and item["name"]:
            kind = f"📎 {item['name']}"
        if kind not in kinds:
            kinds.append(kind)
    return ", ".join(kinds)


def _receipt(event: Mapping[str, Any]) -> StatusUpdate:
    message = _object(event, "message")
    status = _RECEIPTS.get(_string(event, "status"))
    if status is None:
        raise MalformedWebhook("status is neither delivered nor read")
    return StatusUpdate(
        channel=Channel.WEBCHAT,
        status=status,
        at=_time(event.get("at"), "at"),
        channel_message_id=_string(message, "id"),
    )

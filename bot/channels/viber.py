"""Viber through the REST bot API.

Out: `POST {VIBER_API_URL}/send_message` with `X-Viber-Auth-Token` and JSON
`{"receiver", "type": "text", "text", "sender": {"name"}}`. Viber answers HTTP
200 even when it refuses: the body's `status` says why (0 is ok).
https://creators.viber.com/docs/bots-api/resources/messaging/send-message
https://developers.viber.com/docs/api/rest-bot-api/#error-codes

In: callbacks signed with `X-Viber-Content-Signature`, the hex HMAC-SHA256 of
the raw body keyed with the auth token; `message` events and the `delivered`,
`seen` and `failed` receipts of what we sent (keyed by `message_token`).
https://developers.viber.com/docs/api/rest-bot-api/#callbacks

Whether a message is chatbot-initiated (and counts toward the monthly free
quota) is decided by the relay; both go out the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Sequence
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
    ReachabilityEvent,
    SendResult,
    StatusUpdate,
    WebhookEvent,
    WebhookReply,
    WebhookRequest,
    as_text,
    json_object,
    message_text,
)
from bot.channels.http import post_or_retry, text_only_refusal
from bot.channels.media import MediaFiles, checked, send_parts
from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.media import MediaKind
from bot.domain.models import MessageStatus
from bot.domain.reachability import UnreachableReason
from bot.domain.windows import Reason, SendMode
from bot.logging_setup import redact
from bot.media.store import MediaStore

logger = logging.getLogger(__name__)

AUTH_HEADER = "X-Viber-Auth-Token"
SIGNATURE_HEADER = "X-Viber-Content-Signature"

# Viber publishes no account-wide request rate for send_message, only a cap of
# 100 messages an hour to a user who has not replied (answered with status 12):
# https://creators.viber.com/docs/bots-api/resources/messaging/send-message
# A support team's follow-ups are far below this conservative pace.
RATE_PER_SECOND = 10.0

#: `sender.name` is at most 28 characters.
MAX_SENDER_NAME = 28

TOO_MANY_REQUESTS = 12

#: A picture's `text` (its caption) "Max 120 characters"; a file's `file_name`
#: "Max 256 characters": https://developers.viber.com/docs/api/rest-bot-api/#message-types
PICTURE_CAPTION_CHARS = 120
MAX_FILE_NAME = 256

# Non-zero `status` codes of the REST bot API, in words an agent understands.
# https://developers.viber.com/docs/api/rest-bot-api/#error-codes
NOT_SUBSCRIBED = 6
SEND_ERRORS: dict[int, str] = {
    1: "send.viber.1",
    2: "send.viber.2",
    3: "send.viber.3",
    4: "send.viber.4",
    5: "send.viber.5",
    6: "send.viber.6",
    7: "send.viber.7",
    8: "send.viber.8",
    9: "send.viber.9",
    10: "send.viber.10",
    11: "send.viber.11",
    13: "send.viber.13",
    14: "send.viber.14",
    15: "send.viber.15",
    16: "send.viber.16",
    17: "send.viber.17",
    18: "send.viber.18",
    19: "send.viber.19",
    20: "send.viber.20",
    21: "send.viber.21",
    22: "send.viber.22",
    23: "send.viber.23",
    24: "send.viber.24",
}

_RECEIPTS: dict[str, MessageStatus] = {
    "delivered": MessageStatus.DELIVERED,
    "seen": MessageStatus.READ,
    "failed": MessageStatus.FAILED,
}


def viber_signature(auth_token: str, body: bytes) -> str:
    """Viber's `X-Viber-Content-Signature`: hex HMAC-SHA256 of the raw body."""
    return hmac.new(auth_token.encode(), body, hashlib.sha256).hexdigest()


class ViberConnector:
    """Viber REST bot API.

    `sender_name` is the bot name shown with each message (Viber requires one,
    at most 28 characters); `rate_per_second` is the send rate (divide it among
    replicas); `timeout` bounds one API call, in seconds.
    """

    channel = Channel.VIBER
    #: Where the files of a message are read from (given by the registry).
    media: MediaStore | None = None

    def __init__(
        self,
        settings: Settings,
        http: aiohttp.ClientSession,
        *,
        sender_name: str = "Support",
        rate_per_second: float = RATE_PER_SECOND,
        timeout: float = 15.0,
        media: MediaStore | None = None,
    ) -> None:
        if settings.viber_auth_token is None:
            raise ValueError("Viber needs VIBER_AUTH_TOKEN")
        self._http = http
        self._url = f"{settings.viber_api_url}/send_message"
        self._token = settings.viber_auth_token.get_secret_value()
        self._sender = {"name": sender_name.strip()[:MAX_SENDER_NAME] or "Support"}
        self._limiter = RateLimiter(rate=rate_per_second, burst=max(1, int(rate_per_second)))
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self.media = media
        self._media_settings = settings

    @property
    def _media(self) -> MediaFiles | None:
        return MediaFiles.of(self.media, self._media_settings)

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return settings.viber_auth_token is not None

    async def send(self, message: OutboundRequest) -> SendResult:
        if message.content.attachments:
            payloads = self._with_files(message)
            if isinstance(payloads, SendResult):
                return payloads
            return await send_parts(payloads, self._post)
        refusal = text_only_refusal(message)
        if refusal is not None:
            return refusal
        return await self._post(self._text(message.recipient, message.content.text))

    def _text(self, receiver: str, text: str) -> dict[str, Any]:
        return {"receiver": receiver, "type": "text", "text": text, "sender": self._sender}

    def _with_files(self, message: OutboundRequest) -> list[dict[str, Any]] | SendResult:
        """Each file as a `picture` (with the text as its caption when it fits in
        120 characters), `video` or `file` message Viber fetches by URL, one
        send_message each; the text first when no picture carries it:
        https://developers.viber.com/docs/api/rest-bot-api/#message-types"""
        if message.mode in (SendMode.REFUSED, SendMode.TEMPLATE, SendMode.MESSAGE_TAG):
            return text_only_refusal(message) or SendResult.failed("send.not_now")
        media = self._media
        files = checked(message, media, by_url=True)
        if isinstance(files, SendResult):
            return files
        assert media is not None  # checked() refuses without it
        text = message.content.text.strip() and message.content.text
        captioned = bool(text) and files[0].kind is MediaKind.IMAGE
        captioned = captioned and len(text) <= PICTURE_CAPTION_CHARS
        payloads = [self._text(message.recipient, text)] if text and not captioned else []
        for index, file in enumerate(files):
            url = media.url(file.attachment)
            part: dict[str, Any] = {"receiver": message.recipient, "sender": self._sender}
            if file.kind is MediaKind.IMAGE:
                part |= {
                    "type": "picture",
                    "media": url,
                    "text": text if index == 0 and captioned else "",
                }
            elif file.kind is MediaKind.VIDEO:
                part |= {"type": "video", "media": url, "size": file.attachment.size}
            else:
                part |= {
                    "type": "file",
                    "media": url,
                    "size": file.attachment.size,
                    "file_name": file.attachment.file_name[:MAX_FILE_NAME],
                }
            payloads.append(part)
        return payloads

    async def _post(self, payload: dict[str, Any]) -> SendResult:
        await self._limiter.acquire()
        response = await post_or_retry(
            self._http,
            self._url,
            channel=Channel.VIBER,
            timeout=self._timeout,
            json=payload,
            headers={AUTH_HEADER: self._token},
        )
        if isinstance(response, SendResult):
            return response
        status, retry_after = response.status, response.retry_after
        if status == 429:
            return SendResult.retry("send.rate_limited", retry_after, channel=Channel.VIBER.value)
        if status >= 500:
            return SendResult.retry(
                "send.server_error", retry_after, channel=Channel.VIBER.value, status=status
            )
        answer = json_object(response.body)
        code = answer.get("status")
        if status != 200 or not isinstance(code, int):
            logger.warning("viber sent an unexpected answer", extra={"http_status": status})
            return SendResult.failed(
                "send.refused", channel=Channel.VIBER.value, detail=f"HTTP {status}"
            )
        if code == 0:
            token = answer.get("message_token")
            if isinstance(token, int | str) and str(token):
                return SendResult.sent(str(token))
            return SendResult.retry("send.no_message_id", channel=Channel.VIBER.value)
        if code == TOO_MANY_REQUESTS:
            # Also the answer once 100 messages went unanswered within an hour.
            return SendResult.retry("send.viber.too_many", retry_after)
        logger.warning("viber refused a message", extra={"status_code": code})
        if code == NOT_SUBSCRIBED:
            # receiverNotSubscribed: the customer unsubscribed; a message or a
            # `subscribed` callback from them makes them reachable again.
            # https://creators.viber.com/docs/bots-api/resources/messaging/send-message
            return SendResult.not_reachable(
                SEND_ERRORS[code], UnreachableReason.UNSUBSCRIBED, str(code)
            )
        if code in SEND_ERRORS:
            return SendResult.failed(SEND_ERRORS[code], code=str(code))
        name = answer.get("status_message")
        detail = f"{code}: {redact(name)[:100]}" if isinstance(name, str) and name else str(code)
        return SendResult.failed(
            "send.refused", channel=Channel.VIBER.value, detail=f"status {detail}"
        )

    def verify(self, request: WebhookRequest) -> bool:
        given = request.headers.get(SIGNATURE_HEADER)
        if not given:
            return False
        expected = viber_signature(self._token, request.body)
        return hmac.compare_digest(given.strip().lower().encode(), expected.encode())

    async def media_source(self, media: InboundMedia) -> MediaSource:
        """The message's `media` URL as Viber gave it (its media hosts only, no token)."""
        return MediaSource(media.ref)

    def handshake(self, request: WebhookRequest) -> WebhookReply | None:
        return None  # set_webhook is answered by a signed `webhook` callback, a POST.

    def parse(self, request: WebhookRequest) -> Sequence[WebhookEvent]:
        body = json_object(request.body, strict=True)
        event = body.get("event")
        if not isinstance(event, str):
            raise MalformedWebhook("no event")
        if event == "message":
            return [_inbound(body)]
        if event in _RECEIPTS:
            return [_receipt(body, _RECEIPTS[event])]
        if event in ("subscribed", "unsubscribed"):
            return [_subscription(body, event)]
        return []  # subscribed, unsubscribed, conversation_started, webhook, client_status …

    def reply(self, events: Sequence[WebhookEvent]) -> WebhookReply:
        return WebhookReply(status=200)


def _subscription(body: dict[str, Any], event: str) -> ReachabilityEvent:
    """`unsubscribed` names `user_id`, `subscribed` a `user` object:
    https://developers.viber.com/docs/api/rest-bot-api/#callbacks"""
    user = body.get("user")
    user_id = user.get("id") if isinstance(user, dict) else body.get("user_id")
    if not isinstance(user_id, str) or not user_id:
        raise MalformedWebhook(f"{event} without a user id")
    return ReachabilityEvent(
        channel=Channel.VIBER,
        identity=user_id,
        at=_at(body),
        unreachable=UnreachableReason.UNSUBSCRIBED if event == "unsubscribed" else None,
        detail=event,
    )


def _at(body: dict[str, Any]) -> datetime:
    timestamp = body.get("timestamp")
    if not isinstance(timestamp, int):
        raise MalformedWebhook("no timestamp")
    return datetime.fromtimestamp(timestamp / 1000, tz=UTC)


def _token(body: dict[str, Any]) -> str:
    token = body.get("message_token")
    if not isinstance(token, int | str) or isinstance(token, bool) or not str(token):
        raise MalformedWebhook("no message_token")
    return str(token)


def _inbound(body: dict[str, Any]) -> InboundMessage:
    sender = body.get("sender")
    message = body.get("message")
    if not isinstance(sender, dict) or not isinstance(sender.get("id"), str) or not sender["id"]:
        raise MalformedWebhook("message without sender.id")
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise MalformedWebhook("message without message.type")
    first, _, last = as_text(sender.get("name")).strip().partition(" ")
    return InboundMessage(
        channel=Channel.VIBER,
        identity=sender["id"],
        channel_message_id=_token(body),
        sent_at=_at(body),
        text=_describe(message),
        first_name=first,
        last_name=last.strip(),
        media=_media(message),
    )


_MEDIA_KINDS = {
    "picture": MediaKind.IMAGE,
    "video": MediaKind.VIDEO,
    "file": MediaKind.DOCUMENT,
    "sticker": MediaKind.STICKER,
}


def _media(message: dict[str, Any]) -> tuple[InboundMedia, ...]:
    """A picture, video, file or sticker message's `media` URL, name and size:
    https://developers.viber.com/docs/api/rest-bot-api/#message-types"""
    kind = _MEDIA_KINDS.get(message["type"])
    url = as_text(message.get("media"))
    if kind is None or not url:
        return ()
    size = message.get("size")
    return (
        InboundMedia(
            kind=kind,
            ref=url,
            file_name=as_text(message.get("file_name")),
            size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        ),
    )


def _receipt(body: dict[str, Any], status: MessageStatus) -> StatusUpdate:
    reason = None
    if status is MessageStatus.FAILED:
        desc = as_text(body.get("desc")).strip()
        reason = (
            Reason("send.viber.undelivered_because", {"detail": redact(desc)[:200]})
            if desc
            else Reason("send.viber.undelivered")
        )
    return StatusUpdate(
        channel=Channel.VIBER,
        status=status,
        at=_at(body),
        channel_message_id=_token(body),
        reason=reason,
    )


def _describe(message: dict[str, Any]) -> str:
    """The text, or a short description of a non-text message with its caption.

    https://developers.viber.com/docs/api/rest-bot-api/#message-types
    """
    kind = message["type"]
    caption = message_text(message.get("text")).strip()

    def described(label: str) -> str:
        return f"{label}: {caption}" if caption else label

    if kind == "text":
        return as_text(message.get("text"))
    if kind == "picture":
        return described("📷 Photo")
    if kind == "video":
        return described("🎥 Video")
    if kind == "file":
        return f"📄 File {as_text(message.get('file_name'))}".rstrip()
    if kind == "sticker":
        return "Sticker"
    if kind == "location":
        location = message.get("location")
        if isinstance(location, dict):
            return f"📍 Location {location.get('lat')}, {location.get('lon')}"
        return "📍 Location"
    if kind == "contact":
        contact = message.get("contact")
        contact = contact if isinstance(contact, dict) else {}
        name, phone = as_text(contact.get("name")), as_text(contact.get("phone_number"))
        return f"👤 Contact: {name} {phone}".rstrip()
    if kind == "url":
        return f"🔗 Link: {as_text(message.get('media'))}".rstrip(": ")
    return "💬 A message Viber cannot show here"

"""LINE through the Messaging API (push messages).

Out: `POST {LINE_API_URL}/v2/bot/message/push`, `Authorization: Bearer …`, with an
`X-Line-Retry-Key` derived from our message id so that a retry can never send
twice: LINE accepts a key once and answers 409 to every repeat.
https://developers.line.biz/en/reference/messaging-api/#send-push-message
https://developers.line.biz/en/docs/messaging-api/retrying-api-request/

In: webhook events signed with `X-Line-Signature`, the base64 HMAC-SHA256 of
the raw body keyed with the channel secret:
https://developers.line.biz/en/reference/messaging-api/#signature-validation

LINE has no delivery receipts and no messaging window. Webhooks carry no
names: `profile()` fetches the display name.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.resources import files as package_files
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from bot.channels.base import (
    InboundMedia,
    InboundMessage,
    MalformedWebhook,
    MediaSource,
    OutboundRequest,
    RateLimiter,
    ReachabilityEvent,
    SendResult,
    WebhookEvent,
    WebhookReply,
    WebhookRequest,
    as_text,
    json_object,
    message_text,
)
from bot.channels.http import post_or_retry, text_only_refusal
from bot.channels.media import MediaFiles, checked, mp4_duration_ms
from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.media import MediaKind
from bot.domain.reachability import LearnedLimit, LineQuota, UnreachableReason
from bot.domain.windows import SendMode
from bot.logging_setup import redact
from bot.media.store import MediaStore

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Line-Signature"
RETRY_KEY_HEADER = "X-Line-Retry-Key"
ACCEPTED_REQUEST_HEADER = "X-Line-Accepted-Request-Id"

# Push and profile fall under "other API endpoints: 2,000 requests per second"
# per channel: https://developers.line.biz/en/reference/messaging-api/#rate-limits
RATE_PER_SECOND = 2000.0

#: Namespace of our retry keys: uuid5(namespace, message id) is the same on every retry.
RETRY_KEY_NAMESPACE = uuid.UUID("6f0b7c1e-4d2a-5b8e-9c3f-1a2b3c4d5e6f")

# The 429 that is a quota, not a rate: the plan's free messages are used up.
# https://developers.line.biz/en/reference/messaging-api/#status-codes
MONTHLY_LIMIT = "You have reached your monthly limit."

#: "Max: 5" message objects in one push:
#: https://developers.line.biz/en/reference/messaging-api/#send-push-message
MAX_PUSH_MESSAGES = 5


def retry_key(message_id: str) -> str:
    """The `X-Line-Retry-Key` for our message: a UUID, the same on every attempt."""
    return str(uuid.uuid5(RETRY_KEY_NAMESPACE, message_id))


def line_signature(channel_secret: str, body: bytes) -> str:
    """LINE's `X-Line-Signature`: base64 HMAC-SHA256 of the raw body."""
    digest = hmac.new(channel_secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class LineConnector:
    """LINE Messaging API.

    `rate_per_second` is the push rate (divide it among replicas); `timeout`
    bounds one API call, in seconds.
    """

    channel = Channel.LINE
    #: Where the files of a message are read from (given by the registry).
    media: MediaStore | None = None

    def __init__(
        self,
        settings: Settings,
        http: aiohttp.ClientSession,
        *,
        rate_per_second: float = RATE_PER_SECOND,
        timeout: float = 15.0,
        media: MediaStore | None = None,
    ) -> None:
        if settings.line_channel_access_token is None:
            raise ValueError("LINE needs LINE_CHANNEL_ACCESS_TOKEN")
        self._http = http
        self._base = settings.line_api_url
        # Content is served from the api-data host: https://developers.line.biz/en/reference/messaging-api/#get-content
        # (a configured base on another host, a test server, serves both).
        self._data_base = (
            "https://api-data.line.me"
            if URL(self._base).host == "api.line.me"
            else self._base.rstrip("/")
        )
        self._auth = f"Bearer {settings.line_channel_access_token.get_secret_value()}"
        secret = settings.line_channel_secret
        self._secret = secret.get_secret_value() if secret else None
        burst = max(1, int(rate_per_second / 10))
        self._limiter = RateLimiter(rate=rate_per_second, burst=burst)
        self._profile_limiter = RateLimiter(rate=rate_per_second, burst=burst)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self.media = media
        self._media_settings = settings

    @property
    def _media(self) -> MediaFiles | None:
        return MediaFiles.of(self.media, self._media_settings)

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return settings.line_channel_access_token is not None

    async def media_source(self, media: InboundMedia) -> MediaSource:
        """`GET /v2/bot/message/{messageId}/content` with the channel access token; an
        external provider's URL as it is (no token: it is not LINE's)."""
        if media.ref.startswith(("https://", "http://")):
            return MediaSource(media.ref)
        message_id = quote(media.ref, safe="")
        url = f"{self._data_base}/v2/bot/message/{message_id}/content"
        return MediaSource(url, {"Authorization": self._auth})

    async def send(self, message: OutboundRequest) -> SendResult:
        if message.content.attachments:
            built = await self._with_files(message)
            if isinstance(built, SendResult):
                return built
            messages = built
        else:
            refusal = text_only_refusal(message)
            if refusal is not None:
                return refusal
            messages = [{"type": "text", "text": message.content.text}]
        key = retry_key(message.message_id)
        payload = {"to": message.recipient, "messages": messages}
        await self._limiter.acquire()
        response = await post_or_retry(
            self._http,
            f"{self._base}/v2/bot/message/push",
            channel=Channel.LINE,
            timeout=self._timeout,
            json=payload,
            headers={"Authorization": self._auth, RETRY_KEY_HEADER: key},
        )
        if isinstance(response, SendResult):
            return response
        answer = json_object(response.body)
        if response.status == 200:
            return SendResult.sent(_sent_id(answer) or key)
        if response.status == 409:
            # An earlier attempt with this retry key was accepted: the message went.
            accepted = response.headers.get(ACCEPTED_REQUEST_HEADER)
            return SendResult.sent(_sent_id(answer) or accepted or key)
        return _refusal(response.status, answer, response.retry_after)

    async def _with_files(self, message: OutboundRequest) -> list[dict[str, Any]] | SendResult:
        """The text (LINE has no captions: a text message first) and each file as a
        message LINE fetches by its https URL, in one push (at most five messages):
        https://developers.line.biz/en/reference/messaging-api/#image-message,
        #video-message, #audio-message. A document is no LINE message type: the
        domain's table refuses it."""
        if message.mode is not SendMode.FREE:
            return text_only_refusal(message) or SendResult.failed("send.not_now")
        media = self._media
        files = checked(message, media, by_url=True)
        if isinstance(files, SendResult):
            return files
        assert media is not None  # checked() refuses without it
        text = message.content.text
        messages: list[dict[str, Any]] = [{"type": "text", "text": text}] if text.strip() else []
        if len(messages) + len(files) > MAX_PUSH_MESSAGES:
            return SendResult.failed("send.line.too_many_files", limit=MAX_PUSH_MESSAGES)
        for file in files:
            url = media.url(file.attachment)
            if file.kind is MediaKind.IMAGE:
                # The preview is the image itself (LINE shrinks it for the chat list).
                messages.append(
                    {"type": "image", "originalContentUrl": url, "previewImageUrl": url}
                )
            elif file.kind is MediaKind.VIDEO:
                # A video message needs a preview image (JPEG, at most 240 × 240
                # and 1 MB, by https): the same play-button picture for every video,
                # published beside it. https://developers.line.biz/en/reference/messaging-api/#video-message
                preview = await media.published(video_preview(), "image/jpeg")
                messages.append(
                    {"type": "video", "originalContentUrl": url, "previewImageUrl": preview}
                )
            elif file.kind is MediaKind.AUDIO:
                async with media.opened(file.attachment) as opened:
                    duration = await mp4_duration_ms(opened.chunks())
                if duration is None:
                    return SendResult.failed("send.line.audio_duration")
                messages.append({"type": "audio", "originalContentUrl": url, "duration": duration})
            else:
                # The domain's table takes no other kind for LINE (no documents); a
                # guard if the table ever does.
                mime = file.attachment.mime_type or "?"
                return SendResult.failed("media.refused.type", channel="LINE", mime=mime)
        return messages

    async def profile(self, user_id: str) -> tuple[str, str]:
        """The user's display name as (first, last), split at the first space; ("", "") if unknown.

        https://developers.line.biz/en/reference/messaging-api/#get-profile
        """
        await self._profile_limiter.acquire()
        # 404: the user has not added the account as a friend, or blocked it.
        answer = await self._get_json(f"/v2/bot/profile/{quote(user_id, safe='')}", "profile")
        if answer is None:
            return "", ""
        name = answer.get("displayName")
        if not isinstance(name, str):
            return "", ""
        first, _, last = name.strip().partition(" ")
        return first, last.strip()

    async def quota(self) -> LineQuota | None:
        """This month's push quota and what was used of it; None when LINE did not say.

        Never on the send path (the composer shows it, cached a minute):
        https://developers.line.biz/en/reference/messaging-api/#get-quota and
        https://developers.line.biz/en/reference/messaging-api/#get-consumption
        """
        target, used = await asyncio.gather(
            self._get_json("/v2/bot/message/quota", "quota"),
            self._get_json("/v2/bot/message/quota/consumption", "quota"),
        )
        if target is None or used is None:
            return None
        total = used.get("totalUsage")
        if not isinstance(total, int):
            return None
        if target.get("type") == "none":
            return LineQuota(None, total)
        value = target.get("value")
        if target.get("type") != "limited" or not isinstance(value, int):
            return None
        return LineQuota(value, total)

    async def _get_json(self, path: str, what: str) -> dict[str, Any] | None:
        """A GET's JSON object; None (logged as `what` unavailable) when LINE did not answer 200."""
        try:
            async with self._http.get(
                f"{self._base}{path}",
                headers={"Authorization": self._auth},
                timeout=self._timeout,
            ) as response:
                status = response.status
                raw = await response.read()
        except (TimeoutError, aiohttp.ClientError):
            return None
        if status != 200:
            logger.info("line %s unavailable", what, extra={"http_status": status})
            return None
        return json_object(raw)

    def verify(self, request: WebhookRequest) -> bool:
        given = request.headers.get(SIGNATURE_HEADER)
        if not given or self._secret is None:
            return False
        expected = line_signature(self._secret, request.body)
        return hmac.compare_digest(given.encode(), expected.encode())

    def handshake(self, request: WebhookRequest) -> WebhookReply | None:
        return None  # LINE verifies a webhook URL with a signed POST of no events.

    def parse(self, request: WebhookRequest) -> Sequence[WebhookEvent]:
        body = json_object(request.body, strict=True)
        events = body.get("events")
        if not isinstance(events, list):
            raise MalformedWebhook("no events")
        parsed: list[WebhookEvent] = []
        for event in events:
            if not isinstance(event, dict):
                raise MalformedWebhook("an event is not an object")
            kind = event.get("type")
            if kind == "message":
                parsed.extend(_inbound(event))
            elif kind in ("follow", "unfollow"):
                parsed.extend(_follow(event, kind))
            # postback, join, leave, beacon …: nothing for the thread.
        return parsed

    def reply(self, events: Sequence[WebhookEvent]) -> WebhookReply:
        return WebhookReply(status=200)


def _sent_id(answer: dict[str, Any]) -> str | None:
    sent = answer.get("sentMessages")
    if isinstance(sent, list) and sent and isinstance(sent[0], dict):
        value = sent[0].get("id")
        if isinstance(value, str | int) and str(value):
            return str(value)
    return None


def _refusal(status: int, answer: dict[str, Any], retry_after: float | None) -> SendResult:
    message = answer.get("message")
    message = message if isinstance(message, str) else ""
    if status == 429:
        if message.strip() == MONTHLY_LIMIT:
            logger.warning("line monthly limit reached")
            # https://developers.line.biz/en/reference/messaging-api/#status-codes
            return SendResult.limit("send.line.monthly_limit", LearnedLimit.LINE_MONTHLY, "429")
        return SendResult.retry("send.rate_limited", retry_after, channel=Channel.LINE.value)
    if status >= 500:
        return SendResult.retry(
            "send.server_error", retry_after, channel=Channel.LINE.value, status=status
        )
    logger.warning("line refused a message", extra={"http_status": status})
    if status == 401:
        return SendResult.failed("send.line.401")
    if status == 403:
        return SendResult.failed("send.line.403")
    if status == 400 and "'to'" in message:
        return SendResult.failed("send.line.unknown_user")
    detail = redact(message)[:200] if message else f"HTTP {status}"
    return SendResult.failed("send.refused", channel=Channel.LINE.value, detail=detail)


def _follow(event: dict[str, Any], kind: str) -> list[WebhookEvent]:
    """`unfollow`: the customer blocked the account; `follow`: added or unblocked it.
    https://developers.line.biz/en/reference/messaging-api/#unfollow-event"""
    source = event.get("source")
    timestamp = event.get("timestamp")
    if not isinstance(source, dict) or not isinstance(timestamp, int):
        raise MalformedWebhook(f"{kind} event without source or timestamp")
    user_id = source.get("userId")
    if source.get("type") != "user" or not isinstance(user_id, str) or not user_id:
        return []
    return [
        ReachabilityEvent(
            channel=Channel.LINE,
            identity=user_id,
            at=datetime.fromtimestamp(timestamp / 1000, tz=UTC),
            unreachable=UnreachableReason.UNFOLLOWED if kind == "unfollow" else None,
            detail=kind,
        )
    ]


def _inbound(event: dict[str, Any]) -> list[WebhookEvent]:
    message = event.get("message")
    source = event.get("source")
    timestamp = event.get("timestamp")
    if not isinstance(message, dict) or not isinstance(message.get("id"), str):
        raise MalformedWebhook("message event without message.id")
    if not isinstance(source, dict) or not isinstance(timestamp, int):
        raise MalformedWebhook("message event without source or timestamp")
    if source.get("type") != "user":
        return []  # group and room chats are not customer conversations
    user_id = source.get("userId")
    if not isinstance(user_id, str) or not user_id:
        raise MalformedWebhook("user message without source.userId")
    return [
        InboundMessage(
            channel=Channel.LINE,
            identity=user_id,
            channel_message_id=message["id"],
            sent_at=datetime.fromtimestamp(timestamp / 1000, tz=UTC),
            text=_describe(message),
            media=_media(message),
        )
    ]


#: Message types whose content the content API serves (stickers have none).
_MEDIA_KINDS = {
    "image": MediaKind.IMAGE,
    "video": MediaKind.VIDEO,
    "audio": MediaKind.AUDIO,
    "file": MediaKind.DOCUMENT,
}


def _media(message: dict[str, Any]) -> tuple[InboundMedia, ...]:
    """An image, video, audio or file message's content: by its message id from
    LINE (`contentProvider.type` "line"), or the external `originalContentUrl`
    (fetched only where the channel's hosts allow it, which LINE's own are).
    https://developers.line.biz/en/reference/messaging-api/#wh-image"""
    kind = _MEDIA_KINDS.get(as_text(message.get("type")))
    if kind is None:
        return ()
    provider = message.get("contentProvider")
    ref = as_text(message.get("id"))
    if isinstance(provider, dict) and provider.get("type") == "external":
        ref = as_text(provider.get("originalContentUrl"))
    size = message.get("fileSize")
    return (
        InboundMedia(
            kind=kind,
            ref=ref,
            file_name=as_text(message.get("fileName")),
            size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        ),
    )


def _describe(message: dict[str, Any]) -> str:
    """The text, or a short description of a non-text message.

    https://developers.line.biz/en/reference/messaging-api/#message-event
    """
    kind = message.get("type")
    if kind == "text":
        return message_text(message.get("text"))
    if kind == "image":
        return "📷 Photo"
    if kind == "video":
        return "🎥 Video"
    if kind == "audio":
        return "🎤 Voice message"
    if kind == "file":
        return f"📄 File {as_text(message.get('fileName'))}".rstrip()
    if kind == "location":
        place = ", ".join(
            part
            for part in (as_text(message.get("title")), as_text(message.get("address")))
            if part
        )
        where = f"📍 Location {message.get('latitude')}, {message.get('longitude')}"
        return f"{where}: {place}" if place else where
    if kind == "sticker":
        keywords = message.get("keywords")
        hint = keywords[0] if isinstance(keywords, list) and keywords else ""
        return f"Sticker {as_text(hint)}".rstrip()
    return "💬 A message LINE cannot show here"


def video_preview() -> bytes:
    """The preview LINE shows for a video we send: a play button, 240 × 240 JPEG."""
    return _VIDEO_PREVIEW


_VIDEO_PREVIEW = (package_files("bot.channels") / "assets" / "line_video_preview.jpg").read_bytes()

"""Telegram through the Bot API.

Out: `POST {TELEGRAM_API_URL}/bot{token}/sendMessage` with JSON `{"chat_id", "text"}`;
a file goes as `multipart/form-data` to `sendPhoto` / `sendVideo` / `sendAudio` /
`sendDocument` (`chat_id`, `caption`, and the file in the method's field), streamed:
https://core.telegram.org/bots/api#sending-files. Every answer is
`{"ok": true, "result": Message}` or `{"ok": false, "error_code", "description",
"parameters": {"retry_after"}}`:
https://core.telegram.org/bots/api#making-requests

In: `Update` objects POSTed to the webhook with the secret set by `setWebhook`
in `X-Telegram-Bot-Api-Secret-Token`: https://core.telegram.org/bots/api#setwebhook

Telegram has no delivery receipts and no messaging window. A chat's message ids
are only unique within that chat, so ours are `<chat id>:<message id>`.
`edited_message` updates are ignored: an edit is not a new customer message and
restarts no window.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeGuard

import aiohttp
import orjson

from bot.channels.base import (
    InboundMedia,
    InboundMessage,
    MalformedWebhook,
    MediaSource,
    OutboundRequest,
    RateLimiter,
    ReachabilityEvent,
    SendResult,
    Spacing,
    WebhookEvent,
    WebhookReply,
    WebhookRequest,
    as_text,
    json_object,
)
from bot.channels.download import DownloadRefused
from bot.channels.http import ApiAnswer, post_json, post_or_retry, text_only_refusal
from bot.channels.media import (
    CheckedFile,
    MediaFiles,
    OutboundFile,
    checked,
    file_missing,
    send_parts,
)
from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.limits import TextLimit, Unit
from bot.domain.media import MediaKind, MediaRefusal, check
from bot.domain.reachability import UnreachableReason
from bot.domain.windows import SendMode
from bot.logging_setup import redact
from bot.media.store import MediaNotFound, MediaStore

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

# "No more than 30 messages per second" overall, and "avoid sending more than
# one message per second" in one chat:
# https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this
RATE_PER_SECOND = 30.0
RATE_PER_CHAT = 1.0
#: Chats remembered before those free to send again are dropped.
MAX_CHAT_BUCKETS = 10_000

# Telegram's `description`s are fixed English phrases; the ones an agent can act on.
# https://core.telegram.org/api/errors (the Bot API passes these through)
_REFUSALS: tuple[tuple[str, str], ...] = (
    ("bot was blocked by the user", "send.telegram.blocked"),
    ("user is deactivated", "send.telegram.deactivated"),
    ("bot can't initiate conversation", "send.telegram.not_started"),
    ("bot was kicked", "send.telegram.kicked"),
    ("not enough rights", "send.telegram.no_rights"),
    ("chat not found", "send.telegram.chat_not_found"),
    ("message is too long", "send.telegram.too_long"),
    ("message text is empty", "send.empty"),
    ("upgraded to a supergroup", "send.telegram.supergroup"),
)

#: The method and its file field for each kind: https://core.telegram.org/bots/api#sendphoto
_FILE_METHODS: dict[MediaKind, tuple[str, str]] = {
    MediaKind.IMAGE: ("sendPhoto", "photo"),
    MediaKind.VIDEO: ("sendVideo", "video"),
    MediaKind.AUDIO: ("sendAudio", "audio"),
    MediaKind.DOCUMENT: ("sendDocument", "document"),
    MediaKind.STICKER: ("sendSticker", "sticker"),
}
#: "Photo caption, 0-1024 characters after entities parsing" (UTF-16, as text).
CAPTION_LIMIT = TextLimit(1024, Unit.UTF16)

#: The 403 refusals that say the customer cannot be reached by the bot until
#: they start it again (a `my_chat_member` update back to "member", or a message).
_UNREACHABLE: dict[str, UnreachableReason] = {
    "bot was blocked by the user": UnreachableReason.BLOCKED,
    "user is deactivated": UnreachableReason.DEACTIVATED,
}


class TelegramConnector:
    """Telegram Bot API.

    `rate_per_second` and `rate_per_chat` are the bot-wide and per-chat send
    rates (divide them among replicas); `timeout` bounds one API call, in seconds.
    """

    channel = Channel.TELEGRAM
    #: Where the files of a message are read from (given by the registry).
    media: MediaStore | None = None

    def __init__(
        self,
        settings: Settings,
        http: aiohttp.ClientSession,
        *,
        rate_per_second: float = RATE_PER_SECOND,
        rate_per_chat: float = RATE_PER_CHAT,
        timeout: float = 15.0,
        media: MediaStore | None = None,
    ) -> None:
        if settings.telegram_bot_token is None:
            raise ValueError("Telegram needs TELEGRAM_BOT_TOKEN")
        self._http = http
        # The token is part of the path: this URL is never logged.
        token = settings.telegram_bot_token.get_secret_value()
        self._method_url = f"{settings.telegram_api_url}/bot{token}/"
        self._send_url = self._method_url + "sendMessage"
        self._file_url = f"{settings.telegram_api_url}/file/bot{token}/"
        secret = settings.telegram_webhook_secret
        self._secret = secret.get_secret_value().encode() if secret else None
        self._media_cap = settings.media_max_bytes
        self._settings = settings
        self.media = media
        self._limiter = RateLimiter(rate=rate_per_second, burst=max(1, int(rate_per_second)))
        self._chats = Spacing(rate_per_chat, size=MAX_CHAT_BUCKETS)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        # An upload of up to 50 MB: no total, but no stall longer than `timeout`.
        self._upload_timeout = aiohttp.ClientTimeout(sock_connect=timeout, sock_read=timeout)

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return settings.telegram_bot_token is not None

    async def media_source(self, media: InboundMedia) -> MediaSource:
        """`getFile` gives the file's path, fetched from `/file/bot<token>/<file_path>`
        on the API host (https://core.telegram.org/bots/api#getfile: files of up to 20 MB)."""
        try:
            async with self._http.post(
                self._method_url + "getFile", json={"file_id": media.ref}, timeout=self._timeout
            ) as response:
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            raise DownloadRefused("media.refused.download", detail="getFile failed") from None
        result = body.get("result") if isinstance(body, dict) and body.get("ok") else None
        path = as_text(result.get("file_path")) if isinstance(result, dict) else ""
        if not path:
            raise DownloadRefused("media.refused.download", detail="getFile gave no file_path")
        return MediaSource(self._file_url + path.lstrip("/"))

    async def send(self, message: OutboundRequest) -> SendResult:
        if message.content.attachments:
            return await self._send_attachments(message)
        refusal = text_only_refusal(message)
        if refusal is not None:
            return refusal
        recipient = message.recipient
        # The limits' waits, awaited only when there is one (nearly never: a hot path).
        wait = self._chats.reserve(recipient)
        if wait > 0:
            await asyncio.sleep(wait)
        if not self._limiter.take_now():
            await self._limiter.acquire()
        body = orjson.dumps({"chat_id": recipient, "text": message.content.text})
        response = await post_json(
            self._http, self._send_url, body, channel=Channel.TELEGRAM, limits=self._timeout
        )
        return _sent_or_refused(response, recipient)

    async def _send_attachments(self, message: OutboundRequest) -> SendResult:
        """A message's files from the media store, each uploaded the way its kind goes
        (`send_file`), the text as the first one's caption (a text message first
        when it is longer than a caption may be)."""
        if message.mode is not SendMode.FREE:
            return text_only_refusal(message) or SendResult.failed("send.not_now")
        media = MediaFiles.of(self.media, self._settings)
        files = checked(message, media)
        if isinstance(files, SendResult):
            return files
        assert media is not None  # checked() refuses without it
        text = message.content.text
        captioned = CAPTION_LIMIT.measure(text) <= CAPTION_LIMIT.amount
        parts: list[CheckedFile | None] = [] if captioned or not text.strip() else [None]
        parts += files

        async def send_one(part: CheckedFile | None) -> SendResult:
            if part is None:
                return await self.send(
                    replace(message, content=replace(message.content, attachments=()))
                )
            caption = text if captioned and part is files[0] else ""
            try:
                async with media.opened(part.attachment) as file:
                    return await self.send_file(message.recipient, file, caption, kind=part.kind)
            except MediaNotFound as error:
                return file_missing(part.attachment, error)

        return await send_parts(parts, send_one)

    async def send_photo(self, chat_id: str, file: OutboundFile, caption: str = "") -> SendResult:
        """`file` as a photo (a document when Telegram takes it only so: past 10 MB)."""
        return await self.send_file(chat_id, file, caption, kind=MediaKind.IMAGE)

    async def send_document(
        self, chat_id: str, file: OutboundFile, caption: str = ""
    ) -> SendResult:
        return await self.send_file(chat_id, file, caption, kind=MediaKind.DOCUMENT)

    async def send_file(
        self,
        chat_id: str,
        file: OutboundFile,
        caption: str = "",
        *,
        kind: MediaKind | None = None,
    ) -> SendResult:
        """Upload `file` to the chat the way its kind goes (checked against Telegram's
        limits and MEDIA_MAX_BYTES first: nothing is sent for a file refused)."""
        decision = check(
            Channel.TELEGRAM, file.content_type, file.size, kind=kind, cap=self._media_cap
        )
        if isinstance(decision, MediaRefusal):
            return SendResult.failed(decision.key, **decision.params)
        if CAPTION_LIMIT.measure(caption) > CAPTION_LIMIT.amount:
            return SendResult.failed("send.telegram.caption_too_long")
        method, field_name = _FILE_METHODS[decision.kind]
        form = aiohttp.FormData()
        form.add_field("chat_id", chat_id)
        if caption:
            form.add_field("caption", caption)
        form.add_field(
            field_name, file.chunks(), filename=file.filename, content_type=file.content_type
        )
        await self._chats.acquire(chat_id)
        await self._limiter.acquire()
        response = await post_or_retry(
            self._http,
            self._method_url + method,
            channel=Channel.TELEGRAM,
            timeout=self._upload_timeout,
            data=form,
        )
        return _sent_or_refused(response, chat_id)

    def verify(self, request: WebhookRequest) -> bool:

        given = request.headers.get(SECRET_HEADER)
        if not given or self._secret is None:
            return False
        return hmac.compare_digest(given.encode(), self._secret)

    def handshake(self, request: WebhookRequest) -> WebhookReply | None:
        return None  # setWebhook is called by us; Telegram sends no handshake.

    def parse(self, request: WebhookRequest) -> Sequence[WebhookEvent]:
        update = json_object(request.body, strict=True)
        if not isinstance(update.get("update_id"), int):
            raise MalformedWebhook("no update_id")
        member = update.get("my_chat_member")
        if isinstance(member, dict):
            return _member_change(member)
        message = update.get("message")
        if message is None:
            return []  # edited_message, channel_post, callback_query, my_chat_member …
        if not isinstance(message, dict):
            raise MalformedWebhook("message is not an object")
        return _inbound(message)

    def reply(self, events: Sequence[WebhookEvent]) -> WebhookReply:
        return WebhookReply(status=200)


def _sent_or_refused(response: ApiAnswer | SendResult, recipient: str) -> SendResult:
    """The sent message's id (`<chat id>:<message id>`), or why not."""
    if isinstance(response, SendResult):
        return response
    answer = json_object(response.body)
    if response.status == 200 and answer.get("ok") is True:
        result = answer.get("result")
        if isinstance(result, dict) and isinstance(message_id := result.get("message_id"), int):
            chat = result.get("chat")
            chat_id = chat.get("id") if isinstance(chat, dict) else None
            return SendResult.sent(f"{chat_id or recipient}:{message_id}")
        return SendResult.retry("send.no_message_id", channel=Channel.TELEGRAM.value)
    return _refusal(response.status, answer, response.retry_after)


def _refusal(status: int, answer: dict[str, Any], retry_after: float | None) -> SendResult:
    code = answer.get("error_code")
    code = code if isinstance(code, int) else status
    parameters = answer.get("parameters")
    if isinstance(parameters, dict) and isinstance(parameters.get("retry_after"), int | float):
        retry_after = float(parameters["retry_after"])
    if status == 429 or code == 429:
        return SendResult.retry("send.rate_limited", retry_after, channel=Channel.TELEGRAM.value)
    if status >= 500 or code >= 500:
        return SendResult.retry(
            "send.server_error", retry_after, channel=Channel.TELEGRAM.value, status=status
        )
    description = answer.get("description")
    description = description if isinstance(description, str) else ""
    logger.warning("telegram refused a message", extra={"http_status": status, "code": code})
    lowered = description.lower()
    for phrase, why in _UNREACHABLE.items():
        if status == 403 and phrase in lowered:
            # https://core.telegram.org/api/errors#403-forbidden
            return SendResult.not_reachable(dict(_REFUSALS)[phrase], why, "403")
    for phrase, reason in _REFUSALS:
        if phrase in lowered:
            return SendResult.failed(reason, code=str(code))
    if code in (401, 404):
        return SendResult.failed("send.telegram.token")
    detail = f"{code}: {redact(description)[:200]}" if description else f"HTTP {status}"
    return SendResult.failed("send.refused", channel=Channel.TELEGRAM.value, detail=detail)


def _integer(value: object) -> TypeGuard[int]:
    """An integer in the JSON (`true` parses as one in Python, and is none)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _member_change(update: dict[str, Any]) -> list[WebhookEvent]:
    """`my_chat_member` in a private chat: "kicked" is the customer blocking the
    bot, "member" unblocking it. https://core.telegram.org/bots/api#chatmemberupdated"""
    chat = update.get("chat")
    date = update.get("date")
    new = update.get("new_chat_member")
    if not isinstance(chat, dict) or not isinstance(chat.get("id"), int):
        raise MalformedWebhook("my_chat_member without chat.id")
    if not isinstance(date, int) or not isinstance(new, dict):
        raise MalformedWebhook("my_chat_member without date or new_chat_member")
    if chat.get("type") not in (None, "private"):
        return []  # the bot added to or removed from a group: not a customer's choice
    status = new.get("status")
    if status not in ("kicked", "member"):
        return []
    return [
        ReachabilityEvent(
            channel=Channel.TELEGRAM,
            identity=str(chat["id"]),
            at=datetime.fromtimestamp(date, tz=UTC),
            unreachable=UnreachableReason.BLOCKED if status == "kicked" else None,
            detail=str(status),
        )
    ]


def _inbound(message: dict[str, Any]) -> list[WebhookEvent]:
    chat = message.get("chat")
    message_id = message.get("message_id")
    date = message.get("date")
    if not isinstance(chat, dict) or not _integer(chat.get("id")):
        raise MalformedWebhook("message without chat.id")
    if not _integer(message_id) or not _integer(date):
        raise MalformedWebhook("message without message_id or date")
    text = _describe(message)
    if text is None:
        return []  # service messages: members joined, title changed, pinned …
    sender = message.get("from")
    sender = sender if isinstance(sender, dict) else {}
    chat_id = str(chat["id"])
    return [
        InboundMessage(
            channel=Channel.TELEGRAM,
            identity=chat_id,
            channel_message_id=f"{chat_id}:{message_id}",
            sent_at=datetime.fromtimestamp(date, tz=UTC),
            text=text,
            first_name=as_text(sender.get("first_name")),
            last_name=as_text(sender.get("last_name")),
            phone=_own_phone(message, sender),
            # https://core.telegram.org/bots/api#user: `username` is optional.
            handle=as_text(sender.get("username")) or None,
            media=_media(message),
        )
    ]


#: A message's file fields, in the order `_describe` reads them, and the kind each is.
#: https://core.telegram.org/bots/api#message (`photo` is an array of sizes)
_MEDIA_FIELDS: tuple[tuple[str, MediaKind], ...] = (
    ("voice", MediaKind.AUDIO),
    ("video_note", MediaKind.VIDEO),
    ("animation", MediaKind.VIDEO),
    ("video", MediaKind.VIDEO),
    ("audio", MediaKind.AUDIO),
    ("document", MediaKind.DOCUMENT),
    ("sticker", MediaKind.STICKER),
)


def _media(message: dict[str, Any]) -> tuple[InboundMedia, ...]:
    """The message's file: its `file_id` (fetched with getFile), type, name and size."""
    photo = message.get("photo")
    if isinstance(photo, list) and photo and isinstance(photo[-1], dict):
        # The sizes come smallest first: the last is the original.
        largest = photo[-1]
        return _file(largest, MediaKind.IMAGE, "image/jpeg", "photo.jpg")
    for name, kind in _MEDIA_FIELDS:
        if isinstance(item := message.get(name), dict):
            return _file(item, kind, "", "")
    return ()


def _file(
    item: dict[str, Any], kind: MediaKind, mime_type: str, file_name: str
) -> tuple[InboundMedia, ...]:
    file_id = as_text(item.get("file_id"))
    if not file_id:
        return ()
    size = item.get("file_size")
    return (
        InboundMedia(
            kind=kind,
            ref=file_id,
            mime_type=as_text(item.get("mime_type")) or mime_type,
            file_name=as_text(item.get("file_name")) or file_name,
            size=size if _integer(size) else None,
        ),
    )


def _describe(message: dict[str, Any]) -> str | None:
    """The text, or a short description of a non-text message with its caption."""
    if isinstance(message.get("text"), str):
        return str(message["text"])
    caption = as_text(message.get("caption")).strip()

    def described(label: str) -> str:
        return f"{label}: {caption}" if caption else label

    if message.get("photo"):
        return described("📷 Photo")
    if isinstance(message.get("voice"), dict):
        return described("🎤 Voice message")
    if isinstance(message.get("video_note"), dict):
        return "🎥 Video message"
    if isinstance(message.get("animation"), dict):
        return described("🎞️ GIF")
    if isinstance(message.get("video"), dict):
        return described("🎥 Video")
    if isinstance(audio := message.get("audio"), dict):
        title = " – ".join(
            part for part in (as_text(audio.get("performer")), as_text(audio.get("title"))) if part
        )
        return described(f"🎵 Audio {title}".rstrip())
    if isinstance(document := message.get("document"), dict):
        return described(f"📄 File {as_text(document.get('file_name'))}".rstrip())
    if isinstance(sticker := message.get("sticker"), dict):
        return f"Sticker {as_text(sticker.get('emoji'))}".rstrip()
    if isinstance(venue := message.get("venue"), dict):
        return f"📍 {as_text(venue.get('title'))}, {as_text(venue.get('address'))}{_at(venue)}"
    if isinstance(location := message.get("location"), dict):
        return f"📍 Location {location.get('latitude')}, {location.get('longitude')}"
    if isinstance(contact := message.get("contact"), dict):
        name = " ".join(
            part
            for part in (
                as_text(contact.get("first_name")),
                as_text(contact.get("last_name")),
            )
            if part
        )
        return f"👤 Contact: {name} {as_text(contact.get('phone_number'))}".rstrip()
    if isinstance(poll := message.get("poll"), dict):
        return f"📊 Poll: {as_text(poll.get('question'))}"
    if isinstance(dice := message.get("dice"), dict):
        return f"{as_text(dice.get('emoji'))} {dice.get('value')}"
    return None


def _at(venue: dict[str, Any]) -> str:
    location = venue.get("location")
    if not isinstance(location, dict):
        return ""
    return f" ({location.get('latitude')}, {location.get('longitude')})"


def _own_phone(message: dict[str, Any], sender: dict[str, Any]) -> str | None:
    """The customer's number when they shared their own contact card, in E.164."""
    contact = message.get("contact")
    if not isinstance(contact, dict) or contact.get("user_id") is None:
        return None
    if contact.get("user_id") != sender.get("id"):
        return None
    digits = "".join(ch for ch in as_text(contact.get("phone_number")) if ch.isdigit())
    return f"+{digits}" if digits else None

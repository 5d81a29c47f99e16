"""WhatsApp Cloud API: text and template messages, signed webhooks, statuses.

* Send: `POST {WHATSAPP_API_URL}/{WHATSAPP_PHONE_NUMBER_ID}/messages`, Bearer token,
  https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages
* Templates (the only thing allowed once the 24 h window has closed):
  https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-message-templates
* Error codes (131047 = re-engagement, i.e. outside the window):
  https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes
* Webhook `messages` field (messages, contacts, statuses):
  https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components
* Webhook `message_template_status_update` and `template_category_update`
  fields (a template approved, paused, disabled, recategorised): the synced
  template list is fetched again.
  https://developers.facebook.com/docs/whatsapp/business-management-api/webhooks/components
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from bot.channels.base import (
    InboundMedia,
    InboundMessage,
    MediaSource,
    OutboundRequest,
    RateLimiter,
    SendOutcome,
    SendResult,
    StatusUpdate,
    TemplateChange,
    WebhookEvent,
    WebhookReply,
    WebhookRequest,
    json_object,
)
from bot.channels.download import DownloadRefused
from bot.channels.http import post_or_retry
from bot.channels.media import CheckedFile, MediaFiles, checked, file_missing, send_parts
from bot.channels.meta import (
    DEFAULT_TIMEOUT_SECONDS,
    GRAPH_ERRORS,
    ErrorRule,
    ErrorTable,
    GraphError,
    GraphSender,
    describe,
    describe_location,
    failed,
    from_epoch_seconds,
    learned,
    load_body,
    ok_reply,
    outside,
    retry,
    split_name,
    subscribe_handshake,
    unreachable,
    validate,
    verify_signature,
)
from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.media import MediaKind
from bot.domain.messages import TemplateUse
from bot.domain.models import MessageStatus
from bot.domain.reachability import LearnedLimit, UnreachableReason
from bot.domain.templates import send_components
from bot.domain.windows import Reason, SendMode
from bot.media.store import MediaNotFound, MediaStore

#: Cloud API default throughput: 80 messages per second per business phone number.
#: https://developers.facebook.com/docs/whatsapp/cloud-api/overview#throughput
WHATSAPP_MESSAGES_PER_SECOND = 80

#: Used when the relay names a template but no language (Meta's own examples use en_US).
DEFAULT_TEMPLATE_LANGUAGE = "en_US"

OUTSIDE_WINDOW_REASON = "send.whatsapp.outside_window"

WHATSAPP_ERRORS = ErrorTable(
    by_code={
        **GRAPH_ERRORS,
        10: failed("send.whatsapp.10"),
        190: failed("send.whatsapp.190"),
        80007: retry("send.whatsapp.80007"),
        130429: retry("send.whatsapp.130429"),
        130472: failed("send.whatsapp.130472"),
        131000: retry("send.whatsapp.131000"),
        131005: failed("send.whatsapp.131005"),
        131008: failed("send.whatsapp.131008"),
        131009: failed("send.whatsapp.131009"),
        131016: retry("send.whatsapp.131016"),
        131021: failed("send.whatsapp.131021"),
        131026: failed("send.whatsapp.131026"),
        131031: failed("send.whatsapp.131031"),
        131042: failed("send.whatsapp.131042"),
        131047: outside(OUTSIDE_WINDOW_REASON),
        131048: failed("send.whatsapp.131048"),
        # Meta's per-customer marketing limit: never retried.
        # https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes
        131049: learned(
            "send.whatsapp.131049",
            LearnedLimit.WHATSAPP_MARKETING,
        ),
        # The customer stopped marketing messages: marketing templates only are
        # refused from now on; utility templates and free text still go.
        131050: unreachable(
            "send.whatsapp.131050",
            UnreachableReason.MARKETING_STOPPED,
        ),
        131051: failed("send.whatsapp.131051"),
        131052: failed("send.whatsapp.131052"),
        131053: failed("send.whatsapp.131053"),
        131056: retry("send.whatsapp.131056"),
        131057: retry("send.whatsapp.131057"),
        132000: failed("send.whatsapp.132000"),
        132001: failed("send.whatsapp.132001"),
        132005: failed("send.whatsapp.132005"),
        132007: failed("send.whatsapp.132007"),
        132012: failed("send.whatsapp.132012"),
        132015: failed("send.whatsapp.132015"),
        132016: failed("send.whatsapp.132016"),
        133004: retry("send.whatsapp.133004"),
        133010: failed("send.whatsapp.133010"),
    }
)

_STATUSES = {
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.READ,
    "failed": MessageStatus.FAILED,
}


class WhatsAppConnector:
    """WhatsApp over Meta's Cloud API.

    `rate_limiter` defaults to 80 messages/s (one phone number's throughput);
    `timeout` is the total seconds allowed for one API call.
    """

    channel = Channel.WHATSAPP
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
        self.media = media
        # An upload of up to 100 MB: no total, but no stall longer than `timeout`.
        self._upload_timeout = aiohttp.ClientTimeout(sock_connect=timeout, sock_read=timeout)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self.sender = GraphSender(
            http=http,
            channel=self.channel,
            errors=WHATSAPP_ERRORS,
            limiter=rate_limiter
            or RateLimiter(rate=WHATSAPP_MESSAGES_PER_SECOND, burst=WHATSAPP_MESSAGES_PER_SECOND),
            timeout=timeout,
        )

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return settings.whatsapp_token is not None and bool(settings.whatsapp_phone_number_id)

    async def media_source(self, media: InboundMedia) -> MediaSource:
        """`GET /{media-id}` answers the file's `url` (lookaside.fbsbx.com, valid 5
        minutes), fetched with the same bearer token:
        https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media#download-media"""
        token = self.settings.whatsapp_token
        if token is None:
            raise DownloadRefused("media.refused.download", detail="no WHATSAPP_TOKEN")
        bearer = {"Authorization": f"Bearer {token.get_secret_value()}"}
        try:
            async with self.http.get(
                f"{self.settings.whatsapp_api_url}/{quote(media.ref, safe='')}",
                headers=bearer,
                timeout=self._timeout,
            ) as response:
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            raise DownloadRefused("media.refused.download", detail="media lookup failed") from None
        url = body.get("url") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url:
            raise DownloadRefused("media.refused.download", detail="no media url")
        return MediaSource(url, bearer)

    # --- sending ---------------------------------------------------------------

    async def send(self, message: OutboundRequest) -> SendResult:
        token = self.settings.whatsapp_token
        phone_number_id = self.settings.whatsapp_phone_number_id
        if token is None or not phone_number_id:
            return SendResult.failed("send.not_configured", channel=Channel.WHATSAPP.value)
        content = message.content
        if content.attachments and not content.text.strip():
            # Files alone: the text payload is built only for its envelope.
            message = replace(message, content=replace(content, text="-"))
        built = self._payload(message)
        if isinstance(built, SendResult):
            return built
        url = f"{self.settings.whatsapp_api_url}/{phone_number_id}/messages"
        if content.attachments:
            message = replace(message, content=content)
            return await self._send_files(message, built, url, token)
        return await self.sender.post(url, token, built, _message_id)

    async def _send_files(
        self, message: OutboundRequest, built: dict[str, Any], url: str, token: SecretStr
    ) -> SendResult:
        """Each file uploaded (`POST /{phone-number-id}/media`, multipart `file`,
        `type`, `messaging_product`), then sent by its media id as an image, video,
        audio, document or sticker message, the text as the first file's caption
        where the type takes one (else as a text message first):
        https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media#upload-media
        https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages#media-object
        Outside the window (a template) one image, video or document goes as the
        template's header:
        https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-message-templates#media-based-message-templates
        """
        files = checked(message, MediaFiles.of(self.media, self.settings))
        if isinstance(files, SendResult):
            return files
        template = built.get("template")
        if isinstance(template, dict):
            if len(files) != 1 or files[0].kind not in _HEADER_KINDS:
                return SendResult.failed("send.whatsapp.template_header_file")
            media_id = await self._upload(files[0])
            if isinstance(media_id, SendResult):
                return media_id
            kind = files[0].kind.value
            parameter = {"type": kind, kind: _media_object(files[0], media_id, "")}
            header = {"type": "header", "parameters": [parameter]}
            # The file is the header: one the template's values named is replaced.
            others = [c for c in template.get("components", []) if c.get("type") != "header"]
            template["components"] = [header, *others]
            return await self.sender.post(url, token, built, _message_id)
        text = message.content.text
        captioned = bool(text.strip()) and files[0].kind in _CAPTIONED
        envelope = {k: v for k, v in built.items() if k not in ("type", "text")}
        parts: list[CheckedFile | None] = [None] if text.strip() and not captioned else []
        parts += files

        async def send_one(part: CheckedFile | None) -> SendResult:
            if part is None:
                return await self.sender.post(url, token, built, _message_id)
            media_id = await self._upload(part)
            if isinstance(media_id, SendResult):
                return media_id
            caption = text if captioned and part is files[0] else ""
            kind = part.kind.value
            payload = {**envelope, "type": kind, kind: _media_object(part, media_id, caption)}
            return await self.sender.post(url, token, payload, _message_id)

        return await send_parts(parts, send_one)

    async def _upload(self, file: CheckedFile) -> str | SendResult:
        """The file streamed from the media store to WhatsApp's media upload: its id."""
        media = MediaFiles.of(self.media, self.settings)
        assert media is not None and self.settings.whatsapp_token is not None
        attachment = file.attachment
        url = f"{self.settings.whatsapp_api_url}/{self.settings.whatsapp_phone_number_id}/media"
        token = self.settings.whatsapp_token.get_secret_value()
        try:
            async with media.opened(attachment) as opened:
                form = aiohttp.FormData()
                form.add_field("messaging_product", "whatsapp")
                form.add_field("type", opened.content_type)
                form.add_field(
                    "file",
                    opened.chunks(),
                    filename=opened.filename,
                    content_type=opened.content_type,
                )
                await self.sender.limiter.acquire()
                response = await post_or_retry(
                    self.http,
                    url,
                    channel=Channel.WHATSAPP,
                    timeout=self._upload_timeout,
                    data=form,
                    headers={"Authorization": f"Bearer {token}"},
                )
        except MediaNotFound as error:
            return file_missing(attachment, error)
        if isinstance(response, SendResult):
            return response
        body = json_object(response.body)
        media_id = body.get("id")
        if 200 <= response.status < 300 and isinstance(media_id, str) and media_id:
            return media_id
        if 200 <= response.status < 300:
            return SendResult.retry("send.no_message_id", channel=Channel.WHATSAPP.value)
        return self.sender.result_for_error(response.status, response.headers, body)

    def _payload(self, message: OutboundRequest) -> dict[str, Any] | SendResult:
        base: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            # A wa_id is digits only; tolerate an E.164 "+".
            "to": message.recipient.removeprefix("+"),
        }
        content = message.content
        if message.mode is SendMode.FREE:
            if not content.text.strip():
                return SendResult.failed("send.no_text")
            return {**base, "type": "text", "text": {"body": content.text}}
        if message.mode is SendMode.TEMPLATE:
            use = content.template
            if use is None or not use.name:
                return SendResult.failed("send.whatsapp.no_template")
            template: dict[str, Any] = {
                "name": use.name,
                "language": {"code": use.language or DEFAULT_TEMPLATE_LANGUAGE},
            }
            if use.components:
                # Header, body and buttons as the synced template takes them
                # (bot.domain.templates: Meta's documented shapes).
                template["components"] = send_components(use.components)
            elif use.parameters:
                template["components"] = [{"type": "body", "parameters": _body_parameters(use)}]
            return {**base, "type": "template", "template": template}
        if message.mode is SendMode.REFUSED:
            return SendResult.outside_window(OUTSIDE_WINDOW_REASON)
        return SendResult.failed(
            "send.mode_unsupported", channel=Channel.WHATSAPP.value, mode=message.mode.value
        )

    # --- webhooks -----------------------------------------------------------------

    def verify(self, request: WebhookRequest) -> bool:
        return verify_signature(request, self.settings.meta_app_secret)

    def handshake(self, request: WebhookRequest) -> WebhookReply | None:
        return subscribe_handshake(request, self.settings.meta_verify_token)

    def parse(self, request: WebhookRequest) -> Sequence[WebhookEvent]:
        """Customer messages and our messages' statuses from the `messages` field."""
        hook = load_body(request.body, _Webhook)
        if hook.object != "whatsapp_business_account":
            return []
        events: list[WebhookEvent] = []
        for entry in hook.entry:
            for change in entry.changes:
                if change.field in TEMPLATE_FIELDS:
                    events.extend(_template_change(entry, change))
                    continue
                if change.field != "messages":
                    continue  # quality, account updates: not ours
                value = validate(_Value, change.value)
                events.extend(_inbound(value))
                events.extend(_statuses(value))
        return events

    def reply(self, events: Sequence[WebhookEvent]) -> WebhookReply:
        return ok_reply()


#: The media types that take a `caption`; those a template header may be:
#: https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages#media-object
_CAPTIONED = frozenset({MediaKind.IMAGE, MediaKind.VIDEO, MediaKind.DOCUMENT})
_HEADER_KINDS = _CAPTIONED


def _media_object(file: CheckedFile, media_id: str, caption: str) -> dict[str, Any]:
    """The media object: `{"id", "caption", "filename"}` (a document's name)."""
    kind = file.kind
    media: dict[str, Any] = {"id": media_id}
    if caption:
        media["caption"] = caption
    if kind is MediaKind.DOCUMENT:
        media["filename"] = file.attachment.file_name
    return media


def _body_parameters(template: TemplateUse) -> list[dict[str, str]]:
    """A template's body parameters: in order for `{{1}}`…; each named for a NAMED
    template (`parameter_name`; https://developers.facebook.com/docs/whatsapp/
    cloud-api/guides/send-message-templates)."""
    if template.parameter_names:
        return [
            {"type": "text", "parameter_name": name, "text": value}
            for name, value in template.named_parameters
        ]
    return [{"type": "text", "text": value} for value in template.parameters]


def _message_id(body: Any) -> str | None:
    """`{"messages": [{"id": "wamid..."}]}` → the wamid."""
    if not isinstance(body, dict):
        return None
    messages = body.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        message_id = messages[0].get("id")
        return message_id if isinstance(message_id, str) and message_id else None
    return None


# --- webhook shapes -------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _Profile(_Model):
    name: str = ""


class _Contact(_Model):
    wa_id: str
    profile: _Profile | None = None


class _Text(_Model):
    body: str  # a text message always has one: `{"text": {}}` is a malformed body


class _Media(_Model):
    id: str = ""
    mime_type: str = ""
    caption: str = ""
    filename: str = ""
    voice: bool = False


class _Location(_Model):
    latitude: float
    longitude: float
    name: str = ""
    address: str = ""


class _SharedName(_Model):
    formatted_name: str = ""


class _SharedContact(_Model):
    name: _SharedName | None = None


class _Button(_Model):
    text: str = ""
    payload: str = ""


class _Choice(_Model):
    title: str = ""


class _Interactive(_Model):
    type: str = ""
    button_reply: _Choice | None = None
    list_reply: _Choice | None = None


class _Reaction(_Model):
    emoji: str = ""


class _Message(_Model):
    sender: str = Field(alias="from")
    id: str
    timestamp: int
    type: str
    text: _Text | None = None
    image: _Media | None = None
    video: _Media | None = None
    audio: _Media | None = None
    document: _Media | None = None
    sticker: _Media | None = None
    location: _Location | None = None
    contacts: list[_SharedContact] = []
    button: _Button | None = None
    interactive: _Interactive | None = None
    reaction: _Reaction | None = None


class _StatusError(_Model):
    code: int | None = None


class _Status(_Model):
    id: str
    status: str
    timestamp: int
    recipient_id: str = ""
    errors: list[_StatusError] = []


class _Value(_Model):
    contacts: list[_Contact] = []
    messages: list[_Message] = []
    statuses: list[_Status] = []


class _Change(_Model):
    field: str
    value: dict[str, Any] = {}


class _Entry(_Model):
    id: str = ""
    time: int = 0
    changes: list[_Change] = []


class _TemplateValue(_Model):
    event: str = ""
    message_template_name: str = ""
    message_template_language: str = ""
    new_category: str = ""


class _Webhook(_Model):
    object: str
    entry: list[_Entry]


# Types that carry no customer content: a changed number, a welcome request.
_IGNORED_TYPES = frozenset({"system", "request_welcome"})


def _inbound(value: _Value) -> list[InboundMessage]:
    names: Mapping[str, str] = {
        c.wa_id: c.profile.name for c in value.contacts if c.profile is not None
    }
    inbound: list[InboundMessage] = []
    for message in value.messages:
        if message.type in _IGNORED_TYPES:
            continue
        text = _message_text(message)
        if text is None:
            continue
        first, last = split_name(names.get(message.sender, ""))
        inbound.append(
            InboundMessage(
                channel=Channel.WHATSAPP,
                identity=message.sender,
                channel_message_id=message.id,
                sent_at=from_epoch_seconds(message.timestamp),
                text=text,
                first_name=first,
                last_name=last,
                phone=f"+{message.sender}",
                media=_media(message),
            )
        )
    return inbound


_MEDIA_KINDS = {
    "image": MediaKind.IMAGE,
    "video": MediaKind.VIDEO,
    "audio": MediaKind.AUDIO,
    "document": MediaKind.DOCUMENT,
    "sticker": MediaKind.STICKER,
}


def _media(message: _Message) -> tuple[InboundMedia, ...]:
    """A media message's file: its media id (fetched with `GET /{media-id}`), type, name.
    https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components#messages-object"""
    kind = _MEDIA_KINDS.get(message.type)
    media = getattr(message, message.type, None) if kind is not None else None
    if kind is None or not isinstance(media, _Media) or not media.id:
        return ()
    return (InboundMedia(kind, media.id, media.mime_type, media.filename),)


def _message_text(message: _Message) -> str | None:
    """The text, or a short description of a non-text message; None to ignore it."""
    kind = message.type
    if kind == "text":
        return message.text.body if message.text is not None else ""
    if kind in ("image", "video", "audio", "document", "sticker"):
        media = getattr(message, kind) or _Media()
        if kind == "image":
            return describe("photo", media.caption)
        if kind == "audio":
            return describe("voice" if media.voice else "audio")
        if kind == "document":
            return describe("file", media.caption, media.filename)
        return describe(kind, media.caption)
    if kind == "location" and message.location is not None:
        place = message.location.name or message.location.address
        return describe_location(message.location.latitude, message.location.longitude, place)
    if kind == "contacts":
        names = [c.name.formatted_name for c in message.contacts if c.name is not None]
        return describe("contact", ", ".join(n for n in names if n))
    if kind == "button" and message.button is not None:
        return f"🔘 {message.button.text or message.button.payload}"
    if kind == "interactive" and message.interactive is not None:
        choice = message.interactive.button_reply or message.interactive.list_reply
        if choice is not None:
            return f"🔘 {choice.title}"
        return describe("form")
    if kind == "reaction":
        emoji = message.reaction.emoji if message.reaction is not None else ""
        # An empty emoji is a removed reaction: nothing to show.
        return f"Reacted {emoji}" if emoji else None
    if kind == "order":
        return describe("order")
    return describe("unsupported")


#: Webhook fields saying a template changed; each makes the synced list be fetched again.
TEMPLATE_FIELDS = frozenset({"message_template_status_update", "template_category_update"})


def _template_change(entry: _Entry, change: _Change) -> list[TemplateChange]:
    """`{"event": "APPROVED", "message_template_name": …, "message_template_language": …}`
    (or `new_category` for a category update); the time is the entry's."""
    value = validate(_TemplateValue, change.value)
    if entry.time <= 0:
        return []  # no time to place it: Meta always sends one
    return [
        TemplateChange(
            channel=Channel.WHATSAPP,
            at=from_epoch_seconds(entry.time),
            template=value.message_template_name,
            language=value.message_template_language,
            detail=value.event or value.new_category,
        )
    ]


def _statuses(value: _Value) -> list[StatusUpdate]:
    updates: list[StatusUpdate] = []
    for item in value.statuses:
        status = _STATUSES.get(item.status)
        if status is None:
            continue  # "deleted", "warning": nothing to show
        at = from_epoch_seconds(item.timestamp)
        reason = None
        why = None
        if status is MessageStatus.FAILED:
            code = next((e.code for e in item.errors if e.code is not None), None)
            rule = WHATSAPP_ERRORS.rule(GraphError(code=code)) if code is not None else None
            if rule is not None and rule.outcome is SendOutcome.OUTSIDE_WINDOW:
                status = MessageStatus.OUTSIDE_WINDOW
            reason = _failure_reason(rule, code)
            why = rule.unreachable if rule is not None else None
        updates.append(
            StatusUpdate(
                channel=Channel.WHATSAPP,
                status=status,
                at=at,
                channel_message_id=item.id,
                reason=reason,
                unreachable=why,
            )
        )
    return updates


def _failure_reason(rule: ErrorRule | None, code: int | None) -> Reason:
    channel = Channel.WHATSAPP.value
    if rule is not None:
        return Reason(rule.key, {"channel": channel, **rule.params})
    if code is not None:
        return Reason("send.whatsapp.undelivered_code", {"code": code})
    return Reason("send.whatsapp.undelivered")

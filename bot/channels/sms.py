"""SMS through an HTTP gateway speaking Twilio's REST shape.

Out: `POST {SMS_API_URL}/2010-04-01/Accounts/{sid}/Messages.json`, form-encoded,
HTTP basic auth (account SID, auth token):
https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource

In: form-encoded webhooks signed with `X-Twilio-Signature`, either an inbound
message (`MessageSid`, `From`, `To`, `Body`, `NumMedia`, `MediaContentType0`…)
or a status callback (`MessageSid`, `MessageStatus`, `ErrorCode`):
https://www.twilio.com/docs/usage/webhooks/messaging-webhooks
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

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
    json_object,
)
from bot.channels.http import post_or_retry
from bot.channels.media import MediaFiles, checked
from bot.config import Settings
from bot.domain.channels import CHANNEL_LABELS, Channel
from bot.domain.clock import Clock, utc_now
from bot.domain.media import MB, human_size, kind_of
from bot.domain.models import MessageStatus
from bot.domain.reachability import (
    SMS_START_KEYWORDS,
    SMS_STOP_KEYWORDS,
    UnreachableReason,
    sms_keyword,
)
from bot.domain.windows import Reason
from bot.media.store import MediaStore

logger = logging.getLogger(__name__)


# A long code sends one message segment per second in the US and Canada (toll-free
# numbers 3, short codes 30+); Twilio queues what exceeds it, but a queue hours long
# is no use to a follow-up:
# https://help.twilio.com/articles/115002943027-Understanding-Twilio-Rate-Limits-and-Message-Queues
DEFAULT_RATE_PER_SECOND = 1.0

# Twilio's answer to an accepted webhook when there is nothing to reply with.
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

# Twilio error codes, in words an agent understands. Twilio's own `message`
# often quotes the phone number, so it is never passed on.
# https://www.twilio.com/docs/api/errors
#: "Attempt to send to unsubscribed recipient".
OPTED_OUT = 21610
SEND_ERRORS: dict[int, str] = {
    20003: "send.twilio.20003",
    20404: "send.twilio.20404",
    21211: "send.twilio.21211",
    21212: "send.twilio.21212",
    21408: "send.twilio.21408",
    21602: "send.twilio.21602",
    21606: "send.twilio.21606",
    21610: "send.twilio.21610",
    21612: "send.twilio.21612",
    21614: "send.twilio.21614",
    21617: "send.twilio.21617",
    30007: "send.twilio.30007",
}

# Delivery error codes of status callbacks:
# https://www.twilio.com/docs/messaging/guides/debugging-common-issues
DELIVERY_ERRORS: dict[int, str] = {
    **SEND_ERRORS,
    30003: "send.twilio.30003",
    30004: "send.twilio.30004",
    30005: "send.twilio.30005",
    30006: "send.twilio.30006",
    30007: "send.twilio.30007",
    30008: "send.twilio.30008",
}

# Status callback values → our statuses; the rest (queued, accepted, sending,
# scheduled, receiving, received…) say nothing an agent needs.
# https://www.twilio.com/docs/messaging/guides/outbound-message-status-in-status-callbacks
_STATUSES: dict[str, MessageStatus] = {
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.READ,
    "undelivered": MessageStatus.FAILED,
    "failed": MessageStatus.FAILED,
}
_OUTBOUND_STATES = frozenset(
    {"queued", "accepted", "scheduled", "sending", "canceled", "partially_delivered", *_STATUSES}
)


def twilio_signature(auth_token: str, url: str, params: Sequence[tuple[str, str]]) -> str:
    """Twilio's `X-Twilio-Signature`: base64 HMAC-SHA1 of the URL + sorted name/value pairs.

    https://www.twilio.com/docs/usage/webhooks/webhooks-security
    """
    data = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _url_variants(url: str) -> list[str]:
    """The URL as given, and with the default port toggled.

    Twilio signs the URL as it called it; its own validators accept both forms
    because the port may or may not be part of what was signed.
    """
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    host = parts.hostname or ""
    if default is None or not host:
        return [url]
    if parts.port is None:
        other = parts._replace(netloc=_netloc(parts.netloc, f"{host}:{default}"))
    elif parts.port == default:
        other = parts._replace(netloc=_netloc(parts.netloc, host))
    else:
        return [url]
    return [url, urlunsplit(other)]


def _netloc(netloc: str, hostport: str) -> str:
    userinfo, at, _ = netloc.rpartition("@")
    return f"{userinfo}{at}{hostport}"


def _form(body: bytes) -> list[tuple[str, str]]:
    try:
        text = body.decode("utf-8")
        return parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except (UnicodeDecodeError, ValueError) as error:
        raise MalformedWebhook("the body is not a form") from error


def _media_description(content_type: str) -> str:
    kind, _, sub = content_type.lower().partition("/")
    if kind == "image":
        return "📷 Photo"
    if kind == "audio":
        return "🎤 Voice message"
    if kind == "video":
        return "🎥 Video"
    if sub in ("vcard", "x-vcard", "directory"):
        return "👤 Contact"
    return "📎 File"


#: "Up to 10 MediaUrl parameters", "the total size of the message body and all
#: media must be 5 MB or less": https://www.twilio.com/docs/messaging/guides/accepted-mime-types
MAX_MEDIA_URLS = 10
MMS_TOTAL_BYTES = 5 * MB


class SmsConnector:
    """SMS via Twilio's Messages API.

    `clock` gives the time of inbound messages and statuses (Twilio's webhooks
    carry no timestamp); `rate_per_second` is the sending number's throughput;
    `timeout` bounds one API call, in seconds.
    """

    channel = Channel.SMS
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
        sid, token, sender = (
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            settings.sms_from,
        )
        if not (sid and token and sender):
            raise ValueError("SMS needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and SMS_FROM")
        self._http = http
        self._sid = sid
        self._token = token.get_secret_value()
        credentials = base64.b64encode(f"{sid}:{self._token}".encode()).decode()
        self._authorization = f"Basic {credentials}"
        self._from = sender
        self._url = f"{settings.sms_api_url}/2010-04-01/Accounts/{self._sid}/Messages.json"
        self._status_callback = (
            f"{settings.public_base_url}/webhooks/sms" if settings.public_base_url else None
        )
        self._clock = clock
        self._limiter = RateLimiter(rate=rate_per_second)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self.media = media
        self._media_settings = settings

    @property
    def _media(self) -> MediaFiles | None:
        return MediaFiles.of(self.media, self._media_settings)

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return bool(
            settings.twilio_account_sid and settings.twilio_auth_token and settings.sms_from
        )

    async def send(self, message: OutboundRequest) -> SendResult:
        form = [("To", message.recipient), ("From", self._from)]
        if message.content.text or not message.content.attachments:
            form.append(("Body", message.content.text))
        if message.content.attachments:
            urls = self._media_urls(message)
            if isinstance(urls, SendResult):
                return urls
            form += [("MediaUrl", url) for url in urls]
        if self._status_callback:
            form.append(("StatusCallback", self._status_callback))
        await self._limiter.acquire()
        response = await post_or_retry(
            self._http,
            self._url,
            channel=Channel.SMS,
            timeout=self._timeout,
            data=form,
            headers={"Authorization": self._authorization, "Accept": "application/json"},
        )
        if isinstance(response, SendResult):
            return response
        answer = json_object(response.body)
        if response.status in (200, 201):
            sid = answer.get("sid")
            if isinstance(sid, str) and sid:
                return SendResult.sent(sid)
            return SendResult.retry("send.no_message_id", channel=Channel.SMS.value)
        return self._error(response.status, answer, response.retry_after)

    def _media_urls(self, message: OutboundRequest) -> list[str] | SendResult:
        """The files as MMS `MediaUrl`s Twilio fetches (at most ten, 5 MB in all):
        https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
        MMS goes between US and Canadian numbers only (+1 on both ends):
        https://www.twilio.com/docs/messaging/guides/accepted-mime-types"""
        if not (message.recipient.startswith("+1") and self._from.startswith("+1")):
            return SendResult.failed("send.sms.no_mms")
        if len(message.content.attachments) > MAX_MEDIA_URLS:
            return SendResult.failed("send.sms.too_many_files", limit=MAX_MEDIA_URLS)
        total = sum(a.size for a in message.content.attachments)
        media = self._media
        files = checked(message, media, by_url=True)
        if isinstance(files, SendResult):
            return files
        assert media is not None  # checked() refuses without it
        if total > MMS_TOTAL_BYTES:
            return SendResult.failed(
                "media.refused.too_large",
                channel=CHANNEL_LABELS[Channel.SMS],
                size=human_size(total),
                limit=human_size(MMS_TOTAL_BYTES),
            )
        return [media.url(file.attachment) for file in files]

    def _error(self, status: int, answer: dict[str, Any], retry_after: float | None) -> SendResult:
        code = answer.get("code")
        code = code if isinstance(code, int) else None
        if status == 429 or code == 20429:
            return SendResult.retry("send.rate_limited", retry_after, channel=Channel.SMS.value)
        if status >= 500:
            return SendResult.retry(
                "send.server_error", retry_after, channel=Channel.SMS.value, status=status
            )
        logger.warning("twilio refused a message", extra={"http_status": status, "code": code})
        if code == OPTED_OUT:
            # The customer texted STOP: Twilio refuses until they text START.
            # https://www.twilio.com/docs/api/errors/21610
            return SendResult.not_reachable(
                SEND_ERRORS[code], UnreachableReason.OPTED_OUT, str(code)
            )
        if code is not None and code in SEND_ERRORS:
            return SendResult.failed(SEND_ERRORS[code], code=str(code))
        if status == 401:
            return SendResult.failed(SEND_ERRORS[20003])
        suffix = f"error {code}" if code is not None else f"HTTP {status}"
        return SendResult.failed("send.refused", channel=Channel.SMS.value, detail=suffix)

    def verify(self, request: WebhookRequest) -> bool:
        signature = request.headers.get("X-Twilio-Signature")
        if not signature:
            return False
        try:
            params = _form(request.body)
        except MalformedWebhook:
            return False
        return any(
            hmac.compare_digest(
                signature.encode(), twilio_signature(self._token, url, params).encode()
            )
            for url in _url_variants(request.url)
        )

    def handshake(self, request: WebhookRequest) -> WebhookReply | None:
        return None  # Twilio has no subscribe handshake.

    def parse(self, request: WebhookRequest) -> Sequence[WebhookEvent]:
        fields = _form(request.body)
        params = dict(fields)
        if len(params) != len(fields):
            # Twilio names each field once (MediaUrl0, MediaUrl1, …): a repeated
            # From or Body leaves nobody to say which one the customer sent.
            raise MalformedWebhook("a form field is repeated")
        sid = params.get("MessageSid") or params.get("SmsSid")
        if not sid:
            raise MalformedWebhook("no MessageSid")
        state = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
        # Twilio's webhooks carry no timestamp: the time they arrive stands in.
        now = self._clock()
        if state in _OUTBOUND_STATES:
            return self._status(sid, state, params, now)
        sender = params.get("From")
        if not sender:
            raise MalformedWebhook("no From")
        if "Body" not in params and "NumMedia" not in params:
            raise MalformedWebhook("neither Body nor NumMedia")
        keyword = _opt_keyword(params)
        if keyword is not None:
            # STOP / START and their kin change reachability; they are not the
            # customer writing (no window restarts, nothing reopens).
            reachable, word = keyword
            return [
                ReachabilityEvent(
                    channel=Channel.SMS,
                    identity=sender,
                    at=now,
                    unreachable=None if reachable else UnreachableReason.OPTED_OUT,
                    detail=word,
                )
            ]
        return [
            InboundMessage(
                channel=Channel.SMS,
                identity=sender,
                channel_message_id=sid,
                sent_at=now,
                text=_inbound_text(params),
                phone=sender,
                media=_media(params),
            )
        ]

    async def media_source(self, media: InboundMedia) -> MediaSource:
        """`MediaUrl{N}` on api.twilio.com with the account's basic auth (when the
        account requires it for media); it redirects to Twilio's media CDN, where the
        credentials are not sent: https://www.twilio.com/docs/messaging/api/media-resource"""
        return MediaSource(media.ref, {"Authorization": self._authorization})

    def _status(
        self, sid: str, state: str, params: dict[str, str], now: datetime
    ) -> list[WebhookEvent]:
        status = _STATUSES.get(state)
        if status is None:
            return []
        reason = None
        if status is MessageStatus.FAILED:
            reason = _delivery_reason(params.get("ErrorCode", ""))
        return [
            StatusUpdate(
                channel=Channel.SMS, status=status, at=now, channel_message_id=sid, reason=reason
            )
        ]

    def reply(self, events: Sequence[WebhookEvent]) -> WebhookReply:
        return WebhookReply(status=200, body=EMPTY_TWIML, content_type="text/xml")


def _opt_keyword(params: dict[str, str]) -> tuple[bool, str] | None:
    """(reachable again?, the keyword) when the message opts out or in, else None.

    Twilio's default keywords, or its `OptOutType` (STOP, START, HELP) where
    Advanced Opt-Out is on: https://help.twilio.com/articles/223134027
    """
    kind = params.get("OptOutType")
    body = params.get("Body", "")
    if params.get("NumMedia", "0") not in ("", "0"):
        return None
    verdict = sms_keyword(body, kind)
    if verdict is None:
        return None
    word = body.strip().upper()
    if word not in SMS_STOP_KEYWORDS | SMS_START_KEYWORDS:
        word = (kind or "").strip().upper()  # a custom keyword: name its kind only
    return verdict, word


#: Twilio sends at most 10 media per message.
_MAX_MEDIA = 10


def _media(params: dict[str, str]) -> tuple[InboundMedia, ...]:
    """`NumMedia`, then `MediaUrl{N}` and `MediaContentType{N}` for each:
    https://www.twilio.com/docs/messaging/guides/webhook-request#media-related-parameters"""
    try:
        count = min(int(params.get("NumMedia") or 0), _MAX_MEDIA)
    except ValueError:
        raise MalformedWebhook("NumMedia is not a number") from None
    files = []
    for number in range(count):
        url = params.get(f"MediaUrl{number}", "")
        if not url:
            continue
        mime = params.get(f"MediaContentType{number}", "")
        files.append(InboundMedia(kind=kind_of(mime), ref=url, mime_type=mime))
    return tuple(files)


def _inbound_text(params: dict[str, str]) -> str:
    body = params.get("Body", "").strip()
    try:
        count = int(params.get("NumMedia") or 0)
    except ValueError as error:
        raise MalformedWebhook("NumMedia is not a number") from error
    kinds: list[str] = []
    for index in range(count):
        kind = _media_description(params.get(f"MediaContentType{index}", ""))
        if kind not in kinds:
            kinds.append(kind)
    if not kinds:
        return body
    description = ", ".join(kinds)
    return f"{description}: {body}" if body else description


def _delivery_reason(code: str) -> Reason:
    try:
        number = int(code)
    except ValueError:
        return Reason("send.twilio.undelivered")
    if number in DELIVERY_ERRORS:
        return Reason(DELIVERY_ERRORS[number])
    return Reason("send.twilio.undelivered_code", {"code": number})

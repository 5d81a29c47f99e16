"""WeChat Official Account customer-service messages.

Out: `POST {WECHAT_API_URL}/cgi-bin/message/custom/send?access_token=…` with JSON
`{"touser", "msgtype": "text", "text": {"content"}}`; WeChat answers HTTP 200
with `{"errcode", "errmsg"}` (0 is ok) and no message id, so ours stands in.
https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Service_Center_messages.html
https://developers.weixin.qq.com/doc/offiaccount/Getting_Started/Global_Return_Code.html

The access token is shared by every replica through Redis: fetched from
`POST /cgi-bin/stable_token` (which, unlike `/cgi-bin/token`, does not revoke
the token other replicas hold), cached a few minutes short of `expires_in`,
refreshed by one replica at a time under a short lock (SET NX PX).
https://developers.weixin.qq.com/doc/service/api/base/api_getstableaccesstoken

In: plaintext-mode XML pushed to the server URL with `signature`, `timestamp`
and `nonce` in the query: the sha1 of the sorted concatenation of WECHAT_TOKEN,
timestamp and nonce. The GET handshake also carries `echostr`, echoed back.
The signature does not cover the body, so a callback must also be fresh: its
timestamp within five minutes of ours, its nonce never seen before (`claim`).
https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Access_Overview.html
https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Receiving_standard_messages.html
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import aiohttp
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as safe_fromstring
from redis.exceptions import LockError, RedisError

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
    json_object,
)
from bot.channels.download import DownloadRefused
from bot.channels.http import post_or_retry, text_only_refusal
from bot.channels.media import CheckedFile, MediaFiles, checked, file_missing, send_parts
from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.media import MediaKind
from bot.domain.reachability import LearnedLimit, UnreachableReason
from bot.domain.windows import SendMode
from bot.logging_setup import redact
from bot.media.store import MediaNotFound, MediaStore
from bot.store.wechat import WeChatStore

logger = logging.getLogger(__name__)

# The customer-service send API allows 500,000 calls a day per account (about
# 5.8 a second on average); 5 a second can run all day without reaching it:
# https://developers.weixin.qq.com/doc/offiaccount/Message_Management/API_Call_Limits.html
RATE_PER_SECOND = 5.0

#: The cached token expires this many seconds before WeChat says it does
#: (stable_token itself renews the token 5 minutes before it expires).
TOKEN_MARGIN_SECONDS = 300
MIN_TOKEN_TTL_SECONDS = 60
#: How often a replica waiting for another's refresh looks again.
TOKEN_POLL_SECONDS = 0.05

# invalid credential / access_token expired / invalid access_token
TOKEN_ERRORS = frozenset({40001, 42001, 40014})

# Refusals as outside the customer-service window: 48 h since the customer's
# last message, or the count of messages allowed since it used up.
WINDOW_ERRORS: dict[int, str] = {
    45015: "send.wechat.45015",
    45047: "send.wechat.45047",
}
#: What each window refusal teaches about the current window.
LEARNED_LIMITS: dict[int, LearnedLimit] = {
    45015: LearnedLimit.WECHAT_WINDOW_CLOSED,
    45047: LearnedLimit.WECHAT_COUNT_SPENT,
}
RETRY_ERRORS: dict[int, str] = {
    -1: "send.wechat.m1",
    45009: "send.wechat.45009",
    45011: "send.wechat.45011",
}
SEND_ERRORS: dict[int, str] = {
    40003: "send.wechat.40003",
    43004: "send.wechat.43004",
    45002: "send.wechat.45002",
    48001: "send.wechat.48001",
    40008: "send.wechat.40008",
}
TOKEN_FETCH_ERRORS: dict[int, str] = {
    40013: "send.wechat.40013",
    40125: "send.wechat.40125",
    40243: "send.wechat.40243",
    40164: "send.wechat.40164",
    61004: "send.wechat.61004",
}

# Upload refusals: https://developers.weixin.qq.com/doc/offiaccount/Getting_Started/Global_Return_Code.html
UPLOAD_ERRORS: dict[int, str] = {
    40004: "send.wechat.40004",  # invalid media type
    40005: "send.wechat.40005",  # invalid file type
    40006: "send.wechat.40006",  # invalid file size
    41005: "send.wechat.41005",  # media data missing
}

#: Our kinds as temporary media types and customer-service `msgtype`s (the same
#: word for both); the domain's table takes no other kind for WeChat.
_MSGTYPES = {MediaKind.IMAGE: "image", MediaKind.AUDIO: "voice", MediaKind.VIDEO: "video"}

_Call = Callable[[str], Awaitable[tuple[SendResult, int | None]]]

_DTD_MARKERS = (b"<!doctype", b"<!entity")

#: A callback's timestamp may be this far from our clock, either way.
MAX_SKEW_SECONDS = 5 * 60
#: A nonce is remembered as long as its callback could still pass as fresh.
NONCE_SECONDS = 2 * MAX_SKEW_SECONDS + 60
#: CreateTime is epoch seconds: ten digits until 2286.
_MAX_TIME_DIGITS = 11


class _Abort(Exception):
    """The attempt ends here (no token, no answer); `result` says what to do next."""

    def __init__(self, result: SendResult) -> None:
        super().__init__(result.reason)
        self.result = result


def wechat_signature(token: str, timestamp: str, nonce: str) -> str:
    """WeChat's `signature`: sha1 hex of the sorted concatenation of token, timestamp, nonce."""
    return hashlib.sha1("".join(sorted((token, timestamp, nonce))).encode()).hexdigest()


class WeChatConnector:
    """WeChat Official Account API.

    `redis` caches the access token for every replica under `token_key` (the
    caller builds the name), with a refresh lock at `token_key + ":lock"`;
    `rate_per_second` is the send rate (divide it among replicas); `timeout`
    bounds one API call, in seconds.
    """

    channel = Channel.WECHAT
    #: Where the files of a message are read from (given by the registry).
    media: MediaStore | None = None

    def __init__(
        self,
        settings: Settings,
        http: aiohttp.ClientSession,
        *,
        store: WeChatStore,
        rate_per_second: float = RATE_PER_SECOND,
        timeout: float = 15.0,
        clock: Callable[[], float] = time.time,
        media: MediaStore | None = None,
    ) -> None:
        if not (settings.wechat_app_id and settings.wechat_app_secret):
            raise ValueError("WeChat needs WECHAT_APP_ID and WECHAT_APP_SECRET")
        self._http = http
        self._base = settings.wechat_api_url
        self._app_id = settings.wechat_app_id
        self._app_secret = settings.wechat_app_secret.get_secret_value()
        token = settings.wechat_token
        self._webhook_token = token.get_secret_value() if token else None
        self._store = store
        self._clock = clock
        # Long enough for a normal and a forced fetch, each up to `timeout`.
        self._lock_seconds = 2 * timeout + 5
        self._limiter = RateLimiter(rate=rate_per_second, burst=max(1, int(rate_per_second)))
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        # An upload: no total, but no stall longer than `timeout`.
        self._upload_timeout = aiohttp.ClientTimeout(sock_connect=timeout, sock_read=timeout)
        self.media = media
        self._media_settings = settings

    @property
    def _media(self) -> MediaFiles | None:
        return MediaFiles.of(self.media, self._media_settings)

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        # Without WECHAT_TOKEN no customer message can arrive, so no window ever opens.
        return bool(settings.wechat_app_id and settings.wechat_app_secret and settings.wechat_token)

    # --- sending ---------------------------------------------------------------

    async def send(self, message: OutboundRequest) -> SendResult:
        if message.content.attachments:
            return await self._send_files(message)
        refusal = text_only_refusal(message)
        if refusal is not None:
            return refusal
        return await self._with_token(lambda token: self._post(token, message, _text(message)))

    async def _with_token(self, call: _Call) -> SendResult:
        """`call` with the shared access token; once more with a fresh one when
        WeChat says the token was revoked or expired before our cache did."""
        try:
            token = await self._access_token()
            result, errcode = await call(token)
            if errcode in TOKEN_ERRORS:
                await self._drop_token(token)
                token = await self._access_token(rejected=token)
                result, errcode = await call(token)
                if errcode in TOKEN_ERRORS:
                    return SendResult.failed("send.wechat.fresh_token_rejected")
        except _Abort as error:
            return error.result
        except RedisError:
            logger.warning("wechat token cache unavailable")
            return SendResult.retry("send.wechat.token_cache")
        return result

    async def _send_files(self, message: OutboundRequest) -> SendResult:
        """The text (WeChat's media messages have no caption) as a text message, then
        each file uploaded as temporary media (`POST /cgi-bin/media/upload?type=…`,
        multipart `media`) and sent by its `media_id` as an image, voice or video
        customer-service message:
        https://developers.weixin.qq.com/doc/offiaccount/en/Asset_Management/New_temporary_materials.html
        https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Service_Center_messages.html
        """
        if message.mode in (SendMode.REFUSED, SendMode.TEMPLATE, SendMode.MESSAGE_TAG):
            return text_only_refusal(message) or SendResult.failed("send.not_now")
        media = self._media
        files = checked(message, media)
        if isinstance(files, SendResult):
            return files
        parts: list[CheckedFile | None] = [None] if message.content.text.strip() else []
        parts += files

        async def send_one(part: CheckedFile | None) -> SendResult:
            if part is None:
                return await self._with_token(
                    lambda token: self._post(token, message, _text(message))
                )
            return await self._with_token(lambda token: self._send_file(token, message, part))

        return await send_parts(parts, send_one)

    async def _send_file(
        self, token: str, message: OutboundRequest, file: CheckedFile
    ) -> tuple[SendResult, int | None]:
        msgtype = _MSGTYPES[file.kind]
        uploaded = await self._upload(token, file, msgtype)
        if not isinstance(uploaded, str):
            return uploaded
        # A video's `title` and `description` are optional, and no `thumb_media_id`
        # (the customer-service page lists only `media_id` as required):
        # https://developers.weixin.qq.com/doc/service/en/api/customer/message/api_sendcustommessage
        payload = {"touser": message.recipient, "msgtype": msgtype, msgtype: {"media_id": uploaded}}
        return await self._post(token, message, payload)

    async def _upload(
        self, token: str, file: CheckedFile, media_type: str
    ) -> str | tuple[SendResult, int | None]:
        """The file streamed from the media store as temporary media: its `media_id`."""
        media = self._media
        assert media is not None  # checked() refuses without it
        try:
            async with media.opened(file.attachment) as opened:
                form = aiohttp.FormData()
                form.add_field(
                    "media",
                    opened.chunks(),
                    filename=opened.filename,
                    content_type=opened.content_type,
                )
                await self._limiter.acquire()
                # The token is in the query: this URL is never logged.
                response = await post_or_retry(
                    self._http,
                    f"{self._base}/cgi-bin/media/upload",
                    channel=Channel.WECHAT,
                    timeout=self._upload_timeout,
                    data=form,
                    params={"access_token": token, "type": media_type},
                )
        except MediaNotFound as error:
            return file_missing(file.attachment, error), None
        if isinstance(response, SendResult):
            return response, None
        if response.status != 200:
            return _http_problem(response.status, response.retry_after), None
        answer = json_object(response.body)
        media_id = answer.get("media_id")
        if isinstance(media_id, str) and media_id:
            return media_id
        errcode = answer.get("errcode")
        if not isinstance(errcode, int):
            return SendResult.failed("send.wechat.unexpected", status=response.status), None
        if errcode in TOKEN_ERRORS:
            return SendResult.retry("send.wechat.token_rejected"), errcode
        logger.warning("wechat refused an upload", extra={"errcode": errcode})
        if errcode in RETRY_ERRORS:
            return SendResult.retry(RETRY_ERRORS[errcode], response.retry_after), errcode
        if errcode in UPLOAD_ERRORS:
            return SendResult.failed(UPLOAD_ERRORS[errcode]), errcode
        return _unknown("send.refused", errcode, answer), errcode

    async def _post(
        self, token: str, message: OutboundRequest, payload: dict[str, Any]
    ) -> tuple[SendResult, int | None]:
        await self._limiter.acquire()
        # The token is in the query: this URL is never logged.
        answer, status, retry_after = await self._call(
            f"{self._base}/cgi-bin/message/custom/send",
            payload,
            params={"access_token": token},
        )
        if answer is None:
            return _http_problem(status, retry_after), None
        errcode = answer.get("errcode", 0)
        if not isinstance(errcode, int):
            unexpected = SendResult.failed("send.wechat.unexpected", status=status)
            return unexpected, None
        if errcode == 0:
            return SendResult.sent(message.message_id), 0
        if errcode in TOKEN_ERRORS:
            return SendResult.retry("send.wechat.token_rejected"), errcode
        logger.warning("wechat refused a message", extra={"errcode": errcode})
        if errcode in LEARNED_LIMITS:
            # WeChat's own count and clock win over ours until the customer writes:
            # the account may be on the lower limit (5 per 48 h since 2023).
            return SendResult.limit(
                WINDOW_ERRORS[errcode], LEARNED_LIMITS[errcode], str(errcode)
            ), errcode
        if errcode in WINDOW_ERRORS:
            return SendResult.outside_window(WINDOW_ERRORS[errcode], code=str(errcode)), errcode
        if errcode in RETRY_ERRORS:
            return SendResult.retry(RETRY_ERRORS[errcode], retry_after, code=str(errcode)), errcode
        if errcode in SEND_ERRORS:
            return SendResult.failed(SEND_ERRORS[errcode], code=str(errcode)), errcode
        return _unknown("send.refused", errcode, answer), errcode

    async def _call(
        self,
        url: str,
        payload: dict[str, Any],
        *,
        params: dict[str, str] | None = None,
    ) -> tuple[dict[str, Any] | None, int, float | None]:
        """POST `payload`; the JSON object answered with HTTP 200, else None with the status.

        Raises _Abort(RETRY) on timeouts and connection errors.
        """
        response = await post_or_retry(
            self._http,
            url,
            channel=Channel.WECHAT,
            timeout=self._timeout,
            json=payload,  # raw UTF-8, not \\u escapes: what WeChat's own examples send
            params=params,
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        if isinstance(response, SendResult):
            raise _Abort(response)
        status, retry_after = response.status, response.retry_after
        if status != 200:
            return None, status, retry_after
        return json_object(response.body) or None, status, retry_after

    # --- the shared access token ------------------------------------------------

    async def _access_token(self, *, rejected: str | None = None) -> str:
        """A valid access token: from Redis, or fetched by one replica at a time.

        `rejected` is a token WeChat just refused: never returned again.
        """
        deadline = time.monotonic() + self._lock_seconds + 1
        while True:
            cached = await self._store.token()
            if cached and cached != rejected:
                return cached
            lock = self._store.refresh_lock(self._lock_seconds)
            if await lock.acquire():
                try:
                    return await self._refresh(rejected)
                finally:
                    # LockError: it expired meanwhile, and another replica may hold it now.
                    with contextlib.suppress(LockError):
                        await lock.release()
            if time.monotonic() > deadline:
                raise _Abort(SendResult.retry("send.wechat.token_refreshing"))
            await asyncio.sleep(TOKEN_POLL_SECONDS)

    async def _refresh(self, rejected: str | None) -> str:
        """Fetch and cache a token; the caller holds the refresh lock."""
        cached = await self._store.token()
        if cached and cached != rejected:
            return cached  # another replica refreshed it just before us
        token, expires_in = await self._fetch_token(force=False)
        if token == rejected:
            # The normal mode hands out the current token until it expires; only a
            # forced refresh (20 a day) replaces one WeChat already refuses.
            token, expires_in = await self._fetch_token(force=True)
        ttl = max(MIN_TOKEN_TTL_SECONDS, expires_in - TOKEN_MARGIN_SECONDS)
        await self._store.keep_token(token, ttl)
        logger.info("wechat access token refreshed", extra={"ttl_seconds": ttl})
        return token

    async def _fetch_token(self, *, force: bool) -> tuple[str, int]:
        payload: dict[str, Any] = {
            "grant_type": "client_credential",
            "appid": self._app_id,
            "secret": self._app_secret,
        }
        if force:
            payload["force_refresh"] = True
        answer, status, retry_after = await self._call(
            f"{self._base}/cgi-bin/stable_token", payload
        )
        if answer is None:
            raise _Abort(_http_problem(status, retry_after))
        token, expires_in = answer.get("access_token"), answer.get("expires_in")
        if isinstance(token, str) and token and isinstance(expires_in, int):
            return token, expires_in
        errcode = answer.get("errcode")
        logger.warning("wechat issued no access token", extra={"errcode": errcode})
        if isinstance(errcode, int) and errcode in RETRY_ERRORS:
            raise _Abort(SendResult.retry(RETRY_ERRORS[errcode], retry_after))
        if isinstance(errcode, int) and errcode in TOKEN_FETCH_ERRORS:
            raise _Abort(SendResult.failed(TOKEN_FETCH_ERRORS[errcode]))
        code = errcode if isinstance(errcode, int) else 0
        raise _Abort(_unknown("send.wechat.no_token", code, answer))

    async def _drop_token(self, token: str) -> None:
        """Forget `token` if it is still the cached one (`WeChatStore.drop_token`)."""
        await self._store.drop_token(token)

    # --- webhooks ----------------------------------------------------------------

    def verify(self, request: WebhookRequest) -> bool:
        if self._webhook_token is None:
            return False
        signature = request.query.get("signature")
        timestamp = request.query.get("timestamp")
        nonce = request.query.get("nonce")
        if not (signature and timestamp and nonce):
            return False
        if not _recent(timestamp, self._clock()):
            return False
        expected = wechat_signature(self._webhook_token, timestamp, nonce)
        return hmac.compare_digest(signature.strip().lower().encode(), expected.encode())

    async def claim(self, request: WebhookRequest) -> bool:
        """Take a verified callback's nonce: False when it was seen before (a replay)."""
        seen = f"{request.query.get('timestamp', '')}:{request.query.get('nonce', '')}"
        return await self._store.claim_nonce(seen, NONCE_SECONDS)

    async def release(self, request: WebhookRequest) -> None:
        """Forget a claimed nonce whose callback could not be processed: WeChat's retry may
        come with it again."""
        seen = f"{request.query.get('timestamp', '')}:{request.query.get('nonce', '')}"
        await self._store.release_nonce(seen)

    def handshake(self, request: WebhookRequest) -> WebhookReply | None:
        echostr = request.query.get("echostr")
        if request.method != "GET" or echostr is None:
            return None
        if not self.verify(request):
            return WebhookReply(status=401, body="invalid signature")
        return WebhookReply(status=200, body=echostr, content_type="text/plain")

    def parse(self, request: WebhookRequest) -> Sequence[WebhookEvent]:
        root = _xml(request.body)
        sender = _field(root, "FromUserName")
        created = _field(root, "CreateTime")
        kind = _field(root, "MsgType")
        if not kind and root.find("Encrypt") is not None:
            raise MalformedWebhook("encrypted messages are not supported: use plaintext mode")
        if not (sender and kind and created.isascii() and created.isdigit()):
            raise MalformedWebhook("no FromUserName, MsgType or CreateTime")
        if len(created) > _MAX_TIME_DIGITS:
            raise MalformedWebhook("CreateTime is out of range")
        if kind == "event":
            # `unsubscribe`: the customer unfollowed; `subscribe`: followed again.
            # https://developers.weixin.qq.com/doc/offiaccount/en/Message_Management/Receiving_event_pushes.html
            event = _field(root, "Event").lower()
            if event in ("subscribe", "unsubscribe"):
                return [
                    ReachabilityEvent(
                        channel=Channel.WECHAT,
                        identity=sender,
                        at=datetime.fromtimestamp(int(created), tz=UTC),
                        unreachable=UnreachableReason.UNSUBSCRIBED
                        if event == "unsubscribe"
                        else None,
                        detail=event,
                    )
                ]
            return []  # menu clicks, template receipts …
        message_id = _field(root, "MsgId")
        if not message_id:
            raise MalformedWebhook("message without MsgId")
        return [
            InboundMessage(
                channel=Channel.WECHAT,
                identity=sender,
                channel_message_id=message_id,
                sent_at=datetime.fromtimestamp(int(created), tz=UTC),
                text=_describe(kind, root),
                media=_media(kind, root),
            )
        ]

    async def media_source(self, media: InboundMedia) -> MediaSource:
        """`GET /cgi-bin/media/get?access_token=…&media_id=…` on the API host (temporary
        media, kept 3 days): https://developers.weixin.qq.com/doc/offiaccount/en/Asset_Management/Get_temporary_materials.html"""
        try:
            token = await self._access_token()
        except _Abort:
            raise DownloadRefused("media.refused.download", detail="no access token") from None
        query = urlencode({"access_token": token, "media_id": media.ref})
        return MediaSource(f"{self._base}/cgi-bin/media/get?{query}")

    def reply(self, events: Sequence[WebhookEvent]) -> WebhookReply:
        # Anything but "success" or an empty body makes WeChat tell the customer
        # the account "cannot provide service for now".
        return WebhookReply(status=200, body="success", content_type="text/plain")


def _text(message: OutboundRequest) -> dict[str, Any]:
    return {
        "touser": message.recipient,
        "msgtype": "text",
        "text": {"content": message.content.text},
    }


def _http_problem(status: int, retry_after: float | None) -> SendResult:
    if status == 429:
        return SendResult.retry("send.rate_limited", retry_after, channel=Channel.WECHAT.value)
    if status >= 500 or status == 200:  # 200 with a body that is not JSON: a proxy's page
        return SendResult.retry(
            "send.server_error", retry_after, channel=Channel.WECHAT.value, status=status
        )
    return SendResult.failed("send.refused", channel=Channel.WECHAT.value, detail=f"HTTP {status}")


def _unknown(key: str, errcode: int, answer: dict[str, Any]) -> SendResult:
    """FAILED with `key` (params: channel, detail): WeChat's code and its words."""
    errmsg = answer.get("errmsg")
    detail = f"errcode {errcode}"
    if isinstance(errmsg, str) and errmsg:
        detail += f": {redact(errmsg)[:120]}"
    return SendResult.failed(key, code=str(errcode), channel=Channel.WECHAT.value, detail=detail)


def _recent(timestamp: str, now: float) -> bool:
    """Whether a callback's `timestamp` (epoch seconds) is within five minutes of `now`."""
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= _MAX_TIME_DIGITS):
        return False
    return abs(now - int(timestamp)) <= MAX_SKEW_SECONDS


def _xml(body: bytes) -> ET.Element:
    """The `<xml>` root; DTDs and entities are refused (no entity expansion at all).

    defusedxml refuses them while parsing; the byte check before it refuses them
    without parsing at all.
    """
    lowered = body.lower()
    if any(marker in lowered for marker in _DTD_MARKERS):
        raise MalformedWebhook("XML with a DTD or entities is refused")
    try:
        root: ET.Element = safe_fromstring(
            body, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except (ET.ParseError, DefusedXmlException) as error:
        raise MalformedWebhook("the body is not XML") from error
    if root.tag != "xml":
        raise MalformedWebhook("the root element is not <xml>")
    return root


def _field(root: ET.Element, name: str) -> str:
    return (root.findtext(name) or "").strip()


_MEDIA_KINDS = {
    "image": MediaKind.IMAGE,
    "voice": MediaKind.AUDIO,
    "video": MediaKind.VIDEO,
    "shortvideo": MediaKind.VIDEO,
}


def _media(kind: str, root: ET.Element) -> tuple[InboundMedia, ...]:
    """An image, voice or video message's `MediaId` (and voice's `Format`):
    https://developers.weixin.qq.com/doc/offiaccount/en/Message_Management/Receiving_standard_messages.html"""
    media_kind = _MEDIA_KINDS.get(kind)
    media_id = _field(root, "MediaId")
    if media_kind is None or not media_id:
        return ()
    voice_format = _field(root, "Format").lower()
    mime = f"audio/{voice_format}" if kind == "voice" and voice_format.isalnum() else ""
    return (InboundMedia(kind=media_kind, ref=media_id, mime_type=mime),)


def _describe(kind: str, root: ET.Element) -> str:
    """The text, or a short description of a non-text message."""
    if kind == "text":
        return root.findtext("Content") or ""
    if kind == "image":
        return "📷 Photo"
    if kind == "voice":
        heard = _field(root, "Recognition")
        return f"🎤 Voice message: {heard}" if heard else "🎤 Voice message"
    if kind in ("video", "shortvideo"):
        return "🎥 Video"
    if kind == "location":
        where = f"📍 Location {_field(root, 'Location_X')}, {_field(root, 'Location_Y')}"
        label = _field(root, "Label")
        return f"{where}: {label}" if label else where
    if kind == "link":
        title, url = _field(root, "Title"), _field(root, "Url")
        return " ".join(part for part in ("🔗 Link:", title, url) if part)
    return "💬 A message WeChat cannot show here"

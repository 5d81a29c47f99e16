"""E-mail: SMTP out, signed raw RFC 822 messages in.

Out: one SMTP session per message (aiosmtplib), threaded under the customer's
last message with `In-Reply-To` / `References` (RFC 5322 §3.6.4). The
`Message-ID` derives from our message id, so a retry carries the same one
and the customer's mail client shows a repeat as the same message.

In: `POST /webhooks/email` with the raw message as the body, signed
`X-Email-Signature: sha256=<hex HMAC-SHA256 of the body>` with
EMAIL_WEBHOOK_SECRET (else WEBCHAT_SECRET), the shape mail relays'
inbound-parse webhooks can be set to send. E-mail has no delivery receipts.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import re
import ssl
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.policy import default as default_policy
from email.utils import format_datetime, formataddr, getaddresses, parseaddr, parsedate_to_datetime
from html.parser import HTMLParser

import aiohttp
import aiosmtplib

from bot.channels.base import (
    InboundMedia,
    InboundMessage,
    MalformedWebhook,
    OutboundRequest,
    RateLimiter,
    SendResult,
    WebhookEvent,
    WebhookReply,
    WebhookRequest,
)
from bot.channels.download import inbound_cap
from bot.channels.media import MediaFiles, checked, file_missing
from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.clock import Clock, utc_now
from bot.domain.media import kind_of
from bot.domain.reachability import UnreachableReason
from bot.media.store import MediaNotFound, MediaStore

logger = logging.getLogger(__name__)


DEFAULT_SUBJECT = "Following up on your request"
SIGNATURE_HEADER = "X-Email-Signature"

# SMTP publishes no rate; mail providers do. Amazon SES, a common relay, starts
# production accounts at 14 messages per second:
# https://docs.aws.amazon.com/ses/latest/dg/manage-sending-quotas.html
DEFAULT_RATE_PER_SECOND = 10.0

# Characters allowed in the left part of a Message-ID (RFC 5322 dot-atom-text, less dots).
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~-]")
# Server replies may quote the address (or other PII); reasons never do.
# (Starting only where a run of address characters starts: linear on long runs.)
_ADDRESS = re.compile(r"(?<![^\s<>@])<?[^\s<>@]+@[^\s<>@]+>?")
_DIGITS = re.compile(r"\+?\d(?:[ .-]?\d){6,}")

# Quoted history: "On Tue, 24 Nov 2026 at 12:00, Support <s@x.com> wrote:" (possibly
# wrapped over two lines), Arabic Gmail's "في … كتب <name>:", Outlook's separator.
# Told with string tests, not `.*` patterns: "في" and many "كتب" without a colon
# made `في\s.*كتب.*:` quadratic (a 60 KB line took a second).
_WROTE = "wrote:"

#: How many multipart or message/* parts an inbound e-mail may hold. The stdlib
#: parser recurses into each (RecursionError near 1,000 deep) and tests every
#: line against every open boundary (a 10 MB mail 32 deep: 0.6 s); real mail
#: nests a handful (mixed > alternative > related, a forwarded message or two).
MAX_MIME_CONTAINERS = 32
# A media type that nests (`multipart/…`, `message/…`) wherever a header could
# name it: after a colon, a space or a comment, not inside a URL path.
_CONTAINER_TYPE = re.compile(rb"(?<![/\w.-])(?:multipart|message)[ \t]*/", re.IGNORECASE)
_ARABIC_ON = "في"
_ARABIC_WROTE = "كتب"
_ORIGINAL_MESSAGE = re.compile(r"^\s*-{2,}\s*Original Message\s*-{2,}\s*$", re.IGNORECASE)


def email_signature(secret: str, body: bytes) -> str:
    """The `X-Email-Signature` value for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _scrub(text: str) -> str:
    """A server's reply text without addresses or numbers that could be a phone."""
    text = _ADDRESS.sub("the address", text)
    return _DIGITS.sub("…", text).strip()


def reply_subject(subject: str) -> str:
    """The subject of a reply to `subject`: "Re: " once, however often it was answered."""
    if subject and not subject.lower().startswith("re:"):
        return f"Re: {subject}"
    return subject


class EmailConnector:
    """E-mail through SMTP; inbound messages from a signed webhook.

    `http` is accepted for the common connector signature and not used (SMTP
    opens its own connection per message). `clock` dates outbound messages;
    `rate_per_second` keeps us under the mail relay's sending rate; `timeout`
    bounds each SMTP step, in seconds. Port 465 means implicit TLS; otherwise
    SMTP_STARTTLS decides STARTTLS.
    """

    channel = Channel.EMAIL
    #: Where the files of a message are read from (given by the registry).
    media: MediaStore | None = None

    def __init__(
        self,
        settings: Settings,
        http: aiohttp.ClientSession | None = None,
        *,
        clock: Clock = utc_now,
        rate_per_second: float = DEFAULT_RATE_PER_SECOND,
        timeout: float = 15.0,
        media: MediaStore | None = None,
    ) -> None:
        if not (settings.smtp_host and settings.email_from):
            raise ValueError("e-mail needs SMTP_HOST and EMAIL_FROM")
        self._host = settings.smtp_host
        self._port = settings.smtp_port
        self._username = settings.smtp_username
        self._password = (
            settings.smtp_password.get_secret_value() if settings.smtp_password else None
        )
        self._implicit_tls = settings.smtp_port == 465
        self._starttls = settings.smtp_starttls and not self._implicit_tls
        self._from = settings.email_from
        self._envelope_from = parseaddr(settings.email_from)[1] or settings.email_from
        self._domain = self._envelope_from.rpartition("@")[2] or "localhost"
        secret = settings.email_webhook_secret or settings.webchat_secret
        self._secret = secret.get_secret_value() if secret else None
        self._clock = clock
        self._limiter = RateLimiter(rate=rate_per_second)
        self._timeout = timeout
        self.media = media
        self._media_settings = settings

    @property
    def _media(self) -> MediaFiles | None:
        return MediaFiles.of(self.media, self._media_settings)

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return bool(settings.smtp_host and settings.email_from)

    def message_id(self, message_id: str) -> str:
        """Our Message-ID for `message_id`: the same on every retry."""
        left = _ID_UNSAFE.sub("-", message_id)
        if left != message_id or not left:
            # Keep distinct ids distinct when characters had to be replaced.
            left += "." + hashlib.sha256(message_id.encode()).hexdigest()[:12]
        return f"<followup.{left}@{self._domain}>"

    def build(self, message: OutboundRequest) -> EmailMessage:
        """The RFC 822 message for `message` (exposed for tests and previews)."""
        mail = EmailMessage()
        mail["From"] = self._from
        mail["To"] = formataddr((message.contact_name, message.recipient))
        mail["Subject"] = reply_subject(message.reply_subject) or DEFAULT_SUBJECT
        mail["Date"] = format_datetime(self._clock().astimezone(UTC))
        mail["Message-ID"] = self.message_id(message.message_id)
        if message.reply_to:
            # A follow-up replies under the customer's last e-mail: the same
            # thread in their mail client (RFC 5322 section 3.6.4).
            mail["In-Reply-To"] = message.reply_to
            mail["References"] = message.reply_to
        mail.set_content(message.content.text, subtype="plain", charset="utf-8")
        return mail

    async def attach(self, mail: EmailMessage, message: OutboundRequest) -> SendResult | None:
        """Each of the message's files as a MIME attachment part (`multipart/mixed`,
        RFC 2183 `Content-Disposition: attachment; filename=…`), base64-encoded as its
        bytes stream from the media store: the file is held once, encoded. None when
        all went in, else why the message cannot go (nothing was sent)."""
        media = self._media
        files = checked(message, media)
        if isinstance(files, SendResult):
            return files
        assert media is not None  # checked() refuses without it
        mail.make_mixed()
        for file in files:
            try:
                async with media.opened(file.attachment) as opened:
                    encoded = await _base64_lines(opened.chunks())
                    content_type = opened.content_type
            except MediaNotFound as error:
                return file_missing(file.attachment, error)
            part = EmailMessage(policy=default_policy)
            part["Content-Type"] = content_type
            part.add_header("Content-Disposition", "attachment", filename=file.attachment.file_name)
            part["Content-Transfer-Encoding"] = "base64"
            part.set_payload(encoded)
            mail.attach(part)
        return None

    async def send(self, message: OutboundRequest) -> SendResult:
        mail = self.build(message)
        message_id = str(mail["Message-ID"])
        if message.content.attachments:
            refusal = await self.attach(mail, message)
            if refusal is not None:
                return refusal
        await self._limiter.acquire()
        try:
            await aiosmtplib.send(
                mail,
                sender=self._envelope_from,
                recipients=[message.recipient],
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password if self._username else None,
                use_tls=self._implicit_tls,
                start_tls=self._starttls,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            return _refused(error)
        except aiosmtplib.SMTPAuthenticationError:
            return SendResult.failed("send.email.login")
        except aiosmtplib.SMTPSenderRefused as error:
            if 400 <= error.code < 500:
                return SendResult.retry(
                    "send.email.deferred", code=str(error.code), smtp=error.code
                )
            return SendResult.failed(
                "send.email.sender_refused", code=str(error.code), smtp=error.code
            )
        except aiosmtplib.SMTPResponseException as error:
            if 400 <= error.code < 500:
                return SendResult.retry(
                    "send.email.deferred", code=str(error.code), smtp=error.code
                )
            return SendResult.failed(
                "send.email.refused", detail=f"{error.code} {_scrub(error.message)}"
            )
        except (aiosmtplib.SMTPTimeoutError, TimeoutError):
            return SendResult.retry("send.email.no_answer")
        except ssl.SSLCertVerificationError:
            return SendResult.failed("send.email.certificate")
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPServerDisconnected, OSError):
            return SendResult.retry("send.email.no_connection")
        except aiosmtplib.SMTPException as error:
            # STARTTLS or AUTH not offered, SMTPUTF8 missing: the configuration, not
            # the moment, is wrong, so a retry would fail the same way.
            logger.warning("smtp send failed", extra={"error": type(error).__name__})
            return SendResult.failed("send.email.unsupported")
        return SendResult.sent(message_id)

    def verify(self, request: WebhookRequest) -> bool:
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature or not self._secret:
            return False
        expected = email_signature(self._secret, request.body)
        return hmac.compare_digest(signature.strip().lower().encode(), expected.encode())

    def handshake(self, request: WebhookRequest) -> WebhookReply | None:
        return None  # The inbound-parse relay has no subscribe handshake.

    def parse(self, request: WebhookRequest) -> Sequence[WebhookEvent]:
        if not request.body.strip():
            raise MalformedWebhook("empty body")
        if len(_CONTAINER_TYPE.findall(request.body)) > MAX_MIME_CONTAINERS:
            raise MalformedWebhook("MIME parts nested or repeated past what mail needs")
        try:
            mail = BytesParser(policy=default_policy).parsebytes(request.body)
            sender_name, sender = _sender(mail)
            message_id = str(mail.get("Message-ID", "")).strip()
            sent_at = _date(mail)
            subject = str(mail.get("Subject", "")).strip()
        except MalformedWebhook:
            raise
        except (ValueError, TypeError, IndexError, LookupError, RecursionError) as error:
            raise MalformedWebhook("the message cannot be read") from error
        if not message_id:
            raise MalformedWebhook("no Message-ID")
        first, _, last = sender_name.strip().partition(" ")
        return [
            InboundMessage(
                channel=Channel.EMAIL,
                identity=sender,
                channel_message_id=message_id,
                sent_at=sent_at,
                text=_text(mail),
                first_name=first,
                last_name=last.strip(),
                email=sender,
                email_message_id=message_id,
                subject=subject,
                media=_media(mail),
            )
        ]

    async def keep_files(
        self, request: WebhookRequest, events: Sequence[WebhookEvent]
    ) -> Sequence[WebhookEvent]:
        """The message's attachments are in the body already: each goes to the media
        store now (capped), its event naming it by its store key (`store:<key>`), so
        only the key travels through Redis; a part past the cap keeps its `mime:`
        reference, and the thread says it was too large."""
        if self.media is None or not any(isinstance(e, InboundMessage) and e.media for e in events):
            return events
        mail = await asyncio.to_thread(BytesParser(policy=default_policy).parsebytes, request.body)
        parts = _attachment_parts(mail)
        cap = inbound_cap(Channel.EMAIL, self._media_settings)
        kept: list[WebhookEvent] = []
        for event in events:
            if isinstance(event, InboundMessage) and event.media:
                files = []
                for media in event.media:
                    index = int(media.ref.removeprefix("mime:"))
                    data = parts[index].get_payload(decode=True) if index < len(parts) else None
                    if isinstance(data, bytes) and len(data) <= cap:
                        stored = await self.media.put(
                            _one(data), content_type=media.mime_type, max_bytes=cap
                        )
                        media = replace(media, ref=f"{STORED_PREFIX}{stored.name}")
                    files.append(media)
                event = replace(event, media=tuple(files))
            kept.append(event)
        return kept

    def reply(self, events: Sequence[WebhookEvent]) -> WebhookReply:
        return WebhookReply(status=200)


#: Raw bytes per base64 line: 57 make the 76 characters RFC 2045 section 6.8 allows.
_B64_LINE = 57


async def _base64_lines(chunks: AsyncIterator[bytes]) -> str:
    """The stream base64-encoded in 76-character lines, as it comes."""
    lines: list[str] = []
    rest = b""
    async for chunk in chunks:
        data = rest + chunk
        whole = len(data) - len(data) % _B64_LINE
        lines.append(base64.encodebytes(data[:whole]).decode("ascii"))
        rest = data[whole:]
    lines.append(base64.encodebytes(rest).decode("ascii"))
    return "".join(lines)


def _refused(error: aiosmtplib.SMTPRecipientsRefused) -> SendResult:
    codes = [r.code for r in error.recipients]
    if codes and all(400 <= code < 500 for code in codes):
        return SendResult.retry("send.email.address_deferred", code=str(codes[0]), smtp=codes[0])
    detail = error.recipients[0] if error.recipients else None
    words = f"{detail.code} {_scrub(detail.message)}" if detail else "-"
    if detail is not None and 500 <= detail.code < 600:
        # A permanent refusal of the recipient (RFC 5321 §4.2.1): the address is
        # unreachable until the customer writes from it again.
        return SendResult.not_reachable(
            "send.email.address_refused",
            UnreachableReason.ADDRESS_REFUSED,
            str(detail.code),
            detail=words,
        )
    return SendResult.failed("send.email.address_refused", detail=words)


def _sender(mail: Message) -> tuple[str, str]:
    header = mail.get("From")
    if header is None:
        raise MalformedWebhook("no From")
    addresses: tuple[Address, ...] = getattr(header, "addresses", ())
    if addresses:
        name, address = addresses[0].display_name, addresses[0].addr_spec
    else:
        parsed = getaddresses([str(header)])
        name, address = parsed[0] if parsed else ("", "")
    if "@" not in address:
        raise MalformedWebhook("no sender address")
    return name, address.lower()


def _date(mail: Message) -> datetime:
    header = mail.get("Date")
    if header is None:
        raise MalformedWebhook("no Date")
    try:
        value = parsedate_to_datetime(str(header))
    except (TypeError, ValueError) as error:
        raise MalformedWebhook("an unreadable Date") from error
    if value.tzinfo is None:  # "-0000": UTC, the zone unknown to the sender (RFC 5322 §3.3)
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _text(mail: Message) -> str:
    body = ""
    if isinstance(mail, EmailMessage):
        part = mail.get_body(preferencelist=("plain",))
        if part is not None:
            body = _content(part)
        else:
            part = mail.get_body(preferencelist=("html",))
            if part is not None:
                body = _html_text(_content(part))
    body = _without_quoted_history(body)
    attachments = [f"📎 {name}" for name in _attachment_names(mail)]
    return "\n".join([body, *attachments] if body else attachments)


def _content(part: Message) -> str:
    if isinstance(part, EmailMessage):
        content = part.get_content()
        if isinstance(content, bytes):
            return content.decode("utf-8", "replace")
        return str(content)
    payload = part.get_payload(decode=True)
    return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""


#: An inbound file kept in the media store: `store:<key>` (e-mail's parts).
STORED_PREFIX = "store:"


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _attachment_parts(mail: Message) -> list[Message]:
    if not isinstance(mail, EmailMessage) or not mail.is_multipart():
        return []
    return list(mail.iter_attachments())


def _media(mail: Message) -> tuple[InboundMedia, ...]:
    """Each attachment part (RFC 2183): its type, file name and decoded size; `mime:<n>`
    until `keep_files` puts it in the media store."""
    files = []
    for index, part in enumerate(_attachment_parts(mail)):
        mime = part.get_content_type()
        data = part.get_payload(decode=True)
        files.append(
            InboundMedia(
                kind=kind_of(mime),
                ref=f"mime:{index}",
                mime_type=mime,
                file_name=part.get_filename() or "",
                size=len(data) if isinstance(data, bytes) else None,
            )
        )
    return tuple(files)


def _attachment_names(mail: Message) -> list[str]:
    if not isinstance(mail, EmailMessage) or not mail.is_multipart():
        return []
    names = []
    for part in mail.iter_attachments():
        name = part.get_filename()
        if not name:
            kind = part.get_content_maintype()
            name = {"image": "image", "audio": "audio", "video": "video"}.get(kind, "attachment")
        names.append(name)
    return names


def _without_quoted_history(text: str) -> str:
    """The customer's new text: quoted lines and everything after the attribution cut."""
    lines = text.replace("\r\n", "\n").split("\n")
    kept: list[str] = []
    for index, line in enumerate(lines):
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if _is_attribution(line) or _ORIGINAL_MESSAGE.match(line):
            break
        if (
            _starts_attribution(line)
            and not _ends_attribution(line)
            and _ends_attribution(following)
        ):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line.rstrip())
    return "\n".join(kept).strip()


def _starts_attribution(line: str) -> bool:
    """ "On …" or "في …" (a word of its own) opens the line."""
    text = line.lstrip()
    for word in ("on", _ARABIC_ON):
        if text[: len(word)].lower() == word and text[len(word) : len(word) + 1].isspace():
            return True
    return False


def _ends_attribution(line: str) -> bool:
    """ "… wrote:" or "… كتب …:" closes the line."""
    text = line.rstrip()
    if text.lower().endswith(_WROTE) and text[: -len(_WROTE)][-1:].isspace():
        return True
    return text.endswith(":") and _ARABIC_WROTE in text[:-1]


def _is_attribution(line: str) -> bool:
    """A whole attribution line: "On <date>, <name> wrote:" or "في <date>، كتب <name>:"."""
    text = line.strip()
    if not (_starts_attribution(text) and _ends_attribution(text)):
        return False
    if text[:2].lower() == "on":  # "On" + space + … + space + "wrote:"
        return len(text) >= len("On  wrote:")
    return _ARABIC_WROTE in text[len(_ARABIC_ON) + 1 : -1]


class _TextOfHtml(HTMLParser):
    _BLOCKS = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "blockquote"})
    _SKIP = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0
        self._quoting = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag == "blockquote":
            self._quoting += 1  # a quoted reply: dropped like ">" lines
        if tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag == "blockquote":
            self._quoting = max(0, self._quoting - 1)
        if tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping and not self._quoting:
            self.parts.append(data)


def _html_text(html: str) -> str:
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()

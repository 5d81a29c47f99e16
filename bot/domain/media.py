"""Which files each channel takes, how, and how large, as data; one pure `check`.

A row per channel: how the channel takes a file (`Delivery`), the kinds it
takes, and per kind the MIME types and the largest size. Sizes are in MiB
(1,048,576 bytes), as the vendors count them. Sources, one per row:

* WhatsApp Cloud API, upload then send by id: image JPEG/PNG 5 MB; video
  MP4/3GPP 16 MB; audio AAC/AMR/MP3/M4A/OGG 16 MB; document (text, PDF,
  Office) 100 MB; sticker WebP 500 KB (animated; static 100 KB):
  https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media#supported-media-types
* Messenger Send API, attachment (image, video, audio, file), 25 MB each:
  https://developers.facebook.com/docs/messenger-platform/send-messages#file-attachments
* Instagram Messaging, attachment: image PNG/JPEG/GIF 8 MB; video
  MP4/OGG/AVI/MOV/WEBM 25 MB; audio AAC/M4A/WAV/MP4 25 MB; no documents:
  https://developers.facebook.com/docs/instagram-platform/instagram-api-with-instagram-login/messaging-api
* Telegram Bot API, multipart upload: photos 10 MB, other files 50 MB; a
  file we fetch with `getFile` at most 20 MB:
  https://core.telegram.org/bots/api#sending-files and #getfile
* LINE Messaging API, by https URL: image JPEG/PNG 10 MB; video MP4 200 MB;
  audio M4A 200 MB; no documents:
  https://developers.line.biz/en/reference/messaging-api/#image-message
* Viber REST bot API, by URL: picture JPEG/PNG/GIF 1 MB; video MP4 26 MB;
  file 50 MB: https://developers.viber.com/docs/api/rest-bot-api/#message-types
* WeChat Official Account, temporary media upload then send by media_id:
  image PNG/JPEG/GIF 10 MB; voice AMR/MP3 2 MB; video MP4 10 MB; no files:
  https://developers.weixin.qq.com/doc/offiaccount/en/Asset_Management/New_temporary_materials.html
* SMS through Twilio MMS `MediaUrl`: 5 MB in all; JPEG/PNG/GIF fully
  supported, the other accepted types passed on as they are:
  https://www.twilio.com/docs/messaging/guides/accepted-mime-types
* E-mail, a MIME part of any type: the common mailbox limit is 25 MB per
  message (https://support.google.com/mail/answer/6584) and base64 makes a
  file a third larger, so 18 MB of file.
* Website chat, by URL from our own widget: any type, 25 MB (ours).

`MEDIA_MAX_BYTES` may lower every limit (`check(..., cap=...)`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from bot.domain.channels import CHANNEL_LABELS, Channel

__all__ = [
    "MEDIA_LIMITS",
    "ChannelMedia",
    "Delivery",
    "KindLimit",
    "MediaAccepted",
    "MediaKind",
    "MediaRefusal",
    "check",
    "human_size",
    "kind_of",
]

MB = 1024 * 1024
KB = 1024


class MediaKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    DOCUMENT = "document"
    STICKER = "sticker"


class Delivery(StrEnum):
    """How a channel takes a file."""

    UPLOAD_THEN_ID = "upload_then_id"  # WhatsApp media upload, WeChat temporary media
    MULTIPART = "multipart"  # Telegram sendPhoto / sendDocument
    BY_URL = "by_url"  # the channel fetches GET /media/{token}
    ATTACHMENT = "attachment"  # Messenger / Instagram attachment
    MIME_PART = "mime_part"  # e-mail


@dataclass(frozen=True, slots=True)
class KindLimit:
    """One kind a channel takes: its MIME types (`type/*` matches a family) and largest size."""

    max_bytes: int
    mime_types: frozenset[str]

    def takes(self, mime: str) -> bool:
        family = mime.split("/", 1)[0] + "/*"
        return "*/*" in self.mime_types or mime in self.mime_types or family in self.mime_types


@dataclass(frozen=True, slots=True)
class ChannelMedia:
    """What one channel takes; `inbound_max_bytes` bounds what we may fetch from it."""

    delivery: Delivery
    kinds: Mapping[MediaKind, KindLimit]
    source: str
    inbound_max_bytes: int | None = None

    @property
    def largest(self) -> int:
        """The largest file of any kind."""
        return max(limit.max_bytes for limit in self.kinds.values())


def _types(*mimes: str) -> frozenset[str]:
    return frozenset(mimes)


_ANY = _types("*/*")
_OFFICE = _types(
    "text/plain",
    "application/pdf",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
)


def _row(
    delivery: Delivery,
    source: str,
    *,
    inbound_max_bytes: int | None = None,
    **kinds: KindLimit,
) -> ChannelMedia:
    table = {MediaKind(name): limit for name, limit in kinds.items()}
    return ChannelMedia(delivery, MappingProxyType(table), source, inbound_max_bytes)


def _any_kind(delivery: Delivery, source: str, max_bytes: int) -> ChannelMedia:
    table = dict.fromkeys(MediaKind, KindLimit(max_bytes, _ANY))
    return ChannelMedia(delivery, MappingProxyType(table), source)


MEDIA_LIMITS: Mapping[Channel, ChannelMedia] = MappingProxyType(
    {
        Channel.WHATSAPP: _row(
            Delivery.UPLOAD_THEN_ID,
            "https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media#supported-media-types",
            image=KindLimit(5 * MB, _types("image/jpeg", "image/png")),
            video=KindLimit(16 * MB, _types("video/mp4", "video/3gpp")),
            audio=KindLimit(
                16 * MB,
                _types("audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"),
            ),
            document=KindLimit(100 * MB, _OFFICE),
            sticker=KindLimit(500 * KB, _types("image/webp")),
        ),
        Channel.MESSENGER: _row(
            Delivery.ATTACHMENT,
            "https://developers.facebook.com/docs/messenger-platform/send-messages#file-attachments",
            image=KindLimit(25 * MB, _types("image/jpeg", "image/png", "image/gif")),
            video=KindLimit(25 * MB, _types("video/*")),
            audio=KindLimit(25 * MB, _types("audio/*")),
            document=KindLimit(25 * MB, _ANY),
        ),
        Channel.INSTAGRAM: _row(
            Delivery.ATTACHMENT,
            "https://developers.facebook.com/docs/instagram-platform/instagram-api-with-instagram-login/messaging-api",
            image=KindLimit(8 * MB, _types("image/jpeg", "image/png", "image/gif")),
            video=KindLimit(
                25 * MB,
                _types(
                    "video/mp4", "video/ogg", "video/x-msvideo", "video/quicktime", "video/webm"
                ),
            ),
            audio=KindLimit(
                25 * MB, _types("audio/aac", "audio/mp4", "audio/x-m4a", "audio/wav", "audio/x-wav")
            ),
        ),
        Channel.TELEGRAM: _row(
            Delivery.MULTIPART,
            "https://core.telegram.org/bots/api#sending-files",
            inbound_max_bytes=20 * MB,  # getFile: https://core.telegram.org/bots/api#getfile
            image=KindLimit(10 * MB, _types("image/jpeg", "image/png", "image/webp")),
            video=KindLimit(50 * MB, _types("video/mp4")),
            audio=KindLimit(50 * MB, _types("audio/mpeg", "audio/mp4", "audio/ogg")),
            document=KindLimit(50 * MB, _ANY),
            sticker=KindLimit(50 * MB, _types("image/webp")),
        ),
        Channel.LINE: _row(
            Delivery.BY_URL,
            "https://developers.line.biz/en/reference/messaging-api/#image-message",
            image=KindLimit(10 * MB, _types("image/jpeg", "image/png")),
            # With a preview image the connector publishes beside it (#video-message).
            video=KindLimit(200 * MB, _types("video/mp4")),
            audio=KindLimit(200 * MB, _types("audio/mp4", "audio/x-m4a")),
        ),
        Channel.VIBER: _row(
            Delivery.BY_URL,
            "https://developers.viber.com/docs/api/rest-bot-api/#message-types",
            image=KindLimit(1 * MB, _types("image/jpeg", "image/png", "image/gif")),
            video=KindLimit(26 * MB, _types("video/mp4")),
            document=KindLimit(50 * MB, _ANY),
        ),
        Channel.WECHAT: _row(
            Delivery.UPLOAD_THEN_ID,
            "https://developers.weixin.qq.com/doc/offiaccount/en/Asset_Management/New_temporary_materials.html",
            image=KindLimit(10 * MB, _types("image/jpeg", "image/png", "image/gif")),
            audio=KindLimit(2 * MB, _types("audio/amr", "audio/mpeg")),
            video=KindLimit(10 * MB, _types("video/mp4")),
        ),
        Channel.SMS: _row(
            Delivery.BY_URL,
            "https://www.twilio.com/docs/messaging/guides/accepted-mime-types",
            image=KindLimit(5 * MB, _types("image/jpeg", "image/png", "image/gif")),
            video=KindLimit(5 * MB, _types("video/*")),
            audio=KindLimit(5 * MB, _types("audio/*")),
            document=KindLimit(5 * MB, _types("application/pdf", "text/vcard", "text/x-vcard")),
        ),
        Channel.EMAIL: _any_kind(
            Delivery.MIME_PART, "https://support.google.com/mail/answer/6584", 18 * MB
        ),
        Channel.WEBCHAT: _any_kind(
            Delivery.BY_URL, "ours: the website chat widget backend", 25 * MB
        ),
    }
)


@dataclass(frozen=True, slots=True)
class MediaAccepted:
    """The file may go, as `kind`, the channel's way."""

    kind: MediaKind
    delivery: Delivery
    max_bytes: int


@dataclass(frozen=True, slots=True)
class MediaRefusal:
    """Why not: a catalogue key (`media.refused.*`) and its parameters."""

    key: str
    params: Mapping[str, str] = field(default_factory=dict)


def kind_of(mime: str) -> MediaKind:
    """The kind a MIME type suggests: its family, else a document."""
    family = mime.split("/", 1)[0]
    if family in ("image", "video", "audio"):
        return MediaKind(family)
    return MediaKind.DOCUMENT


def human_size(size: int) -> str:
    """`1536` → `"1.5 KB"`, `5242880` → `"5 MB"` (MiB, as the vendors count)."""
    for unit, scale in (("MB", MB), ("KB", KB)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} B"


def check(
    channel: Channel,
    mime: str,
    size: int,
    *,
    kind: MediaKind | None = None,
    cap: int | None = None,
) -> MediaAccepted | MediaRefusal:
    """May a `size`-byte file of type `mime` go to `channel` (as `kind`, else as its
    MIME type suggests)? A file the channel does not take as its own kind goes as a
    document where the channel takes it so (a Viber audio, a large Telegram photo).
    `cap` (MEDIA_MAX_BYTES) lowers every limit."""
    mime = mime.split(";", 1)[0].strip().lower()
    row = MEDIA_LIMITS[channel]
    label = CHANNEL_LABELS[channel]
    if size <= 0:
        return MediaRefusal("media.refused.empty", {"channel": label})
    if "/" not in mime:
        return MediaRefusal("media.refused.type", {"channel": label, "mime": mime or "?"})
    wanted = kind or kind_of(mime)
    candidates = [wanted] if wanted is MediaKind.DOCUMENT else [wanted, MediaKind.DOCUMENT]
    taking = [(k, row.kinds[k]) for k in candidates if k in row.kinds and row.kinds[k].takes(mime)]
    if not taking:
        return MediaRefusal("media.refused.type", {"channel": label, "mime": mime})
    largest = 0
    for taken, limit in taking:
        max_bytes = min(limit.max_bytes, cap) if cap is not None else limit.max_bytes
        if size <= max_bytes:
            return MediaAccepted(taken, row.delivery, max_bytes)
        largest = max(largest, max_bytes)
    return MediaRefusal(
        "media.refused.too_large",
        {"channel": label, "size": human_size(size), "limit": human_size(largest)},
    )


#: Types a customer's file is not shown as in the thread: programs and scripts,
#: which an agent could open by mistake (by declared type or file name).
INBOUND_REFUSED_TYPES = frozenset(
    {
        "application/x-msdownload",
        "application/x-dosexec",
        "application/x-executable",
        "application/vnd.microsoft.portable-executable",
        "application/x-msi",
        "application/x-ms-installer",
        "application/x-sh",
        "application/x-bat",
        "application/java-archive",
        "application/x-java-archive",
        "application/hta",
        "text/javascript",
        "application/javascript",
        "text/vbscript",
    }
)
INBOUND_REFUSED_EXTENSIONS = frozenset(
    {"exe", "msi", "bat", "cmd", "com", "scr", "pif", "js", "jse", "vbs", "vbe", "ps1",
     "jar", "hta", "sh", "dll", "lnk", "apk"}
)  # fmt: skip


def inbound_refused(mime: str, file_name: str) -> bool:
    """Whether a customer's file is of a type not shown in the thread."""
    base = mime.split(";", 1)[0].strip().lower()
    extension = file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""
    return base in INBOUND_REFUSED_TYPES or extension in INBOUND_REFUSED_EXTENSIONS

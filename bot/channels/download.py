"""Safe downloads of media files from a channel (or Slack): streamed, capped, and
only from that channel's own hosts.

No server-side request goes to an address a payload names: a URL is checked
against the channel's `AllowedHosts` before any connection — its configured
base URL's origin (scheme, host and port, so a local `http://` test server
only where the settings point at it) and the vendor's documented media hosts,
over https on port 443. Redirects are followed by hand, each hop checked the
same way, and credentials go only to the origin first asked. A declared
length past the cap is refused before the body is read; a body that runs past
it is cut off there. Nothing is buffered whole: the caller consumes `chunks()`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from types import MappingProxyType

import aiohttp
from yarl import URL

from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.media import MEDIA_LIMITS, human_size

__all__ = [
    "CHANNEL_MEDIA_HOSTS",
    "DOWNLOAD_TIMEOUT",
    "AllowedHosts",
    "Download",
    "DownloadRefused",
    "download",
    "hosts_for_channel",
    "hosts_for_slack",
    "inbound_cap",
]

logger = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024
MAX_REDIRECTS = 5
#: A connection within 10 s, then no pause of more than 30 s between chunks.
DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=10, sock_read=30)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CREDENTIALS = frozenset({"authorization", "cookie", "x-viber-auth-token"})

#: The vendors' documented media hosts, beside the channel's base URL (https only).
#: A leading dot allows every subdomain.
CHANNEL_MEDIA_HOSTS: Mapping[Channel, tuple[str, ...]] = MappingProxyType(
    {
        # GET /{media-id} answers a `url` on lookaside.fbsbx.com:
        # https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media#download-media
        Channel.WHATSAPP: ("lookaside.fbsbx.com",),
        # Attachment `payload.url`s are Facebook CDN URLs:
        # https://developers.facebook.com/docs/messenger-platform/reference/webhook-events/messages
        Channel.MESSENGER: (".fbcdn.net", ".fbsbx.com"),
        Channel.INSTAGRAM: (".fbcdn.net", ".fbsbx.com", ".cdninstagram.com"),
        # getFile then https://api.telegram.org/file/bot<token>/<file_path> (the base URL):
        # https://core.telegram.org/bots/api#getfile
        Channel.TELEGRAM: (),
        # GET https://api-data.line.me/v2/bot/message/{messageId}/content:
        # https://developers.line.biz/en/reference/messaging-api/#get-content
        Channel.LINE: ("api-data.line.me",),
        # The `media` URL of a picture/video/file message:
        # https://developers.viber.com/docs/api/rest-bot-api/#receive-message-from-user
        Channel.VIBER: ("dl-media.viber.com", ".cdn.viber.com"),
        # GET /cgi-bin/media/get on the API host (the base URL):
        # https://developers.weixin.qq.com/doc/offiaccount/en/Asset_Management/Get_temporary_materials.html
        Channel.WECHAT: (),
        # MediaUrl{N} on api.twilio.com redirects to Twilio's media CDN:
        # https://www.twilio.com/docs/messaging/api/media-resource
        Channel.SMS: (".twiliocdn.com",),
        Channel.EMAIL: (),  # attachments come inside the message
        Channel.WEBCHAT: (),  # the widget backend's own host (the base URL)
    }
)


class DownloadRefused(Exception):
    """Why a file was not fetched: a catalogue key (`media.refused.*`) and parameters."""

    def __init__(self, key: str, **params: str) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


def _origin(url: URL) -> tuple[str, str, int]:
    return (url.scheme, (url.host or "").lower(), url.explicit_port or url.port or 0)


@dataclass(frozen=True, slots=True)
class AllowedHosts:
    """Where downloads may go: exact origins (the configured base URLs, any
    scheme they use) and https hosts or `.suffix`es on port 443."""

    origins: frozenset[tuple[str, str, int]] = frozenset()
    https_hosts: tuple[str, ...] = ()

    @classmethod
    def of(cls, *base_urls: str | None, media_hosts: Iterable[str] = ()) -> AllowedHosts:
        origins = {_origin(URL(base)) for base in base_urls if base}
        return cls(frozenset(origins), tuple(h.lower() for h in media_hosts))

    def check(self, url: URL) -> None:
        """Raise `DownloadRefused` unless `url` may be fetched."""
        if not url.absolute or url.scheme not in ("http", "https") or not url.host:
            raise DownloadRefused("media.refused.not_https")
        if _origin(url) in self.origins:
            return
        if url.scheme != "https":
            raise DownloadRefused("media.refused.not_https")
        host = url.host.lower()
        if url.port == 443 and any(
            host == allowed or (allowed.startswith(".") and host.endswith(allowed))
            for allowed in self.https_hosts
        ):
            return
        raise DownloadRefused("media.refused.host", host=host)


_BASE_URLS = {
    Channel.WHATSAPP: "whatsapp_api_url",
    Channel.MESSENGER: "messenger_api_url",
    Channel.INSTAGRAM: "instagram_api_url",
    Channel.TELEGRAM: "telegram_api_url",
    Channel.LINE: "line_api_url",
    Channel.VIBER: "viber_api_url",
    Channel.WECHAT: "wechat_api_url",
    Channel.SMS: "sms_api_url",
    Channel.WEBCHAT: "webchat_webhook_url",
}


def hosts_for_channel(channel: Channel, settings: Settings) -> AllowedHosts:
    """The hosts a download from `channel` may reach."""
    field_name = _BASE_URLS.get(channel)
    base = getattr(settings, field_name) if field_name else None
    return AllowedHosts.of(base, media_hosts=CHANNEL_MEDIA_HOSTS[channel])


def hosts_for_slack(settings: Settings) -> AllowedHosts:
    """Slack's `url_private` files live on files.slack.com (and the API host, for tests).
    https://api.slack.com/types/file#authentication"""
    return AllowedHosts.of(settings.slack_api_url, media_hosts=("files.slack.com",))


def inbound_cap(channel: Channel, settings: Settings) -> int:
    """The largest file fetched from `channel`: its own bound, and MEDIA_MAX_BYTES."""
    row = MEDIA_LIMITS[channel]
    cap = row.inbound_max_bytes or row.largest
    return min(cap, settings.media_max_bytes) if settings.media_max_bytes else cap


@dataclass
class Download:
    """An answered download: type, declared size and name, and the body as chunks."""

    content_type: str
    declared_size: int | None
    filename: str | None
    max_bytes: int
    _response: aiohttp.ClientResponse = field(repr=False)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body; `DownloadRefused` as soon as it runs past the cap."""
        received = 0
        try:
            async for chunk in self._response.content.iter_chunked(CHUNK_BYTES):
                received += len(chunk)
                if received > self.max_bytes:
                    raise DownloadRefused("media.refused.download_too_large", limit=self.limit)
                yield chunk
        except (aiohttp.ClientError, TimeoutError):
            raise DownloadRefused("media.refused.download", detail="cut off") from None

    @property
    def limit(self) -> str:
        """The cap, as the refusal says it."""
        return human_size(self.max_bytes)


def _filename(disposition: str | None) -> str | None:
    if not disposition:
        return None
    message = Message()
    message["Content-Disposition"] = disposition
    name = message.get_filename()
    return name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1] or None if name else None


def _checked(allowed: AllowedHosts, target: URL) -> None:
    try:
        allowed.check(target)
    except DownloadRefused as refused:
        # The host only: a path or query may hold a token.
        logger.warning(
            "media download refused",
            extra={"reason": refused.key, "host": target.host or "", "scheme": target.scheme},
        )
        raise


@contextlib.asynccontextmanager
async def download(
    http: aiohttp.ClientSession,
    url: str,
    allowed: AllowedHosts,
    *,
    max_bytes: int,
    headers: Mapping[str, str] | None = None,
    client_timeout: aiohttp.ClientTimeout = DOWNLOAD_TIMEOUT,
) -> AsyncIterator[Download]:
    """GET `url` where `allowed` permits it, following redirects only within it;
    `DownloadRefused` otherwise, or on an error answer or a declared size past `max_bytes`."""
    target = URL(url, encoded=True)
    _checked(allowed, target)
    first = _origin(target)
    sent = dict(headers or {})
    for _ in range(MAX_REDIRECTS + 1):
        try:
            response = await http.get(
                target, headers=sent, allow_redirects=False, timeout=client_timeout
            )
        except (aiohttp.ClientError, TimeoutError):
            # The error's text may hold the URL (and a token in it): name the host only.
            raise DownloadRefused(
                "media.refused.download", detail=f"could not reach {target.host}"
            ) from None
        try:
            if response.status in _REDIRECTS and "Location" in response.headers:
                target = target.join(URL(response.headers["Location"], encoded=True))
                _checked(allowed, target)
                if _origin(target) != first:
                    sent = {k: v for k, v in sent.items() if k.lower() not in _CREDENTIALS}
                continue
            if response.status != 200:
                raise DownloadRefused("media.refused.download", detail=f"HTTP {response.status}")
            declared = response.content_length
            if declared is not None and declared > max_bytes:
                raise DownloadRefused(
                    "media.refused.download_too_large", limit=human_size(max_bytes)
                )
            yield Download(
                content_type=response.headers.get("Content-Type", "application/octet-stream"),
                declared_size=declared,
                filename=_filename(response.headers.get("Content-Disposition")),
                max_bytes=max_bytes,
                _response=response,
            )
            return
        finally:
            response.release()
    raise DownloadRefused("media.refused.download", detail="too many redirects")

"""Signed, expiring `/media/{token}` links, for channels that fetch a file by URL.

A token is `{expires}-{signature}-{name}`: the Unix second it stops working,
an HMAC-SHA256 of `{expires}-{name}` (URL-safe base64, unpadded), and the
stored file's name, which ends with its type's extension (Viber wants the
extension as the URL's last segment). The token, never a path, names the file.
The key is `MEDIA_SECRET`, else derived from `SLACK_SIGNING_SECRET`, always
through one HMAC with a fixed label, so a link key is never a key used for
anything else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.config import Settings

__all__ = ["LinkExpired", "LinkInvalid", "MediaLinks"]

_LABEL = b"followup media links v1"
_TOKEN = re.compile(r"(\d{1,12})-([A-Za-z0-9_-]{43})-([0-9a-f]{32}(?:\.[a-z0-9]{1,5})?)")


class LinkInvalid(Exception):
    """Not a token we made (malformed or a wrong signature)."""


class LinkExpired(Exception):
    """A token we made, past its time."""


def _signature(key: bytes, expires: int, name: str) -> str:
    digest = hmac.new(key, f"{expires}-{name}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True)
class MediaLinks:
    """Makes and checks tokens; `lifetime` is how long a link lives."""

    key: bytes
    lifetime: timedelta
    base_url: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaLinks | None:
        """Links as configured; None when there is no secret to sign them with."""
        secret = settings.media_secret or settings.slack_signing_secret
        if secret is None:
            return None
        key = hmac.new(secret.get_secret_value().encode(), _LABEL, hashlib.sha256).digest()
        return cls(key, timedelta(hours=settings.media_link_hours), settings.public_base_url)

    def token(self, name: str, now: datetime) -> str:
        """A token for the stored file `name`, valid until `now` + the lifetime."""
        expires = int((now + self.lifetime).timestamp())
        return f"{expires}-{_signature(self.key, expires, name)}-{name}"

    def url(self, name: str, now: datetime) -> str:
        """The public URL of `name` (needs PUBLIC_BASE_URL: channels fetch it from outside)."""
        if self.base_url is None:
            raise LookupError("PUBLIC_BASE_URL is needed for media links")
        return f"{self.base_url}/media/{self.token(name, now)}"

    def verify(self, token: str, now: datetime) -> str:
        """The file name `token` grants at `now`; `LinkInvalid` or `LinkExpired` otherwise."""
        match = _TOKEN.fullmatch(token)
        if match is None:
            raise LinkInvalid("malformed")
        expires, given, name = int(match[1]), match[2], match[3]
        if not hmac.compare_digest(given, _signature(self.key, expires, name)):
            raise LinkInvalid("signature")
        if now.timestamp() >= expires:
            raise LinkExpired(name)
        return name
